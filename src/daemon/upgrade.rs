//! `tmctl upgrade [PATH]`: the daemon re-executes itself (or PATH) in place. Every service
//! process stays its child across execve, so nothing is restarted: the new image gets the
//! core's facts, the output pipes, the sockets and the asking client as inherited fds (see
//! `handover.rs`) and carries on.
//!
//! Before the old image is given up, the new binary must prove it can take over: a child
//! runs `PATH --upgrade-check -c CONFIG_DIR`, which loads the config and prints the
//! handover version it reads. A binary that is missing, crashes, reads another version or
//! rejects the config is refused, and the old daemon goes on.

use super::clients::Client;
use super::handover::{self, Handover, ReadyPipeHandover, HANDOVER_VERSION};
use super::Daemon;
use crate::control::proto::{ErrorKind, Response};
use crate::log::Level;
use crate::supervisor::{ClientId, ExitStatus, InstanceId};
use nix::sys::signal::{SigSet, Signal};
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the new binary gets to say it can take over.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// What of the check's output is kept for the error message.
const CHECK_OUTPUT_BYTES: usize = 4096;

/// An upgrade whose check is running.
pub struct PendingUpgrade {
    client: ClientId,
    path: PathBuf,
    pub pid: i32,
    output: File,
    pub deadline: Instant,
}

/// A reaped batch without the exit of the upgrade's check `check` (when it holds it), and
/// that exit's status: the loop handles the check last, since its end may exec the new
/// image, which would never hear of an exit reaped with it and not handled yet (that
/// instance would stay RUNNING with a pid that is gone).
pub(super) fn check_exit_apart(
    events: Vec<crate::supervisor::Event>,
    check: Option<i32>,
) -> (Vec<crate::supervisor::Event>, Option<ExitStatus>) {
    use crate::supervisor::Event;
    let Some(check) = check else {
        return (events, None);
    };
    let mut status = None;
    let rest = events
        .into_iter()
        .filter(|event| match *event {
            Event::Exited { pid, status: s } if pid == check => {
                status = Some(s);
                false
            }
            _ => true,
        })
        .collect();
    (rest, status)
}

/// The line `--upgrade-check` prints when this binary can take over.
pub fn check_line() -> String {
    format!("taskmasterd handover {HANDOVER_VERSION}")
}

/// The signals the loop handles: blocked in every thread for good and read from a
/// signalfd (see `signal_fd.rs`); so also across an upgrade's execve, where they stay
/// pending for the new image (an image of before the signalfd unblocks them once its
/// handlers are in place).
pub(super) fn loop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        // Not handled, only kept from ending the daemon: a state file's spare is written
        // under a lease, whose break the kernel may signal (see state_swap.rs).
        Signal::SIGIO,
    ] {
        set.add(signal);
    }
    set
}

/// The binary running now, as it is on disk now (after a package upgrade replaced it,
/// /proc/self/exe says "PATH (deleted)": PATH is the new one).
fn running_binary() -> Result<PathBuf, UpgradeRefused> {
    let exe = std::fs::read_link("/proc/self/exe").map_err(UpgradeRefused::NoBinary)?;
    let bytes = exe.as_os_str().as_bytes();
    Ok(match bytes.strip_suffix(b" (deleted)") {
        Some(path) => PathBuf::from(std::ffi::OsStr::from_bytes(path)),
        None => exe,
    })
}

fn check_executable(path: &Path) -> Result<(), UpgradeRefused> {
    let meta = std::fs::metadata(path).map_err(|error| UpgradeRefused::NoSuchFile {
        path: path.to_path_buf(),
        error,
    })?;
    if !meta.is_file() {
        return Err(UpgradeRefused::NotAFile(path.to_path_buf()));
    }
    nix::unistd::access(path, nix::unistd::AccessFlags::X_OK).map_err(|errno| {
        UpgradeRefused::NotExecutable {
            path: path.to_path_buf(),
            errno,
        }
    })
}

