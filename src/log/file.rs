//! Opening a log file for appending, its directory created first. Used for the event log
//! and for service output files.
//!
//! Every file and directory gets an explicit mode, so that what the daemon creates does not
//! depend on the umask it was started with (under `umask 000` the event log would otherwise
//! be writable by anyone, who could then forge events).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// The event log: read by the admin group, written only by the daemon.
pub const EVENT_LOG_MODE: u32 = 0o640;
/// Directories the daemon creates for its log files.
pub const LOG_DIR_MODE: u32 = 0o755;

/// The mode of an output file created for a service: what the service itself would create
/// (0666 less its `umask`; without one, the daemon's umask applies as it would to the
/// service, which inherits it).
pub fn output_file_mode(service_umask: Option<u32>) -> u32 {
    0o666 & !service_umask.unwrap_or(0)
}

/// Opens the event log for appending (created `EVENT_LOG_MODE`, its missing directories
/// `LOG_DIR_MODE`). A symbolic link is refused (O_NOFOLLOW): planted in a sticky directory
/// such as /tmp, it would make the root daemon append to any file it points at.
pub fn open_event_log(path: &Path) -> std::io::Result<File> {
    create_parent(path)?;
    open(path, EVENT_LOG_MODE, libc::O_NOFOLLOW)
}

/// Opens `path` for appending (created when missing with `mode`, close-on-exec as std always
/// does).
///
/// The file stays non-blocking: the daemon writes it from its loop, which must never wait.
/// For a regular file that changes nothing; a FIFO with no reader fails to open (ENXIO)
/// instead of blocking the open, and a full one refuses a write instead of stalling it.
pub fn open_append(path: &Path, mode: u32) -> std::io::Result<File> {
    create_parent(path)?;
    open(path, mode, 0)
}

/// Opens `path` for appending, for a child to write as its stdout/stderr (created with
/// `mode`). The open itself never blocks the daemon (a FIFO with no reader fails with
/// ENXIO); the file is then made blocking again, as programs expect of their output.
pub fn open_append_for_child(path: &Path, mode: u32) -> std::io::Result<File> {
    let file = open(path, mode, 0)?;
    let fd = std::os::fd::AsFd::as_fd(&file);
    let flags = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL)?;
    let flags = nix::fcntl::OFlag::from_bits_truncate(flags) - nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags))?;
    Ok(file)
}

fn create_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(LOG_DIR_MODE)
            .create(dir),
        None => Ok(()),
    }
}

fn open(path: &Path, mode: u32, extra_flags: i32) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(mode)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | extra_flags)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_files_get_what_the_service_umask_leaves() {
        assert_eq!(output_file_mode(Some(0o077)), 0o600);
        assert_eq!(output_file_mode(Some(0o022)), 0o644);
        assert_eq!(output_file_mode(None), 0o666);
    }
}
