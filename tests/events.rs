//! State-change events and `on-event` hooks with real processes: the hook's environment,
//! a crash loop that never runs two hooks of one instance at once, `tmctl events`
//! streaming changes, and the bad input of these fields.

use crate::common::*;

/// A shell hook that writes its `TASKMASTER_*` environment to `DIR/hook.EVENT`.
fn env_dump_hook(h: &Harness, events: &str) -> String {
    format!(
        "    on-event {events} \"/bin/sh -c 'env | grep ^TASKMASTER_ | sort > {}/hook.${{TASKMASTER_EVENT}}'\"\n",
        h.dir.path().display()
    )
}

#[test]
fn a_hook_runs_with_the_event_in_its_environment() {
    let mut h = Harness::new();
    h.service(
        "crash",
        &format!(
            "service \"crash\" {{\n    cmd \"/bin/sh\" \"-c\" \"exit 3\"\n    startretries 0\n    autostart #false\n{}}}\n",
            env_dump_hook(&h, "\"FATAL\" \"exit\"")
        ),
    );
    h.start();
    h.fails(&["start", "crash"]);
    let fatal = wait_file(&h.path("hook.FATAL"));
    for line in [
        "TASKMASTER_EVENT=FATAL",
        "TASKMASTER_NAME=crash",
        "TASKMASTER_SERVICE=crash",
        "TASKMASTER_INSTANCE=0",
        "TASKMASTER_EXIT_CODE=3",
        "TASKMASTER_EXIT_SIGNAL=",
        "TASKMASTER_PREV_STATE=STARTING",
    ] {
        assert!(fatal.lines().any(|l| l == line), "{line} missing:\n{fatal}");
    }
    let exit = wait_file(&h.path("hook.exit"));
    assert!(exit.contains("TASKMASTER_EVENT=exit"), "{exit}");
    assert!(exit.contains("TASKMASTER_EXIT_CODE=3"), "{exit}");
    assert!(
        exit.lines()
            .any(|l| l.starts_with("TASKMASTER_PID=") && l.len() > "TASKMASTER_PID=".len()),
        "{exit}"
    );
    // Its end is in the event log, under the job name the SPEC gives it.
    h.wait_log(&["crash.on-event-0", "ended: exit code 0"]);
    // A state it did not ask for ran nothing.
    assert!(!h.path("hook.STARTING").exists());
}

#[test]
fn a_hooks_output_goes_to_the_event_log() {
    let mut h = Harness::new();
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    on-event \"RUNNING\" \"/bin/echo hello from ${TASKMASTER_NAME} hook\"\n}\n",
    );
    h.start();
    h.wait_log(&["web.on-event-0: hello from web hook"]);
}

#[test]
fn a_hooks_stdout_and_stderr_go_to_the_event_log_in_order_and_bounded() {
    let mut h = Harness::new();
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    on-event \"RUNNING\" \"/bin/sh -c 'echo first; echo second >&2; seq 3 200'\"\n}\n",
    );
    h.start();
    h.wait_log(&["web.on-event-0", "ended: exit code 0"]);
    h.wait_log(&["web.on-event-0: (150 more line(s) not logged)"]);
    let log = h.log_text();
    let hook: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_once("web.on-event-0: ").map(|(_, text)| text))
        .collect();
    assert_eq!(hook[..3], ["first", "second", "3"], "{log}");
    assert_eq!(hook[49], "50", "{log}");
    assert_eq!(hook.len(), 51, "{log}");
}

#[test]
fn a_running_hook_is_a_transient_job_in_status_and_one_that_hangs_is_stopped_after_30_s() {
    let mut h = Harness::new();
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    on-event \"RUNNING\" \"/bin/sh -c 'trap \\\"\\\" TERM; while :; do sleep 1; done'\"\n}\n",
    );
    h.start();
    h.wait_state("web.on-event-0", "RUNNING");
    let run = h.instance("web.on-event-0");
    assert_eq!(run["transient"], true, "{run}");
    assert_eq!(run["owner"], serde_json::Value::Null, "{run}");
    assert!(h.ok(&["status"]).contains("web.on-event-0"));
    // It ignores SIGTERM: stopped at 30 s (within TIMEOUT), killed 5 s later, then
    // forgotten.
    h.wait_log(&["web.on-event-0 still running after 30 s: stopping it"]);
    h.wait_log(&["web.on-event-0 (RUNNING of web) ended: signal KILL"]);
    wait_until("the ended run to be forgotten", || {
        !h.ok(&["status"]).contains("on-event")
    });
    // The service itself was never touched.
    h.wait_state("web", "RUNNING");
}

