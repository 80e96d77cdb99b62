//! A connection to taskmasterd that lives across commands (in the shell), and is replaced
//! when the daemon has closed it, e.g. because it restarted.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::control::client::{Client, ClientError, TableOrLine};
use crate::control::proto::{Request, Response};

pub struct Session {
    socket: PathBuf,
    client: Option<Client>,
    /// Given to every connection, so that Ctrl-C ends any wait (see `CtrlCPipe`).
    interrupt: Option<OwnedFd>,
}

impl Session {
    /// No connection is made until the first request.
    pub fn new(socket: &Path) -> Session {
        Session {
            socket: socket.to_path_buf(),
            client: None,
            interrupt: None,
        }
    }

    /// The daemon's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Waits for the daemon end with `ClientError::Interrupted` when `fd` turns readable.
    pub fn interruptible_by(mut self, fd: OwnedFd) -> Session {
        self.interrupt = Some(fd);
        self
    }

    /// Waits `duration`; true if Ctrl-C came meanwhile (then it returns at once).
    pub fn pause(&self, duration: std::time::Duration) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let Some(fd) = &self.interrupt else {
            std::thread::sleep(duration);
            return false;
        };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let timeout = PollTimeout::try_from(duration).unwrap_or(PollTimeout::MAX);
        matches!(poll(&mut fds, timeout), Ok(n) if n > 0)
    }

    /// Send `request` and wait for its response, keeping the connection for the next.
    pub fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        let mut client = self.send(request)?;
        let response = client.next_response()?.ok_or(ClientError::Closed)?;
        self.client = Some(client);
        Ok(response)
    }

    /// [`Session::request`], the response left as its line (see `Client::next_response_line`);
    /// [`Session::decode`] makes it a [`Response`].
    pub fn request_line(&mut self, request: &Request) -> Result<Vec<u8>, ClientError> {
        let mut client = self.send(request)?;
        let line = client.next_response_line()?;
        self.client = Some(client);
        Ok(line)
    }

    /// Send a status request that asks for the table and wait for the table, or for the
    /// line the daemon answered instead (see `Client::next_table_or_line`).
    pub fn request_table(&mut self, request: &Request) -> Result<TableOrLine, ClientError> {
        let mut client = self.send(request)?;
        let reply = client.next_table_or_line()?;
        self.client = Some(client);
        Ok(reply)
    }

    /// A response line from [`Session::request_line`], decoded.
    pub fn decode(&self, line: &[u8]) -> Result<Response, ClientError> {
        crate::control::client::decode_reply(&self.socket, line)
    }

    /// Send `request` and hand over the connection, for a reply that streams until the
    /// connection is dropped (`tail -f`). A connection whose state is unknown after an
    /// error is never kept: the next request gets a new one.
    pub fn send(&mut self, request: &Request) -> Result<Client, ClientError> {
        if let Some(mut client) = self.client.take() {
            match client.send(request) {
                Ok(()) => return Ok(client),
                // The daemon never saw the request; sending it again is safe.
                Err(e) if e.is_stale_connection() => {}
                Err(e) => return Err(e),
            }
        }
        let mut client = self.connect()?;
        client.send(request)?;
        Ok(client)
    }

    fn connect(&self) -> Result<Client, ClientError> {
        let client = Client::connect(&self.socket)?;
        match &self.interrupt {
            None => Ok(client),
            Some(fd) => {
                let fd = fd.try_clone().map_err(|e| ClientError::Connect {
                    path: self.socket.clone(),
                    source: e,
                })?;
                Ok(client.with_interrupt(fd))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctl::fake_daemon::FakeDaemon;

    const OK: &str = r#"{"result":"ok","lines":[]}"#;

    #[test]
    fn one_connection_serves_several_requests() {
        let daemon = FakeDaemon::start(vec![vec![OK.into(), OK.into()]]);
        let mut session = Session::new(daemon.path());
        assert!(session.request(&Request::Reopen).is_ok());
        assert!(session.request(&Request::Reload).is_ok());
        assert_eq!(daemon.requests().len(), 2);
    }

    #[test]
    fn a_daemon_restart_is_followed_by_a_reconnect() {
        let daemon = FakeDaemon::start(vec![vec![OK.into()], vec![OK.into()]]);
        let mut session = Session::new(daemon.path());
        assert!(session.request(&Request::Reopen).is_ok());
        daemon.wait_closed(0);
        assert!(session.request(&Request::Reload).is_ok());
        assert_eq!(
            daemon.requests(),
            vec![r#"{"cmd":"reopen"}"#, r#"{"cmd":"reload"}"#]
        );
    }

    #[test]
    fn no_daemon_is_a_connect_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut session = Session::new(&dir.path().join("none.sock"));
        assert!(matches!(
            session.request(&Request::Reload),
            Err(ClientError::Connect { .. })
        ));
    }
}
