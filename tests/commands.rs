//! Every `tmctl` command against a real daemon: what it prints, its exit code, and what it
//! does to the processes.

use crate::common::*;
use std::time::{Duration, Instant};

const SLEEPER: &str = r#"cmd "/bin/sleep" "1000"
    starttime 0.1"#;

#[test]
fn the_table_the_daemon_writes_is_the_table_tmctl_makes_of_the_list() {
    // A plain `tmctl status` prints the table as taskmasterd wrote it (the reply is the
    // table itself); before, tmctl made it from the JSON list, as it still does for a
    // daemon without tables. Both must be the same bytes. States whose line does not
    // move with the clock (no uptime): a status of all, then one of names.
    let mut h = Harness::new();
    h.service(
        "all",
        &format!(
            r#"service "off" {{
    {SLEEPER}
    autostart #false
}}
service "many-q.1" {{
    {SLEEPER}
    numprocs 11
    autostart #false
}}
service "done" {{
    cmd "/bin/sh -c 'exit 4'"
    starttime 0
    autorestart "never"
}}
service "missing" {{
    cmd "/nonexistent/program" "--flag"
}}"#
        ),
    );
    h.start();
    h.wait_state("done", "EXITED");
    h.wait_state("missing", "FATAL");
    for names in [&[][..], &["missing", "many-q.1", "off"]] {
        let args: Vec<&str> = ["status"].iter().chain(names).copied().collect();
        let printed = h.ok(&args);
        let json: Vec<&str> = ["--json", "status"].iter().chain(names).copied().collect();
        let list: Vec<taskmaster::control::proto::InstanceStatus> =
            serde_json::from_str(&h.ok(&json)).expect("status --json");
        assert_eq!(
            printed,
            taskmaster::ctl::status_table::status_table(&list),
            "{names:?}"
        );
        assert!(printed.contains("many-q.1:10  STOPPED"), "{printed}");
        assert!(
            printed.contains("exec /nonexistent/program: No such file or directory"),
            "{printed}"
        );
    }
}

#[test]
fn status_text_and_json_carry_every_field() {
    let mut h = Harness::new();
    h.service(
        "all",
        &format!(
            r#"service "up" {{
    {SLEEPER}
}}
service "off" {{
    {SLEEPER}
    autostart #false
}}
service "done" {{
    cmd "/bin/sh -c 'exit 4'"
    starttime 0
    autorestart "never"
}}"#
        ),
    );
    h.start();
    let pid = h.running_pid("up");
    h.wait_state("done", "EXITED");

    let table = h.ok(&["status"]);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    let row = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no {name} in {table}"))
            .clone()
    };
    assert_eq!(row("up")[1..4], ["RUNNING", &pid.to_string(), "uptime"]);
    assert_eq!(row("off")[1..3], ["STOPPED", "-"]);
    assert_eq!(row("done")[1..5], ["EXITED", "-", "exit", "4"]);

    let up = h.instance("up");
    for key in [
        "name",
        "service",
        "state",
        "pid",
        "uptime_secs",
        "restarts",
        "exit_code",
        "exit_signal",
    ] {
        assert!(up.get(key).is_some(), "status --json lacks {key}: {up}");
    }
    assert_eq!(up["name"], "up");
    assert_eq!(up["service"], "up");
    assert_eq!(up["pid"], pid);
    assert!(up["uptime_secs"].is_u64(), "{up}");
    assert_eq!(up["restarts"], 0);
    assert!(
        up["exit_code"].is_null() && up["exit_signal"].is_null(),
        "{up}"
    );
    let off = h.instance("off");
    assert!(
        off["pid"].is_null() && off["uptime_secs"].is_null(),
        "{off}"
    );
    let done = h.instance("done");
    assert_eq!(done["exit_code"], 4);

    kill(pid, libc::SIGKILL);
    wait_until("up to come back", || h.pid("up").is_some_and(|p| p != pid));
    let up = h.instance("up");
    assert_eq!(up["exit_signal"], "KILL", "{up}");
    assert!(up["exit_code"].is_null(), "{up}");
    assert_eq!(up["restarts"], 1);

    // status NAME limits the answer.
    let only = h.ok(&["--json", "status", "done"]);
    let only: serde_json::Value = serde_json::from_str(&only).expect("json");
    assert_eq!(only.as_array().map(Vec::len), Some(1), "{only}");
}

