//! Each service-file field does what SPEC.md says, seen from outside: in the processes'
//! argv, umask, cwd, environment, files and signals, and in `tmctl status`.

use crate::common::*;
use std::time::{Duration, Instant};

#[test]
fn cmd_as_one_string_is_split_with_shell_word_rules() {
    let mut h = Harness::new();
    let out = h.p("argv");
    // $0 is `zero`; the quoted words stay whole; nothing is expanded by a shell.
    h.service(
        "split",
        &format!(
            r##"service "split" {{
    cmd #"/bin/sh -c 'for a; do echo "[$a]"; done > {out}; exec sleep 1000' zero 'two words' "double quoted" plain"#
}}"##
        ),
    );
    h.start();
    let argv = wait_lines(&h.path("argv"), 3);
    assert_eq!(argv, ["[two words]", "[double quoted]", "[plain]"]);
}

#[test]
fn cmd_as_several_strings_is_a_literal_argv() {
    let mut h = Harness::new();
    h.service(
        "literal",
        &format!(
            r##"service "literal" {{
    cmd "/bin/sh" "-c" #"for a; do printf "[%s]\n" "$a"; done > "$0"; exec sleep 1000"# "{}" "'single'" "two words" "$HOME" "*" #"a\b"#
}}"##,
            h.p("argv")
        ),
    );
    h.start();
    let argv = wait_lines(&h.path("argv"), 5);
    assert_eq!(
        argv,
        ["['single']", "[two words]", "[$HOME]", "[*]", r"[a\b]"]
    );
}

#[test]
fn numprocs_makes_numbered_instances_each_with_its_own_process() {
    let mut h = Harness::new();
    h.service(
        "worker",
        r##"service "worker" {
    cmd "/bin/sleep" "1000"
    numprocs 3
    starttime 0.1
}
service "single" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
}"##,
    );
    h.start();
    let mut pids = Vec::new();
    for name in ["worker:0", "worker:1", "worker:2"] {
        let pid = h.running_pid(name);
        assert!(alive(pid));
        pids.push(pid);
        assert_eq!(h.instance(name)["service"], "worker");
    }
    pids.dedup();
    assert_eq!(pids.len(), 3, "each instance has its own pid");
    // numprocs 1: the instance is the service's bare name.
    h.wait_state("single", "RUNNING");
    let names: Vec<String> = h
        .status()
        .iter()
        .map(|i| i["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(names, ["single", "worker:0", "worker:1", "worker:2"]);
    // `tmctl status worker` lists its instances; `worker:1` just that one.
    let out = h.ok(&["status", "worker"]);
    assert_eq!(out.lines().count(), 3, "{out}");
    let out = h.ok(&["--json", "status", "worker:1"]);
    assert!(
        out.contains("worker:1") && !out.contains("worker:0"),
        "{out}"
    );
}

#[test]
fn umask_is_set_before_exec() {
    let mut h = Harness::new();
    let script = r##"umask > "$0"; exec sleep 1000"##;
    h.service(
        "masks",
        &format!(
            r##"service "quoted" {{
    cmd "/bin/sh" "-c" #"{script}"# "{}"
    umask "027"
}}
service "octal" {{
    cmd "/bin/sh" "-c" #"{script}"# "{}"
    umask 0o002
}}"##,
            h.p("quoted"),
            h.p("octal")
        ),
    );
    h.start();
    assert_eq!(wait_file(&h.path("quoted")), "0027\n");
    assert_eq!(wait_file(&h.path("octal")), "0002\n");
}

#[test]
fn workingdir_is_the_cwd_and_defaults_to_root() {
    let mut h = Harness::new();
    let dir = h.path("work");
    std::fs::create_dir(&dir).expect("mkdir");
    let script = r##"pwd > "$0"; exec sleep 1000"##;
    h.service(
        "cwd",
        &format!(
            r##"service "here" {{
    cmd "/bin/sh" "-c" #"{script}"# "{}"
    workingdir "{}"
}}
service "default" {{
    cmd "/bin/sh" "-c" #"{script}"# "{}"
}}"##,
            h.p("here"),
            dir.display(),
            h.p("default")
        ),
    );
    h.start();
    assert_eq!(wait_file(&h.path("here")).trim(), dir.display().to_string());
    assert_eq!(wait_file(&h.path("default")), "/\n");
}

