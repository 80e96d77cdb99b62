//! Accepting control connections: bounded per turn, refused by uid, paused (not spun)
//! when the daemon is out of file descriptors.

use super::clients::{Client, MAX_CLIENTS};
use super::Daemon;
use crate::control::proto::{ErrorKind, Response};
use crate::log::Level;
use nix::errno::Errno;
use nix::sys::socket::SockFlag;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

/// How long accepting pauses when the daemon is out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

impl Daemon {
    /// Ends an accept pause once its time has come (the pending connections are still
    /// queued in the listener; the next poll reports them).
    pub(super) fn resume_accepting(&mut self, now: Instant) {
        if self.accept_paused.is_some_and(|until| until <= now) {
            self.accept_paused = None;
        }
    }

    pub(super) fn accept_clients(&mut self) {
        let me = nix::unistd::geteuid().as_raw();
        // A bounded number per turn, so a connect flood cannot starve everything else.
        for _ in 0..64 {
            let Some(listener) = &self.listener else {
                return;
            };
            let stream = match accept_nonblocking(listener) {
                Ok(stream) => stream,
                Err(Errno::EMFILE | Errno::ENFILE) => {
                    // The pending connection stays readable: polling it again at once would
                    // spin. Stop accepting for a moment; a service exiting frees fds.
                    self.log.write(
                        Level::Warning,
                        "out of file descriptors: not accepting control connections for 100 ms",
                    );
                    self.accept_paused = Some(Instant::now() + ACCEPT_PAUSE);
                    return;
                }
                Err(_) => return,
            };
            let mut client = Client::new(self.next_client, stream);
            self.next_client += 1;
            let (kind, refusal) = match client.peer_uid() {
                Some(uid) if uid == 0 || uid == me => {
                    if self.clients.len() < MAX_CLIENTS {
                        self.clients.push(client);
                        continue;
                    }
                    let message = format!(
                        "too many control connections (at most {MAX_CLIENTS}); try again later"
                    );
                    (ErrorKind::Busy, message)
                }
                uid => {
                    let who = uid.map_or("unknown".to_string(), |u| u.to_string());
                    self.log.write(
                        Level::Warning,
                        &format!("refused control connection from uid {who}: permission denied"),
                    );
                    (ErrorKind::PermissionDenied, "permission denied".to_string())
                }
            };
            // Told why, then closed; nothing it sends is read (see `Client::wants_to_read`).
            client.closing = true;
            client.send(&Response::error(kind, refusal));
            if !client.dead {
                self.clients.push(client);
            }
        }
    }
}

/// One pending connection, non-blocking and close-on-exec from the start (accept4's flags:
/// no `ioctl(FIONBIO)` after it, a syscall of every `tmctl` command).
fn accept_nonblocking(listener: &UnixListener) -> Result<UnixStream, Errno> {
    let fd = nix::sys::socket::accept4(
        listener.as_raw_fd(),
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: accept4 has just returned this fd, open and owned by no one else.
    Ok(UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}
