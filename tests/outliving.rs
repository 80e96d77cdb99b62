//! Outliving the daemon: per-instance state files a script can read without the socket.

use crate::common::*;
use serde_json::Value;
use std::path::Path;

/// The state file of `instance`, once it is there and parses.
fn state_file(dir: &Path, instance: &str) -> Option<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{instance}.json"))).ok()?;
    serde_json::from_str(&text).ok()
}

/// Waits until the state file of `instance` says `state`; returns it.
fn wait_state_file(dir: &Path, instance: &str, state: &str) -> Value {
    let mut found = Value::Null;
    wait_until_with(
        &format!("{instance}.json to say {state}"),
        || match state_file(dir, instance) {
            Some(v) if v["state"] == state => {
                found = v;
                Ok(())
            }
            Some(v) => Err(format!("it says {}", v["state"])),
            None => Err("it is missing or does not parse".into()),
        },
    );
    found
}

#[test]
fn each_instance_has_a_state_file_that_follows_its_state() {
    let mut h = Harness::new();
    h.sleeper("web");
    h.sleeper("db");
    h.start();
    let dir = h.state_dir();
    let web = wait_state_file(&dir, "web", "RUNNING");
    let pid = h.running_pid("web");
    assert_eq!(web["pid"], pid, "{web}");
    assert_eq!(web["name"], "web");
    assert_eq!(web["state_version"], 1);
    assert!(web["process_start"].as_u64().is_some(), "{web}");
    let pid_file = std::fs::read_to_string(dir.join("taskmasterd.pid")).expect("pid file");
    assert_eq!(pid_file.trim(), h.daemon_pid().to_string());

    h.ok(&["stop", "web"]);
    let web = wait_state_file(&dir, "web", "STOPPED");
    assert_eq!(web["pid"], Value::Null);
    assert_eq!(web["exit_signal"], "TERM", "{web}");
    // Nothing half-written is ever left beside the files: what is there besides them is the
    // spare of one (`.web.json.spare`, swapped in at the next change), holding a whole,
    // earlier state of that same instance.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("state dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    for name in names.iter().filter(|n| n.starts_with('.')) {
        let of = name
            .strip_prefix('.')
            .and_then(|n| n.strip_suffix(".json.spare"))
            .unwrap_or_else(|| panic!("{name} beside the state files: {names:?}"));
        assert!(names.contains(&format!("{of}.json")), "{names:?}");
        let text = std::fs::read_to_string(dir.join(name)).expect("spare");
        let spare: Value = serde_json::from_str(&text).expect("a whole state file");
        assert_eq!(spare["name"], of, "{text}");
    }

    // A reload that removes a service removes its file; one that adds a service adds one.
    h.remove_service("db");
    h.sleeper("cache");
    h.ok(&["reload"]);
    wait_state_file(&dir, "cache", "RUNNING");
    wait_until("db.json to go", || !dir.join("db.json").exists());
}

#[test]
fn after_a_clean_exit_every_state_file_says_stopped() {
    // Enough instances that the writer thread still has files to write when the last one
    // stops (the daemon used to exit under it).
    let mut h = Harness::new();
    h.service(
        "many",
        "service \"many\" {\n    cmd \"/bin/sleep\" \"1000\"\n    numprocs 300\n    starttime 0\n}\n",
    );
    h.start();
    let dir = h.state_dir();
    wait_state_file(&dir, "many:299", "RUNNING");
    h.signal_daemon(libc::SIGTERM);
    assert_eq!(h.wait_exit(), Some(0));
    for index in 0..300 {
        let file = state_file(&dir, &format!("many:{index}")).expect("state file");
        assert_eq!(file["state"], "STOPPED", "many:{index}: {file}");
        assert_eq!(file["pid"], Value::Null, "many:{index}: {file}");
    }
    assert!(!dir.join("taskmasterd.pid").exists());
}

#[test]
fn numbered_instances_get_a_file_each_and_stale_files_are_removed_at_start() {
    let mut h = Harness::new();
    h.service(
        "nums",
        "service \"nums\" {\n    cmd \"/bin/sleep\" \"1000\"\n    numprocs 2\n    starttime 0.1\n}\n",
    );
    let dir = h.state_dir();
    std::fs::create_dir_all(&dir).expect("state dir");
    std::fs::write(dir.join("gone.json"), "{}").expect("stale file");
    h.start();
    wait_state_file(&dir, "nums:0", "RUNNING");
    wait_state_file(&dir, "nums:1", "RUNNING");
    wait_until("the stale file to go", || !dir.join("gone.json").exists());
}