#[test]
fn autostart_false_waits_for_a_start() {
    let mut h = Harness::new();
    h.service(
        "lazy",
        r##"service "lazy" {
    cmd "/bin/sleep" "1000"
    autostart #false
    starttime 0.1
}
service "eager" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
}"##,
    );
    h.start();
    // Once the eager one is up, the boot is over: the lazy one was never spawned.
    h.wait_state("eager", "RUNNING");
    let lazy = h.instance("lazy");
    assert_eq!(lazy["state"], "STOPPED");
    assert!(lazy["pid"].is_null());
    assert!(
        h.log_line(&["lazy", "spawned"]).is_none(),
        "{}",
        h.log_text()
    );
    let out = h.ok(&["start", "lazy"]);
    assert_eq!(out, "lazy: RUNNING\n");
    assert!(alive(h.pid("lazy").expect("pid after start")));
}

/// A service that reaches RUNNING and exits with `code` when the test touches `DIR/NAME.go`.
fn exits_on_cue(h: &Harness, name: &str, code: i32, autorestart: &str, exitcodes: &str) -> String {
    format!(
        r##"service "{name}" {{
    cmd "/bin/sh" "-c" #"echo run >> "$0.runs"; while [ ! -e "$0.go" ]; do sleep 0.02; done; rm -f "$0.go"; exit {code}"# "{}"
    starttime 0.1
    autorestart "{autorestart}"
    exitcodes {exitcodes}
}}
"##,
        h.p(name)
    )
}

#[test]
fn autorestart_always_never_unexpected_with_exitcodes() {
    let mut h = Harness::new();
    // (name, exit code, autorestart, exitcodes, restarted?)
    let table = [
        ("always-ok", 0, "always", "0", true),
        ("always-bad", 1, "always", "0", true),
        ("never-ok", 0, "never", "0", false),
        ("never-bad", 1, "never", "0", false),
        ("unexp-listed", 2, "unexpected", "0 2", false),
        ("unexp-other", 3, "unexpected", "0 2", true),
    ];
    let kdl: String = table
        .iter()
        .map(|(name, code, policy, codes, _)| exits_on_cue(&h, name, *code, policy, codes))
        .collect();
    h.service("policies", &kdl);
    h.start();
    let first: Vec<i32> = table.iter().map(|(name, ..)| h.running_pid(name)).collect();
    for (name, ..) in &table {
        touch(&h.path(&format!("{name}.go")));
    }
    for ((name, code, policy, _, restarted), pid) in table.iter().zip(first) {
        if *restarted {
            wait_until(
                &format!("{name} ({policy}, exit {code}) to come back"),
                || h.pid(name).is_some_and(|p| p != pid) && h.state(name) == "RUNNING",
            );
            let i = h.instance(name);
            assert_eq!(i["restarts"], 1, "{name}: {i}");
            assert_eq!(i["exit_code"], *code, "{name}: {i}");
            // RUNNING comes at starttime, not when the new shell has written its line.
            assert_eq!(wait_lines(&h.path(&format!("{name}.runs")), 2).len(), 2);
        } else {
            h.wait_state(name, "EXITED");
            let i = h.instance(name);
            assert!(i["pid"].is_null(), "{name}: {i}");
            assert_eq!(i["exit_code"], *code, "{name}: {i}");
            assert_eq!(i["restarts"], 0, "{name}: {i}");
            assert_eq!(lines(&h.path(&format!("{name}.runs"))).len(), 1);
        }
    }
    let expected = h.wait_log(&["unexp-listed", "exited with exit code 2", "(expected)"]);
    assert!(expected.contains("EXITED"), "{expected}");
    h.wait_log(&[
        "unexp-other",
        "exited with exit code 3",
        "(unexpected)",
        "restarting",
    ]);
}