#[test]
fn start_stop_restart_by_instance_service_and_all() {
    let mut h = Harness::new();
    h.service(
        "svc",
        &format!(
            r#"service "w" {{
    {SLEEPER}
    numprocs 2
}}
service "s" {{
    {SLEEPER}
}}"#
        ),
    );
    h.start();
    let w0 = h.running_pid("w:0");
    let w1 = h.running_pid("w:1");
    let s = h.running_pid("s");

    assert_eq!(h.ok(&["stop", "w:1"]), "w:1: STOPPED\n");
    assert!(!alive(w1));
    assert_eq!(h.state("w:1"), "STOPPED");
    assert_eq!(h.pid("w:0"), Some(w0), "stopping w:1 leaves w:0 alone");

    assert_eq!(h.ok(&["start", "w:1"]), "w:1: RUNNING\n");
    let w1 = h.pid("w:1").expect("w:1 pid");
    assert!(alive(w1));

    assert_eq!(h.ok(&["stop", "w"]), "w:0: STOPPED\nw:1: STOPPED\n");
    assert_eq!(h.pid("s"), Some(s));
    assert_eq!(h.ok(&["start", "w"]), "w:0: RUNNING\nw:1: RUNNING\n");

    let before: Vec<i32> = ["w:0", "w:1", "s"]
        .iter()
        .map(|n| h.running_pid(n))
        .collect();
    let out = h.ok(&["restart", "all"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.lines().all(|l| l.ends_with(": RUNNING")), "{out}");
    for (name, old) in ["w:0", "w:1", "s"].iter().zip(before) {
        let new = h.pid(name).expect("pid after restart");
        assert_ne!(new, old, "{name} has a new process");
        assert!(!alive(old));
    }
    // A user's restart is not an automatic one.
    assert_eq!(h.instance("s")["restarts"], 0);

    h.ok(&["stop", "all"]);
    for name in ["w:0", "w:1", "s"] {
        assert_eq!(h.state(name), "STOPPED");
    }
    // Starting something already running is fine and says so.
    h.ok(&["start", "s"]);
    assert_eq!(h.ok(&["start", "s"]), "s: RUNNING\n");
}

#[test]
fn start_waits_for_running_or_says_it_failed() {
    let mut h = Harness::new();
    h.service(
        "svc",
        r#"service "slow" {
    cmd "/bin/sleep" "1000"
    starttime 2
    autostart #false
}
service "crashy" {
    cmd "/bin/sh -c 'exit 1'"
    starttime 1
    startretries 1
    autostart #false
}"#,
    );
    h.start();
    let asked = Instant::now();
    assert_eq!(h.ok(&["start", "slow"]), "slow: RUNNING\n");
    assert!(
        asked.elapsed() >= Duration::from_millis(1900),
        "answered before starttime"
    );
    assert_eq!(h.state("slow"), "RUNNING");

    let out = h.ctl(&["start", "crashy"]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(said.contains("crashy: FATAL"), "{said}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("start failed for crashy"),
        "{said}"
    );
}

#[test]
fn pause_and_resume_and_stops_and_continues_from_outside() {
    let mut h = Harness::new();
    h.service("p", &format!("service \"p\" {{\n    {SLEEPER}\n}}"));
    h.start();
    let pid = h.running_pid("p");
    let stopped = || proc_state(pid) == 'T';

    h.ok(&["pause", "p"]);
    h.wait_state("p", "PAUSED");
    assert!(stopped(), "paused process is stopped: {}", proc_state(pid));
    h.ok(&["resume", "p"]);
    h.wait_state("p", "RUNNING");
    assert!(!stopped());

    // SIGSTOP and SIGCONT from someone else are seen too.
    kill(pid, libc::SIGSTOP);
    h.wait_state("p", "PAUSED");
    kill(pid, libc::SIGCONT);
    h.wait_state("p", "RUNNING");
    assert_eq!(h.pid("p"), Some(pid));
    h.wait_log(&["p", &format!("pid {pid}"), "paused"]);
    h.wait_log(&["p", &format!("pid {pid}"), "resumed"]);

    // A paused process still stops with its stop signal (continued so it can act on it),
    // not by SIGKILL after stoptime.
    h.ok(&["pause", "p"]);
    h.wait_state("p", "PAUSED");
    h.ok(&["stop", "p"]);
    assert!(!alive(pid));
    assert_eq!(h.instance("p")["exit_signal"], "TERM");
}

/// The state letter of /proc/PID/stat (R, S, T, Z...).
fn proc_state(pid: i32) -> char {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().chars().next())
        })
        .flatten()
        .unwrap_or('?')
}