#[test]
fn a_state_dir_that_is_a_file_or_writable_by_others_is_refused_and_services_still_run() {
    let mut h = Harness::new();
    h.sleeper("web");
    let dir = h.state_dir();
    std::fs::write(&dir, "not a dir").expect("file");
    h.start();
    h.running_pid("web");
    h.wait_log(&["state dir", "is not a directory", "no state files"]);
    drop(h);

    let mut h = Harness::new();
    h.sleeper("web");
    let dir = h.state_dir();
    std::fs::create_dir(&dir).expect("dir");
    set_mode(&dir, 0o777);
    h.start();
    h.running_pid("web");
    h.wait_log(&["state dir", "writable by others", "no state files"]);
    assert!(!dir.join("web.json").exists());
}

#[test]
fn a_second_daemon_does_not_take_a_live_daemons_state_dir() {
    let mut first = Harness::new();
    first.sleeper("web");
    first.start();
    wait_state_file(&first.state_dir(), "web", "RUNNING");

    let mut second = Harness::new();
    second.sleeper("other");
    let mut cmd = second.daemon_command();
    // The same state dir as the first daemon's (the last --state-dir counts).
    cmd.arg("--state-dir").arg(first.state_dir());
    second.start_command(cmd);
    second.running_pid("other");
    second.wait_log(&["in use by another taskmasterd", "no state files"]);
    assert!(!first.state_dir().join("other.json").exists());
    let pid_file =
        std::fs::read_to_string(first.state_dir().join("taskmasterd.pid")).expect("pid file");
    assert_eq!(pid_file.trim(), first.daemon_pid().to_string());
}

/// A service that prints 0, 1, 2, … one number a line, every 10 ms.
fn counter(name: &str, extra: &str) -> String {
    format!(
        "service \"{name}\" {{\n    cmd \"/bin/sh\" \"-c\" \"i=0; while :; do echo $$i; i=$$(($$i+1)); sleep 0.01; done\"\n    starttime 0.1\n{extra}}}\n"
    )
}

/// The numbers in `text`, checked to be consecutive with none missing or repeated; returns
/// how many there are.
#[track_caller]
fn consecutive(what: &str, numbers: impl IntoIterator<Item = u64>) -> usize {
    let numbers: Vec<u64> = numbers.into_iter().collect();
    for pair in numbers.windows(2) {
        assert_eq!(
            pair[1],
            pair[0] + 1,
            "{what}: a gap or a repeat at {pair:?}"
        );
    }
    numbers.len()
}

fn numbers(text: &str) -> Vec<u64> {
    // The first and last lines may be cut (the ring's start, a line being written).
    let lines: Vec<&str> = text.lines().collect();
    lines
        .iter()
        .skip(1)
        .take(lines.len().saturating_sub(2))
        .map(|l| l.trim().parse().expect("a number a line"))
        .collect()
}

#[test]
fn ten_upgrades_in_a_row_keep_every_pid_and_lose_no_output_byte() {
    let mut h = Harness::new();
    let log = h.dir.path().join("rotated.out");
    h.service("captured", &counter("captured", ""));
    h.service(
        "rotated",
        &counter(
            "rotated",
            &format!(
                "    stdout \"{}\"\n    stdout-maxbytes \"20KB\"\n    stdout-backups 50\n",
                log.display()
            ),
        ),
    );
    h.start();
    let daemon = h.daemon_pid();
    let captured = h.running_pid("captured");
    let rotated = h.running_pid("rotated");
    for round in 0..10 {
        let out = h.ok(&["upgrade"]);
        assert!(
            out.contains("took over 2 instance(s)"),
            "round {round}: {out}"
        );
        // The new image answers the next request with the same processes.
        assert_eq!(h.pid("captured"), Some(captured), "round {round}");
        assert_eq!(h.pid("rotated"), Some(rotated), "round {round}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(h.daemon_pid(), daemon);
    assert!(h.state("captured") == "RUNNING" && h.state("rotated") == "RUNNING");
    assert_eq!(h.instance("captured")["restarts"], 0);
    h.wait_log(&["upgraded", "took over 2 instance(s)"]);

    // Everything the counter wrote since it started is in the ring (64 KiB holds a few
    // seconds of it), in order, once.
    let ring = h.ok(&["tail", "captured"]);
    let lines = ring.lines().count();
    assert!(
        ring.starts_with("0\n"),
        "the ring still holds the start: {lines} lines"
    );
    let count = consecutive("captured", numbers(&format!("x\n{ring}")));
    assert!(count > 50, "{count} numbers");

    // The rotated file and its backups hold every number once.
    h.ok(&["stop", "rotated"]);
    let mut all: Vec<u64> = Vec::new();
    for entry in std::fs::read_dir(h.dir.path()).expect("dir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("rotated.out") {
            let text = std::fs::read_to_string(entry.path()).expect("read");
            all.extend(text.lines().filter_map(|l| l.trim().parse::<u64>().ok()));
        }
    }
    all.sort_unstable();
    assert_eq!(all.first(), Some(&0));
    consecutive("rotated", all);
}

#[test]
fn an_upgrade_that_cannot_take_over_is_refused_and_the_old_daemon_goes_on() {
    let mut h = Harness::new();
    h.sleeper("web");
    h.start();
    let pid = h.running_pid("web");

    let err = h.fails(&["upgrade", "/bin/false"]);
    assert!(
        err.contains("/bin/false cannot take over (exit code 1)"),
        "{err}"
    );

    let text = h.dir.path().join("not-executable");
    std::fs::write(&text, "#!/bin/sh\n").expect("file");
    set_mode(&text, 0o644);
    let err = h.fails(&["upgrade", text.to_str().expect("utf-8")]);
    assert!(err.contains("not executable"), "{err}");

    let err = h.fails(&["upgrade", "/nonexistent/taskmasterd"]);
    assert!(err.contains("No such file or directory"), "{err}");

    // A binary that reads another handover version.
    let newer = h.dir.path().join("newer");
    std::fs::write(&newer, "#!/bin/sh\necho taskmasterd handover 999\n").expect("file");
    set_mode(&newer, 0o755);
    let err = h.fails(&["upgrade", newer.to_str().expect("utf-8")]);
    assert!(
        err.contains("cannot take over") && err.contains("handover 999"),
        "{err}"
    );

    // A binary that hangs is killed after its time and refused.
    // (Not waited for here: 10 s.) A config broken on disk is refused by the check.
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"1000\"\n    bogus 1\n}\n",
    );
    let err = h.fails(&["upgrade"]);
    assert!(
        err.contains("cannot take over") && err.contains("bogus"),
        "{err}"
    );

    assert_eq!(h.running_pid("web"), pid, "nothing was restarted");
    h.wait_log(&["upgrade:", "taskmasterd goes on"]);
}

