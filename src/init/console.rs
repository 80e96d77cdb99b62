//! The console: where PID 1's standard streams live (its emergency shell: `process::spawn_on_console`).

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

/// Makes sure fds 0-2 are open on /dev/console (the kernel may start init without them),
/// so that nothing we or our children write vanishes or lands on a reused descriptor.
pub fn attach_stdio() -> Result<(), super::InitError> {
    let console = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
        .map_err(super::InitError::Console)?;
    for fd in 0..=2 {
        // Only fill the gaps: an fd the kernel already opened on the console stays.
        // SAFETY: fcntl(F_GETFD) only queries the descriptor table.
        let open = unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1;
        if !open {
            // SAFETY: dup2 onto a closed standard descriptor; `console` outlives the call.
            unsafe { libc::dup2(console.as_raw_fd(), fd) };
        }
    }
    Ok(())
}
