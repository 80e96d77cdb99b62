//! The client side of the control socket: one JSON request line out, one JSON response
//! line back (or a stream of them for `tail -f`).
//!
//! Every wait for the daemon goes through `poll(2)` so that it can also end on a timeout
//! or on an "interrupt" fd becoming readable (the shell's Ctrl-C pipe) instead of hanging
//! in a `read` that `SA_RESTART` would restart.

use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::proto::{ErrorKind, Request, Response, MAX_REQUEST_BYTES};
use super::table_reply;

/// A reply line longer than this is refused: status of thousands of instances or a large
/// `tail` fits many times over, while a runaway or hostile peer cannot make us allocate
/// without bound.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// How much is read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {}: {}", path.display(), connect_reason(source))]
    Connect { path: PathBuf, source: io::Error },
    /// The socket refused us (EACCES) or the daemon did (its peer-uid check).
    #[error("permission denied: {} accepts only the user running taskmasterd and root", path.display())]
    PermissionDenied { path: PathBuf },
    #[error("the request is {size} bytes, more than the {MAX_REQUEST_BYTES} taskmasterd accepts")]
    RequestTooLong { size: usize },
    #[error("cannot encode the request: {0}")]
    Encode(#[source] serde_json::Error),
    #[error("cannot send to taskmasterd: {}", describe(.0))]
    Send(#[source] io::Error),
    #[error("cannot read from taskmasterd: {}", describe(.0))]
    Receive(#[source] io::Error),
    #[error("taskmasterd closed the connection before answering")]
    Closed,
    /// The daemon said why it closed the connection before our request reached it (too
    /// many connections, …).
    #[error("{message}")]
    Refused { kind: ErrorKind, message: String },
    #[error("taskmasterd sent a reply longer than {limit} bytes; refused")]
    ReplyTooLong { limit: usize },
    #[error("taskmasterd sent a reply tmctl does not understand: {0}")]
    BadReply(#[source] serde_json::Error),
    #[error("no answer from taskmasterd within {} ms", .0.as_millis())]
    Timeout(Duration),
    /// The interrupt fd became readable (Ctrl-C) while waiting.
    #[error("interrupted")]
    Interrupted,
}

impl ClientError {
    /// True when sending failed because the daemon had already closed this connection
    /// (it restarted, or dropped an idle client): the request never reached it, so it is
    /// safe to send it again on a new connection.
    pub fn is_stale_connection(&self) -> bool {
        match self {
            ClientError::Send(e) => matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::NotConnected
            ),
            _ => false,
        }
    }
}

/// The reply to a status asked for as a table ([`Client::next_table_or_line`]).
#[derive(Debug, PartialEq, Eq)]
pub enum TableOrLine {
    /// The table, as it is printed.
    Table(Table),
    /// Any other reply line, without its newline.
    Line(Vec<u8>),
}

/// A table received, in the buffer it was read into (after its header).
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    buffer: Vec<u8>,
    start: usize,
}

impl Table {
    /// The table's text, as it is printed.
    pub fn bytes(&self) -> &[u8] {
        self.buffer.get(self.start..).unwrap_or_default()
    }
}

/// An open connection to taskmasterd.
#[derive(Debug)]
pub struct Client {
    path: PathBuf,
    stream: UnixStream,
    /// Bytes received after the last complete line.
    pending: Vec<u8>,
    max_reply_bytes: usize,
    timeout: Option<Duration>,
    interrupt: Option<OwnedFd>,
}

impl Client {
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).map_err(|e| connect_error(path, e))?;
        Ok(Client {
            path: path.to_path_buf(),
            stream,
            pending: Vec::new(),
            max_reply_bytes: MAX_REPLY_BYTES,
            timeout: None,
            interrupt: None,
        })
    }

    /// Give up waiting for a reply line after `timeout` (used by Tab completion, which
    /// must never hang the prompt).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = Some(timeout);
        self
    }

    /// End any wait with [`ClientError::Interrupted`] as soon as `fd` is readable.
    pub fn with_interrupt(mut self, fd: OwnedFd) -> Client {
        self.interrupt = Some(fd);
        self
    }

    /// Refuse reply lines longer than `limit` bytes instead of [`MAX_REPLY_BYTES`].
    pub fn with_max_reply_bytes(mut self, limit: usize) -> Client {
        self.max_reply_bytes = limit;
        self
    }

    /// Send one request and wait for its one response.
    pub fn request(&mut self, request: &Request) -> Result<Response, ClientError> {
        self.send(request)?;
        self.next_response()?.ok_or(ClientError::Closed)
    }

    /// Send one request line without waiting for the answer.
    pub fn send(&mut self, request: &Request) -> Result<(), ClientError> {
        let mut line = serde_json::to_vec(request).map_err(ClientError::Encode)?;
        line.push(b'\n');
        if line.len() > MAX_REQUEST_BYTES {
            return Err(ClientError::RequestTooLong { size: line.len() });
        }
        match self.stream.write_all(&line) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.closed_with_reason(e)),
        }
    }

    /// Sending failed. When it is because the daemon closed the connection, it may have
    /// said why first: it refuses a peer (SO_PEERCRED) by sending "permission denied" and
    /// closing at once, often before our request arrives. That reason, if there, wins.
    /// Reading cannot block here: the peer is gone, so the read returns what it left, then
    /// end of stream.
    fn closed_with_reason(&mut self, error: io::Error) -> ClientError {
        let closed = matches!(
            error.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        );
        if closed {
            match self.next_response() {
                Err(refused @ ClientError::PermissionDenied { .. }) => return refused,
                Ok(Some(Response::Error { kind, message })) => {
                    return ClientError::Refused { kind, message }
                }
                _ => {}
            }
        }
        ClientError::Send(error)
    }

    /// The socket, to poll beside other fds (`tmctl attach`).
    pub fn socket(&self) -> std::os::fd::BorrowedFd<'_> {
        self.stream.as_fd()
    }

    /// A response already received in full, without reading: after [`Client::read_available`].
    pub fn buffered_response(&mut self) -> Result<Option<Response>, ClientError> {
        let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
            if self.pending.len() > self.max_reply_bytes {
                return Err(ClientError::ReplyTooLong {
                    limit: self.max_reply_bytes,
                });
            }
            return Ok(None);
        };
        let mut line: Vec<u8> = self.pending.drain(..=end).collect();
        line.pop();
        serde_json::from_slice(&line)
            .map(Some)
            .map_err(ClientError::BadReply)
    }

    /// One read of what the socket has (after poll said it is readable); 0 at its end.
    pub fn read_available(&mut self) -> Result<usize, ClientError> {
        self.read_some()
    }

    /// The next response line: one per request, or the next chunk of a `tail -f` stream.
    /// `Ok(None)` when the daemon closed the connection between two lines.
    pub fn next_response(&mut self) -> Result<Option<Response>, ClientError> {
        match self.next_line()? {
            Some(line) => decode_reply(&self.path, &line).map(Some),
            None => Ok(None),
        }
    }

    /// The next response line as it came, for a caller that reads it its own way (the
    /// status table, borrowed from the line); [`decode_reply`] makes it a [`Response`].
    pub fn next_response_line(&mut self) -> Result<Vec<u8>, ClientError> {
        self.next_line()?.ok_or(ClientError::Closed)
    }

    /// The reply to a status asked for as a table: the table's bytes, or, when the daemon
    /// answered with an ordinary line instead (an error, or a daemon that does not write
    /// tables), that line for the caller to decode.
    pub fn next_table_or_line(&mut self) -> Result<TableOrLine, ClientError> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let Some(end) = self.line_end(deadline)? else {
            return Err(ClientError::Closed);
        };
        let Some(bytes) = table_reply::table_bytes(&self.pending[..end]) else {
            return Ok(TableOrLine::Line(self.take_line(end)));
        };
        if bytes > self.max_reply_bytes {
            return Err(ClientError::ReplyTooLong {
                limit: self.max_reply_bytes,
            });
        }
        // The table stays where it is in the buffer (the first read usually brought all
        // of it; moving 40 KB to the front was a seventh of tmctl's instructions), and
        // the rest of it is read in after it.
        let (start, end) = (end + 1, end + 1 + bytes);
        while self.pending.len() < end {
            self.pending.reserve(end - self.pending.len());
            self.wait_readable(deadline)?;
            if self.read_spare()? == 0 {
                return Err(ClientError::Closed);
            }
        }
        let rest = self.pending.split_off(end);
        let buffer = std::mem::replace(&mut self.pending, rest);
        Ok(TableOrLine::Table(Table { buffer, start }))
    }

    /// The next line without its newline, `None` on a clean end of stream.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        Ok(self.line_end(deadline)?.map(|end| self.take_line(end)))
    }

    /// The line ending at `end` (its newline), taken out of what was received.
    fn take_line(&mut self, end: usize) -> Vec<u8> {
        // Usually the line is all there is: hand over the buffer itself rather than copy
        // it (a status of 1,000 instances is over 100 KB).
        let rest = self.pending.split_off(end + 1);
        let mut line = std::mem::replace(&mut self.pending, rest);
        line.pop();
        line
    }

    /// Reads until a whole line has been received: where its newline is, `None` on a clean
    /// end of stream.
    fn line_end(&mut self, deadline: Option<Instant>) -> Result<Option<usize>, ClientError> {
        let mut scanned = 0;
        loop {
            if let Some(offset) = find_newline(&self.pending[scanned..]) {
                let end = scanned + offset;
                if end > self.max_reply_bytes {
                    return Err(ClientError::ReplyTooLong {
                        limit: self.max_reply_bytes,
                    });
                }
                return Ok(Some(end));
            }
            scanned = self.pending.len();
            if scanned > self.max_reply_bytes {
                return Err(ClientError::ReplyTooLong {
                    limit: self.max_reply_bytes,
                });
            }
            self.wait_readable(deadline)?;
            if self.read_some()? == 0 {
                return match self.pending.is_empty() {
                    true => Ok(None),
                    false => Err(ClientError::Closed),
                };
            }
        }
    }

    /// Reads what is there into the spare capacity of `pending` (not zeroed first, see
    /// `spare_read`).
    fn read_some(&mut self) -> Result<usize, ClientError> {
        self.pending.reserve(READ_CHUNK);
        self.read_spare()
    }

    /// One read into the spare capacity `pending` has (none: the read returns 0).
    fn read_spare(&mut self) -> Result<usize, ClientError> {
        super::spare_read::read_into_spare(self.stream.as_fd(), &mut self.pending)
            .map_err(ClientError::Receive)
    }

    /// Wait until the socket has something to read (data, end of stream, or an error that
    /// the following `read` reports), the interrupt fd fires, or the deadline passes.
    fn wait_readable(&self, deadline: Option<Instant>) -> Result<(), ClientError> {
        loop {
            let timeout = match deadline {
                None => PollTimeout::NONE,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    // Round up so that a sub-millisecond rest does not spin with timeout 0.
                    let millis = left.as_micros().div_ceil(1000);
                    PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX)
                }
            };
            let mut fds = vec![PollFd::new(self.stream.as_fd(), PollFlags::POLLIN)];
            if let Some(interrupt) = &self.interrupt {
                fds.push(PollFd::new(interrupt.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, timeout) {
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(ClientError::Receive(io::Error::from(errno))),
                Ok(0) => return Err(ClientError::Timeout(self.timeout.unwrap_or_default())),
                Ok(_) => {}
            }
            if fds.get(1).and_then(PollFd::any) == Some(true) {
                return Err(ClientError::Interrupted);
            }
            return Ok(());
        }
    }
}

