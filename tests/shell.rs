//! The interactive shell: `tmctl` with no command on a pseudo-terminal (prompt, Tab
//! completion, history across runs, help, exit), piped lines, and `taskmasterd --shell`.

use crate::common::pty::Pty;
use crate::common::*;

const PROMPT: &str = "taskmaster> ";

fn daemon() -> Harness {
    let mut h = Harness::new();
    h.service(
        "web",
        r#"service "web" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
}
service "worker" {
    cmd "/bin/sleep" "1000"
    starttime 0.1
    numprocs 2
}"#,
    );
    h.start();
    h.wait_state("web", "RUNNING");
    h
}

/// `tmctl -s SOCKET` (no command) on a pty, keeping its history under the temp dir.
fn shell(h: &Harness) -> (Pty, std::process::Child) {
    let mut cmd = h.ctl_command(&[]);
    cmd.env("XDG_STATE_HOME", h.path("state"));
    Pty::spawn(cmd)
}

/// Waits for the shell process to end; returns its exit code.
fn wait_exit(child: &mut std::process::Child) -> Option<i32> {
    let mut status = None;
    wait_until("the shell to exit", || {
        status = child.try_wait().expect("try_wait");
        status.is_some()
    });
    status.and_then(|s| s.code())
}

#[test]
fn the_shell_prompts_runs_commands_completes_and_helps() {
    let h = daemon();
    let (mut pty, mut child) = shell(&h);
    pty.expect(PROMPT);
    pty.send("status\r");
    let table = pty.expect("worker:1");
    assert!(
        table.contains("web") && table.contains("RUNNING"),
        "{table:?}"
    );
    pty.expect(PROMPT);

    // Tab completes a command, then a service name asked from the daemon.
    pty.send("sto\t");
    pty.expect("stop ");
    pty.send("we\t");
    pty.expect("stop web ");
    pty.send("\r");
    pty.expect("web: STOPPED");
    pty.expect(PROMPT);
    assert_eq!(h.state("web"), "STOPPED");

    // An ambiguous prefix: the first Tab rings, the second lists the choices.
    pty.send("sta\t");
    pty.expect("\x07");
    pty.send("\t");
    let listed = pty.expect("status");
    assert!(listed.contains("start"), "{listed:?}");
    pty.send("\x15"); // ^U: clear the line

    pty.send("help\r");
    pty.expect("Commands (");
    let help = pty.expect(PROMPT);
    for word in [
        "status", "start", "stop", "restart", "reload", "tail", "pause", "signal", "exit",
    ] {
        assert!(help.contains(word), "help lacks {word}: {help}");
    }
    // A bad line is reported and the shell goes on.
    pty.send("frobnicate\r");
    pty.expect("frobnicate");
    let complaint = pty.expect(PROMPT);
    assert!(complaint.contains("frobnicate"), "{complaint:?}");
    pty.send("start web\r");
    pty.expect("web: RUNNING");
    pty.expect(PROMPT);

    pty.send("exit\r");
    assert_eq!(wait_exit(&mut child), Some(0));
    // Leaving tmctl's shell leaves the daemon alone.
    assert_eq!(h.state("web"), "RUNNING");
}

#[test]
fn history_is_kept_across_runs() {
    let h = daemon();
    let (mut pty, mut child) = shell(&h);
    pty.expect(PROMPT);
    pty.send("status worker:1\r");
    pty.expect("worker:1");
    pty.expect(PROMPT);
    pty.send("quit\r");
    assert_eq!(wait_exit(&mut child), Some(0));
    let saved = std::fs::read_to_string(h.path("state/taskmaster/history")).unwrap_or_default();
    assert!(saved.contains("status worker:1"), "history file: {saved:?}");

    // A new shell: Up brings back `quit`, Up again the line before it.
    let (mut pty, mut child) = shell(&h);
    pty.expect(PROMPT);
    pty.send("\x1b[A");
    pty.expect("quit");
    pty.send("\x1b[A");
    pty.expect("status worker:1");
    pty.send("\r");
    let out = pty.expect(PROMPT);
    assert!(out.contains("RUNNING"), "{out:?}");
    pty.send("\x04"); // ^D
    assert_eq!(wait_exit(&mut child), Some(0));
}

#[test]
fn piped_lines_run_as_a_script() {
    let h = daemon();
    let mut cmd = h.ctl_command(&[]);
    cmd.env("XDG_STATE_HOME", h.path("state"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("tmctl");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        b"status\nstop worker:0\nquit\nstatus\n",
    )
    .expect("write");
    drop(child.stdin.take());
    let out = wait_output(child, "tmctl reading a script");
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("web") && stdout.contains("worker:1"),
        "{stdout}"
    );
    assert!(stdout.contains("worker:0: STOPPED"), "{stdout}");
    // `quit` ended it: the last status did not run.
    assert_eq!(stdout.matches("worker:1").count(), 1, "{stdout}");
    assert_eq!(h.state("worker:0"), "STOPPED");
    // A script is not history.
    assert!(!h.path("state/taskmaster/history").exists());
}

#[test]
fn taskmasterd_shell_runs_on_its_terminal_and_leaving_it_shuts_down() {
    let mut h = Harness::new();
    h.sleeper("web");
    let mut cmd = h.daemon_command();
    cmd.arg("--shell").env("XDG_STATE_HOME", h.path("state"));
    let (mut pty, child) = Pty::spawn(cmd);
    h.adopt(child);
    pty.expect(PROMPT);
    let pid = h.running_pid("web");
    pty.send("status\r");
    let table = pty.expect(PROMPT);
    assert!(
        table.contains("web") && table.contains("RUNNING"),
        "{table:?}"
    );
    pty.send("exit\r");
    assert_eq!(h.wait_exit(), Some(0));
    assert!(!alive(pid), "services stop with the daemon");
    h.wait_log(&["shutdown"]);
}
