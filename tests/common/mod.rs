//! The integration-test harness: one real `taskmasterd` per test, in its own temp dir with
//! its own services.d, socket and log; killed, with every process it started, on drop.

#![allow(dead_code)]

pub mod cgroup;
pub mod notify;
pub mod pty;
pub mod users;

pub use cgroup::{remove_test_cgroup, test_cgroup, test_controllers};

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// Generous: CI machines are slow and shared (the packages tests make a release build
/// beside the others). Tests wait for conditions, never sleep, so only a failing test
/// waits this long.
pub const TIMEOUT: Duration = Duration::from_secs(60);

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
    /// The daemon's own stdout and stderr (its messages before the log is open, and the
    /// log lines it echoes).
    pub stderr: PathBuf,
    /// `--syslog-socket` for the daemon; `None` (the default) passes `--no-syslog`.
    pub syslog_socket: Option<PathBuf>,
    /// Run the daemon in this mount namespace (`/proc/PID/ns/mnt`), e.g. one where a
    /// private journald owns `/run`.
    pub mount_ns: Option<PathBuf>,
    daemon: Option<Child>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// A temp dir with an empty services.d; write files with [`Harness::service`].
    pub fn new() -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let services = dir.path().join("services.d");
        std::fs::create_dir(&services).expect("services.d");
        // Strict mode (root): the config dir must not be writable by group or others,
        // whatever the umask of whoever runs the tests.
        set_mode(&services, 0o755);
        Harness {
            socket: dir.path().join("tm.sock"),
            log: dir.path().join("tm.log"),
            stderr: dir.path().join("daemon.stderr"),
            services,
            dir,
            syslog_socket: None,
            mount_ns: None,
            daemon: None,
        }
    }

    /// A daemon already running one service `a` (a sleeper), for tests about the daemon
    /// itself rather than a field.
    pub fn running_sleeper() -> Harness {
        let mut h = Harness::new();
        h.sleeper("a");
        h.start();
        h.wait_state("a", "RUNNING");
        h
    }

    /// Writes `services.d/NAME.kdl` with a service NAME that sleeps (starttime 0.1).
    pub fn sleeper(&self, name: &str) -> &Harness {
        self.service(
            name,
            &format!(
                "service \"{name}\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0.1\n}}\n"
            ),
        )
    }

    /// Writes `services.d/NAME.kdl` (mode 0644, as strict mode wants it).
    pub fn service(&self, file: &str, kdl: &str) -> &Harness {
        let path = self.service_path(file);
        std::fs::write(&path, kdl).expect("write service");
        set_mode(&path, 0o644);
        self
    }

    pub fn service_path(&self, file: &str) -> PathBuf {
        self.services.join(format!("{file}.kdl"))
    }

    pub fn remove_service(&self, file: &str) {
        std::fs::remove_file(self.service_path(file)).expect("remove service file");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `path(name)` as a string, for service files.
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Lets other users (`nobody`) reach files inside the temp dir: the dir itself is
    /// created 0700.
    pub fn open_to_others(&self) {
        set_mode(self.dir.path(), 0o755);
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
            .arg("--state-dir")
            .arg(self.state_dir())
            .stdin(Stdio::null());
        // Appended: a second daemon in the same test adds to what the first said.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr)
            .expect("daemon stderr file");
        cmd.stdout(out.try_clone().expect("dup")).stderr(out);
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
        self.in_test_cgroup(&mut cmd);
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

    /// Starts `cmd` (a daemon, or what runs one) in this test's own cgroup, so that the
    /// daemon's `taskmaster/SERVICE/INSTANCE` subtree is its own (see `cgroup.rs`).
    pub fn in_test_cgroup(&self, cmd: &mut Command) {
        if let Some(procs) = test_cgroup(self.dir.path()).and_then(|dir| {
            std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
                .ok()
        }) {
            // SAFETY: write(2) is async-signal-safe; the fd was opened before fork (it is
            // close-on-exec) and "0" moves the writer, the daemon-to-be, into the cgroup.
            unsafe {
                cmd.pre_exec(move || {
                    use std::os::fd::AsRawFd;
                    if libc::write(procs.as_raw_fd(), b"0".as_ptr().cast(), 1) != 1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
    }

    /// The daemon as PID 1 of fresh user + pid + mount namespaces: in the user namespace the
    /// kernel refuses machine-wide steps (remounting `/` read-only) instead of applying them
    /// to this host, and reboot(2) only ends the pid namespace.
    pub fn pid1_command(&self, extra: &[&dyn AsRef<std::ffi::OsStr>]) -> Command {
        let mut cmd = Command::new("unshare");
        cmd.args([
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--mount",
            "--mount-proc",
        ])
        .arg(taskmasterd_bin())
        .arg("-c")
        .arg(&self.services)
        .arg("-s")
        .arg(&self.socket)
        .arg("-l")
        .arg(&self.log)
        .arg("--state-dir")
        .arg(self.state_dir())
        .args(extra.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null());
        // The console of this init: what it says after its log file is closed (unmount,
        // reboot) is only there.
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr)
            .expect("pid 1 console file");
        cmd.stdout(out.try_clone().expect("dup")).stderr(out);
        // Not the machine's cgroup root: every PID 1 test's daemon would make its services'
        // cgroups in the same `taskmaster/` there, and one's stop would kill another's
        // processes of the same name.
        self.in_test_cgroup(&mut cmd);
        cmd
    }

    /// Starts the daemon and waits until its socket answers.
    pub fn start(&mut self) -> &mut Harness {
        let cmd = self.daemon_command();
        self.start_command(cmd)
    }

    /// Starts the daemon from a command built with [`Harness::daemon_command`] (with extra
    /// environment, say) and waits until its socket answers.
    pub fn start_command(&mut self, mut cmd: Command) -> &mut Harness {
        let child = cmd.spawn().expect("spawn taskmasterd");
        self.adopt(child)
    }

    /// Makes `child` (a taskmasterd started elsewhere, e.g. under a pty) this harness's
    /// daemon: waited for now, cleaned up on drop.
    pub fn adopt(&mut self, child: Child) -> &mut Harness {
        self.daemon = Some(child);
        let socket = self.socket.clone();
        wait_until("the control socket answers", || {
            if let Some(status) = self
                .daemon
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "taskmasterd exited with {status} before answering: {}",
                    self.stderr_text()
                );
            }
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        self
    }

    /// Runs a second daemon with this harness's arguments to completion (it is expected
    /// to refuse to start); returns its output.
    pub fn run_daemon_to_exit(&self) -> Output {
        let mut cmd = self.daemon_command();
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().expect("spawn taskmasterd");
        wait_output(child, "taskmasterd to exit")
    }

    /// `taskmasterd --check -c services.d`.
    pub fn check(&self) -> Output {
        Command::new(taskmasterd_bin())
            .arg("--check")
            .arg("-c")
            .arg(&self.services)
            .stdin(Stdio::null())
            .output()
            .expect("run taskmasterd --check")
    }

    /// The daemon's `--state-dir`, inside the test's temp dir.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn daemon_pid(&self) -> i32 {
        self.daemon.as_ref().expect("daemon started").id() as i32
    }

    /// `tmctl -s SOCKET ARGS...`, to run as it is or adjust first.
    pub fn ctl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(tmctl_bin());
        cmd.arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `tmctl -s SOCKET ARGS...`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let child = self
            .ctl_command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run tmctl");
        wait_output(child, &format!("tmctl {args:?}"))
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

    /// The pid of a running instance, once that process runs its own program; panics when
    /// it has none.
    pub fn running_pid(&self, name: &str) -> i32 {
        self.wait_state(name, "RUNNING");
        let pid = self
            .pid(name)
            .unwrap_or_else(|| panic!("{name} is RUNNING without a pid"));
        wait_for_exec(pid);
        pid
    }

    pub fn detail(&self, name: &str) -> String {
        self.instance(name)["detail"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Waits until `name` is in `state`.
    pub fn wait_state(&self, name: &str, state: &str) {
        wait_until_with(&format!("{name} to be {state}"), || {
            // A service a reload is still adding is not in status yet:
            // wait for it like for any other state.
            let Some(instance) = self.status().into_iter().find(|i| i["name"] == name) else {
                return Err("it is not in status yet".to_string());
            };
            let now = instance["state"].as_str().unwrap_or("");
            match now == state {
                true => Ok(()),
                false => Err(format!(
                    "it is {now} ({})",
                    instance["detail"].as_str().unwrap_or("")
                )),
            }
        });
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The first log line containing every one of `parts`, if there is one yet.
    pub fn log_line(&self, parts: &[&str]) -> Option<String> {
        self.log_text()
            .lines()
            .find(|line| parts.iter().all(|p| line.contains(p)))
            .map(str::to_string)
    }

    /// Waits until the event log has a line containing every one of `parts`.
    pub fn wait_log(&self, parts: &[&str]) -> String {
        let mut found = String::new();
        wait_until(&format!("a log line with {parts:?}"), || {
            match self.log_line(parts) {
                Some(line) => {
                    found = line;
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

    /// Whether the daemon still runs.
    pub fn daemon_alive(&mut self) -> bool {
        self.daemon
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "---- taskmasterd log ({}) ----\n{}---- taskmasterd stderr ----\n{}",
                self.log.display(),
                self.log_text(),
                self.stderr_text()
            );
        }
        let Some(mut child) = self.daemon.take() else {
            if let Some(dir) = cgroup::test_cgroup_path(self.dir.path()) {
                remove_test_cgroup(&dir);
            }
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
        if let Some(dir) = cgroup::test_cgroup_path(self.dir.path()) {
            remove_test_cgroup(&dir);
        }
    }
}

/// Waits (with [`TIMEOUT`]) for a child whose stdout/stderr are piped, and collects them.
/// A child that hangs is killed and the test fails, instead of hanging the suite.
pub fn wait_output(mut child: Child, what: &str) -> Output {
    fn read_all(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out_reader = read_all(child.stdout.take());
    let err_reader = read_all(child.stderr.take());
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Polls `condition` (every 20 ms) until it holds; panics after [`TIMEOUT`].
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    wait_until_with(what, || {
        if condition() {
            Ok(())
        } else {
            Err(String::new())
        }
    });
}

/// Polls `check` until it returns `Ok`; on timeout, panics with the last `Err` it gave,
/// which says what things looked like.
pub fn wait_until_with(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            panic!("timed out waiting for {what}; {last}");
        }
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

/// Waits until `pid` is past execve: the daemon spawns without waiting for the exec (its
/// report comes later), and RUNNING is only `starttime` after the clone, so on a loaded
/// machine a RUNNING process may still be the daemon's image, without its program's
/// command line, user, capabilities or limits. Returns at once for a process that is gone
/// (or one of another pid namespace, which this host's /proc does not show as ours).
pub fn wait_for_exec(pid: i32) {
    let daemon = std::fs::canonicalize(taskmasterd_bin()).unwrap_or_default();
    wait_until_with(
        &format!("pid {pid} to exec its program"),
        || match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(exe) if exe == daemon => Err(format!("it is still {}", exe.display())),
            _ => Ok(()),
        },
    );
}

/// A TCP port on 127.0.0.1 that nothing is bound to now, for a service to listen on. It is
/// taken from below the kernel's ephemeral range (`ip_local_port_range`, 32768-60999 by
/// default): a port from that range, released for the service to bind, can meanwhile become
/// the local port of any outgoing connection (other tests' client loops make thousands),
/// and the service's bind would then fail. Below the range only an explicit bind takes it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TRIED: AtomicU32 = AtomicU32::new(0);
    let ephemeral_low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let low = ephemeral_low.saturating_sub(12_000).max(1024);
    let span = ephemeral_low.saturating_sub(low).max(1);
    // Spread over the span: another run of the suite, or another test now, starts elsewhere.
    let seed = std::process::id().wrapping_mul(2_654_435_761)
        ^ SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for _ in 0..span {
        let n = TRIED.fetch_add(1, Ordering::Relaxed);
        let port = low + seed.wrapping_add(n.wrapping_mul(7919)) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {ephemeral_low} on 127.0.0.1");
}

/// Whether `pid` has a handler for `signal` (its bit in SigCgt of /proc/PID/status): a
/// shell's `trap` is set, so the signal will not end it.
pub fn catches(pid: i32, signal: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("SigCgt:"))?;
            u64::from_str_radix(line.split_whitespace().nth(1)?, 16).ok()
        })
        .is_some_and(|mask| mask & (1 << (signal - 1)) != 0)
}

/// Sends `signal` to `pid`.
pub fn kill(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers; the tests only name processes they started.
    unsafe { libc::kill(pid, signal) };
}

/// The file's lines.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Waits until `path` has at least `n` lines; returns them.
pub fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    wait_until_with(&format!("{n} line(s) in {}", path.display()), || {
        seen = lines(path);
        match seen.len() >= n {
            true => Ok(()),
            false => Err(format!("it has {seen:?}")),
        }
    });
    seen
}

/// Waits until `path` exists and has non-empty, newline-terminated content; returns it.
pub fn wait_file(path: &Path) -> String {
    let mut text = String::new();
    wait_until(&format!("{} to be written", path.display()), || {
        text = std::fs::read_to_string(path).unwrap_or_default();
        text.ends_with('\n')
    });
    text
}

pub fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Creates an empty file (a trigger the test gives a service).
pub fn touch(path: &Path) {
    std::fs::write(path, b"").expect("touch");
}

/// A field of `/proc/PID/status`, e.g. `Uid`, `CapEff`.
pub fn proc_status(pid: i32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

/// The timestamp that starts a log line, parsed as RFC 3339.
pub fn log_time(line: &str) -> SystemTime {
    let stamp = line.split_whitespace().next().unwrap_or("");
    humantime::parse_rfc3339(stamp)
        .unwrap_or_else(|e| panic!("log line does not start with an RFC 3339 stamp ({e}): {line}"))
}

/// Stdout and stderr of a finished command, as one string (for messages and asserts).
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A child whose stdout is read as it comes (`tmctl tail -f`); killed on drop.
pub struct Streaming {
    pub child: Child,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Streaming {
    pub fn spawn(mut cmd: Command) -> Streaming {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().expect("piped stdout");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("seen")
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Streaming { child, seen }
    }

    pub fn text(&self) -> String {
        self.seen.lock().expect("seen").clone()
    }

    /// Waits until the output contains `text`.
    pub fn expect(&self, text: &str) {
        wait_until_with(&format!("{text:?} in the output"), || {
            let seen = self.text();
            match seen.contains(text) {
                true => Ok(()),
                false => Err(format!("it printed {seen:?}")),
            }
        });
    }
}

impl Drop for Streaming {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
