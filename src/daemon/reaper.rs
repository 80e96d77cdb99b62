//! SIGCHLD → waitpid(-1) until nothing is left: every dead, stopped or continued child
//! becomes an event. As subreaper or PID 1 this also reaps every orphan.

use crate::supervisor::{Event, ExitStatus};
use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

pub fn reap_all() -> Vec<Event> {
    let mut events = Vec::new();
    let flags = WaitPidFlag::WNOHANG | WaitPidFlag::WUNTRACED | WaitPidFlag::WCONTINUED;
    loop {
        match waitpid(None, Some(flags)) {
            Ok(WaitStatus::Exited(pid, code)) => events.push(Event::Exited {
                pid: pid.as_raw(),
                status: ExitStatus::Code(code),
            }),
            Ok(WaitStatus::Signaled(pid, signal, _core)) => events.push(Event::Exited {
                pid: pid.as_raw(),
                status: ExitStatus::Signal(signal as i32),
            }),
            Ok(WaitStatus::Stopped(pid, _)) => events.push(Event::Stopped { pid: pid.as_raw() }),
            Ok(WaitStatus::Continued(pid)) => events.push(Event::Continued { pid: pid.as_raw() }),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Err(Errno::EINTR) => continue,
            // Ptrace events and the like: not ours to act on; keep draining.
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    events
}

/// Whether any child (as PID 1: any process at all) is still there to be reaped.
pub fn children_left() -> bool {
    use nix::sys::wait::{waitid, Id};
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    !matches!(waitid(Id::All, flags), Err(Errno::ECHILD))
}
