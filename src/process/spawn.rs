//! The parent side of spawn: prepare, fork, and learn whether execve succeeded.
//!
//! [`start`] returns as soon as the child exists: its pid, and an [`ExecReport`] to read
//! later, without blocking, from the daemon's loop (a `workingdir` or a program on a hung
//! network filesystem must not freeze PID 1 while the child waits in chdir or execve).
//! [`spawn`] is the same, waiting for the report (for callers outside the loop).

use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::signal::{pthread_sigmask, SigSet, SigmaskHow};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

use super::child::exec_child;
use super::error::{errno_of, SpawnError, Step};
use super::plan::ExecPlan;
use super::report::{self, Failure};
use super::ChildFd;
use crate::config::ProcessSpec;

/// The child's report pipe, read end: EOF alone means execve succeeded, six bytes name the
/// step that failed (see `report.rs`).
pub struct ExecReport {
    reader: std::io::PipeReader,
    /// Kept to name what a failed step acted on.
    plan: ExecPlan,
    bytes: Vec<u8>,
}

/// What an [`ExecReport`] says so far.
#[derive(Debug)]
pub enum ExecOutcome {
    /// The child is still between fork and execve.
    Pending,
    /// execve succeeded.
    Executed,
    /// A step failed; the child exits with 127 (the caller's reaper collects it).
    Failed(SpawnError),
}

impl ExecReport {
    /// The fd to poll for readability.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.reader.as_fd()
    }

    /// Reads what the child reported without blocking (the pipe is non-blocking).
    pub fn read(&mut self) -> ExecOutcome {
        let mut buf = [0u8; report::LEN + 1];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return self.outcome(),
                Ok(n) => {
                    // A report is LEN bytes; more is malformed, and never grows unbounded.
                    if self.bytes.len() <= report::LEN {
                        self.bytes.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return ExecOutcome::Pending,
                Err(e) => {
                    return ExecOutcome::Failed(SpawnError::new(Step::Report, "", errno_of(&e)))
                }
            }
        }
    }

    fn outcome(&self) -> ExecOutcome {
        if self.bytes.is_empty() {
            return ExecOutcome::Executed;
        }
        ExecOutcome::Failed(match Failure::decode(&self.bytes) {
            Some(failure) => self.plan.error(failure),
            None => SpawnError::new(Step::Report, "malformed", Errno::EPROTO),
        })
    }
}

/// Start `spec` with the given stdout and stderr; stdin is `/dev/null`. For
/// `ready "fd:N"`, `ready` is the write end of the readiness pipe, which the child gets on
/// fd N.
///
/// Returns once the child is forked: its pid (also its process group and session id) and
/// the report that will say whether execve succeeded. A program missing from PATH fails
/// here, before anything is forked. The parent's copies of `stdout`, `stderr` and `ready`
/// are closed before this returns.
///
/// Designed for the single-threaded daemon; it stays sound in a multi-threaded process
/// (the tests, the config loader thread) because the child only uses what was prepared
/// before fork (see `child.rs`).
pub fn start(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
) -> Result<(Pid, ExecReport), SpawnError> {
    start_with(
        spec,
        stdout,
        stderr,
        ready,
        None,
        super::HandedFds::default(),
    )
}

/// [`start`], the child joining a cgroup first: `cgroup` is that cgroup's `cgroup.procs`,
/// open for writing. A failure to join is the step `join cgroup` with its errno.
pub fn start_in_cgroup(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
    cgroup: Option<OwnedFd>,
) -> Result<(Pid, ExecReport), SpawnError> {
    start_with(
        spec,
        stdout,
        stderr,
        ready,
        cgroup,
        super::HandedFds::default(),
    )
}

