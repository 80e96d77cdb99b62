//! The event log: every kind of event is one line starting with an RFC 3339 timestamp,
//! naming the instance and its pid, with the state word in capitals.

use crate::common::*;

#[test]
fn every_event_is_one_stamped_line() {
    let mut h = Harness::new();
    h.service(
        "events",
        &format!(
            r##"service "crash" {{
    cmd "/bin/sh" "-c" #"while [ ! -e "$0" ]; do sleep 0.02; done; rm "$0"; exit 3"# "{}"
    starttime 0.1
}}
service "flaky" {{
    cmd "/bin/sh -c 'exit 1'"
    starttime 1
    startretries 2
}}
service "stubborn" {{
    cmd "/bin/sh" "-c" "trap '' TERM; while :; do sleep 0.1; done"
    starttime 0.1
    stoptime 0.3
}}"##,
            h.p("crash.go")
        ),
    );
    h.start();
    let started = h.wait_log(&["taskmasterd", "started", "3 service(s)"]);

    // spawn, RUNNING, an unexpected exit and its restart.
    let crash = h.running_pid("crash");
    h.wait_log(&["crash", "spawned with pid", &crash.to_string()]);
    h.wait_log(&["crash", &format!("(pid {crash})"), "is RUNNING"]);
    touch(&h.path("crash.go"));
    h.wait_log(&[
        "crash",
        &format!("(pid {crash})"),
        "exited with exit code 3",
        "(unexpected)",
    ]);

    // Failed starts: BACKOFF with attempt k/n, then FATAL with the reason.
    h.wait_state("flaky", "FATAL");
    h.wait_log(&["flaky", "BACKOFF", "restart attempt 1/2"]);
    h.wait_log(&["flaky", "BACKOFF", "restart attempt 2/2"]);
    h.wait_log(&["flaky", "FATAL", "exit code 1"]);

    // pause / resume, stop requested, SIGKILL after stoptime, death by signal.
    let stubborn = h.running_pid("stubborn");
    h.ok(&["pause", "stubborn"]);
    h.wait_log(&["stubborn", &format!("(pid {stubborn})"), "paused", "PAUSED"]);
    h.ok(&["resume", "stubborn"]);
    h.wait_log(&[
        "stubborn",
        &format!("(pid {stubborn})"),
        "resumed",
        "RUNNING",
    ]);
    h.ok(&["stop", "stubborn"]);
    h.wait_log(&[
        "stubborn",
        &format!("(pid {stubborn})"),
        "stop requested",
        "SIGTERM",
    ]);
    h.wait_log(&["stubborn", &format!("(pid {stubborn})"), "SIGKILL"]);
    h.wait_log(&[
        "stubborn",
        &format!("(pid {stubborn})"),
        "exited with signal KILL",
        "STOPPED",
    ]);

    // An expected exit.
    h.service(
        "done",
        r#"service "done" {
    cmd "/bin/true"
    starttime 0
    autorestart "never"
}"#,
    );
    h.ok(&["reload"]);
    h.wait_log(&["reload", "added done"]);
    h.wait_log(&["done", "exited with exit code 0", "(expected)", "EXITED"]);

    h.ok(&["shutdown"]);
    assert_eq!(h.wait_exit(), Some(0));
    h.wait_log(&["shutdown"]);
    h.wait_log(&["exiting with code 0"]);

    let log = h.log_text();
    assert!(log.ends_with('\n'));
    let mut previous = log_time(&started);
    for line in log.lines() {
        let at = log_time(line);
        assert!(at >= previous, "time goes backwards at: {line}");
        previous = at;
        let level = line.split_whitespace().nth(1).unwrap_or("");
        assert!(
            ["info", "warning", "error"].contains(&level),
            "level in {line}"
        );
    }
    // Severity fits: a failure is not logged as info.
    let fatal = h.wait_log(&["flaky", "FATAL"]);
    assert!(fatal.contains(" error "), "{fatal}");
}

#[test]
fn a_missing_log_directory_is_created() {
    let mut h = Harness::new();
    h.log = h.path("deep/er/tm.log");
    h.sleeper("a");
    h.start();
    h.wait_log(&["a", "is RUNNING"]);
}

#[test]
fn a_log_file_that_cannot_be_opened_is_reported_and_the_daemon_goes_on() {
    let mut h = Harness::new();
    // A directory where the file should be: open(2) fails with EISDIR.
    std::fs::create_dir(h.path("tm.log")).expect("mkdir");
    h.sleeper("a");
    h.start();
    h.wait_state("a", "RUNNING");
    let said = h.stderr_text();
    assert!(said.contains("cannot open log file"), "{said}");
    assert_eq!(
        said.matches("cannot open log file").count(),
        1,
        "reported once: {said}"
    );
}
