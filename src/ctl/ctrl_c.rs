//! Ctrl-C turned into a readable fd, so a wait for taskmasterd can end on it (the client
//! polls this fd beside its socket) without killing the shell or leaving the terminal in
//! a bad state.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use signal_hook::consts::SIGINT;
use signal_hook::SigId;

/// While this lives, SIGINT writes a byte into a socket pair instead of killing the
/// process.
///
/// signal-hook cannot restore the previous disposition: after this is dropped, SIGINT is
/// caught and ignored for the rest of the process. Hold it for as long as Ctrl-C must not
/// kill (the whole shell session, or a one-shot `tail -f` just before exiting).
pub struct CtrlCPipe {
    read: UnixStream,
    id: SigId,
}

impl CtrlCPipe {
    pub fn catch() -> io::Result<CtrlCPipe> {
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        // A handler: listed in process/dispositions.rs, which spawned children reset.
        let id = signal_hook::low_level::pipe::register(SIGINT, write)?;
        Ok(CtrlCPipe { read, id })
    }

    /// A new fd for the same pipe, for [`crate::control::client::Client::with_interrupt`].
    pub fn fd(&self) -> io::Result<OwnedFd> {
        self.read.as_fd().try_clone_to_owned()
    }

    /// Whether Ctrl-C was pressed since the last call; forgets it either way, so an old
    /// Ctrl-C does not cut short the next command.
    pub fn take(&self) -> bool {
        let mut pressed = false;
        let mut buffer = [0u8; 64];
        // Non-blocking: stops at WouldBlock once the pipe is empty.
        while let Ok(n @ 1..) = (&self.read).read(&mut buffer) {
            pressed |= n > 0;
        }
        pressed
    }
}

impl Drop for CtrlCPipe {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigint_is_caught_and_remembered_once() {
        let ctrl_c = CtrlCPipe::catch().expect("catch SIGINT");
        assert!(!ctrl_c.take());
        signal_hook::low_level::raise(SIGINT).expect("raise SIGINT");
        assert!(ctrl_c.take());
        assert!(!ctrl_c.take());
    }
}
