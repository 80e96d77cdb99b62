//! A program on the system console with the console as its controlling terminal (PID 1's
//! emergency shell). Here, beside the other fork/exec code, because of its `pre_exec`.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::init::InitError;

/// Starts `shell` (normally `/bin/sh`) on the console in a session of its own with the
/// console as its controlling terminal, for a person to repair a broken config. Returns
/// its pid.
pub fn spawn_on_console(shell: &std::path::Path, banner: &str) -> Result<i32, InitError> {
    if !shell.exists() {
        return Err(InitError::NoShell(shell.to_path_buf()));
    }
    let tty = |write: bool| {
        OpenOptions::new()
            .read(true)
            .write(write)
            .open("/dev/console")
            .map(Stdio::from)
            .map_err(InitError::ShellConsole)
    };
    let mut command = Command::new(shell);
    command
        .stdin(tty(true)?)
        .stdout(tty(true)?)
        .stderr(tty(true)?);
    let banner = banner.as_bytes().to_vec();
    // SAFETY: setsid, ioctl(TIOCSCTTY) and write are async-signal-safe and use no
    // allocation; the banner was copied before the fork. A slow console blocks only the
    // child, never init.
    unsafe {
        command.pre_exec(move || {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 1);
            if !banner.is_empty() {
                libc::write(1, banner.as_ptr().cast(), banner.len());
            }
            Ok(())
        });
    }
    let child = command.spawn().map_err(|source| InitError::ShellSpawn {
        path: shell.to_path_buf(),
        source,
    })?;
    Ok(child.id() as i32)
}
