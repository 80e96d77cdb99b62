//! Reload (`tmctl reload` and SIGHUP): add, remove, restart only what changed, keep the
//! rest running with the same pids; a config with errors is rejected whole.

use crate::common::*;

fn sleeper(name: &str, extra: &str) -> String {
    format!(
        r#"service "{name}" {{
    cmd "/bin/sleep" "1000"
    starttime 0.1
    {extra}
}}
"#
    )
}

#[test]
fn reload_adds_removes_restarts_and_changes_only_what_changed() {
    let mut h = Harness::new();
    h.service("keep", &sleeper("keep", ""));
    h.service("gone", &sleeper("gone", ""));
    h.service("cmd", &sleeper("cmd", ""));
    h.service("env", &sleeper("env", r#"env { MODE "a" }"#));
    h.service("monitor", &sleeper("monitor", r#"autorestart "always""#));
    h.service("nums", &sleeper("nums", "numprocs 2"));
    h.start();
    let names = ["keep", "gone", "cmd", "env", "monitor", "nums:0", "nums:1"];
    let pids: std::collections::HashMap<&str, i32> =
        names.iter().map(|n| (*n, h.running_pid(n))).collect();

    h.remove_service("gone");
    h.service(
        "cmd",
        r#"service "cmd" {
    cmd "/bin/sleep" "1001"
    starttime 0.1
}"#,
    );
    h.service("env", &sleeper("env", r#"env { MODE "b" }"#));
    h.service(
        "monitor",
        &sleeper(
            "monitor",
            r#"autorestart "never"
    exitcodes 0 1
    startretries 7
    stoptime 3
    stopsignal "INT""#,
        ),
    );
    h.service("nums", &sleeper("nums", "numprocs 3"));
    h.service("new", &sleeper("new", ""));
    h.service("new-off", &sleeper("new-off", "autostart #false"));

    let out = h.ok(&["reload"]);
    let mut said: Vec<&str> = out.lines().collect();
    said.sort();
    assert_eq!(
        said,
        [
            "cmd: restarted: RUNNING",
            "env: restarted: RUNNING",
            "gone: removed: STOPPED",
            "monitor: changed in place",
            "new-off: added: STOPPED",
            "new: added: RUNNING",
            "nums: changed in place",
            "nums:2: added: RUNNING",
        ],
        "{out}"
    );

    // The reply comes once everything has settled: the removed service has stopped.
    wait_until("the removed service to stop", || !alive(pids["gone"]));
    wait_until("gone to leave status", || {
        h.status().iter().all(|i| i["name"] != "gone")
    });
    for name in ["cmd", "env"] {
        wait_until(&format!("{name} to run a new process"), || {
            h.pid(name).is_some_and(|p| p != pids[name]) && h.state(name) == "RUNNING"
        });
        assert!(!alive(pids[name]));
    }
    let cmdline =
        std::fs::read(format!("/proc/{}/cmdline", h.running_pid("cmd"))).expect("cmdline");
    assert_eq!(cmdline, b"/bin/sleep\x001001\x00");
    for name in ["keep", "monitor", "nums:0", "nums:1"] {
        assert_eq!(h.pid(name), Some(pids[name]), "{name} kept its process");
    }
    let third = h.running_pid("nums:2");
    assert!(!pids.values().any(|p| *p == third));
    h.running_pid("new");
    assert_eq!(h.state("new-off"), "STOPPED");
    h.wait_log(&["reload", "added new"]);

    // The monitoring change took effect on the running process: `never` + exit code 1
    // expected, so a kill by SIGINT (its new stop signal sent by hand) is not restarted.
    h.ok(&["signal", "INT", "monitor"]);
    h.wait_state("monitor", "EXITED");
}

#[test]
fn numprocs_down_stops_only_the_instances_removed() {
    let mut h = Harness::new();
    h.service("nums", &sleeper("nums", "numprocs 3"));
    h.start();
    let pids: Vec<i32> = (0..3)
        .map(|i| h.running_pid(&format!("nums:{i}")))
        .collect();
    h.service("nums", &sleeper("nums", "numprocs 2"));
    assert_eq!(
        h.ok(&["reload"]),
        "nums:2: removed: STOPPED\nnums: changed in place\n"
    );
    wait_until("nums:2 to be gone", || !alive(pids[2]));
    wait_until("nums:2 to leave status", || {
        h.status().iter().all(|i| i["name"] != "nums:2")
    });
    assert_eq!(h.pid("nums:0"), Some(pids[0]));
    assert_eq!(h.pid("nums:1"), Some(pids[1]));
}

#[test]
fn sighup_reloads_like_tmctl_reload() {
    let mut h = Harness::new();
    h.service("old", &sleeper("old", ""));
    h.start();
    let old = h.running_pid("old");
    h.remove_service("old");
    h.service("fresh", &sleeper("fresh", ""));
    h.signal_daemon(libc::SIGHUP);
    h.running_pid("fresh");
    wait_until("old to be stopped", || !alive(old));
    h.wait_log(&["reload", "added fresh", "removed old"]);
}

#[test]
fn a_reload_with_errors_is_rejected_whole_and_everything_keeps_running() {
    let mut h = Harness::new();
    h.service("a", &sleeper("a", ""));
    h.service("b", &sleeper("b", ""));
    h.start();
    let (a, b) = (h.running_pid("a"), h.running_pid("b"));

    // One good change, one new service, and two broken files: none of it applies.
    h.service(
        "a",
        r#"service "a" {
    cmd "/bin/sleep" "2000"
}"#,
    );
    h.service("c", &sleeper("c", ""));
    h.service(
        "broken",
        r#"service "broken" {
    cmd "/bin/true"
    numprocs "two"
}"#,
    );
    h.service(
        "worse",
        r#"service "worse" {
    cmd "/bin/true"
    autorestart "sometimes"
}"#,
    );
    let err = h.fails(&["reload"]);
    assert!(err.contains("rejected"), "{err}");
    let broken = h.service_path("broken").display().to_string();
    let worse = h.service_path("worse").display().to_string();
    assert!(err.contains(&format!("{broken}:3:5")), "{err}");
    assert!(err.contains("numprocs"), "{err}");
    assert!(err.contains(&format!("{worse}:3:5")), "{err}");
    assert!(err.contains("autorestart"), "{err}");

    assert_eq!(h.pid("a"), Some(a));
    assert_eq!(h.pid("b"), Some(b));
    assert!(
        h.status().iter().all(|i| i["name"] != "c"),
        "c must not be added"
    );
    h.wait_log(&["reload rejected", "numprocs"]);

    // The same through SIGHUP: logged, nothing changes, the daemon lives.
    h.signal_daemon(libc::SIGHUP);
    wait_until("a second rejection in the log", || {
        h.log_text().matches("reload rejected").count() >= 4
    });
    assert_eq!(h.pid("a"), Some(a));
    assert!(h.daemon_alive());

    // Fixed, the next reload applies everything.
    h.remove_service("broken");
    h.remove_service("worse");
    let out = h.ok(&["reload"]);
    assert!(
        out.contains("a: restarted") && out.contains("c: added"),
        "{out}"
    );
}

#[test]
fn a_reload_that_would_make_a_cycle_is_rejected() {
    let mut h = Harness::new();
    h.service("a", &sleeper("a", ""));
    h.service("b", &sleeper("b", r#"requires "a""#));
    h.start();
    let (a, b) = (h.running_pid("a"), h.running_pid("b"));
    h.service("a", &sleeper("a", r#"requires "b""#));
    let err = h.fails(&["reload"]);
    assert!(err.contains("cycle"), "{err}");
    assert!(
        err.contains("a -> b -> a") || err.contains("b -> a -> b"),
        "{err}"
    );
    assert_eq!(h.pid("a"), Some(a));
    assert_eq!(h.pid("b"), Some(b));
    let graph = h.ok(&["graph", "--dot"]);
    assert!(
        graph.contains(r#""a" -> "b""#) && !graph.contains(r#""b" -> "a""#),
        "{graph}"
    );
}

#[test]
fn numprocs_one_to_two_and_back_keeps_the_first_process() {
    let mut h = Harness::new();
    h.service("web", &sleeper("web", ""));
    h.start();
    let web = h.running_pid("web");
    // With two instances the first is called web:0; it is the same process.
    h.service("web", &sleeper("web", "numprocs 2"));
    assert_eq!(
        h.ok(&["reload"]),
        "web:1: added: RUNNING\nweb: changed in place\n"
    );
    h.running_pid("web:1");
    assert_eq!(h.pid("web:0"), Some(web));
    h.service("web", &sleeper("web", ""));
    assert_eq!(
        h.ok(&["reload"]),
        "web:1: removed: STOPPED\nweb: changed in place\n"
    );
    wait_until("web:1 to leave status", || h.status().len() == 1);
    assert_eq!(h.pid("web"), Some(web));
}

#[test]
fn a_stopped_service_whose_cmd_changed_stays_stopped() {
    let mut h = Harness::new();
    h.service("off", &sleeper("off", "autostart #false"));
    h.service("stopped", &sleeper("stopped", ""));
    h.start();
    h.ok(&["stop", "stopped"]);
    h.service(
        "off",
        &sleeper("off", "autostart #false\n    env { A \"b\" }"),
    );
    h.service("stopped", &sleeper("stopped", "env { A \"b\" }"));
    h.ok(&["reload"]);
    for name in ["off", "stopped"] {
        assert_eq!(h.state(name), "STOPPED", "{name}");
    }
    assert!(h.log_line(&["off spawned"]).is_none());
    assert_eq!(
        h.log_text().matches("stopped spawned").count(),
        1,
        "boot only"
    );
    // Started by hand, it runs the new spec.
    h.ok(&["start", "off"]);
    let pid = h.running_pid("off");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(environ.split(|b| *b == 0).any(|v| v == b"A=b"));
}
