//! What a newcomer tripped over (issue 18, part 2 and 3), each checked as they would try it.

use std::process::Command;

use crate::common::{taskmasterd_bin, tmctl_bin, Harness};

#[test]
fn global_flags_are_accepted_after_the_command_too() {
    let h = Harness::running_sleeper();
    let after = h.ok(&["status", "--json"]);
    let parsed: serde_json::Value = serde_json::from_str(&after).expect("JSON after the command");
    assert_eq!(parsed[0]["name"], "a", "{after}");
    // The socket too: `tmctl status -s SOCKET`.
    let out = Command::new(tmctl_bin())
        .args(["status", "a", "-s"])
        .arg(&h.socket)
        .output()
        .expect("run tmctl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn both_binaries_tell_their_version() {
    let version = env!("CARGO_PKG_VERSION");
    for bin in [taskmasterd_bin(), tmctl_bin()] {
        let out = Command::new(bin)
            .arg("--version")
            .output()
            .expect("run --version");
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(version), "{bin}: {text}");
    }
}

#[test]
fn another_tools_name_for_a_field_gets_a_did_you_mean() {
    let h = Harness::new();
    h.service(
        "web",
        "service \"web\" {\n    cmd \"/bin/sleep\" \"100\"\n    workdir \"/tmp\"\n}\n",
    );
    let out = h.check();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unknown field `workdir`; did you mean `workingdir`?"),
        "{stderr}"
    );
}

/// The repository stands on its own: README names no file outside it, the license file
/// matches Cargo.toml, the toolchain file matches rust-version, ARCHITECTURE.md maps every
/// top-level source directory.
#[test]
fn the_repository_documents_itself() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |name: &str| std::fs::read_to_string(root.join(name)).expect(name);
    let readme = read("README.md");
    assert!(
        !readme.contains("../"),
        "README.md points outside the repository"
    );
    let cargo = read("Cargo.toml");
    assert!(cargo.contains("license = \"MIT\""));
    assert!(read("LICENSE").starts_with("MIT License"));
    let toolchain = read("rust-toolchain.toml");
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("rust-version")
        .trim_matches('"')
        .to_string();
    assert!(
        toolchain.contains(&format!("channel = \"{rust_version}")),
        "rust-toolchain.toml vs rust-version {rust_version}"
    );
    let architecture = read("ARCHITECTURE.md");
    for entry in std::fs::read_dir(root.join("src")).expect("src") {
        let entry = entry.expect("entry");
        if entry.path().is_dir() {
            let name = format!("src/{}/", entry.file_name().to_string_lossy());
            assert!(architecture.contains(&name), "ARCHITECTURE.md lacks {name}");
        }
    }
}

#[test]
fn signal_to_several_instances_reports_each_one() {
    let mut h = Harness::new();
    h.service(
        "pool",
        "service \"pool\" {\n    cmd \"/bin/sleep\" \"1000\"\n    numprocs 3\n    starttime 0.1\n    autorestart \"never\"\n}\n",
    );
    h.start();
    for n in 0..3 {
        let name = format!("pool:{n}");
        crate::common::wait_until_with("pool RUNNING", || match h.state(&name).as_str() {
            "RUNNING" => Ok(()),
            other => Err(format!("{name} is {other}; log:\n{}", h.log_text())),
        });
    }
    h.ok(&["stop", "pool:1"]);
    let pids = [h.running_pid("pool:0"), 0, h.running_pid("pool:2")];
    // SIGCONT: harmless to a running sleep.
    let out = h.ctl(&["signal", "CONT", "pool"]);
    assert!(!out.status.success(), "one instance was not signalled");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for n in [0, 2] {
        let pid = pids[n];
        assert!(
            stdout.contains(&format!("pool:{n}: sent SIGCONT to pid {pid}")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("pool:1: not running (STOPPED)"), "{stdout}");
    assert!(stderr.contains("pool:1"), "{stderr}");
}

#[test]
fn tail_marks_where_a_new_process_began() {
    let mut h = Harness::new();
    h.service(
        "blink",
        "service \"blink\" {\n    cmd \"/bin/sh\" \"-c\" \"echo run $$$$; sleep 0.3\"\n    starttime 0.1\n    autorestart \"always\"\n}\n",
    );
    h.start();
    crate::common::wait_until_with("a second process in tail", || {
        let text = h.ok(&["tail", "blink"]);
        let Some((before, after)) = text.split_once("--- blink: new process, pid ") else {
            return Err(text);
        };
        let pid = after.split(' ').next().unwrap_or_default();
        if before.starts_with("run ") && after.contains(&format!("run {pid}\n")) {
            Ok(())
        } else {
            Err(text)
        }
    });
}

#[test]
fn the_shell_says_where_socket_and_log_are_and_shows_trouble_not_routine() {
    use crate::common::pty::Pty;
    let mut h = Harness::new();
    h.sleeper("web");
    h.service(
        "broken",
        "service \"broken\" {\n    cmd \"/nonexistent/program\"\n    startretries 0\n}\n",
    );
    let mut cmd = h.daemon_command();
    cmd.arg("--shell").env("XDG_STATE_HOME", h.path("state"));
    let (mut pty, child) = Pty::spawn(cmd);
    h.adopt(child);
    let start = pty.expect("warnings and errors show here too");
    assert!(
        start.contains(&format!("control socket {}", h.socket.display()))
            && start.contains(&format!("event log {}", h.log.display())),
        "{start:?}"
    );
    h.wait_state("broken", "FATAL");
    h.wait_state("web", "RUNNING");
    let screen = pty.expect("broken FATAL: exec /nonexistent/program");
    assert!(
        !screen.contains("web spawned with pid"),
        "routine events stay in the log: {screen:?}"
    );
    pty.send("exit\r");
    assert_eq!(h.wait_exit(), Some(0));
}

#[test]
fn status_is_coloured_on_a_terminal_only_and_never_with_no_color() {
    use crate::common::pty::Pty;
    let h = Harness::running_sleeper();
    let on_terminal = |no_color: Option<&str>| {
        let mut cmd = h.ctl_command(&["status"]);
        cmd.env_remove("NO_COLOR");
        if let Some(value) = no_color {
            cmd.env("NO_COLOR", value);
        }
        let (mut pty, mut child) = Pty::spawn(cmd);
        let text = pty.expect("uptime");
        let _ = child.wait();
        text
    };
    let coloured = on_terminal(None);
    assert!(
        coloured.contains("\u{1b}[32mRUNNING\u{1b}[0m"),
        "{coloured:?}"
    );
    let plain = on_terminal(Some("1"));
    assert!(!plain.contains('\u{1b}'), "{plain:?}");
    let piped = h.ok(&["status"]);
    assert!(!piped.contains('\u{1b}'), "{piped:?}");
}
