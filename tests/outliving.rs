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
    // Nothing half-written is ever left beside the files.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .expect("state dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");

    // A reload that removes a service removes its file; one that adds a service adds one.
    h.remove_service("db");
    h.sleeper("cache");
    h.ok(&["reload"]);
    wait_state_file(&dir, "cache", "RUNNING");
    wait_until("db.json to go", || !dir.join("db.json").exists());
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
