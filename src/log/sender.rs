//! Sending syslog datagrams without ever blocking, and without losing messages to a logger
//! that is missing (not started yet, restarting) or slow (its queue is full).
//!
//! The socket is non-blocking. When a send cannot go out, the message joins a bounded
//! [`Backlog`] and everything later queues behind it, so order is kept:
//! - logger missing or refusing (ENOENT, ECONNREFUSED, ...): the socket is dropped and a new
//!   connect is tried at most once per [`RETRY`], when a message arrives or when the loop's
//!   timeout ([`Sender::next_retry`]) says so;
//! - logger full (EAGAIN): the socket is kept and the loop polls it for POLLOUT
//!   ([`Sender::waiting_fd`]), which the kernel signals as soon as the reader made room.
//!
//! With an empty backlog there is no deadline and no fd to poll: no wakeups at all.
//!
//! A message from a service carries its process as the sender (see `origin.rs`); when the
//! kernel refuses that, the message goes out as the daemon's own at once, and a refusal for
//! want of privilege (EPERM) stops further tries.

use super::backlog::Backlog;
use super::origin::{Message, Origin};
use super::rfc3164::Tag;
use super::Level;
use nix::errno::Errno;
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use std::io::{ErrorKind, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The least time between two connect attempts to a missing logger.
pub const RETRY: Duration = Duration::from_secs(1);

/// Something the event log should say about syslog itself (in the file, and in syslog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The first failure of an outage (reported once until it works again).
    Unreachable(String),
    /// Connected again after an outage, with this many messages kept to send.
    Back { kept: usize },
    /// This many messages were dropped from a full backlog; syslog got the same notice
    /// where the gap is.
    Dropped(u64),
}

enum Failure {
    /// Nothing to send to: missing, refused, or not yet time to try again.
    Down,
    /// The logger is there but its queue is full.
    Full,
    /// The message can never be sent (EMSGSIZE): it is dropped.
    TooBig,
}

pub struct Sender {
    path: PathBuf,
    socket: Option<UnixDatagram>,
    backlog: Backlog,
    /// No connect attempt before this (after a failed one).
    next_connect: Option<Instant>,
    /// An outage was reported and has not ended yet.
    down: bool,
    /// Our own tag, for the dropped-messages notice.
    own: Tag,
    news: Vec<Notice>,
    /// The kernel said we may not send as another process (not root): don't ask again.
    origins_refused: bool,
}

impl Sender {
    /// Nothing is connected yet: the first message does it (so a missing logger is
    /// reported through the normal path).
    pub fn new(path: &Path, own: Tag) -> Sender {
        Sender::with_backlog(path, own, Backlog::default())
    }

