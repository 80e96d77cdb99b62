//! Starting, keeping alive and restarting services as their files say.

use crate::common::*;

#[test]
fn starts_a_service_and_restarts_it_after_kill() {
    let mut h = Harness::new();
    h.service(
        "web",
        r#"service "web" {
    cmd "/bin/sleep" "1000"
    starttime 0.2
}"#,
    );
    h.start();
    h.wait_state("web", "RUNNING");
    let first = h.pid("web").expect("pid");
    assert!(alive(first));
    // SAFETY: kill(2) of the service we just started.
    unsafe { libc::kill(first, libc::SIGKILL) };
    wait_until("a new pid for web", || {
        h.pid("web").is_some_and(|p| p != first) && h.state("web") == "RUNNING"
    });
    assert_eq!(h.instance("web")["restarts"], 1);
    h.wait_log(&["web", "exited with signal KILL", "unexpected"]);
}