#[test]
fn startretries_go_through_backoff_to_fatal_with_the_reason() {
    let mut h = Harness::new();
    h.service(
        "flaky",
        &format!(
            r##"service "flaky" {{
    cmd "/bin/sh" "-c" #"echo attempt >> "$0"; exit 1"# "{}"
    startretries 3
    starttime 1
}}"##,
            h.p("attempts")
        ),
    );
    h.start();
    // Retries wait 0.25 s, 0.5 s, then 1 s: long enough to see BACKOFF from outside.
    let mut seen = Vec::new();
    wait_until("flaky to be FATAL", || {
        let state = h.state("flaky");
        if seen.last() != Some(&state) {
            seen.push(state.clone());
        }
        state == "FATAL"
    });
    assert!(
        seen.contains(&"BACKOFF".to_string()),
        "states seen: {seen:?}"
    );
    // startretries 3 = 4 attempts, no more.
    assert_eq!(lines(&h.path("attempts")).len(), 4);
    let i = h.instance("flaky");
    assert_eq!(i["exit_code"], 1);
    let detail = i["detail"].as_str().unwrap_or("");
    assert!(
        detail.contains("exit code 1")
            && detail.contains("before starttime")
            && detail.contains("4 attempt"),
        "FATAL reason: {detail}"
    );
    for k in 1..=3 {
        h.wait_log(&["flaky", "BACKOFF", &format!("restart attempt {k}/3")]);
    }
    h.wait_log(&["flaky", "FATAL", "giving up"]);
    assert!(h.log_line(&["restart attempt 4/3"]).is_none());
}

#[test]
fn an_expected_exit_before_starttime_is_not_a_failed_start() {
    let mut h = Harness::new();
    h.service(
        "quick",
        r##"service "quick" {
    cmd "/bin/sh -c 'exit 0'"
    starttime 5
    startretries 3
}"##,
    );
    h.start();
    h.wait_state("quick", "EXITED");
    let i = h.instance("quick");
    assert_eq!(i["exit_code"], 0);
    assert_eq!(i["restarts"], 0);
    assert!(
        h.log_line(&["quick", "BACKOFF"]).is_none(),
        "{}",
        h.log_text()
    );
}

#[test]
fn starttime_holds_starting_until_it_has_passed() {
    let mut h = Harness::new();
    h.service(
        "slow",
        r##"service "slow" {
    cmd "/bin/sleep" "1000"
    starttime 3
}"##,
    );
    h.start();
    let i = h.instance("slow");
    assert_eq!(i["state"], "STARTING", "{i}");
    assert!(alive(
        i["pid"].as_i64().expect("a STARTING instance has a pid") as i32
    ));
    h.wait_state("slow", "RUNNING");
    h.wait_log(&["slow", "spawned with pid"]);
    h.wait_log(&["slow", "is RUNNING"]);
    // The daemon's own times of the spawn and of RUNNING (a log line's stamp is when it
    // was written, which on a loaded machine can be later than the event it tells).
    let analysis: serde_json::Value =
        serde_json::from_str(&h.ok(&["--json", "analyze", "slow"])).expect("JSON");
    let entry = &analysis["analysis"]["entries"][0];
    let spawned = entry["spawned_ms"].as_u64().expect("spawned_ms");
    let running = entry["ready_ms"].as_u64().expect("ready_ms");
    assert!(running >= spawned + 3000, "{entry}");
}

#[test]
fn stopsignal_is_the_signal_a_stop_sends() {
    let mut h = Harness::new();
    // Each service writes `ready`, then the name of the signal that stops it.
    let script = r##"for s in TERM INT USR1 USR2; do trap "echo $s > '$0'; exit 0" $s; done; echo ready > "$0"; while :; do sleep 1 & wait; done"##;
    let kdl: String = [
        ("by-name", "\"USR1\""),
        ("by-sig-name", "\"SIGINT\""),
        ("by-number", "12"),
        ("default", ""),
    ]
    .iter()
    .map(|(name, signal)| {
        let field = if signal.is_empty() {
            String::new()
        } else {
            format!("stopsignal {signal}")
        };
        format!(
            r##"service "{name}" {{
    cmd "/bin/sh" "-c" #"{script}"# "{}"
    {field}
}}
"##,
            h.p(name)
        )
    })
    .collect();
    h.service("signals", &kdl);
    h.start();
    for name in ["by-name", "by-sig-name", "by-number", "default"] {
        assert_eq!(wait_file(&h.path(name)), "ready\n");
    }
    h.ok(&["stop", "all"]);
    for (name, signal) in [
        ("by-name", "USR1"),
        ("by-sig-name", "INT"),
        ("by-number", "USR2"),
        ("default", "TERM"),
    ] {
        assert_eq!(
            std::fs::read_to_string(h.path(name))
                .unwrap_or_default()
                .trim(),
            signal,
            "{name}"
        );
        assert_eq!(h.state(name), "STOPPED");
    }
}