/// Why `tmctl upgrade` is refused; the old daemon goes on.
#[derive(Debug, thiserror::Error)]
enum UpgradeRefused {
    #[error("an upgrade is already under way")]
    UnderWay,
    #[error("cannot find the running binary: {0}")]
    NoBinary(std::io::Error),
    /// The path given is no file that can be looked at.
    #[error("{}: {error}", path.display())]
    NoSuchFile {
        path: PathBuf,
        error: std::io::Error,
    },
    /// Its check (`PATH --upgrade-check`) cannot be started.
    #[error("{}: {error}", path.display())]
    Unusable {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error("{}: not executable ({errno})", path.display())]
    NotExecutable {
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    /// Something is under way that cannot be handed over (a start, a reload, …).
    #[error("cannot upgrade now: {0}; try again shortly")]
    Busy(String),
}

impl UpgradeRefused {
    fn kind(&self) -> ErrorKind {
        match self {
            UpgradeRefused::UnderWay | UpgradeRefused::Busy(_) => ErrorKind::Busy,
            UpgradeRefused::NoSuchFile { .. }
            | UpgradeRefused::NotAFile(_)
            | UpgradeRefused::NotExecutable { .. } => ErrorKind::BadRequest,
            UpgradeRefused::Unusable { .. } | UpgradeRefused::NoBinary(_) => ErrorKind::Failed,
        }
    }

    fn reply(&self) -> Response {
        Response::error(self.kind(), self.to_string())
    }
}

impl Daemon {
    pub(super) fn upgrade(&mut self, client: ClientId, path: Option<String>) {
        if self.upgrade.is_some() {
            return self.reply(client, UpgradeRefused::UnderWay.reply());
        }
        let path = match path
            .map(PathBuf::from)
            .map(Ok)
            .unwrap_or_else(running_binary)
        {
            Ok(path) => path,
            Err(refused) => return self.reply(client, refused.reply()),
        };
        if let Err(refused) = check_executable(&path) {
            return self.reply(client, refused.reply());
        }
        if let Err(refused) = self.handover_busy() {
            return self.reply(client, refused.reply());
        }
        match self.spawn_check(&path) {
            Ok((pid, output)) => {
                self.log.write(
                    Level::Info,
                    &format!("upgrade: checking that {} can take over", path.display()),
                );
                self.upgrade = Some(PendingUpgrade {
                    client,
                    path,
                    pid,
                    output,
                    deadline: Instant::now() + CHECK_TIMEOUT,
                });
            }
            Err(error) => {
                let refused = UpgradeRefused::Unusable { path, error };
                self.reply(client, refused.reply());
            }
        }
    }

    /// Why the state cannot be handed over right now, if it cannot.
    fn handover_busy(&self) -> Result<(), UpgradeRefused> {
        let busy = |what: &str| Err(UpgradeRefused::Busy(what.to_string()));
        if let Err(e) = self.core.handover(Instant::now()) {
            return busy(&e.to_string());
        }
        if !self.exec_reports.is_empty() {
            return busy("a process is being started");
        }
        // A zombie whose SIGCHLD was merged may wait for that drain: the new image would
        // not know to look for it.
        if self.drain_due.is_some() || !self.reaped_early.is_empty() {
            return busy("exited processes are being reaped");
        }
        if self.loader.polled().is_some() {
            return busy("a reload is reading the config");
        }
        if self.job_specs.busy() {
            return busy("a run request is being read");
        }
        if self.final_shutdown.is_some() {
            return busy("taskmasterd is shutting down");
        }
        Ok(())
    }

