//! Whose a service's syslog line is, as the kernel vouches for it to the logger.
//!
//! A datagram on `/dev/log` carries its sender's credentials (SCM_CREDENTIALS), and
//! journald files the message under them: `_PID` (the pid `journalctl` shows in brackets),
//! `_UID`, `_GID`, and what it reads from `/proc/PID` (`_COMM`, `_EXE`, `_SYSTEMD_CGROUP`...).
//! Left to the kernel, every line would be the daemon's. Root may name another process
//! (CAP_SYS_ADMIN for the pid, CAP_SETUID/CAP_SETGID for the ids), so the lines a service
//! wrote are sent as that service's process. The kernel refuses a pid that no longer exists
//! (ESRCH) and an unprivileged daemon (EPERM): such a line goes out as the daemon's own, with
//! the service's pid still in its text (`SYSLOG_PID`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Origin {
    pub fn credentials(self) -> nix::sys::socket::UnixCredentials {
        nix::sys::socket::UnixCredentials::from(libc::ucred {
            pid: i32::try_from(self.pid).unwrap_or(0),
            uid: self.uid,
            gid: self.gid,
        })
    }
}

/// One message for the logger: the datagram, and whose it is (`None`: the daemon's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub datagram: Vec<u8>,
    pub origin: Option<Origin>,
}

impl From<Vec<u8>> for Message {
    fn from(datagram: Vec<u8>) -> Message {
        Message {
            datagram,
            origin: None,
        }
    }
}
