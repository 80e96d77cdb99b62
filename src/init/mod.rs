//! PID 1 duties: what init must do before the services start (mounts, console, loopback,
//! Ctrl-Alt-Del) and after they have stopped (kill what is left, unmount, reboot). The loop
//! calls these at its two ends; the core never knows whether it runs as PID 1.

pub mod cmdline;
mod console;
mod error;
mod mounts;
mod network;
mod shutdown;

pub use cmdline::BootRequest;
pub use error::InitError;
pub use mounts::{in_container, parse_mountinfo, MountPoint};
pub use shutdown::{FinalShutdown, PowerAction, Progress};

/// Starts the emergency shell on the console (a broken config at boot).
pub fn emergency_shell(shell: &std::path::Path) -> Result<i32, InitError> {
    crate::process::spawn_on_console(shell, "")
}

use crate::log::{EventLog, Level};

pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Before the log file is opened: make sure fds 0-2 exist, on the console.
pub fn attach_console() -> Result<(), InitError> {
    console::attach_stdio()
}

/// Early boot, each step logged; a failure is logged and the boot goes on.
pub fn early_setup(log: &mut EventLog) {
    for (ok, message) in mounts::mount_essentials() {
        log.write(
            if ok { Level::Info } else { Level::Warning },
            &format!("init: {message}"),
        );
    }
    if let Err(message) = network::loopback_up() {
        log.write(Level::Warning, &format!("init: {message}"));
    }
    // Our own session, so that no terminal's hangup or job control reaches init.
    let _ = nix::unistd::setsid();
    // Ctrl-Alt-Del becomes SIGINT to us (a clean reboot) instead of an instant reset.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        log.write(
            Level::Warning,
            &format!("init: cannot disable Ctrl-Alt-Del: {e}"),
        );
    }
    // Descriptors inherited from the initramfs or the bootloader must not leak into services.
    // SAFETY: close_range only changes flags on our own descriptor table.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
}

/// The last resort when the daemon could not start as PID 1: init must never exit, so it
/// does the one duty nothing else will, reaping, for ever.
pub fn reap_forever() -> ! {
    loop {
        if let Err(nix::errno::Errno::ECHILD) = nix::sys::wait::waitpid(None, None) {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
}
