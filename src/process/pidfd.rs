//! pidfds: a handle on a process that is not our child (`tmctl adopt`). Polling it tells
//! the moment the process ends, with no polling of /proc; signalling through it can never
//! reach another process that got the same pid later. nix has no wrappers for these yet
//! (see notes/crates.md), so they are raw system calls, each checked.

use crate::supervisor::ExitStatus;
use nix::errno::Errno;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `PIDFD_GET_INFO`: `_IOWR(0xFF, 11, struct pidfd_info)` with the first version of the
/// struct (64 bytes), which the kernel accepts from newer and older callers alike.
const PIDFD_GET_INFO: libc::c_ulong = (3 << 30) | (64 << 16) | (0xFF << 8) | 11;
/// `pidfd_info.mask` bit: `exit_code` is set (the process has been reaped).
const PIDFD_INFO_EXIT: u64 = 1 << 3;

/// `struct pidfd_info`, first version (linux/pidfd.h).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

/// Opens a pidfd for `pid` (close-on-exec, as every pidfd is).
pub fn open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is
    // passed.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    let fd = i32::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `signal` to the process (never its group) through its pidfd.
pub fn send_signal(fd: BorrowedFd<'_>, signal: i32) -> Result<(), Errno> {
    // SAFETY: the fd is a live pidfd we own; a null siginfo is documented as "like
    // kill(2)"; flags 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The exit status, if the kernel knows it: once the process has been reaped by its parent
/// (Linux 6.15 and later); `None` before that or on older kernels.
pub fn exit_status(fd: BorrowedFd<'_>) -> Option<ExitStatus> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: PIDFD_GET_INFO reads and writes exactly one `struct pidfd_info` of the size
    // encoded in the request number, which is the size of `info`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) };
    if rc < 0 || info.mask & PIDFD_INFO_EXIT == 0 {
        return None;
    }
    let status = info.exit_code;
    if libc::WIFEXITED(status) {
        Some(ExitStatus::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(ExitStatus::Signal(libc::WTERMSIG(status)))
    } else {
        None
    }
}

/// What /proc says about a process to adopt, or why it cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcInfo {
    pub cmdline: Vec<String>,
}

/// Why a process cannot be adopted.
#[derive(Debug, thiserror::Error)]
pub enum NotAdoptable {
    #[error("no process with pid {0}")]
    NoSuchProcess(i32),
    #[error("pid {0} is a zombie: it has exited and waits for its parent to reap it")]
    Zombie(i32),
    #[error("cannot read /proc/{pid}/cmdline: {error}")]
    Cmdline { pid: i32, error: std::io::Error },
    #[error("pid {0} is a kernel thread")]
    KernelThread(i32),
}

/// Reads /proc/PID: refused when it does not exist, is a zombie or a kernel thread.
pub fn inspect(pid: i32) -> Result<ProcInfo, NotAdoptable> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|_| NotAdoptable::NoSuchProcess(pid))?;
    // The state follows the command name in parentheses, which may itself hold ") ".
    let state = stat
        .rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next());
    if state == Some('Z') {
        return Err(NotAdoptable::Zombie(pid));
    }
    let raw = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map_err(|error| NotAdoptable::Cmdline { pid, error })?;
    let cmdline: Vec<String> = raw
        .split(|&b| b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    if cmdline.is_empty() {
        return Err(NotAdoptable::KernelThread(pid));
    }
    Ok(ProcInfo { cmdline })
}