#[test]
fn stoptime_then_sigkill_for_a_program_that_ignores_its_stop_signal() {
    let mut h = Harness::new();
    h.service(
        "stubborn",
        &format!(
            r##"service "stubborn" {{
    cmd "/bin/sh" "-c" #"trap '' TERM; sleep 1000 & echo $! > "$0"; while :; do sleep 0.1; done"# "{}"
    stoptime 1
}}"##,
            h.p("ready")
        ),
    );
    h.start();
    // A child that ignores SIGTERM too (ignored signals are inherited).
    let child: i32 = wait_file(&h.path("ready")).trim().parse().expect("a pid");
    let pid = h.running_pid("stubborn");
    let asked = Instant::now();
    assert_eq!(h.ok(&["stop", "stubborn"]), "stubborn: STOPPED\n");
    assert!(
        asked.elapsed() >= Duration::from_millis(900),
        "stopped before stoptime"
    );
    assert!(!alive(pid));
    wait_until("the child to be killed with its group", || !alive(child));
    let i = h.instance("stubborn");
    assert_eq!(i["exit_signal"], "KILL", "{i}");
    assert!(i["exit_code"].is_null(), "{i}");
    h.wait_log(&["stubborn", &format!("pid {pid}"), "SIGKILL"]);
}

#[test]
fn stdout_and_stderr_files_are_appended_across_restarts() {
    let mut h = Harness::new();
    let (out, err) = (h.path("out.log"), h.path("err.log"));
    std::fs::write(&out, "from before\n").expect("seed");
    h.service(
        "writer",
        &format!(
            r##"service "writer" {{
    cmd "/bin/sh" "-c" #"echo "out $$$$"; echo "err $$$$" >&2; exec sleep 1000"#
    stdout "{}"
    stderr "{}"
    starttime 0.1
}}"##,
            out.display(),
            err.display()
        ),
    );
    h.start();
    let first = h.running_pid("writer");
    wait_lines(&out, 2);
    h.ok(&["restart", "writer"]);
    let second = h.running_pid("writer");
    assert_ne!(first, second);
    assert_eq!(
        wait_lines(&out, 3),
        [
            "from before".to_string(),
            format!("out {first}"),
            format!("out {second}")
        ]
    );
    assert_eq!(
        wait_lines(&err, 2),
        [format!("err {first}"), format!("err {second}")]
    );
    // `tail` of a stream that goes to a file shows the file's end.
    let tail = h.ok(&["tail", "writer"]);
    assert!(tail.contains(&format!("out {second}")), "{tail}");
    let tail = h.ok(&["tail", "--stderr", "writer"]);
    assert!(tail.contains(&format!("err {second}")), "{tail}");
}

#[test]
fn captured_output_is_what_tail_shows_and_discard_keeps_nothing() {
    let mut h = Harness::new();
    let script = r##"echo "to stdout"; echo "to stderr" >&2; exec sleep 1000"##;
    h.service(
        "outputs",
        &format!(
            r##"service "captured" {{
    cmd "/bin/sh" "-c" #"{script}"#
}}
service "discarded" {{
    cmd "/bin/sh" "-c" #"{script}"#
    stdout "discard"
    stderr "discard"
}}"##
        ),
    );
    h.start();
    wait_until("captured stdout", || {
        h.ok(&["tail", "captured"]) == "to stdout\n"
    });
    wait_until("captured stderr", || {
        h.ok(&["tail", "--stderr", "captured"]) == "to stderr\n"
    });
    let said = h.ok(&["tail", "discarded"]);
    assert!(
        said.contains("discarded") && !said.contains("to stdout"),
        "{said}"
    );
    let said = h.ok(&["tail", "--stderr", "discarded"]);
    assert!(
        said.contains("discarded") && !said.contains("to stderr"),
        "{said}"
    );
}

