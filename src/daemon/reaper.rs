//! SIGCHLD → waitpid(-1) until nothing is left: every dead, stopped or continued child
//! becomes an event. As subreaper or PID 1 this also reaps every orphan.
//!
//! A `waitpid(-1)` looks at every child in the kernel (`wait_consider_task`: about 0.2 ms
//! for 1,000 children on this project's machines), and the drain always ends with one that
//! finds nothing. So the children a SIGCHLD names (its `si_pid`) are reaped first, each by
//! its pid (the kernel looks at that one task), and what they ask for (a restart) is done
//! before the drain that finds the rest: orphans, and exits whose SIGCHLD was merged into
//! another's (a signal already pending is not queued twice). After a restart that drain
//! waits until the new children have exec'd (`DeferredDrain` in turn.rs).

use crate::supervisor::{Event, ExitStatus};
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

const FLAGS: WaitPidFlag = WaitPidFlag::WNOHANG
    .union(WaitPidFlag::WUNTRACED)
    .union(WaitPidFlag::WCONTINUED);

/// Reaps the children `pids` names, if they are dead, stopped or continued; a pid that is
/// not (or no longer) a child, or is still running, gives nothing.
pub fn reap_named(pids: &[i32]) -> Vec<Event> {
    let mut events = Vec::new();
    for &pid in pids {
        if pid <= 0 {
            continue;
        }
        loop {
            match waitpid(Pid::from_raw(pid), Some(FLAGS)) {
                Err(Errno::EINTR) => continue,
                Ok(status) => events.extend(event_of(status)),
                Err(_) => {}
            }
            break;
        }
    }
    events
}

/// Reaps every child that is ready, until none is.
pub fn reap_all() -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        match waitpid(None, Some(FLAGS)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Err(Errno::EINTR) => continue,
            // Ptrace events and the like: not ours to act on; keep draining.
            Ok(status) => events.extend(event_of(status)),
            Err(_) => break,
        }
    }
    events
}

fn event_of(status: WaitStatus) -> Option<Event> {
    Some(match status {
        WaitStatus::Exited(pid, code) => Event::Exited {
            pid: pid.as_raw(),
            status: ExitStatus::Code(code),
        },
        WaitStatus::Signaled(pid, signal, _core) => Event::Exited {
            pid: pid.as_raw(),
            status: ExitStatus::Signal(signal as i32),
        },
        WaitStatus::Stopped(pid, _) => Event::Stopped { pid: pid.as_raw() },
        WaitStatus::Continued(pid) => Event::Continued { pid: pid.as_raw() },
        _ => return None,
    })
}

/// Whether any child (as PID 1: any process at all) is still there to be reaped.
pub fn children_left() -> bool {
    use nix::sys::wait::{waitid, Id};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::All, flags), Err(Errno::ECHILD))
}
