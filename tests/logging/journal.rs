//! A real systemd-journald of our own: a holder process keeps a private mount namespace
//! with a tmpfs on /run, and journald runs in it (started, stopped and restarted at will),
//! creating `/run/systemd/journal/dev-log` and writing a volatile journal under
//! `/run/log/journal`. The daemon under test joins the namespace (`Harness::mount_ns`), and
//! `journalctl` runs in it to read what arrived.

use crate::common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

pub const JOURNALD: &str = "/lib/systemd/systemd-journald";
/// The syslog socket, as seen inside the namespace.
pub const DEV_LOG: &str = "/run/systemd/journal/dev-log";

pub struct Journal {
    holder: Child,
    journald: Option<Child>,
}

/// One journal entry's fields of interest.
#[derive(Debug, Clone)]
pub struct Entry {
    pub message: String,
    pub priority: u8,
    pub identifier: String,
    /// The pid written in the message (`TAG[PID]:`, journald's `SYSLOG_PID`).
    pub pid: Option<i32>,
    /// The pid the kernel vouched for as the sender (journald's trusted `_PID`).
    pub sender_pid: Option<i32>,
    /// The user id that came with it (`_UID`).
    pub sender_uid: Option<u32>,
}

impl Journal {
    /// The namespace, without journald yet.
    pub fn new() -> Journal {
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 tmpfs /run && echo ready && exec sleep 1000000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare (util-linux)");
        let mut line = String::new();
        if let Some(out) = holder.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        assert_eq!(
            line.trim(),
            "ready",
            "the namespace with a tmpfs on /run failed"
        );
        Journal {
            holder,
            journald: None,
        }
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// For `Harness::mount_ns`.
    pub fn mount_ns(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/mnt", self.pid()))
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--mount")
            .arg(format!("--target={}", self.pid()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// Starts journald and waits until its syslog socket takes messages.
    pub fn start_journald(&mut self) {
        assert!(self.journald.is_none(), "journald is already running");
        let child = self
            .command(JOURNALD)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start systemd-journald (package systemd)");
        self.journald = Some(child);
        // From outside, through the holder's root: the socket a datagram can connect to.
        let socket = format!("/proc/{}/root{DEV_LOG}", self.pid());
        wait_until("journald's dev-log socket", || {
            UnixDatagram::unbound()
                .and_then(|s| s.connect(&socket))
                .is_ok()
        });
    }

    /// Stops journald (SIGTERM: it writes out what it read) and waits until it is gone.
    pub fn stop_journald(&mut self) {
        let Some(mut child) = self.journald.take() else {
            return;
        };
        // SAFETY: kill(2) of a child we started (nsenter execs journald in place).
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let _ = child.wait();
    }

    /// Entries with this identifier (`journalctl -t`), optionally up to a priority (`-p`).
    pub fn entries(&self, identifier: &str, max_priority: Option<&str>) -> Vec<Entry> {
        let mut cmd = self.command("journalctl");
        cmd.args(["--no-pager", "-o", "json", "-t", identifier]);
        if let Some(priority) = max_priority {
            cmd.args(["-p", priority]);
        }
        let out = cmd.stdin(Stdio::null()).output().expect("journalctl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .map(|v| Entry {
                message: v["MESSAGE"].as_str().unwrap_or("").to_string(),
                priority: v["PRIORITY"]
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(255),
                identifier: v["SYSLOG_IDENTIFIER"].as_str().unwrap_or("").to_string(),
                pid: v["SYSLOG_PID"].as_str().and_then(|p| p.parse().ok()),
                sender_pid: v["_PID"].as_str().and_then(|p| p.parse().ok()),
                sender_uid: v["_UID"].as_str().and_then(|p| p.parse().ok()),
            })
            .collect()
    }

    /// `journalctl -t identifier` as people read it (`-o short`: `TAG[PID]: MESSAGE`).
    pub fn short(&self, identifier: &str) -> String {
        let out = self
            .command("journalctl")
            .args(["--no-pager", "-o", "short", "-t", identifier])
            .stdin(Stdio::null())
            .output()
            .expect("journalctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The messages of `identifier`.
    pub fn messages(&self, identifier: &str) -> Vec<String> {
        self.entries(identifier, None)
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    /// Waits until an entry of `identifier` contains every one of `parts`; returns it.
    pub fn wait_entry(&self, identifier: &str, parts: &[&str]) -> Entry {
        let mut found = None;
        wait_until(
            &format!("a journal entry -t {identifier} with {parts:?}"),
            || {
                found = self
                    .entries(identifier, None)
                    .into_iter()
                    .find(|e| parts.iter().all(|p| e.message.contains(p)));
                found.is_some()
            },
        );
        found.expect("found")
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop_journald();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