#[test]
fn signal_sends_any_signal_to_the_process() {
    let mut h = Harness::new();
    h.service(
        "sig",
        &format!(
            r##"service "sig" {{
    cmd "/bin/sh" "-c" #"trap 'echo USR1 >> "$0"' USR1; trap 'echo HUP >> "$0"' HUP; echo ready >> "$0"; while :; do sleep 1 & wait; done"# "{}"
}}"##,
            h.p("got")
        ),
    );
    h.start();
    wait_lines(&h.path("got"), 1);
    let pid = h.pid("sig").expect("pid");
    let out = h.ok(&["signal", "USR1", "sig"]);
    assert!(out.contains("SIGUSR1"), "{out}");
    assert_eq!(wait_lines(&h.path("got"), 2)[1], "USR1");
    h.ok(&["signal", "SIGHUP", "sig"]);
    assert_eq!(wait_lines(&h.path("got"), 3)[2], "HUP");
    // Caught signals: the same process goes on.
    assert_eq!(h.pid("sig"), Some(pid));
    assert_eq!(h.instance("sig")["restarts"], 0);
    let err = h.fails(&["signal", "BOGUS", "sig"]);
    assert!(err.contains("BOGUS"), "{err}");
}

#[test]
fn tail_shows_recent_output_and_follow_streams_new_lines() {
    let mut h = Harness::new();
    h.service(
        "talker",
        &format!(
            r##"service "talker" {{
    cmd "/bin/sh" "-c" #"echo first line; while [ ! -e "$0" ]; do sleep 0.02; done; echo second line; exec sleep 1000"# "{}"
}}
service "many" {{
    {SLEEPER}
    numprocs 2
}}"##,
            h.p("go")
        ),
    );
    h.start();
    wait_until("first line captured", || {
        h.ok(&["tail", "talker"]) == "first line\n"
    });
    let follow = Streaming::spawn(h.ctl_command(&["tail", "-f", "talker"]));
    follow.expect("first line\n");
    touch(&h.path("go"));
    follow.expect("first line\nsecond line\n");
    // A service with several instances needs NAME:N.
    let err = h.fails(&["tail", "many"]);
    assert!(err.contains("many:0"), "{err}");
    h.ok(&["tail", "many:1"]);
}

#[test]
fn shutdown_stops_everything_and_the_daemon_exits_0() {
    let mut h = Harness::new();
    h.service(
        "svc",
        &format!(
            r##"service "a" {{
    {SLEEPER}
    numprocs 2
}}
service "b" {{
    cmd "/bin/sh" "-c" #"sleep 1000 & echo $! > "$0"; wait"# "{}"
}}"##,
            h.p("grandchild")
        ),
    );
    h.start();
    let mut pids: Vec<i32> = ["a:0", "a:1", "b"]
        .iter()
        .map(|n| h.running_pid(n))
        .collect();
    pids.push(
        wait_file(&h.path("grandchild"))
            .trim()
            .parse()
            .expect("a pid"),
    );
    let out = h.ok(&["shutdown"]);
    assert!(out.contains("shutting down"), "{out}");
    assert_eq!(h.wait_exit(), Some(0));
    for pid in pids {
        assert!(!alive(pid), "{pid} outlived the daemon");
    }
    assert!(!h.socket.exists(), "the socket file is removed");
    h.wait_log(&["shutdown"]);
}

#[test]
fn sigterm_and_sigint_to_the_daemon_shut_it_down() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut h = Harness::new();
        h.service(
            "svc",
            &format!("service \"a\" {{\n    {SLEEPER}\n}}\nservice \"b\" {{\n    {SLEEPER}\n}}"),
        );
        h.start();
        let pids = [h.running_pid("a"), h.running_pid("b")];
        h.signal_daemon(signal);
        assert_eq!(h.wait_exit(), Some(0), "exit code after signal {signal}");
        for pid in pids {
            assert!(!alive(pid));
        }
        let name = if signal == libc::SIGTERM {
            "SIGTERM"
        } else {
            "SIGINT"
        };
        h.wait_log(&[name, "shutdown"]);
    }
}

