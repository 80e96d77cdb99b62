//! Signalling a service's process group.

use nix::errno::Errno;
use nix::unistd::Pid;

/// Send `signal` to the process group `pid` leads (every process spawned here leads one).
///
/// ESRCH (the group is gone) is reported like any other error; the caller decides whether
/// it matters. Refuses pids 0 and 1 and negative pids with EINVAL: killpg(0) would signal
/// the daemon's own group.
pub fn signal_group(pid: Pid, signal: i32) -> nix::Result<()> {
    if pid.as_raw() <= 1 {
        return Err(Errno::EINVAL);
    }
    // nix's killpg only takes the `Signal` enum, which has no realtime signals.
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
    fn the_daemons_own_group_is_refused() {
        assert_eq!(signal_group(Pid::from_raw(0), 0), Err(Errno::EINVAL));
        assert_eq!(signal_group(Pid::from_raw(1), 0), Err(Errno::EINVAL));
        assert_eq!(signal_group(Pid::from_raw(-5), 0), Err(Errno::EINVAL));
    }
}