    pub fn with_backlog(path: &Path, own: Tag, backlog: Backlog) -> Sender {
        Sender {
            path: path.to_path_buf(),
            socket: None,
            backlog,
            next_connect: None,
            down: false,
            own,
            news: Vec::new(),
            origins_refused: false,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one datagram or keeps it. Returns whether it reached the logger now (false:
    /// kept for later, or dropped as too big).
    pub fn send(&mut self, message: impl Into<Message>, now: Instant) -> bool {
        let message = message.into();
        if self.backlog.is_empty() && self.backlog.dropped() == 0 {
            match self.transmit(&message, now) {
                Ok(()) => return true,
                Err(Failure::TooBig) => {
                    self.backlog.note_dropped();
                    return false;
                }
                Err(Failure::Down | Failure::Full) => {}
            }
            self.backlog.push(message);
            return false;
        }
        self.backlog.push(message);
        // A new message is a chance to retry (still at most once per RETRY for a connect).
        self.flush(now);
        // First in, first out: if anything is left, this newest message is still here.
        self.backlog.is_empty()
    }

    /// Sends as much of the backlog as the logger takes now, oldest first.
    pub fn flush(&mut self, now: Instant) {
        loop {
            let dropped = self.backlog.dropped();
            if dropped > 0 {
                let text = format!(
                    "syslog: {dropped} message(s) dropped here while the logger at {} was unavailable or slow",
                    self.path.display()
                );
                let notice = self.own.datagram(Level::Warning, text.as_bytes()).into();
                match self.transmit(&notice, now) {
                    Ok(()) | Err(Failure::TooBig) => {
                        self.backlog.take_dropped();
                        self.news.push(Notice::Dropped(dropped));
                    }
                    Err(Failure::Down | Failure::Full) => return,
                }
            }
            let Some(message) = self.backlog.pop_front() else {
                return;
            };
            match self.transmit(&message, now) {
                Ok(()) => {}
                Err(Failure::TooBig) => self.backlog.note_dropped(),
                Err(Failure::Down | Failure::Full) => {
                    self.backlog.restore_front(message);
                    return;
                }
            }
        }
    }

    /// When the loop should call [`Sender::flush`] again: only while messages wait for a
    /// missing logger.
    pub fn next_retry(&self) -> Option<Instant> {
        if self.backlog.is_empty() && self.backlog.dropped() == 0 {
            return None;
        }
        match self.socket {
            None => self.next_connect,
            Some(_) => None,
        }
    }

    /// The socket to poll for POLLOUT: connected, with messages waiting for room.
    pub fn waiting_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.socket {
            Some(socket) if !self.backlog.is_empty() || self.backlog.dropped() > 0 => {
                Some(socket.as_fd())
            }
            _ => None,
        }
    }

    /// The logger is there but slower than us: producers that can wait (service output
    /// pipes) should, rather than fill the backlog and lose lines. A missing logger never
    /// holds anyone back.
    pub fn is_backlogged(&self) -> bool {
        self.socket.is_some() && !self.backlog.is_empty()
    }

    /// Messages not sent yet.
    pub fn pending(&self) -> usize {
        self.backlog.len()
    }

    pub fn take_news(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.news)
    }

    fn transmit(&mut self, message: &Message, now: Instant) -> Result<(), Failure> {
        // Two tries: a socket that worked may have lost its reader (journald restarted and
        // bound a new socket); reconnect at once rather than wait for the next retry.
        for _ in 0..2 {
            if self.socket.is_none() {
                self.connect(now)?;
            }
            let Some(socket) = &self.socket else {
                return Err(Failure::Down);
            };
            let origin = message.origin.filter(|_| !self.origins_refused);
            let sent = match origin.map(|origin| send_as(socket, &message.datagram, origin)) {
                Some(Err(Errno::EPERM)) => {
                    self.origins_refused = true;
                    socket.send(&message.datagram)
                }
                // The process is gone (reaped), or its ids make no sense here (another user
                // namespace): the daemon vouches for the line instead.
                Some(Err(Errno::ESRCH | Errno::EINVAL)) => socket.send(&message.datagram),
                Some(result) => result.map_err(std::io::Error::from),
                None => socket.send(&message.datagram),
            };
            match sent {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Err(Failure::Full),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => return Err(Failure::TooBig),
                Err(_) => self.socket = None,
            }
        }
        Err(Failure::Down)
    }

    fn connect(&mut self, now: Instant) -> Result<(), Failure> {
        if self.next_connect.is_some_and(|at| now < at) {
            return Err(Failure::Down);
        }
        let connected = UnixDatagram::unbound().and_then(|socket| {
            socket.set_nonblocking(true)?;
            socket.connect(&self.path)?;
            Ok(socket)
        });
        match connected {
            Ok(socket) => {
                self.socket = Some(socket);
                self.next_connect = None;
                if self.down {
                    self.down = false;
                    // Connects happen for a message in hand: it counts as kept too.
                    self.news.push(Notice::Back {
                        kept: self.backlog.len() + 1,
                    });
                }
                Ok(())
            }
            Err(e) => {
                self.next_connect = Some(now + RETRY);
                if !self.down {
                    self.down = true;
                    self.news.push(Notice::Unreachable(format!(
                        "syslog: cannot send to {}: {e}; keeping up to {} messages and retrying",
                        self.path.display(),
                        super::backlog::MAX_MESSAGES
                    )));
                }
                Err(Failure::Down)
            }
        }
    }
}

/// Sends `datagram` with `origin` as the sender's credentials.
fn send_as(socket: &UnixDatagram, datagram: &[u8], origin: Origin) -> nix::Result<usize> {
    let credentials = origin.credentials();
    sendmsg::<()>(
        socket.as_raw_fd(),
        &[IoSlice::new(datagram)],
        &[ControlMessage::ScmCredentials(&credentials)],
        MsgFlags::empty(),
        None,
    )
}

#[cfg(test)]
mod tests;