#[test]
fn graph_prints_the_start_order_and_dot() {
    let mut h = Harness::new();
    h.service(
        "g",
        &format!(
            r#"service "db" {{
    {SLEEPER}
}}
service "web" {{
    {SLEEPER}
    requires "db"
}}
service "cache" {{
    {SLEEPER}
    wants "db"
}}
service "lone" {{
    {SLEEPER}
}}"#
        ),
    );
    h.start();
    let graph = h.ok(&["graph"]);
    let position = |name: &str| {
        graph
            .find(name)
            .unwrap_or_else(|| panic!("{name} not in graph: {graph}"))
    };
    assert!(position("db") < position("web"), "{graph}");
    assert!(position("db") < position("cache"), "{graph}");
    position("lone");
    let dot = h.ok(&["graph", "--dot"]);
    assert!(dot.trim_start().starts_with("digraph"), "{dot}");
    assert!(dot.contains(r#""db" -> "web""#), "{dot}");
    assert!(dot.contains(r#""db" -> "cache""#), "{dot}");
    assert!(dot.contains(r#""lone""#), "{dot}");
    assert!(dot.trim_end().ends_with('}'), "{dot}");
}

#[test]
fn an_unknown_service_is_an_error_for_every_command() {
    let mut h = Harness::new();
    h.service(
        "a",
        &format!("service \"a\" {{\n    {SLEEPER}\n    numprocs 2\n}}"),
    );
    h.start();
    h.wait_state("a:0", "RUNNING");
    for args in [
        &["status", "nope"][..],
        &["start", "nope"],
        &["stop", "nope"],
        &["restart", "nope"],
        &["pause", "nope"],
        &["resume", "nope"],
        &["signal", "TERM", "nope"],
        &["tail", "nope"],
        &["start", "a", "nope"],
        &["stop", "a:7"],
        &["status", "a:x"],
    ] {
        let err = h.fails(args);
        assert_eq!(err.lines().count(), 1, "one line for {args:?}: {err}");
        let named = args.last().expect("a name");
        let shown = named.split(':').next().unwrap_or(named);
        assert!(err.contains(shown), "{args:?} should name {named}: {err}");
    }
    // Nothing was touched by the failed `start a nope` / `stop a:7`.
    assert_eq!(h.state("a:0"), "RUNNING");
    assert_eq!(h.state("a:1"), "RUNNING");
}

#[test]
fn tmctl_without_a_daemon_says_it_cannot_connect() {
    let h = Harness::new();
    let out = h.ctl(&["status"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains(&h.socket.display().to_string()), "{err}");
}

#[test]
fn reboot_poweroff_and_halt_are_refused_when_not_pid_1() {
    let mut h = Harness::new();
    h.service("a", &format!("service \"a\" {{\n    {SLEEPER}\n}}"));
    h.start();
    let pid = h.running_pid("a");
    for command in ["reboot", "poweroff", "halt"] {
        let err = h.fails(&[command]);
        assert!(err.contains("PID 1"), "{command}: {err}");
    }
    assert!(h.daemon_alive());
    assert_eq!(h.pid("a"), Some(pid));
}

#[test]
fn json_output_for_start_stop_and_reload() {
    let mut h = Harness::new();
    h.service("a", &format!("service \"a\" {{\n    {SLEEPER}\n}}"));
    h.start();
    h.wait_state("a", "RUNNING");
    let json = |args: &[&str]| -> serde_json::Value {
        let out = h.ok(&[&["--json"][..], args].concat());
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    };
    let stopped = json(&["stop", "a"]);
    assert_eq!(stopped["ok"], true, "{stopped}");
    assert_eq!(stopped["results"][0]["name"], "a", "{stopped}");
    let started = json(&["start", "a"]);
    assert_eq!(started["results"][0]["message"], "RUNNING", "{started}");
    h.service("b", &format!("service \"b\" {{\n    {SLEEPER}\n}}"));
    let reloaded = json(&["reload"]);
    assert_eq!(
        reloaded,
        serde_json::json!({"result": "reload", "ok": true, "results": [
            {"name": "b", "action": "added", "ok": true, "message": "RUNNING"}]}),
    );
}

#[test]
fn pause_resume_and_signal_of_a_stopped_service_say_it_is_not_running() {
    let mut h = Harness::new();
    h.service(
        "off",
        &format!("service \"off\" {{\n    {SLEEPER}\n    autostart #false\n}}"),
    );
    h.start();
    for args in [
        &["pause", "off"][..],
        &["resume", "off"],
        &["signal", "HUP", "off"],
    ] {
        let err = h.fails(args);
        assert!(err.contains("not running: off"), "{args:?}: {err}");
    }
    assert_eq!(h.state("off"), "STOPPED");
}