/// Where the first newline of `bytes` is. Not `memchr::memchr`: its first call asks the CPU
/// which vector instructions it has (CPUID), and in a virtual machine each CPUID traps to
/// the hypervisor: 50 µs of a one-shot `tmctl status` whose whole budget is a millisecond.
/// SSE2 is part of x86-64 itself, so its searcher needs no question; elsewhere the portable
/// word-at-a-time one.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if let Some(sse2) = memchr::arch::x86_64::sse2::memchr::One::new(b'\n') {
        return sse2.find(bytes);
    }
    memchr::arch::all::memchr::One::new(b'\n').find(bytes)
}

/// A response line from the daemon at `path`, decoded; the daemon refusing us is
/// [`ClientError::PermissionDenied`].
pub fn decode_reply(path: &Path, line: &[u8]) -> Result<Response, ClientError> {
    match super::proto::decode_response(line).map_err(ClientError::BadReply)? {
        Response::Error {
            kind: ErrorKind::PermissionDenied,
            ..
        } => Err(ClientError::PermissionDenied {
            path: path.to_path_buf(),
        }),
        response => Ok(response),
    }
}

/// A connect failure, with EACCES turned into the permission message users look for.
fn connect_error(path: &Path, error: io::Error) -> ClientError {
    match error.raw_os_error().map(Errno::from_raw) {
        Some(Errno::EACCES | Errno::EPERM) => ClientError::PermissionDenied {
            path: path.to_path_buf(),
        },
        _ => ClientError::Connect {
            path: path.to_path_buf(),
            source: error,
        },
    }
}