#[test]
fn a_crash_loop_never_runs_two_hooks_of_one_instance_at_once() {
    let mut h = Harness::new();
    let lock = h.p("lock");
    let runs = h.p("runs");
    // Each hook run takes 1.5 s, the service crashes far more often (after the restart
    // delays of 0.25 s, 0.5 s, …): runs must not overlap, and the events that came
    // meanwhile are folded into the next run.
    let script = h.path("hook.sh");
    std::fs::write(
        &script,
        format!(
            "mkdir {lock} 2>/dev/null || echo OVERLAP >> {runs}\necho \"$TASKMASTER_EVENT $TASKMASTER_EXIT_CODE\" >> {runs}\nsleep 1.5\nrmdir {lock}\n"
        ),
    )
    .expect("script");
    h.service(
        "loop",
        &format!(
            "service \"loop\" {{\n    cmd \"/bin/sh\" \"-c\" \"sleep 0.02; exit 7\"\n    starttime 0\n    autorestart \"always\"\n    on-event \"exit\" \"/bin/sh {}\"\n}}\n",
            script.display()
        ),
    );
    h.start();
    wait_until("three hook runs", || lines(&h.path("runs")).len() >= 3);
    let seen = std::fs::read_to_string(h.path("runs")).unwrap_or_default();
    assert!(!seen.contains("OVERLAP"), "hooks overlapped:\n{seen}");
    assert!(seen.lines().all(|l| l == "exit 7"), "{seen}");
    h.wait_log(&["loop.on-event-0", "folded into this run"]);
    // The daemon answers at once meanwhile.
    assert!(h.ok(&["status", "loop"]).contains("loop"));
}

#[test]
fn tmctl_events_streams_each_state_change_as_json_lines() {
    let mut h = Harness::new();
    h.sleeper("web").sleeper("other");
    h.start();
    h.wait_state("web", "RUNNING");
    h.wait_state("other", "RUNNING");
    let events = Streaming::spawn(h.ctl_command(&["--json", "events", "web"]));
    // Subscribed once the daemon has acknowledged; a stop then shows up.
    wait_until("the subscription", || {
        h.ok(&["stop", "web"]);
        h.ok(&["start", "web"]);
        events.text().contains("\"event\":\"STOPPED\"")
    });
    h.ok(&["stop", "other"]);
    events.expect("\"event\":\"RUNNING\"");
    let text = events.text();
    let mut objects = Vec::new();
    for line in text.lines() {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        objects.push(value);
    }
    assert!(
        objects.iter().all(|o| o["name"] == "web"),
        "only web's events: {text}"
    );
    let stopped = objects
        .iter()
        .find(|o| o["event"] == "STOPPED")
        .expect("STOPPED");
    assert_eq!(stopped["prev_state"], "STOPPING");
    assert_eq!(stopped["exit_signal"], "TERM");
    assert!(objects.iter().any(|o| o["event"] == "exit"), "{text}");
}

#[test]
fn tmctl_events_in_human_form_names_instance_state_and_the_state_before() {
    let mut h = Harness::new();
    h.sleeper("web");
    h.start();
    h.wait_state("web", "RUNNING");
    let events = Streaming::spawn(h.ctl_command(&["events"]));
    events.expect("following the state changes of every instance");
    h.ok(&["stop", "web"]);
    events.expect("web STOPPED (was STOPPING)");
    assert!(h.fails(&["events", "nosuch"]).contains("nosuch"));
}

#[test]
fn bad_hooks_watches_and_sockets_are_load_errors_naming_the_field() {
    let h = Harness::new();
    for (body, expected) in [
        (
            "on-event \"CRASHED\" \"/bin/true\"",
            "field `on-event`: unknown state \"CRASHED\"",
        ),
        ("on-event \"fatal\" \"/bin/true\"", "write it \"FATAL\""),
        ("on-event \"/bin/true\"", "got no state or no command"),
        (
            "on-event \"FATAL\"",
            "got the state \"FATAL\" and no command to run",
        ),
        ("on-event", "field `on-event`: expected one or more states"),
        (
            "on-event \"FATAL\" \"EXITED\"",
            "the last argument is the command to run",
        ),
        (
            "watch \"etc/app.conf\"",
            "got the relative path \"etc/app.conf\"",
        ),
        (
            "watch-signal \"HUP\"",
            "field `watch-signal`: needs `watch`",
        ),
        ("listen \"tcp:127.0.0.1:0\"", "port 0"),
        (
            "listen \"tcp:127.0.0.1:70000\"",
            "a port is from 1 to 65535",
        ),
        ("listen \"tcp:localhost:80\"", "not an IP address and port"),
        (
            "listen \"unix:run/app.sock\"",
            "a unix socket needs an absolute path",
        ),
        (
            "start-on-demand #true",
            "field `start-on-demand`: needs `listen`",
        ),
        (
            "console #true\n    stdout \"/tmp/x.log\"",
            "field `stdout`: a service with `console #true`",
        ),
    ] {
        h.service(
            "bad",
            &format!("service \"bad\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    {body}\n}}\n"),
        );
        let out = h.check();
        let said = text(&out);
        assert!(!out.status.success(), "{body}: accepted");
        assert!(
            said.contains(expected),
            "{body}: expected {expected:?} in\n{said}"
        );
        assert!(
            said.contains("bad.kdl:3:") || said.contains("bad.kdl:4:"),
            "{body}: no position in\n{said}"
        );
    }
}
