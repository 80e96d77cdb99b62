//! Helpers: a minimal spec, a child that is always reaped, and /proc readers that wait
//! for a condition with a deadline instead of sleeping a fixed time.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;

use crate::config::{Credentials, Output, ProcessSpec, Rotation, ServiceType};
use crate::process::{signal_group, spawn, ChildFd};

const DEADLINE: Duration = Duration::from_secs(10);

/// Held by every test that spawns, so one test's unreaped child is never seen by another.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A failed test poisons the lock; the next ones may still run.
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn spec(cmd: &[&str]) -> ProcessSpec {
    ProcessSpec {
        cmd: cmd.iter().map(|s| s.to_string()).collect(),
        kind: ServiceType::Simple,
        umask: None,
        workingdir: PathBuf::from("/"),
        stdout: Output::Inherit,
        stderr: Output::Inherit,
        env: Default::default(),
        credentials: Default::default(),
        capabilities: Default::default(),
        no_new_privs: false,
        limits: Default::default(),
        stdout_rotation: Rotation::default(),
        stderr_rotation: Rotation::default(),
        ready: Default::default(),
        watchdog: None,
        env_files: Default::default(),
        resources: Default::default(),
        console: false,
    }
}

pub fn nobody() -> Credentials {
    Credentials {
        user: Some("nobody".into()),
        uid: 65534,
        gid: 65534,
        groups: vec![65534],
    }
}

/// A spawned process; killed (with its group) and reaped on drop, even when a test fails.
pub struct Child(pub Pid);

impl Child {
    pub fn spawn(spec: &ProcessSpec) -> Child {
        Child(spawn(spec, ChildFd::Inherit, ChildFd::Inherit).expect("spawn"))
    }

    /// Wait for it to exit (it is then reaped, so the drop does nothing).
    pub fn wait(self) -> WaitStatus {
        let status = waitpid(self.0, None).expect("waitpid");
        std::mem::forget(self);
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = signal_group(self.0, libc::SIGKILL);
        let _ = waitpid(self.0, None);
    }
}

/// A file for the child's output, and the ChildFd that writes to it.
pub fn output_file(dir: &Path, name: &str) -> (PathBuf, ChildFd) {
    let path = dir.join(name);
    let file = File::create(&path).expect("create output file");
    (path, ChildFd::Fd(file.into()))
}

/// Poll until `check` returns `Some`, or panic after the deadline with `what`.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A field of /proc/PID/status with its whitespace normalized ("65534 65534 65534 65534").
pub fn status_field(pid: Pid, field: &str) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let value = line.strip_prefix(field)?.strip_prefix(':')?;
        Some(value.split_whitespace().collect::<Vec<_>>().join(" "))
    })
}

/// Assert a status field reaches `expected`. Polled: spawn returns when the child's
/// report pipe closes, a moment before execve commits the new credentials.
pub fn assert_status(pid: Pid, field: &str, expected: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let value = status_field(pid, field);
        if value.as_deref() == Some(expected) {
            return;
        }
        if Instant::now() > deadline {
            assert_eq!(
                value.as_deref(),
                Some(expected),
                "/proc/{pid}/status {field}"
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...].
pub fn stat_fields(pid: Pid) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    Some(after_comm.split_whitespace().map(str::to_owned).collect())
}

/// Our children that are zombies (exited, not reaped).
pub fn zombie_children() -> Vec<Pid> {
    let me = nix::unistd::getpid().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .map(Pid::from_raw)
        .filter(|pid| stat_fields(*pid).is_some_and(|f| f.len() > 1 && f[0] == "Z" && f[1] == me))
        .collect()
}
