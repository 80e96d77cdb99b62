//! Dependency order with real processes: each service appends `NAME start NS` when it
//! starts and `NAME stop SIGNAL NS` when its stop signal arrives to one shared file, so
//! the file's lines are the order in which things really happened.

use crate::common::*;
use std::path::Path;

/// A service that records its start and its stop (with the signal) in `file`. It is up
/// (`ready "fd:3"`) once its traps are set and its start line is written, not after a
/// fixed starttime: on a loaded machine a shell may take longer than that to get there,
/// and a dependent's line would come first or a stop signal find no trap.
fn recorder(name: &str, file: &Path, extra: &str) -> String {
    format!(
        r##"service "{name}" {{
    cmd "/bin/sh" "-c" #"for s in TERM INT; do trap "echo \"$0 stop $s \$(date +%s%N)\" >> '$1'; exit 0" $s; done; echo "$0 start $(date +%s%N)" >> "$1"; echo >&3; exec 3>&-; while :; do sleep 1 & wait; done"# "{name}" "{}"
    ready "fd:3"
    {extra}
}}
"##,
        file.display()
    )
}

/// The events in the file's order, without timestamps: `a start`, `a stop TERM`...
/// (Line order is the causal order: a dependent's line is written before its dependency
/// is even signalled. Stamps of events that run in parallel may be out of order.)
fn events(file: &Path) -> Vec<String> {
    lines(file)
        .iter()
        .map(|line| {
            let (event, stamp) = line.rsplit_once(' ').expect("NAME EVENT NS");
            assert!(stamp.parse::<u128>().is_ok(), "a timestamp in {line}");
            event.to_string()
        })
        .collect()
}

fn wait_events(file: &Path, n: usize) -> Vec<String> {
    wait_lines(file, n);
    events(file)
}

fn position(events: &[String], event: &str) -> usize {
    events
        .iter()
        .position(|e| e == event)
        .unwrap_or_else(|| panic!("no {event:?} in {events:?}"))
}

