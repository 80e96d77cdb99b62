//! `console #true` and `tmctl attach` through a real pseudo-terminal: an interactive
//! `python3 -i` on the service's terminal, typed at through tmctl running on a terminal of
//! the test's own; its screen, keystrokes, Ctrl-C, the terminal size and its changes,
//! `Ctrl-]` to detach, `--read-only`, `tail`, and the refusals.

use crate::common::*;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};

/// `tmctl ARGS` on a terminal of its own (its controlling terminal, as in a real session);
/// what it prints is collected, keys are typed into `keys`.
struct OnTerminal {
    child: Child,
    keys: std::fs::File,
    seen: Arc<Mutex<String>>,
}

fn set_size(fd: &impl AsRawFd, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a live stack value; the fd is open.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    assert_eq!(ret, 0, "TIOCSWINSZ");
}

impl OnTerminal {
    fn spawn(h: &Harness, args: &[&str], rows: u16, cols: u16) -> OnTerminal {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        set_size(&pty.master, rows, cols);
        let slave = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        let mut cmd = h.ctl_command(args);
        cmd.stdin(slave(&pty.slave))
            .stdout(slave(&pty.slave))
            .stderr(slave(&pty.slave));
        // SAFETY: setsid and ioctl are async-signal-safe; nothing is allocated.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn tmctl on a terminal");
        drop(pty.slave);
        let mut reader = std::fs::File::from(pty.master.try_clone().expect("dup"));
        let seen = Arc::new(Mutex::new(String::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once tmctl and every copy of the slave are gone.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("seen")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        OnTerminal {
            child,
            keys: std::fs::File::from(pty.master),
            seen,
        }
    }

    fn text(&self) -> String {
        self.seen.lock().expect("seen").clone()
    }

    fn expect(&self, text: &str) {
        wait_until_with(&format!("{text:?} on the terminal"), || {
            let seen = self.text();
            match seen.contains(text) {
                true => Ok(()),
                false => Err(format!("it shows {seen:?}")),
            }
        });
    }

    fn type_keys(&mut self, keys: &[u8]) {
        self.keys.write_all(keys).expect("type");
    }

    fn wait(mut self) -> std::process::ExitStatus {
        let mut status = None;
        wait_until("tmctl attach to end", || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.expect("exited")
    }
}

fn python_console(h: &mut Harness) {
    h.service(
        "py",
        "service \"py\" {\n    cmd \"/usr/bin/python3\" \"-i\" \"-q\"\n    console #true\n    starttime 0.2\n}\n",
    );
    h.start();
    h.wait_state("py", "RUNNING");
}

#[test]
fn attach_shows_the_screen_forwards_keys_ctrl_c_and_sizes_and_detaches_with_ctrl_bracket() {
    let mut h = Harness::new();
    python_console(&mut h);
    let pid = h.running_pid("py");
    let mut term = OnTerminal::spawn(&h, &["attach", "py"], 30, 100);
    term.expect("attached to py; Ctrl-] detaches");
    // The prompt python printed before anyone attached: the screen so far.
    term.expect(">>> ");
    term.type_keys(b"print(6 * 7)\r");
    term.expect("42");
    // The terminal size went along.
    term.type_keys(b"import os; print(os.get_terminal_size())\r");
    term.expect("columns=100, lines=30");
    // A size change (SIGWINCH to tmctl) goes along too.
    set_size(&term.keys, 40, 120);
    wait_until_with("the new size to reach python", || {
        term.type_keys(b"print(os.get_terminal_size())\r");
        std::thread::sleep(std::time::Duration::from_millis(100));
        match term.text().contains("columns=120, lines=40") {
            true => Ok(()),
            false => Err(term.text()),
        }
    });
    // Ctrl-C reaches python as SIGINT from its terminal, and it lives on. Typed only once
    // the loop is seen running: a SIGINT that comes while python's readline waits for the
    // statement's last line is left pending until more input comes (CPython checks for
    // signals only when its select is interrupted), and the terminal's ISIG flushes any
    // input queued behind it, so a Ctrl-C typed right after the statement could be lost.
    term.type_keys(b"import time\r");
    term.type_keys(b"while True: print('spinning'); time.sleep(0.05)\r");
    term.expect("... ");
    term.type_keys(b"\r");
    term.expect("spinning\r\nspinning");
    term.type_keys(b"\x03");
    term.expect("KeyboardInterrupt");
    assert_eq!(h.running_pid("py"), pid);
    term.type_keys(&[0x1d]);
    let status = term.wait();
    assert!(status.success(), "{status:?}");
    assert_eq!(h.running_pid("py"), pid, "detaching leaves it running");
    // What it wrote is still there for tail.
    assert!(h.ok(&["tail", "py"]).contains("42"));
}

#[test]
fn one_client_types_others_watch_read_only_and_a_pipe_cannot_type() {
    let mut h = Harness::new();
    python_console(&mut h);
    let mut typist = OnTerminal::spawn(&h, &["attach", "py"], 24, 80);
    typist.expect("attached to py");
    let watcher = Streaming::spawn(h.ctl_command(&["attach", "--read-only", "py"]));
    watcher.expect(">>> ");
    let second = h.fails(&["attach", "py"]);
    assert!(second.contains("needs a terminal"), "{second}");
    let rival = OnTerminal::spawn(&h, &["attach", "py"], 24, 80);
    rival.expect("someone else is typing on py's console");
    assert!(!rival.wait().success());
    typist.type_keys(b"print('seen' + ' by all')\r");
    watcher.expect("seen by all");
    typist.type_keys(&[0x1d]);
    assert!(typist.wait().success());
}

#[test]
fn attach_refuses_a_service_without_a_console_and_console_refuses_an_output_file() {
    let mut h = Harness::new();
    h.sleeper("plain");
    h.start();
    h.wait_state("plain", "RUNNING");
    let said = h.fails(&["attach", "--read-only", "plain"]);
    assert!(said.contains("plain has no console"), "{said}");
    assert!(h
        .fails(&["attach", "--read-only", "nosuch"])
        .contains("nosuch"));
}

#[test]
fn stderr_stdout_is_one_stream_in_the_order_written_captured_and_in_a_file() {
    let mut h = Harness::new();
    let script = "for i in 1 2 3; do echo out$i; echo err$i >&2; done; sleep 1000";
    h.service(
        "both",
        &format!(
            "service \"both\" {{\n    cmd \"/bin/sh\" \"-c\" \"{script}\"\n    stderr \"stdout\"\n    starttime 0\n}}\n"
        ),
    );
    h.service(
        "file",
        &format!(
            "service \"file\" {{\n    cmd \"/bin/sh\" \"-c\" \"{script}\"\n    stdout {:?}\n    stderr \"stdout\"\n    starttime 0\n}}\n",
            h.p("file.log")
        ),
    );
    h.start();
    let expected = "out1\nerr1\nout2\nerr2\nout3\nerr3\n";
    wait_until_with("both streams in tail, in order", || {
        let seen = h.ok(&["tail", "both"]);
        match seen == expected {
            true => Ok(()),
            false => Err(seen),
        }
    });
    assert!(h
        .ok(&["tail", "--stderr", "both"])
        .contains("stderr goes with stdout"));
    wait_until_with("both streams in the file, in order", || {
        let seen = std::fs::read_to_string(h.path("file.log")).unwrap_or_default();
        match seen == expected {
            true => Ok(()),
            false => Err(seen),
        }
    });
    h.service(
        "bad",
        "service \"bad\" {\n    cmd \"/bin/true\"\n    stdout \"stdout\"\n}\n",
    );
    let said = text(&h.check());
    assert!(said.contains("\"stdout\" is for `stderr` only"), "{said}");
}
