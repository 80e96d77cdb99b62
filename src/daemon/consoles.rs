//! `console`: services that run on a pseudo-terminal the daemon owns. The master side is
//! read like a captured stdout pipe (see output.rs: `tail` and attached clients get what
//! the program writes); keystrokes of the attached client are written to it, bounded and
//! never blocking; `attach` sizes it (the kernel then sends SIGWINCH to the program).

use crate::supervisor::{ClientId, InstanceId};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::pty::{openpty, Winsize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Keystrokes not yet taken by the program at most; more are refused (the client is told).
pub const MAX_PENDING_INPUT: usize = 64 * 1024;

/// The size a console starts with, before anyone attaches.
const DEFAULT_SIZE: (u16, u16) = (24, 80);

pub struct Console {
    /// The master side, for writing keystrokes and setting the size.
    master: File,
    pending: Vec<u8>,
    /// The one attached client that types; others only watch.
    pub writer: Option<ClientId>,
}

#[derive(Default)]
pub struct Consoles {
    by_instance: HashMap<InstanceId, Console>,
}

/// A new pseudo-terminal: the master (non-blocking, close-on-exec) and the slave (for the
/// child; close-on-exec here, the child's copies on 0–2 are not).
pub fn open_pty() -> nix::Result<(OwnedFd, OwnedFd)> {
    let size = Winsize {
        ws_row: DEFAULT_SIZE.0,
        ws_col: DEFAULT_SIZE.1,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(Some(&size), None)?;
    for fd in [&pty.master, &pty.slave] {
        fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    }
    let flags = OFlag::from_bits_truncate(fcntl(&pty.master, FcntlArg::F_GETFL)?);
    fcntl(&pty.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok((pty.master, pty.slave))
}

impl Consoles {
    /// The terminal of an instance's new process (the old one's, if any, is let go; an
    /// attached writer stays the writer).
    pub fn register(&mut self, id: &InstanceId, master: OwnedFd) {
        let writer = self.by_instance.get(id).and_then(|c| c.writer);
        self.by_instance.insert(
            id.clone(),
            Console {
                master: File::from(master),
                pending: Vec::new(),
                writer,
            },
        );
    }

    pub fn get_mut(&mut self, id: &InstanceId) -> Option<&mut Console> {
        self.by_instance.get_mut(id)
    }

    /// A client went away: it no longer types anywhere.
    pub fn client_gone(&mut self, client: ClientId) {
        for console in self.by_instance.values_mut() {
            if console.writer == Some(client) {
                console.writer = None;
            }
        }
    }

    /// Instances no longer there (a reload removed them) lose their terminal.
    pub fn retain(&mut self, exists: impl Fn(&InstanceId) -> bool) {
        self.by_instance.retain(|id, _| exists(id));
    }

    /// Masters with keystrokes waiting for room, to poll for writing.
    pub fn waiting_to_write(&self) -> Vec<(InstanceId, BorrowedFd<'_>)> {
        self.by_instance
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(id, c)| (id.clone(), c.master.as_fd()))
            .collect()
    }
}

impl Console {
    /// Queues keystrokes and writes what the terminal takes now; `false` when they were
    /// refused because too many wait already.
    pub fn input(&mut self, data: &[u8]) -> bool {
        if self.pending.len() + data.len() > MAX_PENDING_INPUT {
            return false;
        }
        self.pending.extend_from_slice(data);
        self.flush();
        true
    }

    /// Writes waiting keystrokes until the terminal is full; the rest waits for POLLOUT.
    pub fn flush(&mut self) {
        while !self.pending.is_empty() {
            match self.master.write(&self.pending) {
                Ok(0) => break,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // No process on the other side (it exited): nothing will take them.
                Err(_) => {
                    self.pending.clear();
                    break;
                }
            }
        }
    }

    /// Sets the terminal's size; the kernel tells the program with SIGWINCH.
    pub fn resize(&self, rows: u16, cols: u16) {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer, a live stack value; the
        // fd is the master we own.
        unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }
}
