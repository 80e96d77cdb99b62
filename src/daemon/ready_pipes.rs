//! `ready "fd:N"` (the s6 and dinit protocol): the service gets the write end of a pipe on
//! fd N and is ready when it writes a newline there. The loop keeps the read ends, like
//! output pipes, and turns the newline into a core event.

use crate::supervisor::{Event, InstanceId};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;

pub struct ReadyPipe {
    pub file: File,
    pub id: InstanceId,
    pub pid: i32,
}

#[derive(Default)]
pub struct ReadyPipes {
    pub pipes: Vec<ReadyPipe>,
}

/// A pipe for one spawn: (the read end we keep, the write end the child gets). Both are
/// close-on-exec; the child's copy on fd N is made by dup2, which clears the flag.
pub fn pipe() -> std::io::Result<(File, OwnedFd)> {
    let (read, write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    Ok((File::from(read), write))
}

impl ReadyPipes {
    pub fn attach(&mut self, id: InstanceId, pid: i32, file: File) {
        self.pipes.push(ReadyPipe { file, id, pid });
    }

    /// Reads what pipe `index` holds: a newline is the ready event; at EOF, or once ready,
    /// the pipe is dropped (swap-removed: the caller goes from the highest index down).
    pub fn read(&mut self, index: usize) -> Option<Event> {
        let pipe = self.pipes.get_mut(index)?;
        let mut buffer = [0u8; 512];
        let (ready, done) = match pipe.file.read(&mut buffer) {
            Ok(0) => (false, true),
            Ok(n) => {
                let ready = buffer[..n].contains(&b'\n');
                (ready, ready)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                (false, false)
            }
            Err(_) => (false, true),
        };
        let event = ready.then(|| Event::FdReady {
            id: pipe.id.clone(),
            pid: pipe.pid,
        });
        if done {
            self.pipes.swap_remove(index);
        }
        event
    }
}