#[test]
fn env_is_added_to_the_daemons_environment() {
    let mut h = Harness::new();
    h.service(
        "env",
        &format!(
            r##"service "env" {{
    cmd "/bin/sh" "-c" #"echo "$GREETING|$COUNT|$TM_FROM_DAEMON|$TM_OVERRIDDEN" > "$0"; exec sleep 1000"# "{}"
    env {{
        GREETING "hello world"
        COUNT 42
        TM_OVERRIDDEN "by the service"
    }}
}}"##,
            h.p("env")
        ),
    );
    let mut cmd = h.daemon_command();
    cmd.env("TM_FROM_DAEMON", "inherited")
        .env("TM_OVERRIDDEN", "by the daemon");
    h.start_command(cmd);
    assert_eq!(
        wait_file(&h.path("env")),
        "hello world|42|inherited|by the service\n"
    );
}

#[test]
fn a_stop_kills_the_whole_process_group() {
    let mut h = Harness::new();
    // Two grandchildren: one ignores SIGTERM, so only the group's SIGKILL ends it.
    h.service(
        "family",
        &format!(
            r##"service "family" {{
    cmd "/bin/sh" "-c" #"(trap '' TERM; exec sleep 1000) & echo $! > "$0"; sleep 1000 & echo $! >> "$0"; wait"# "{}"
    stoptime 5
}}"##,
            h.p("children")
        ),
    );
    h.start();
    let pids: Vec<i32> = wait_lines(&h.path("children"), 2)
        .iter()
        .map(|l| l.parse().expect("a pid"))
        .collect();
    let leader = h.running_pid("family");
    for pid in &pids {
        assert!(alive(*pid));
    }
    h.ok(&["stop", "family"]);
    assert!(!alive(leader));
    for pid in pids {
        wait_until(&format!("grandchild {pid} to be gone"), || !alive(pid));
    }
}

#[test]
fn a_program_that_cannot_be_executed_is_fatal_and_the_daemon_carries_on() {
    let mut h = Harness::new();
    let not_executable = h.path("not-executable");
    std::fs::write(&not_executable, "#!/bin/sh\n").expect("write");
    set_mode(&not_executable, 0o644);
    h.service(
        "broken",
        &format!(
            r##"service "missing" {{
    cmd "/nonexistent/program" "--flag"
}}
service "noexec" {{
    cmd "{}"
}}
service "fine" {{
    cmd "/bin/sleep" "1000"
    starttime 0.1
}}"##,
            not_executable.display()
        ),
    );
    h.start();
    h.wait_state("missing", "FATAL");
    assert_eq!(
        h.detail("missing"),
        "exec /nonexistent/program: No such file or directory"
    );
    h.wait_state("noexec", "FATAL");
    let detail = h.detail("noexec");
    assert!(detail.contains("Permission denied"), "{detail}");
    h.wait_state("fine", "RUNNING");
    h.wait_log(&["missing", "FATAL", "No such file or directory"]);
    // Asking again fails the same way, says why, and the daemon is still there.
    let err = h.fails(&["start", "missing"]);
    assert!(err.contains("missing"), "{err}");
    let out = h.ctl(&["start", "missing"]);
    assert!(
        text(&out).contains("exec /nonexistent/program: No such file or directory"),
        "{}",
        text(&out)
    );
    assert!(h.daemon_alive());
    h.wait_state("fine", "RUNNING");
}

#[test]
fn inherit_sends_output_to_the_daemons_own_streams() {
    let mut h = Harness::new();
    h.service(
        "inherit",
        r#"service "inherit" {
    cmd "/bin/sh" "-c" "echo inherited-out-line; echo inherited-err-line >&2; exec sleep 1000"
    stdout "inherit"
    stderr "inherit"
}"#,
    );
    h.start();
    // The harness points the daemon's stdout and stderr at one file.
    wait_until("the lines in the daemon's output", || {
        let said = h.stderr_text();
        said.contains("inherited-out-line\n") && said.contains("inherited-err-line\n")
    });
    let said = h.ok(&["tail", "inherit"]);
    assert!(said.contains("taskmasterd's own stdout"), "{said}");
}

