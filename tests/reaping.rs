//! Not PID 1, the daemon is the child subreaper: orphans of services are re-parented to
//! it and reaped, so no zombie piles up.

use crate::common::*;

/// Zombie children of `parent`.
fn zombies_of(parent: i32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            fields.next() == Some("Z")
                && fields.next().and_then(|p| p.parse::<i32>().ok()) == Some(parent)
        })
        .collect()
}

#[test]
fn orphans_of_a_service_are_reaped_by_the_daemon() {
    let mut h = Harness::new();
    // Each round leaves an orphan that lives a little, then dies as the daemon's child.
    h.service(
        "orphans",
        &format!(
            r##"service "orphans" {{
    cmd "/bin/sh" "-c" #"i=0; while [ $i -lt 50 ]; do (sleep 1 &); i=$((i+1)); done; echo $$$$ > "$0"; exec sleep 1000"# "{}"
    starttime 0.1
}}"##,
            h.p("done")
        ),
    );
    h.start();
    wait_file(&h.path("done"));
    let daemon = h.daemon_pid();
    // They were re-parented to the daemon...
    let children = std::fs::read_to_string(format!("/proc/{daemon}/task/{daemon}/children"))
        .unwrap_or_default();
    assert!(
        children.split_whitespace().count() > 1,
        "children: {children}"
    );
    // ...and once they have all died, none is left a zombie.
    wait_until("every orphan to be reaped", || {
        let children = std::fs::read_to_string(format!("/proc/{daemon}/task/{daemon}/children"))
            .unwrap_or_default();
        children.split_whitespace().count() == 1 && zombies_of(daemon).is_empty()
    });
    assert_eq!(h.state("orphans"), "RUNNING");
}