#[test]
fn a_chain_starts_in_order_and_shuts_down_in_exact_reverse() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service("a", &recorder("a", &file, ""));
    h.service("b", &recorder("b", &file, r#"requires "a""#));
    h.service("c", &recorder("c", &file, r#"requires "b""#));
    h.service("d", &recorder("d", &file, r#"requires "c""#));
    h.start();
    assert_eq!(
        wait_events(&file, 4),
        ["a start", "b start", "c start", "d start"]
    );
    h.wait_state("d", "RUNNING");
    h.ok(&["shutdown"]);
    assert_eq!(h.wait_exit(), Some(0));
    assert_eq!(
        events(&file)[4..],
        ["d stop TERM", "c stop TERM", "b stop TERM", "a stop TERM"]
    );
}

#[test]
fn sigterm_shutdown_uses_each_services_own_stop_signal_in_reverse_order() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service("db", &recorder("db", &file, ""));
    h.service(
        "app",
        &recorder("app", &file, "requires \"db\"\n    stopsignal \"INT\""),
    );
    h.service("proxy", &recorder("proxy", &file, r#"requires "app""#));
    h.start();
    h.wait_state("proxy", "RUNNING");
    h.signal_daemon(libc::SIGTERM);
    assert_eq!(h.wait_exit(), Some(0));
    assert_eq!(
        events(&file),
        [
            "db start",
            "app start",
            "proxy start",
            "proxy stop TERM",
            "app stop INT",
            "db stop TERM"
        ]
    );
}

#[test]
fn a_diamond_waits_for_both_sides_and_stops_from_the_top() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service("base", &recorder("base", &file, ""));
    h.service("left", &recorder("left", &file, r#"requires "base""#));
    h.service("right", &recorder("right", &file, r#"requires "base""#));
    h.service("top", &recorder("top", &file, r#"requires "left" "right""#));
    h.start();
    let started = wait_events(&file, 4);
    assert_eq!(started[0], "base start");
    assert_eq!(started[3], "top start");
    h.wait_state("top", "RUNNING");
    h.ok(&["shutdown"]);
    assert_eq!(h.wait_exit(), Some(0));
    let all = events(&file);
    let stopped = &all[4..];
    assert_eq!(stopped.len(), 4, "{all:?}");
    assert_eq!(stopped[0], "top stop TERM");
    assert_eq!(stopped[3], "base stop TERM");
    // The two sides, in either order, between them.
    let mut middle = stopped[1..3].to_vec();
    middle.sort();
    assert_eq!(middle, ["left stop TERM", "right stop TERM"]);
}

#[test]
fn unrelated_services_do_not_wait_for_a_slow_one() {
    let mut h = Harness::new();
    h.service(
        "slow",
        r#"service "slow" {
    cmd "/bin/sleep" "1000"
    starttime 8
}"#,
    );
    h.service(
        "quick",
        r#"service "quick" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
}
service "after-quick" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
    requires "quick"
}"#,
    );
    h.start();
    h.wait_state("after-quick", "RUNNING");
    assert_eq!(h.state("slow"), "STARTING");
}

#[test]
fn a_failed_dependency_holds_its_dependents_back_and_says_why() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service(
        "db",
        r#"service "db" {
    cmd "/bin/sh -c 'exit 1'"
    starttime 1
    startretries 0
}"#,
    );
    h.service("web", &recorder("web", &file, r#"requires "db""#));
    h.service("cache", &recorder("cache", &file, r#"wants "db""#));
    h.start();
    h.wait_state("db", "FATAL");
    // A soft dependency's failure does not block.
    h.wait_state("cache", "RUNNING");
    wait_until("web to be held back", || {
        h.detail("web") == "dependency db is FATAL"
    });
    assert_eq!(h.state("web"), "PENDING");
    assert!(h.pid("web").is_none());
    let table = h.ok(&["status", "web"]);
    assert!(
        table.contains("PENDING") && table.contains("dependency db is FATAL"),
        "{table}"
    );
    h.wait_log(&["web", "dependency db is FATAL", "PENDING"]);
    // Asking for it again tries db again, which fails again: start says so.
    let out = h.ctl(&["start", "web"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("dependency db is FATAL"),
        "{}",
        text(&out)
    );
    assert_eq!(events(&file), ["cache start"], "web never ran");
}

#[test]
fn a_oneshot_runs_to_completion_before_its_dependents() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service(
        "setup",
        &format!(
            r##"service "setup" {{
    type "oneshot"
    cmd "/bin/sh" "-c" #"echo "setup start $(date +%s%N)" >> "$0"; sleep 0.5; echo "setup done $(date +%s%N)" >> "$0""# "{}"
}}"##,
            file.display()
        ),
    );
    h.service("app", &recorder("app", &file, r#"requires "setup""#));
    h.start();
    assert_eq!(
        wait_events(&file, 3),
        ["setup start", "setup done", "app start"]
    );
    h.wait_state("app", "RUNNING");
    let setup = h.instance("setup");
    assert_eq!(setup["state"], "EXITED");
    assert_eq!(setup["exit_code"], 0);
    assert!(setup["pid"].is_null());
}

#[test]
fn a_failed_oneshot_holds_its_dependents_back() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service(
        "migrate",
        r#"service "migrate" {
    type "oneshot"
    cmd "/bin/sh -c 'exit 2'"
}"#,
    );
    h.service("app", &recorder("app", &file, r#"requires "migrate""#));
    h.start();
    h.wait_state("migrate", "FATAL");
    assert_eq!(h.instance("migrate")["exit_code"], 2);
    wait_until("app to be held back", || {
        h.detail("app") == "dependency migrate is FATAL"
    });
    assert_eq!(h.state("app"), "PENDING");
    assert!(events(&file).is_empty());
}

#[test]
fn stopping_a_dependency_stops_its_dependents_first_and_start_pulls_it_back() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service("db", &recorder("db", &file, ""));
    h.service("web", &recorder("web", &file, r#"requires "db""#));
    h.service("api", &recorder("api", &file, r#"requires "db""#));
    h.service("other", &recorder("other", &file, ""));
    h.start();
    for name in ["web", "api", "other"] {
        h.wait_state(name, "RUNNING");
    }
    let other = h.pid("other");
    let before = events(&file).len();

    h.ok(&["stop", "db"]);
    let all = events(&file);
    let stops = &all[before..];
    assert_eq!(stops.len(), 3, "{all:?}");
    assert_eq!(stops[2], "db stop TERM", "db stops last: {all:?}");
    for name in ["web", "api", "db"] {
        assert_eq!(h.state(name), "STOPPED", "{name}");
    }
    assert_eq!(h.pid("other"), other, "unrelated services are left alone");

    // `start web` starts what web requires first, and nothing else.
    assert_eq!(
        h.ok(&["start", "web"]),
        "web: RUNNING\ndb: started for web: RUNNING\n"
    );
    let all = events(&file);
    assert_eq!(all[before + 3..], ["db start", "web start"]);
    assert_eq!(h.state("db"), "RUNNING");
    assert_eq!(h.state("api"), "STOPPED");
}

#[test]
fn a_bound_dependency_that_dies_takes_its_dependents_down_and_up_with_it() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service("db", &recorder("db", &file, ""));
    h.service("web", &recorder("web", &file, r#"binds-to "db""#));
    h.start();
    let db = h.running_pid("db");
    let web = h.running_pid("web");
    kill(db, libc::SIGKILL);
    wait_until("web to come back with a new pid", || {
        h.pid("web").is_some_and(|p| p != web) && h.state("web") == "RUNNING"
    });
    assert!(!alive(web));
    let all = events(&file);
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(all[..2], ["db start", "web start"], "{all:?}");
    // db is restarted at once, while web is still stopping: which of the two lines is
    // written first is up to the scheduler. web comes back only after db is up again.
    let mut middle = all[2..4].to_vec();
    middle.sort();
    assert_eq!(middle, ["db start", "web stop TERM"], "{all:?}");
    assert_eq!(all[4], "web start", "{all:?}");
}

#[test]
fn after_and_before_order_without_pulling_anything_in() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service("y", &recorder("y", &file, ""));
    h.service("x", &recorder("x", &file, r#"after "y""#));
    h.service("z", &recorder("z", &file, r#"before "y""#));
    h.service("off", &recorder("off", &file, "autostart #false"));
    h.service("needs-off", &recorder("needs-off", &file, r#"after "off""#));
    h.start();
    let started = wait_events(&file, 4);
    assert!(
        position(&started, "z start") < position(&started, "y start"),
        "{started:?}"
    );
    assert!(
        position(&started, "y start") < position(&started, "x start"),
        "{started:?}"
    );
    h.wait_state("needs-off", "RUNNING");
    // `after` is ordering only: `off` was not started for it.
    assert_eq!(h.state("off"), "STOPPED");
    h.wait_state("x", "RUNNING");
    let y_running = log_time(&h.wait_log(&["y (pid", "is RUNNING"]));
    let x_spawned = log_time(&h.wait_log(&["x spawned"]));
    assert!(x_spawned >= y_running, "x was spawned before y was RUNNING");
}

#[test]
fn restarting_a_dependency_restarts_its_dependents_after_it() {
    let mut h = Harness::new();
    let file = h.path("order");
    h.service("db", &recorder("db", &file, ""));
    h.service("web", &recorder("web", &file, r#"requires "db""#));
    h.service("proxy", &recorder("proxy", &file, r#"requires "web""#));
    h.start();
    h.wait_state("proxy", "RUNNING");
    let out = h.ok(&["restart", "db"]);
    assert_eq!(
        out,
        "db: restarted: RUNNING\nweb: restarted with db: RUNNING\nproxy: restarted with db: RUNNING\n"
    );
    wait_until("proxy to be back", || {
        lines(&file).len() >= 9 && h.state("proxy") == "RUNNING"
    });
    assert_eq!(
        events(&file)[3..],
        [
            "proxy stop TERM",
            "web stop TERM",
            "db stop TERM",
            "db start",
            "web start",
            "proxy start"
        ]
    );
}

#[test]
fn start_stop_and_restart_name_every_dependency_and_dependent_they_touch_and_wait_for_them() {
    let mut h = Harness::new();
    h.service(
        "stack",
        r#"service "store" {
    cmd "/bin/sleep" "1000"
    starttime 0.2
}
service "api" {
    cmd "/bin/sleep" "1000"
    requires "store"
    // Slow to come up: an answer before it is RUNNING would be a lie.
    starttime 1
}
service "web" {
    cmd "/bin/sleep" "1000"
    starttime 0.2
}
service "worker" {
    cmd "/bin/sleep" "1000"
    requires "web"
    numprocs 2
    starttime 0.2
}"#,
    );
    h.start();
    h.wait_state("api", "RUNNING");
    h.wait_state("worker:1", "RUNNING");

    // restart store: api went down and came back with it, and the answer waited for it.
    let old_api = h.running_pid("api");
    assert_eq!(
        h.ok(&["restart", "store"]),
        "store: restarted: RUNNING\napi: restarted with store: RUNNING\n"
    );
    assert_eq!(h.state("api"), "RUNNING");
    assert_ne!(h.pid("api"), Some(old_api));

    // stop web: the workers that require it stopped first, and are named.
    assert_eq!(
        h.ok(&["stop", "web"]),
        "web: STOPPED\nworker:0: stopped with web: STOPPED\nworker:1: stopped with web: STOPPED\n"
    );
    assert_eq!(h.state("worker:0"), "STOPPED");

    // start worker:1: web comes back for it, and is named too.
    assert_eq!(
        h.ok(&["start", "worker:1"]),
        "worker:1: RUNNING\nweb: started for worker: RUNNING\n"
    );
    assert_eq!(h.state("web"), "RUNNING");
    assert_eq!(
        h.state("worker:0"),
        "STOPPED",
        "only what was asked for and needs"
    );
    // --json: the same, one result each.
    let json: serde_json::Value =
        serde_json::from_str(&h.ok(&["--json", "stop", "web"])).expect("json");
    let results: Vec<(String, String)> = json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap_or("").to_string(),
                r["action"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("web".to_string(), String::new()),
            ("worker:1".to_string(), "stopped with web".to_string())
        ]
    );
}
