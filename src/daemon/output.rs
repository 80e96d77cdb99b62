//! Service output: where each stream goes at spawn time, and the captured streams the loop
//! reads into bounded rings for `tmctl tail`.

use super::ring::{Ring, RING_BYTES};
use crate::config::{Output, ProcessSpec};
use crate::process::ChildFd;
use crate::supervisor::InstanceId;
use nix::fcntl::OFlag;
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;

/// At most this much is read from one pipe per loop turn, so that one chatty service cannot
/// starve the others, the clients or the signals.
const READ_PER_TURN: usize = 64 * 1024;

/// The read end of a captured stream.
pub struct Pipe {
    pub file: std::fs::File,
    pub id: InstanceId,
    pub stderr: bool,
}

/// What the loop got from one pipe.
pub enum Drained {
    Data(Vec<u8>),
    /// The writer closed it (the process and everything it shared the pipe with are gone).
    Closed,
    Nothing,
}

#[derive(Default)]
pub struct Outputs {
    pub pipes: Vec<Pipe>,
    rings: HashMap<(InstanceId, bool), Ring>,
}

impl Outputs {
    /// Prepares stdout and stderr for a spawn: the fds the child gets, and pipes we keep.
    pub fn prepare(
        &mut self,
        id: &InstanceId,
        spec: &ProcessSpec,
    ) -> Result<(ChildFd, ChildFd), String> {
        let stdout = self.child_fd(id, &spec.stdout, false)?;
        let stderr = self.child_fd(id, &spec.stderr, true)?;
        Ok((stdout, stderr))
    }

    fn child_fd(
        &mut self,
        id: &InstanceId,
        output: &Output,
        stderr: bool,
    ) -> Result<ChildFd, String> {
        let stream = if stderr { "stderr" } else { "stdout" };
        match output {
            Output::Inherit => Ok(ChildFd::Inherit),
            Output::Discard => Ok(ChildFd::Null),
            // The child writes straight into the file: no copy through the daemon, and
            // nothing is lost when the daemon is busy or the service exits.
            Output::File(path) => OpenOptions::new()
                .create(true)
                .append(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)
                .map(|file| ChildFd::Fd(OwnedFd::from(file)))
                .map_err(|e| format!("open {stream} {}: {e}", path.display())),
            Output::Capture | Output::Syslog => {
                let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
                    .map_err(|e| format!("pipe for {stream}: {e}"))?;
                // Only our end is non-blocking; the child's end must block as usual.
                let write = clear_nonblock(write).map_err(|e| format!("pipe for {stream}: {e}"))?;
                self.pipes.push(Pipe {
                    file: std::fs::File::from(read),
                    id: id.clone(),
                    stderr,
                });
                Ok(ChildFd::Fd(write))
            }
        }
    }

    /// Reads what one pipe has (bounded per turn) and keeps it in that stream's ring.
    pub fn drain(&mut self, index: usize) -> Drained {
        let Some(pipe) = self.pipes.get_mut(index) else {
            return Drained::Nothing;
        };
        let mut data = vec![0u8; READ_PER_TURN];
        let mut filled = 0;
        let mut closed = false;
        while filled < data.len() {
            match pipe.file.read(&mut data[filled..]) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        data.truncate(filled);
        if !data.is_empty() {
            self.rings
                .entry((pipe.id.clone(), pipe.stderr))
                .or_insert_with(|| Ring::new(RING_BYTES))
                .push(&data);
        }
        if closed {
            // Data read before EOF is still returned; the pipe is forgotten now.
            self.pipes.swap_remove(index);
            if data.is_empty() {
                return Drained::Closed;
            }
        }
        if data.is_empty() {
            Drained::Nothing
        } else {
            Drained::Data(data)
        }
    }

    pub fn captured(&self, id: &InstanceId, stderr: bool) -> Vec<u8> {
        self.rings
            .get(&(id.clone(), stderr))
            .map(Ring::contents)
            .unwrap_or_default()
    }
}

fn clear_nonblock(fd: OwnedFd) -> nix::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg};
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(fd)
}
