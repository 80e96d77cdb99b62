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

#[test]
fn a_stop_of_many_handles_each_exit_once_and_they_start_again() {
    // 200 SIGTERMs in one turn: the loop reaps while it sends them (every 64th) and the
    // core hears of those exits at the end of the same turn, the rest by SIGCHLD.
    let mut h = Harness::new();
    h.service(
        "many",
        "service \"many\" {\n    cmd \"/bin/sleep\" \"1000\"\n    numprocs 200\n    starttime 0\n}\n",
    );
    h.start();
    wait_until("all 200 to run", || h.state("many:199") == "RUNNING");
    let daemon = h.daemon_pid();
    h.ok(&["stop", "many"]);
    for index in 0..200 {
        assert_eq!(h.state(&format!("many:{index}")), "STOPPED", "many:{index}");
    }
    let log = h.log_text();
    for index in 0..200 {
        let name = format!("many:{index} (pid ");
        let exits = log
            .lines()
            .filter(|l| l.contains(&name) && l.contains("exited with signal TERM"))
            .count();
        assert_eq!(exits, 1, "many:{index}'s exit logged {exits} times:\n{log}");
    }
    assert!(zombies_of(daemon).is_empty(), "{:?}", zombies_of(daemon));
    h.ok(&["start", "many"]);
    wait_until("all 200 to run again", || {
        (0..200).all(|i| h.state(&format!("many:{i}")) == "RUNNING")
    });
}