/// "No such file or directory (is taskmasterd running?)": the hint only where the usual
/// cause is that no daemon listens there.
fn connect_reason(error: &io::Error) -> String {
    let reason = describe(error);
    match error.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ENOENT | Errno::ECONNREFUSED) => format!("{reason} (is taskmasterd running?)"),
        _ => reason,
    }
}

/// The OS's words for an error, without std's " (os error 2)" suffix.
fn describe(error: &io::Error) -> String {
    match error.raw_os_error() {
        Some(code) => Errno::from_raw(code).desc().to_string(),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::proto::InstanceStatus;
    use crate::ctl::fake_daemon::FakeDaemon;

    fn ok_line() -> String {
        r#"{"result":"ok","lines":["done"]}"#.to_string()
    }

    #[test]
    fn a_missing_socket_says_the_daemon_may_not_run() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("taskmaster.sock");
        let error = Client::connect(&path).expect_err("no socket there");
        assert_eq!(
            error.to_string(),
            format!(
                "cannot connect to {}: No such file or directory (is taskmasterd running?)",
                path.display()
            )
        );
    }

    #[test]
    fn eacces_on_connect_is_permission_denied() {
        // Tests run as root, for whom connect never fails with EACCES: check the mapping.
        let path = Path::new("/run/taskmaster.sock");
        let error = connect_error(path, io::Error::from_raw_os_error(libc::EACCES));
        assert!(matches!(error, ClientError::PermissionDenied { .. }));
        assert!(
            error
                .to_string()
                .starts_with("permission denied: /run/taskmaster.sock"),
            "{error}"
        );
    }

    #[test]
    fn the_daemon_refusing_us_is_permission_denied() {
        let daemon = FakeDaemon::start(vec![vec![
            r#"{"result":"error","kind":"permission_denied","message":"uid 1000 is not allowed"}"#
                .into(),
        ]]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        let error = client.request(&Request::Reload).expect_err("refused");
        assert_eq!(
            error.to_string(),
            format!(
                "permission denied: {} accepts only the user running taskmasterd and root",
                daemon.path().display()
            )
        );
    }

    #[test]
    fn other_errors_stay_daemon_errors() {
        let daemon = FakeDaemon::start(vec![vec![
            r#"{"result":"error","message":"unknown service: nope"}"#.into(),
        ]]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        let response = client.request(&Request::Status {
            names: vec!["nope".into()],
            usage: false,
            table: None,
        });
        assert_eq!(
            response.ok(),
            Some(Response::error(ErrorKind::Failed, "unknown service: nope"))
        );
    }

    #[test]
    fn request_and_response_round_trip() {
        let status = InstanceStatus {
            name: "web:0".into(),
            service: "web".into(),
            state: "RUNNING".into(),
            pid: Some(42),
            uptime_secs: Some(3723),
            restarts: 1,
            ..Default::default()
        };
        let reply = Response::Status {
            instances: vec![status],
        };
        let reply_line = serde_json::to_string(&reply).expect("encode");
        let daemon = FakeDaemon::start(vec![vec![reply_line, ok_line()]]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        let request = Request::Status {
            names: vec!["web".into()],
            usage: false,
            table: None,
        };
        assert_eq!(client.request(&request).ok(), Some(reply));
        assert_eq!(
            client.request(&Request::Reopen).ok(),
            Some(Response::Ok {
                lines: vec!["done".into()]
            })
        );
        drop(client);
        assert_eq!(
            daemon.requests(),
            vec![
                r#"{"cmd":"status","names":["web"]}"#.to_string(),
                r#"{"cmd":"reopen"}"#.to_string()
            ]
        );
    }

    #[test]
    fn an_overlong_reply_is_refused() {
        let long = format!(r#"{{"result":"ok","lines":["{}"]}}"#, "x".repeat(4096));
        let daemon = FakeDaemon::start(vec![vec![long]]);
        let mut client = Client::connect(daemon.path())
            .expect("connect")
            .with_max_reply_bytes(1024);
        let error = client.request(&Request::Reload).expect_err("too long");
        assert!(
            matches!(error, ClientError::ReplyTooLong { limit: 1024 }),
            "{error:?}"
        );
    }

    #[test]
    fn the_default_cap_refuses_a_reply_past_16_mib() {
        let daemon = FakeDaemon::start(vec![vec!["y".repeat(MAX_REPLY_BYTES + 1)]]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        let error = client.request(&Request::Reload).expect_err("too long");
        assert!(
            matches!(
                error,
                ClientError::ReplyTooLong {
                    limit: MAX_REPLY_BYTES
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn garbage_and_early_close_are_errors() {
        let daemon = FakeDaemon::start(vec![
            vec!["not json".into()],
            vec![FakeDaemon::HANG_UP.into()],
        ]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        assert!(matches!(
            client.request(&Request::Reload),
            Err(ClientError::BadReply(_))
        ));
        let mut client = Client::connect(daemon.path()).expect("connect");
        assert!(matches!(
            client.request(&Request::Reload),
            Err(ClientError::Closed)
        ));
    }

    #[test]
    fn a_stream_ends_when_the_daemon_closes() {
        let chunk = |data: &str, missed: u64| {
            serde_json::to_string(&Response::Output {
                data: data.into(),
                missed,
            })
            .expect("encode")
        };
        let daemon = FakeDaemon::start(vec![vec![chunk("a\n", 0) + "\n" + &chunk("b", 7)]]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        let follow = Request::Tail {
            name: "web".into(),
            stderr: false,
            follow: true,
        };
        client.send(&follow).expect("send");
        assert_eq!(
            client.next_response().ok().flatten(),
            Some(Response::Output {
                data: "a\n".into(),
                missed: 0
            })
        );
        assert_eq!(
            client.next_response().ok().flatten(),
            Some(Response::Output {
                data: "b".into(),
                missed: 7
            })
        );
        assert!(matches!(client.next_response(), Ok(None)));
    }

    #[test]
    fn a_silent_daemon_times_out() {
        let daemon = FakeDaemon::start(vec![vec![FakeDaemon::SILENCE.into()]]);
        let mut client = Client::connect(daemon.path())
            .expect("connect")
            .with_timeout(Duration::from_millis(50));
        assert!(matches!(
            client.request(&Request::Names),
            Err(ClientError::Timeout(_))
        ));
    }

    #[test]
    fn a_readable_interrupt_fd_ends_the_wait() {
        let daemon = FakeDaemon::start(vec![vec![FakeDaemon::SILENCE.into()]]);
        let (interrupt_read, mut interrupt_write) = UnixStream::pair().expect("pair");
        interrupt_write.write_all(b"!").expect("write");
        let mut client = Client::connect(daemon.path())
            .expect("connect")
            .with_interrupt(interrupt_read.into());
        assert!(matches!(
            client.request(&Request::Names),
            Err(ClientError::Interrupted)
        ));
    }

    #[test]
    fn sending_on_a_connection_the_daemon_closed_is_stale() {
        let daemon = FakeDaemon::start(vec![vec![ok_line()]]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        assert!(client.request(&Request::Reopen).is_ok());
        daemon.wait_closed(0);
        let error = client.request(&Request::Reopen).expect_err("closed");
        assert!(error.is_stale_connection(), "{error:?}");
    }

    #[test]
    fn a_refusal_sent_before_closing_is_reported_even_when_sending_fails() {
        // The daemon refuses a peer at accept: one error line, then it closes, before the
        // client has sent anything. Sending then fails with EPIPE; the reason must win.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("refusing.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
        let mut client = Client::connect(&path).expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        server
            .write_all(b"{\"result\":\"error\",\"kind\":\"permission_denied\",\"message\":\"permission denied\"}\n")
            .expect("write");
        drop(server);
        let error = client.request(&Request::Reopen).expect_err("refused");
        assert!(
            matches!(error, ClientError::PermissionDenied { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn an_oversized_request_is_not_sent() {
        let daemon = FakeDaemon::start(vec![vec![]]);
        let mut client = Client::connect(daemon.path()).expect("connect");
        let names = vec!["n".repeat(MAX_REQUEST_BYTES)];
        let error = client
            .request(&Request::Stop { names })
            .expect_err("too big");
        assert!(matches!(error, ClientError::RequestTooLong { .. }));
    }
}
