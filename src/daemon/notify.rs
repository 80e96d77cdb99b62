//! The notify socket: one AF_UNIX datagram socket per daemon, given to `ready "notify"`
//! services as `NOTIFY_SOCKET` (the sd_notify protocol). The kernel attaches every sender's
//! credentials (SO_PASSCRED → SCM_CREDENTIALS), so who sent a message is known from the
//! kernel, never from what the message claims; `/proc/PID/stat` (procfs: never blocks)
//! adds its process group, session and parents. The core decides what it means.
//!
//! The socket is a file next to the control socket (`/run/taskmaster.notify` beside
//! `/run/taskmaster.sock`), not an abstract name: abstract sockets belong to a network
//! namespace, and a service in a namespace of its own could not reach one. It is mode 0666
//! like systemd's own: anyone may send, and credentials decide what counts.

use crate::supervisor::notify::{NotifyMessage, ProcessFacts, MAX_NOTIFY_BYTES};
use crate::supervisor::Event;
use nix::sys::socket::{
    recvmsg, setsockopt, sockopt::PassCred, ControlMessageOwned, MsgFlags, UnixAddr,
    UnixCredentials,
};
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

/// Datagrams read per loop turn, so that a flood cannot starve the rest of the loop.
const PER_TURN: usize = 64;
/// How many parents of a sender are looked at (a service's helper is rarely deeper).
const MAX_ANCESTORS: usize = 16;

pub struct NotifySocket {
    pub socket: UnixDatagram,
    pub path: PathBuf,
}

/// `/run/taskmaster.sock` → `/run/taskmaster.notify`.
pub fn path_beside(control: &Path) -> PathBuf {
    control.with_extension("notify")
}

/// Why the notify socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum NotifyBindError {
    #[error("notify socket {}: exists and is not a socket; refusing to replace it", .0.display())]
    NotASocket(PathBuf),
    #[error("notify socket {}: path longer than a socket address allows (107 bytes)", .0.display())]
    TooLong(PathBuf),
    #[error("notify socket {}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl NotifySocket {
    /// Binds it, replacing a socket file a dead daemon left (our control socket is bound,
    /// so no live daemon uses this path).
    pub fn bind(path: PathBuf) -> Result<NotifySocket, NotifyBindError> {
        let fail = |error: std::io::Error| NotifyBindError::Io {
            path: path.clone(),
            error,
        };
        if let Ok(existing) = path.symlink_metadata() {
            if !existing.file_type().is_socket() {
                return Err(NotifyBindError::NotASocket(path));
            }
            std::fs::remove_file(&path).map_err(fail)?;
        }
        if path.as_os_str().len() >= 108 {
            return Err(NotifyBindError::TooLong(path));
        }
        let socket = UnixDatagram::bind(&path).map_err(fail)?;
        socket.set_nonblocking(true).map_err(fail)?;
        setsockopt(&socket, PassCred, &true).map_err(|e| fail(e.into()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).map_err(fail)?;
        Ok(NotifySocket { socket, path })
    }

    /// Every datagram waiting (at most [`PER_TURN`]), as core events.
    pub fn receive(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let mut buffer = vec![0u8; MAX_NOTIFY_BYTES];
        for _ in 0..PER_TURN {
            let mut space = nix::cmsg_space!(UnixCredentials);
            let mut iov = [IoSliceMut::new(&mut buffer)];
            let received = recvmsg::<UnixAddr>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            );
            let Ok(message) = received else {
                break; // EAGAIN: drained (any other error: try again next turn)
            };
            let bytes = message.bytes;
            let credentials = message.cmsgs().ok().and_then(|mut cmsgs| {
                cmsgs.find_map(|cmsg| match cmsg {
                    ControlMessageOwned::ScmCredentials(c) => Some((c.pid(), c.uid())),
                    _ => None,
                })
            });
            // File descriptors sent along (FDSTORE=1, which taskmaster does not keep) arrive
            // open in this process: close them. (Ones that did not fit the buffer the kernel
            // never installed.)
            if let Ok(cmsgs) = message.cmsgs() {
                for cmsg in cmsgs {
                    if let ControlMessageOwned::ScmRights(fds) = cmsg {
                        for fd in fds {
                            // SAFETY: the kernel just gave us this fd; nothing else owns it.
                            drop(unsafe {
                                <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
                            });
                        }
                    }
                }
            }
            let Some((pid, uid)) = credentials.filter(|(pid, _)| *pid > 0) else {
                continue;
            };
            let text = NotifyMessage::parse(&buffer[..bytes]);
            if text.is_empty() {
                continue;
            }
            let sender = facts(pid, uid);
            let main_pid = text.main_pid.map(|pid| facts(pid, owner_uid(pid)));
            events.push(Event::Notify {
                sender,
                message: text,
                main_pid,
            });
        }
        events
    }

    /// Removes the socket file at exit.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn owner_uid(pid: i32) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}"))
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// What /proc says about `pid` and its parents.
fn facts(pid: i32, uid: u32) -> ProcessFacts {
    let own = read_stat(pid);
    let mut ancestors = Vec::new();
    let mut parent = own.map(|s| s.ppid);
    while let Some(ppid) = parent.filter(|p| *p > 1 && ancestors.len() < MAX_ANCESTORS) {
        ancestors.push(ppid);
        parent = read_stat(ppid).map(|s| s.ppid);
    }
    ProcessFacts {
        pid,
        uid,
        pgid: own.map(|s| s.pgid),
        sid: own.map(|s| s.sid),
        ancestors,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    ppid: i32,
    pgid: i32,
    sid: i32,
}

fn read_stat(pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// `pid (comm) state ppid pgrp session …`; comm may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(1);
    let mut next = || fields.next()?.parse::<i32>().ok();
    Some(Stat {
        ppid: next()?,
        pgid: next()?,
        sid: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_comm() {
        let stat = "4242 (a) b (c)) S 17 4240 4200 0 -1 4194560 0 0";
        assert_eq!(
            parse_stat(stat),
            Some(Stat {
                ppid: 17,
                pgid: 4240,
                sid: 4200
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn our_own_facts_name_our_parent() {
        let me = std::process::id() as i32;
        let facts = facts(me, 0);
        assert_eq!(facts.pgid, Some(nix::unistd::getpgrp().as_raw()));
        assert_eq!(
            facts.ancestors.first().copied(),
            Some(nix::unistd::getppid().as_raw()).filter(|p| *p > 1)
        );
    }

    #[test]
    fn the_socket_path_sits_beside_the_control_socket() {
        assert_eq!(
            path_beside(Path::new("/run/taskmaster.sock")),
            PathBuf::from("/run/taskmaster.notify")
        );
    }
}
