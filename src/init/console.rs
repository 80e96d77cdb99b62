//! The console: where PID 1's standard streams and its emergency shell live.

use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Makes sure fds 0-2 are open on /dev/console (the kernel may start init without them),
/// so that nothing we or our children write vanishes or lands on a reused descriptor.
pub fn attach_stdio() -> Result<(), String> {
    let console = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
        .map_err(|e| format!("cannot open /dev/console: {e}"))?;
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

/// Starts `shell` (normally `/bin/sh`) on the console in a session of its own with the
/// console as its controlling terminal, for a person to repair a broken config. Returns
/// its pid.
pub fn emergency_shell(shell: &std::path::Path) -> Result<i32, String> {
    let shown = shell.display();
    if !shell.exists() {
        return Err(format!("no emergency shell: {shown} does not exist"));
    }
    let tty = |write: bool| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .open("/dev/console")
            .map(Stdio::from)
            .map_err(|e| format!("emergency shell: /dev/console: {e}"))
    };
    let mut command = Command::new(shell);
    command
        .stdin(tty(true)?)
        .stdout(tty(true)?)
        .stderr(tty(true)?);
    // SAFETY: setsid and ioctl(TIOCSCTTY) are async-signal-safe and use no allocation.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 1);
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| format!("emergency shell: {shown}: {e}"))?;
    Ok(child.id() as i32)
}