/// [`start_in_cgroup`], handing the child `listen` sockets and a `console` terminal too.
pub fn start_with(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
    cgroup: Option<OwnedFd>,
    handed: super::HandedFds,
) -> Result<(Pid, ExecReport), SpawnError> {
    let mut plan = ExecPlan::new(spec, stdout, stderr, ready, handed)?;
    plan.cgroup = cgroup;
    // Close-on-exec on both ends (std::io::pipe): execve closes the child's write end, which
    // is how the parent learns it succeeded.
    let (reader, writer) =
        std::io::pipe().map_err(|e| SpawnError::new(Step::Pipe, "", errno_of(&e)))?;
    set_nonblocking(&reader).map_err(|errno| SpawnError::new(Step::Pipe, "", errno))?;
    let pid = fork_exec(&plan, writer.as_raw_fd())?;
    // Only the child's copy may keep the pipe open, or EOF never comes.
    drop(writer);
    plan.close_stdio();
    plan.cgroup = None;
    Ok((
        pid,
        ExecReport {
            reader,
            plan,
            bytes: Vec::with_capacity(report::LEN),
        },
    ))
}

/// [`start`], then wait for the report: the pid once execve succeeded, or the failed step
/// (the child reaped). Blocks until execve: for callers outside the event loop.
pub fn spawn(spec: &ProcessSpec, stdout: ChildFd, stderr: ChildFd) -> Result<Pid, SpawnError> {
    spawn_with_ready_fd(spec, stdout, stderr, None)
}

/// [`spawn`], with the write end of a `ready "fd:N"` pipe (see [`start`]).
pub fn spawn_with_ready_fd(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
) -> Result<Pid, SpawnError> {
    let (pid, mut report) = start(spec, stdout, stderr, ready)?;
    loop {
        let outcome = report.read();
        match outcome {
            ExecOutcome::Executed => return Ok(pid),
            ExecOutcome::Failed(error) => {
                if error.step == Step::Report {
                    // We cannot know whether execve happened, and the caller will not learn
                    // this pid from an error: the child must not live on unsupervised.
                    // SAFETY: kill takes plain integers; `pid` is our unreaped child, so
                    // it cannot name another process.
                    unsafe { libc::kill(pid.as_raw(), libc::SIGKILL) };
                }
                reap(pid);
                return Err(error);
            }
            ExecOutcome::Pending => {
                let fd = report.as_fd();
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
            }
        }
    }
}

fn set_nonblocking(fd: &impl AsFd) -> nix::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// fork, with every signal blocked around it so that none of the daemon's handlers runs in
/// the child before it has reset them (the child unblocks after resetting; see `child.rs`).
fn fork_exec(plan: &ExecPlan, report: RawFd) -> Result<Pid, SpawnError> {
    let mut saved = SigSet::empty();
    pthread_sigmask(
        SigmaskHow::SIG_SETMASK,
        Some(&SigSet::all()),
        Some(&mut saved),
    )
    .map_err(|errno| SpawnError::new(Step::Fork, "block signals", errno))?;
    // SAFETY: the daemon is single-threaded, so the child is a consistent copy of it. The
    // child runs only `exec_child`, which uses the plan prepared above and async-signal-safe
    // calls, and never returns (execve or _exit). In the multi-threaded test harness, the
    // same no-allocation rule is what keeps the child from deadlocking on another thread's
    // lock.
    let forked = match unsafe { fork() } {
        Ok(ForkResult::Child) => exec_child(plan, report),
        Ok(ForkResult::Parent { child }) => Ok(child),
        Err(errno) => Err(SpawnError::new(Step::Fork, "", errno)),
    };
    // Restoring the mask we just read cannot fail (valid `how`, valid set); the signals that
    // arrived meanwhile are delivered now.
    let _ = pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&saved), None);
    forked
}

/// Reap a child whose start failed, so it leaves no zombie (the blocking [`spawn`] only:
/// the daemon reaps the children of [`start`] itself).
fn reap(pid: Pid) {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            // Ok: reaped. ECHILD: someone else reaped it; there is nothing more to do.
            _ => return,
        }
    }
}
