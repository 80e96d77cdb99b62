//! `listen`: sockets the daemon binds when a service is loaded and keeps across restarts
//! and reloads, so that a connection made while the service restarts waits in the
//! kernel's backlog instead of being refused. Each start gets copies on fds 3, 4, …
//! (see process/child.rs). With `start-on-demand`, the loop polls them while the service
//! is down, and the first connection starts it (nothing is accepted by the daemon).

use crate::config::{Config, Credentials, ListenAddr};
use std::collections::HashMap;
use std::net::{TcpListener, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

/// One bound socket.
pub struct Bound {
    pub addr: ListenAddr,
    pub fd: OwnedFd,
}

/// Every service's sockets, in `listen` order.
#[derive(Default)]
pub struct Sockets {
    by_service: HashMap<String, Vec<Bound>>,
}

/// Sockets bound for a config that is not applied yet (the load may still be refused).
pub struct Prepared(HashMap<String, Vec<Bound>>);

impl Sockets {
    /// Binds what `config` asks for; an address already bound is shared (a copy of the same
    /// socket), so a reload loses no connection either. An address that cannot be bound (a
    /// port in use, a path in a missing directory) is an error naming service and address,
    /// and nothing changes.
    pub fn prepare(&self, config: &Config) -> Result<Prepared, Vec<String>> {
        let current: HashMap<&ListenAddr, &Bound> = self
            .by_service
            .values()
            .flatten()
            .map(|b| (&b.addr, b))
            .collect();
        let mut prepared: HashMap<String, Vec<Bound>> = HashMap::new();
        let mut fresh: Vec<ListenAddr> = Vec::new();
        let mut errors = Vec::new();
        for (name, spec) in &config.services {
            for addr in &spec.triggers.listen {
                let fd = match current.get(addr) {
                    Some(existing) => existing.fd.try_clone(),
                    None => bind(addr, spec.process.credentials.as_ref()).inspect(|_| {
                        fresh.push(addr.clone());
                    }),
                };
                match fd {
                    Ok(fd) => prepared.entry(name.clone()).or_default().push(Bound {
                        addr: addr.clone(),
                        fd,
                    }),
                    Err(e) => errors.push(format!("service `{name}`: listen \"{addr}\": {e}")),
                }
            }
        }
        if errors.is_empty() {
            return Ok(Prepared(prepared));
        }
        for bound in prepared.into_values().flatten() {
            if fresh.contains(&bound.addr) {
                close(bound);
            }
        }
        Err(errors)
    }

    /// The load was accepted: these are the sockets from now on; what no service listens
    /// on any more is closed (a unix socket's file removed).
    pub fn commit(&mut self, prepared: Prepared) {
        let old = std::mem::replace(&mut self.by_service, prepared.0);
        let now: Vec<&ListenAddr> = self
            .by_service
            .values()
            .flatten()
            .map(|b| &b.addr)
            .collect();
        for bound in old.into_values().flatten() {
            if !now.contains(&&bound.addr) {
                close(bound);
            }
        }
    }

    /// Copies of a service's sockets for one start, and their `LISTEN_FDNAMES`.
    pub fn handed(&self, service: &str) -> std::io::Result<(Vec<OwnedFd>, Vec<String>)> {
        let Some(bound) = self.by_service.get(service) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut fds = Vec::new();
        let mut names = Vec::new();
        for b in bound {
            fds.push(b.fd.try_clone()?);
            names.push(fd_name(service, &b.addr));
        }
        Ok((fds, names))
    }

    /// The sockets of a service, to poll for `start-on-demand`.
    pub fn of(&self, service: &str) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.by_service
            .get(service)
            .into_iter()
            .flatten()
            .map(|b| b.fd.as_fd())
    }

    /// Every bound socket once (services listening on the same address share one), for
    /// `tmctl upgrade`.
    pub fn all(&self) -> Vec<(&ListenAddr, BorrowedFd<'_>)> {
        let mut seen: Vec<(&ListenAddr, BorrowedFd<'_>)> = Vec::new();
        for b in self.by_service.values().flatten() {
            if !seen.iter().any(|(addr, _)| *addr == &b.addr) {
                seen.push((&b.addr, b.fd.as_fd()));
            }
        }
        seen
    }

    /// In an upgraded image, before the config's sockets are prepared: the sockets the old
    /// image handed over, so that `prepare` shares them instead of binding anew (which
    /// would lose the connections waiting in their backlogs, or fail as in use).
    pub fn inherit(&mut self, sockets: Vec<(ListenAddr, OwnedFd)>) {
        let bound = sockets
            .into_iter()
            .map(|(addr, fd)| Bound { addr, fd })
            .collect();
        // Under no service's name: `commit` closes what the new config does not use.
        self.by_service.insert(String::new(), bound);
    }

    /// At exit: unix socket files are removed.
    pub fn close_all(&mut self) {
        for (_, bound) in self.by_service.drain() {
            for b in bound {
                close(b);
            }
        }
    }
}

/// `LISTEN_FDNAMES` entry: the service name (systemd's default is the socket unit's name);
/// a program that needs to tell its sockets apart uses their order, as `listen` gives it.
fn fd_name(service: &str, _addr: &ListenAddr) -> String {
    service.replace(':', "_")
}

fn bind(addr: &ListenAddr, owner: Option<&Credentials>) -> std::io::Result<OwnedFd> {
    match addr {
        // std sets SO_REUSEADDR (a port in TIME_WAIT after a restart of the daemon can be
        // bound again) and opens with close-on-exec; the sockets stay blocking, as
        // programs that inherit them expect.
        ListenAddr::Tcp(at) => TcpListener::bind(at).map(OwnedFd::from),
        ListenAddr::Udp(at) => UdpSocket::bind(at).map(OwnedFd::from),
        ListenAddr::Unix(path) => bind_unix(path, owner),
    }
}

/// A stale socket file (from a daemon that died) is replaced; any other file is not.
fn bind_unix(path: &Path, owner: Option<&Credentials>) -> std::io::Result<OwnedFd> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(std::io::Error::other(
                "a file that is not a socket is in the way; refusing to remove it",
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::from(std::io::ErrorKind::AddrInUse));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    if let Some(owner) = owner {
        std::os::unix::fs::chown(path, Some(owner.uid), Some(owner.gid))?;
    }
    Ok(OwnedFd::from(listener))
}

fn close(bound: Bound) {
    if let ListenAddr::Unix(path) = &bound.addr {
        let _ = std::fs::remove_file(path);
    }
    drop(bound.fd);
}

/// Socket problems reported like the config errors they are.
pub fn as_config_errors(dir: &Path, problems: Vec<String>) -> Vec<crate::config::ConfigError> {
    problems
        .into_iter()
        .map(|message| crate::config::ConfigError {
            location: dir.display().to_string(),
            message,
        })
        .collect()
}
