//! The integration-test harness: one real `taskmasterd` per test, in its own temp dir with
//! its own services.d, socket and log; killed, with every process it started, on drop.

#![allow(dead_code)]

use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Generous: CI machines are slow and shared. Tests wait for conditions, never sleep.
pub const TIMEOUT: Duration = Duration::from_secs(20);

pub fn taskmasterd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_taskmasterd")
}

pub fn tmctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tmctl")
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub services: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// `--syslog-socket` for the daemon; `None` (the default) passes `--no-syslog`.
    pub syslog_socket: Option<PathBuf>,
    /// Run the daemon in this mount namespace (`/proc/PID/ns/mnt`), e.g. one where a
    /// private journald owns `/run`.
    pub mount_ns: Option<PathBuf>,
    daemon: Option<Child>,
}

impl Harness {
    /// A temp dir with an empty services.d; write files with [`Harness::service`].
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let services = dir.path().join("services.d");
        std::fs::create_dir(&services).expect("services.d");
        Harness {
            socket: dir.path().join("tm.sock"),
            log: dir.path().join("tm.log"),
            services,
            dir,
            syslog_socket: None,
            mount_ns: None,
            daemon: None,
        }
    }

    /// Writes `services.d/NAME.kdl`.
    pub fn service(&self, file: &str, kdl: &str) -> &Harness {
        std::fs::write(self.services.join(format!("{file}.kdl")), kdl).expect("write service");
        self
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The daemon command: no CAP_SYS_BOOT, so nothing it does can reboot this machine.
    pub fn daemon_command(&self) -> Command {
        let mut cmd = Command::new(taskmasterd_bin());
        cmd.arg("-c")
            .arg(&self.services)
            .arg("-s")
            .arg(&self.socket)
            .arg("-l")
            .arg(&self.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &self.syslog_socket {
            Some(socket) => cmd.arg("--syslog-socket").arg(socket),
            None => cmd.arg("--no-syslog"),
        };
        if let Some(ns) = &self.mount_ns {
            let ns = std::fs::File::open(ns).expect("open mount namespace");
            // SAFETY: setns(2) is async-signal-safe; the fd was opened before fork and is
            // only read here (it is close-on-exec).
            unsafe {
                cmd.pre_exec(move || {
                    use std::os::fd::AsRawFd;
                    if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        // SAFETY: prctl is async-signal-safe and touches only the child's own bounding set.
        unsafe {
            cmd.pre_exec(|| {
                // 22 = CAP_SYS_BOOT (linux/capability.h); libc has no constant for it.
                libc::prctl(libc::PR_CAPBSET_DROP, 22, 0, 0, 0);
                Ok(())
            });
        }
        cmd
    }

    /// Starts the daemon and waits until its socket answers.
    pub fn start(&mut self) -> &mut Harness {
        let child = self.daemon_command().spawn().expect("spawn taskmasterd");
        self.daemon = Some(child);
        let socket = self.socket.clone();
        wait_until("the control socket answers", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        self
    }

    pub fn daemon_pid(&self) -> i32 {
        self.daemon.as_ref().expect("daemon started").id() as i32
    }

    /// Runs `tmctl -s SOCKET ARGS...`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(tmctl_bin())
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run tmctl")
    }

    /// `tmctl ARGS` must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "tmctl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `tmctl ARGS` must fail; returns its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            !out.status.success(),
            "tmctl {args:?} should fail but printed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `tmctl --json status` as JSON objects.
    pub fn status(&self) -> Vec<Value> {
        let out = self.ok(&["--json", "status"]);
        match serde_json::from_str::<Value>(&out) {
            Ok(Value::Array(items)) => items,
            other => panic!("status --json is not an array: {other:?} from {out}"),
        }
    }

    pub fn instance(&self, name: &str) -> Value {
        self.status()
            .into_iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no instance {name} in status"))
    }

    pub fn state(&self, name: &str) -> String {
        self.instance(name)["state"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    pub fn pid(&self, name: &str) -> Option<i32> {
        self.instance(name)["pid"].as_i64().map(|p| p as i32)
    }

    /// Waits until `name` is in `state`.
    pub fn wait_state(&self, name: &str, state: &str) {
        wait_until(&format!("{name} to be {state}"), || {
            self.state(name) == state
        });
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the event log has a line containing every one of `parts`.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        let mut found = String::new();
        wait_until(&format!("a log line with {parts:?}"), || {
            match self
                .log_text()
                .lines()
                .find(|line| parts.iter().all(|p| line.contains(p)))
            {
                Some(line) => {
                    found = line.to_string();
                    true
                }
                None => false,
            }
        });
        found
    }

    /// Sends a signal to the daemon.
    pub fn signal_daemon(&self, signal: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        unsafe { libc::kill(self.daemon_pid(), signal) };
    }

    /// Waits for the daemon to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let child = self.daemon.as_mut().expect("daemon started");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.daemon = None;
                return status.code();
            }
            assert!(Instant::now() < deadline, "daemon did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        let Some(mut child) = self.daemon.take() else {
            return;
        };
        // Remember every process it runs, then stop it properly; SIGKILL what is left.
        let pids: Vec<i32> = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.status()
                .iter()
                .filter_map(|i| i["pid"].as_i64())
                .map(|p| p as i32)
                .collect()
        }))
        .unwrap_or_default();
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + TIMEOUT;
        while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        for pid in pids {
            // SAFETY: kill(2) of a process group we created; ESRCH when already gone.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
        }
    }
}

/// Polls `condition` (every 20 ms) until it holds; panics after [`TIMEOUT`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The file's lines.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}
