//! Opening a log file for appending, its directory created first. Used for the event log
//! and for service output files the daemon writes itself (rotation).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Opens `path` for appending (created when missing, close-on-exec as std always does).
///
/// The file stays non-blocking: the daemon writes it from its loop, which must never wait.
/// For a regular file that changes nothing; a FIFO with no reader fails to open (ENXIO)
/// instead of blocking the open, and a full one refuses a write instead of stalling it.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

/// Opens `path` for appending, for a child to write as its stdout/stderr. The open itself
/// never blocks the daemon (a FIFO with no reader fails with ENXIO); the file is then made
/// blocking again, as programs expect of their output.
pub fn open_append_for_child(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let fd = std::os::fd::AsFd::as_fd(&file);
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(file)
}