/// Host processes whose command line is exactly `argv`.
fn processes_running(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .ok()
                .as_deref()
                == Some(&want[..])
        })
        .filter(|pid| alive(*pid))
        .collect()
}

#[test]
fn a_restarted_daemon_adopts_what_still_runs_and_starts_only_what_died() {
    let mut h = Harness::new();
    // 50 services, each with its own command line so that a second copy would show (the
    // test process's pid in it: another run of this suite on the machine has its own).
    let arg = |i: usize| format!("{}.{}", 10_000 + i, std::process::id());
    for i in 0..50 {
        h.service(
            &format!("s{i}"),
            &format!(
                "service \"s{i}\" {{\n    cmd \"/bin/sleep\" \"{}\"\n    starttime 0.1\n}}\n",
                arg(i)
            ),
        );
    }
    h.start();
    let pids: Vec<i32> = (0..50).map(|i| h.running_pid(&format!("s{i}"))).collect();
    let dir = h.state_dir();
    // The files are written by a thread of their own, each in its own time: every one must
    // say RUNNING before the daemon dies, or the next one has nothing to adopt it from.
    for i in 0..50 {
        wait_state_file(&dir, &format!("s{i}"), "RUNNING");
    }

    // The daemon dies hard; one service dies while nobody watches; another's pid is
    // "reused" (its state file names another start time).
    kill(h.daemon_pid(), libc::SIGKILL);
    wait_until("the daemon to die", || !alive(h.daemon_pid()));
    kill(pids[7], libc::SIGKILL);
    let path = dir.join("s9.json");
    let mut s9: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("s9.json")).expect("json");
    s9["process_start"] = Value::from(1);
    std::fs::write(&path, s9.to_string()).expect("write");

    h.start();
    for (i, pid) in pids.iter().enumerate() {
        let name = format!("s{i}");
        let now = h.running_pid(&name);
        match i {
            7 | 9 => assert_ne!(now, *pid, "{name} was started again"),
            _ => {
                assert_eq!(now, *pid, "{name} was adopted with its pid");
                assert!(h.detail(&name).contains("adopted"), "{}", h.detail(&name));
            }
        }
    }
    for i in 0..50 {
        let running = processes_running(&["/bin/sleep", &arg(i)]);
        // s9's old process was not ours to trust: left alone, so two run (the test ends it).
        let want = if i == 9 { 2 } else { 1 };
        assert_eq!(running.len(), want, "s{i}: {running:?}");
    }
    kill(pids[9], libc::SIGKILL);
    h.wait_log(&["adopted 48 process(es)"]);
    h.wait_log(&["s7 (pid", "ended while no taskmasterd watched it"]);
    h.wait_log(&["s9: pid", "another process now"]);

    // An adopted process is watched: its death is seen and it is restarted per policy.
    kill(pids[0], libc::SIGKILL);
    wait_until("s0 to be restarted", || {
        h.state("s0") == "RUNNING" && h.pid("s0") != Some(pids[0])
    });
    // And stopped on request, through its pidfd.
    h.ok(&["stop", "s1"]);
    assert!(!alive(pids[1]));
}