#[test]
fn a_crash_loop_after_running_is_restarted_with_a_growing_delay() {
    let mut h = Harness::new();
    // Each run says when it started and when it is about to exit, by its own clock: the
    // pause between one run's end and the next one's start is at least the delay, however
    // late the daemon writes its log lines on a loaded machine. Each is up (ready on fd 3)
    // before it crashes: with a starttime, a daemon held up right after the clone could
    // see the whole run end before it had noted the spawn, a failed start instead.
    h.service(
        "crashloop",
        &format!(
            r##"service "crashloop" {{
    cmd "/bin/sh" "-c" #"echo start $(date +%s%N) >> "$0"; echo >&3; exec 3>&-; sleep 0.1; echo end $(date +%s%N) >> "$0"; exit 1"# "{}"
    ready "fd:3"
}}"##,
            h.p("runs")
        ),
    );
    h.start();
    // The first crash after RUNNING is restarted at once; from the second on, with a delay.
    h.wait_log(&["crashloop", "restarting now"]);
    h.wait_log(&["crashloop", "restarting in 0.25s"]);
    h.wait_log(&["crashloop", "restarting in 0.50s"]);
    h.wait_log(&["crashloop", "restarting in 1.00s"]);
    // After the first, the runs are further and further apart, never a tight loop.
    let runs = wait_lines(&h.path("runs"), 9);
    let at = |line: &String, what: &str| -> u128 {
        let (word, nanos) = line.split_once(' ').expect("WORD NANOS");
        assert_eq!(word, what, "{runs:?}");
        nanos.parse().expect("nanoseconds")
    };
    let pauses: Vec<Duration> = (0..4)
        .map(|k| {
            let end = at(&runs[2 * k + 1], "end");
            let next = at(&runs[2 * k + 2], "start");
            Duration::from_nanos(u64::try_from(next.saturating_sub(end)).unwrap_or(u64::MAX))
        })
        .collect();
    for (pause, delay_ms) in pauses[1..].iter().zip([250, 500, 1000]) {
        assert!(
            *pause >= Duration::from_millis(delay_ms),
            "pauses between runs {pauses:?}"
        );
    }
}

#[test]
fn an_essential_service_going_fatal_shuts_everything_down_with_exit_code_1() {
    let mut h = Harness::new();
    h.service(
        "core",
        &format!(
            r##"service "core" {{
    cmd "/bin/sh" "-c" #"while [ ! -e "$0" ]; do sleep 0.02; done; exit 1"# "{}"
    essential #true
    starttime 30
    startretries 0
}}
service "other" {{
    cmd "/bin/sleep" "1000"
    starttime 0.1
}}"##,
            h.p("fail")
        ),
    );
    h.start();
    let other = h.running_pid("other");
    touch(&h.path("fail"));
    assert_eq!(h.wait_exit(), Some(1));
    assert!(!alive(other));
    let log = h.log_text();
    assert!(log.contains("essential service core is FATAL"), "{log}");
}

#[test]
fn a_missing_workingdir_or_output_dir_is_fatal_naming_the_step() {
    let mut h = Harness::new();
    h.service(
        "bad",
        r#"service "nodir" {
    cmd "/bin/sleep" "1000"
    workingdir "/nonexistent/dir"
}
service "noout" {
    cmd "/bin/sleep" "1000"
    stdout "/nonexistent/dir/out.log"
}"#,
    );
    h.start();
    h.wait_state("nodir", "FATAL");
    assert_eq!(
        h.detail("nodir"),
        "chdir /nonexistent/dir: No such file or directory"
    );
    h.wait_state("noout", "FATAL");
    let detail = h.detail("noout");
    assert!(
        detail.contains("stdout") && detail.contains("/nonexistent/dir/out.log"),
        "{detail}"
    );
}
