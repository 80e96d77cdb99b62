//! Signalling a service's process group.

use nix::errno::Errno;
use nix::unistd::Pid;

/// Send `signal` to the process group `pid` leads (every process spawned here leads one).
///
/// A process spawned a moment ago may not lead its group yet (spawning returns at clone,
/// before the child's setsid): then the signal goes to the process itself, which has every
/// signal blocked until it has reset their dispositions, so it is never lost. ESRCH (the
/// process is gone too) is reported like any other error; the caller decides whether it
/// matters. Refuses pids 0 and 1 and negative pids with EINVAL: killpg(0) would signal the
/// daemon's own group.
pub fn signal_group(pid: Pid, signal: i32) -> nix::Result<()> {
    if pid.as_raw() <= 1 {
        return Err(Errno::EINVAL);
    }
    // nix's killpg only takes the `Signal` enum, which has no realtime signals.
    // SAFETY: killpg takes plain integers.
    match Errno::result(unsafe { libc::killpg(pid.as_raw(), signal) }) {
        Err(Errno::ESRCH) => signal_process(pid, signal),
        other => other.map(drop),
    }
}

/// Send `signal` to the process group `pid` only: nothing when the group is empty (ESRCH).
/// For the group of a process already reaped, whose pid may belong to another process now.
pub fn signal_group_only(pid: Pid, signal: i32) -> nix::Result<()> {
    if pid.as_raw() <= 1 {
        return Err(Errno::EINVAL);
    }
    // SAFETY: killpg takes plain integers.
    Errno::result(unsafe { libc::killpg(pid.as_raw(), signal) }).map(drop)
}

/// Send `signal` to the process `pid` alone (`tmctl signal`), realtime signals included.
pub fn signal_process(pid: Pid, signal: i32) -> nix::Result<()> {
    if pid.as_raw() <= 1 {
        return Err(Errno::EINVAL);
    }
    // SAFETY: kill(2) takes plain integers.
    Errno::result(unsafe { libc::kill(pid.as_raw(), signal) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_leads_no_group_yet_still_gets_the_signal() {
        // A child of ours in our own group, as a service is between clone and setsid.
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("1000")
            .spawn()
            .expect("spawn sleep");
        let pid = Pid::from_raw(child.id() as i32);
        assert_eq!(signal_group(pid, libc::SIGTERM), Ok(()));
        let status = child.wait().expect("wait");
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }

    #[test]
    fn the_daemons_own_group_is_refused() {
        assert_eq!(signal_group(Pid::from_raw(0), 0), Err(Errno::EINVAL));
        assert_eq!(signal_group(Pid::from_raw(1), 0), Err(Errno::EINVAL));
        assert_eq!(signal_group(Pid::from_raw(-5), 0), Err(Errno::EINVAL));
    }
}