    /// Runs `PATH --upgrade-check -c CONFIG_DIR` with its output (both streams) on a pipe
    /// the loop reads once the loop has reaped it.
    fn spawn_check(&self, path: &Path) -> std::io::Result<(i32, File)> {
        let (read, write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
        let write_err = write.try_clone()?;
        let child = std::process::Command::new(path)
            .arg("--upgrade-check")
            .arg("-c")
            .arg(&self.opts.config_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(write))
            .stderr(std::process::Stdio::from(write_err))
            .process_group(0)
            .spawn()?;
        Ok((child.id() as i32, File::from(read)))
    }

    /// The check's deadline passed: kill it (its reaping ends the upgrade as refused).
    pub(super) fn expire_upgrade_check(&mut self, now: Instant) {
        if let Some(pending) = self.upgrade.as_mut().filter(|u| u.deadline <= now) {
            pending.deadline = now + CHECK_TIMEOUT;
            // Reaped while the turn signalled (its exit is handled at the turn's end): its
            // pid may be another process's already. No step of a turn comes between that
            // handling and this call today; this keeps the kill below true if one does.
            if self.reaped_early.has_reaped(pending.pid) {
                return;
            }
            // SAFETY: plain kill(2) of our own child, not reaped: a reaped one is handled in
            // the turn that reaped it (upgrade_check_done clears `upgrade`) or, reaped
            // early, is skipped above.
            unsafe { libc::kill(pending.pid, libc::SIGKILL) };
        }
    }

    /// The check was reaped: exec the new binary if it said it can take over.
    pub(super) fn upgrade_check_done(&mut self, status: ExitStatus) {
        let Some(mut pending) = self.upgrade.take() else {
            return;
        };
        let mut output = Vec::new();
        let _ = (&mut pending.output)
            .take(CHECK_OUTPUT_BYTES as u64)
            .read_to_end(&mut output);
        let text = String::from_utf8_lossy(&output);
        let ready = status == ExitStatus::Code(0) && text.lines().any(|l| l.trim() == check_line());
        if ready {
            return self.exec_upgrade(pending.client, &pending.path);
        }
        let said = text.trim();
        let message = format!(
            "{} cannot take over ({status}{}); taskmasterd goes on",
            pending.path.display(),
            if said.is_empty() {
                String::new()
            } else {
                format!(": {}", said.lines().take(5).collect::<Vec<_>>().join("; "))
            }
        );
        self.log
            .write(Level::Warning, &format!("upgrade: {message}"));
        self.reply(pending.client, Response::error(ErrorKind::Failed, message));
    }

    fn exec_upgrade(&mut self, client: ClientId, path: &Path) {
        let now = Instant::now();
        if let Err(refused) = self.handover_busy() {
            return self.reply(client, refused.reply());
        }
        let instances = match self.core.handover(now) {
            Ok(instances) => instances,
            Err(e) => return self.reply(client, Response::error(ErrorKind::Busy, e.to_string())),
        };
        let count = instances.len();
        let (pipes, rings, ring_bytes) = self.outputs.hand_over(&mut self.log);
        let client_fd = self.clients.iter_mut().find(|c| c.id == client).map(|c| {
            c.flush();
            c.stream.as_raw_fd()
        });
        let handover = Handover {
            version: HANDOVER_VERSION,
            instances,
            pipes,
            rings,
            ready_pipes: self
                .ready_pipes
                .pipes
                .iter()
                .map(|p| ReadyPipeHandover {
                    fd: p.file.as_raw_fd(),
                    service: p.id.service.clone(),
                    index: p.id.index,
                    pid: p.pid,
                })
                .collect(),
            listener: self.listener.as_ref().map(|l| l.as_raw_fd()),
            socket_inode: self.socket_inode,
            notify: self.notify.as_ref().map(|n| n.socket.as_raw_fd()),
            client: client_fd,
            next_client: self.next_client,
            shell_pid: self.shell_pid,
            rescue_shell: self.rescue_shell,
            rescue: self.core.in_rescue(),
            child_nofile: self.child_nofile.map(|l| (l.soft, l.hard)),
            listen: self
                .sockets
                .all()
                .into_iter()
                .map(|(addr, fd)| handover::ListenHandover {
                    addr: addr.clone(),
                    fd: fd.as_raw_fd(),
                })
                .collect(),
            timeline: self.core.timeline_handover(now),
        };
        let memfd = match handover.write(&ring_bytes) {
            Ok(fd) => fd,
            Err(e) => {
                let message = format!("upgrade refused: {e}");
                return self.reply(client, Response::error(ErrorKind::Failed, message));
            }
        };
        let error = self.exec_with(path, &handover, &memfd, count);
        // Still here: the exec failed and everything is as it was.
        let message = format!("exec {}: {error}; taskmasterd goes on", path.display());
        self.log.write(Level::Error, &format!("upgrade: {message}"));
        self.reply(client, Response::error(ErrorKind::Failed, message));
    }

    /// Clears close-on-exec on what must survive and execs;
    /// returns only if execve failed, with everything put back.
    fn exec_with(
        &mut self,
        path: &Path,
        handover: &Handover,
        memfd: &OwnedFd,
        count: usize,
    ) -> nix::Error {
        let mut args: Vec<CString> = Vec::new();
        let mut skip_next = false;
        for arg in std::env::args_os() {
            if std::mem::take(&mut skip_next) {
                continue;
            }
            if arg == "--handover" {
                skip_next = true;
                continue;
            }
            args.push(CString::new(arg.as_bytes()).unwrap_or_default());
        }
        if args.is_empty() {
            args.push(CString::new("taskmasterd").unwrap_or_default());
        }
        args.push(CString::new("--handover").unwrap_or_default());
        args.push(CString::new(memfd.as_raw_fd().to_string()).unwrap_or_default());
        let Ok(program) = CString::new(path.as_os_str().as_bytes()) else {
            return nix::Error::EINVAL;
        };
        self.log.write(
            Level::Info,
            &format!(
                "upgrade: executing {} with {count} instance(s) handed over",
                path.display()
            ),
        );
        let fds: Vec<i32> = handover
            .fds()
            .into_iter()
            .chain([memfd.as_raw_fd()])
            .collect();
        for fd in &fds {
            handover::set_cloexec(*fd, false);
        }
        self.log.flush();
        // The loop's signals are blocked (always): what comes meanwhile waits for the new
        // image's signalfd.
        let error = match nix::unistd::execv(&program, &args) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        for fd in &fds {
            handover::set_cloexec(*fd, true);
        }
        error
    }

    /// In the new image: puts back what the old one handed over, and answers the client
    /// that asked.
    pub(super) fn take_over(&mut self, handover: Handover, ring_bytes: Vec<Vec<u8>>) {
        let now = Instant::now();
        self.next_client = self.next_client.max(handover.next_client);
        self.shell_pid = handover.shell_pid;
        self.rescue_shell = handover.rescue_shell;
        self.core.set_rescue(handover.rescue);
        let core = &self.core;
        let rings = handover.rings.into_iter().zip(ring_bytes).collect();
        let problems = self
            .outputs
            .take_over(handover.pipes, rings, |s| core.process_spec(s).cloned());
        for problem in problems {
            self.log.write(Level::Warning, &problem);
        }
        for pipe in handover.ready_pipes {
            handover::set_cloexec(pipe.fd, true);
            // SAFETY: handed over for this pipe only.
            let file = unsafe { File::from_raw_fd(pipe.fd) };
            let id = InstanceId {
                service: pipe.service,
                index: pipe.index,
            };
            self.ready_pipes.attach(id, pipe.pid, file);
        }
        let count = handover.instances.len();
        // Scheduled services are armed from the wall clock (their next matching minute).
        self.core.set_wall_clock(now, std::time::SystemTime::now());
        if let Some(timeline) = handover.timeline {
            self.core.take_over_timeline(timeline, now);
        }
        let actions = self.core.take_over(handover.instances, now);
        self.perform_all(actions);
        let line = format!(
            "upgraded: taskmasterd {} (pid {}) took over {count} instance(s); nothing was restarted",
            env!("CARGO_PKG_VERSION"),
            std::process::id()
        );
        self.log.write(Level::Info, &line);
        if let Some(fd) = handover.client {
            handover::set_cloexec(fd, true);
            // SAFETY: the asking client's connection, handed over for this reply.
            let stream = unsafe { UnixStream::from_raw_fd(fd) };
            let id = self.next_client;
            self.next_client += 1;
            let mut client = Client::new(id, stream);
            client.send(&Response::Ok { lines: vec![line] });
            self.clients.push(client);
        }
    }
}

/// The control socket the old image handed over.
pub fn inherited_listener(fd: i32) -> UnixListener {
    handover::set_cloexec(fd, true);
    // SAFETY: handed over by the old image for exactly this.
    unsafe { UnixListener::from_raw_fd(fd) }
}

/// The `listen` sockets the old image handed over.
pub fn inherited_sockets(
    listen: &[handover::ListenHandover],
) -> Vec<(crate::config::ListenAddr, OwnedFd)> {
    listen
        .iter()
        .map(|l| {
            handover::set_cloexec(l.fd, true);
            // SAFETY: handed over by the old image for exactly this socket.
            (l.addr.clone(), unsafe { OwnedFd::from_raw_fd(l.fd) })
        })
        .collect()
}

/// The notify socket the old image handed over.
pub fn inherited_datagram(fd: i32) -> std::os::unix::net::UnixDatagram {
    handover::set_cloexec(fd, true);
    // SAFETY: handed over by the old image for exactly this.
    unsafe { std::os::unix::net::UnixDatagram::from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::Event;

    fn exited(pid: i32, code: i32) -> Event {
        Event::Exited {
            pid,
            status: ExitStatus::Code(code),
        }
    }

    fn pids(events: &[Event]) -> Vec<i32> {
        let pid = |event: &Event| match *event {
            Event::Exited { pid, .. } => pid,
            _ => 0,
        };
        events.iter().map(pid).collect()
    }

    #[test]
    fn the_checks_exit_is_taken_out_of_its_batch_and_the_rest_kept_in_order() {
        let batch = vec![exited(10, 1), exited(77, 3), exited(11, 2)];
        let (rest, check) = check_exit_apart(batch, Some(77));
        assert_eq!(check, Some(ExitStatus::Code(3)));
        assert_eq!(pids(&rest), [10, 11]);
        let (rest, check) = check_exit_apart(vec![exited(10, 1)], Some(77));
        assert_eq!((pids(&rest), check), (vec![10], None));
        let (rest, check) = check_exit_apart(vec![exited(77, 0)], None);
        assert_eq!((pids(&rest), check), (vec![77], None));
    }
}
