//! The parent side of spawn: prepare, fork, and learn whether execve succeeded.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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

/// Start `spec` with the given stdout and stderr; stdin is `/dev/null`.
///
/// Returns once the program has been exec'd (its pid, which is also its process group and
/// session id), or the step that failed, with errno. A program missing from PATH fails
/// before anything is forked. The call blocks until execve: that is a few system calls,
/// unless `workingdir` sits on a hung network filesystem.
///
/// The parent's copies of `stdout` and `stderr` are closed before this returns.
///
/// Designed for the single-threaded daemon; it stays sound in a multi-threaded process
/// (the tests) because the child only uses what was prepared before fork (see `child.rs`).
pub fn spawn(spec: &ProcessSpec, stdout: ChildFd, stderr: ChildFd) -> Result<Pid, SpawnError> {
    spawn_with_ready_fd(spec, stdout, stderr, None)
}

/// [`spawn`], and for `ready "fd:N"` the write end of the readiness pipe, which the child
/// gets on fd N (the parent's copy is closed before this returns).
pub fn spawn_with_ready_fd(
    spec: &ProcessSpec,
    stdout: ChildFd,
    stderr: ChildFd,
    ready: Option<OwnedFd>,
) -> Result<Pid, SpawnError> {
    let plan = ExecPlan::new(spec, stdout, stderr, ready)?;
    // Close-on-exec on both ends (std::io::pipe): execve closes the child's write end, which
    // is how the parent learns it succeeded.
    let (mut reader, writer) =
        std::io::pipe().map_err(|e| SpawnError::new(Step::Pipe, "", errno_of(&e)))?;
    let pid = fork_exec(&plan, writer.as_raw_fd())?;
    // Only the child's copy may keep the pipe open, or EOF never comes.
    drop(writer);

    let mut bytes = Vec::with_capacity(report::LEN);
    let outcome = match reader.read_to_end(&mut bytes) {
        Ok(0) => return Ok(pid),
        Ok(_) => match Failure::decode(&bytes) {
            Some(failure) => plan.error(failure),
            None => SpawnError::new(Step::Report, "malformed", Errno::EPROTO),
        },
        Err(e) => {
            // We cannot know whether execve happened, and the daemon will not learn this pid
            // from an error: make sure the child does not live on unsupervised.
            // SAFETY: kill takes plain integers; `pid` is our unreaped child, so it cannot
            // name another process.
            unsafe { libc::kill(pid.as_raw(), libc::SIGKILL) };
            SpawnError::new(Step::Report, "", errno_of(&e))
        }
    };
    reap(pid);
    Err(outcome)
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

/// Reap a child whose start failed, so it leaves no zombie.
///
/// The daemon reaps with `waitpid(-1, WNOHANG)` on SIGCHLD. Reaping this pid here first is
/// fine, and better: the daemon only learns a pid when `spawn` returns `Ok`, so a failed
/// child it reaped itself would look like an unknown process. The SIGCHLD this child raised
/// may still wake the daemon's reaper, which then finds nothing — harmless. Nothing can
/// reap this child between its exit and the waitpid below: the daemon's reaper runs in its
/// event loop on this same thread (signal-hook only writes to a pipe), never in a handler.
fn reap(pid: Pid) {
    loop {
        match waitpid(pid, None) {
            Err(Errno::EINTR) => continue,
            // Ok: reaped. ECHILD: someone else reaped it; there is nothing more to do.
            _ => return,
        }
    }
}
