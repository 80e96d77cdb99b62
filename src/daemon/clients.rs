//! Control connections: non-blocking, bounded both ways, so a slow, silent or hostile
//! client can never stall the loop or grow the daemon without bound.

use crate::control::proto::{
    decode_line, ErrorKind, Request, Response, TableStyle, MAX_REQUEST_BYTES,
};
use crate::control::spare_read::read_into_spare;
use crate::control::table_reply;
use crate::supervisor::{ClientId, InstanceId};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::io::ErrorKind as IoErrorKind;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Room made in the inbox for each read: a request is mostly under 200 bytes (one of 64 KiB,
/// a `run` with its argv, takes several reads).
const READ_CHUNK: usize = 4096;
/// A client whose unsent replies pass this is disconnected (it does not read).
const MAX_PENDING_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// No more requests are read from a client while this much of its replies is unsent: it
/// must read before it may ask again (so a pipelining client cannot grow the daemon).
const READ_PAUSE_REPLY_BYTES: usize = 1024 * 1024;
/// A follower (`tail -f`) lagging by more than this skips output and is told how much.
const MAX_FOLLOWER_LAG_BYTES: usize = 64 * 1024;
/// At most this many requests of one client are answered per loop turn; the rest wait in
/// its inbox for the next turns, so one client cannot hold the loop.
const MAX_REQUESTS_PER_TURN: usize = 16;
/// Connected clients at most; one more is told so and closed.
pub const MAX_CLIENTS: usize = 128;
/// A client that has sent part of a request and nothing more for this long is closed.
pub const HALF_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The output stream a follower watches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Follow {
    pub id: InstanceId,
    pub stderr: bool,
}

pub struct Client {
    pub id: ClientId,
    pub stream: UnixStream,
    inbox: Vec<u8>,
    /// Since when the inbox has held part of a request (no newline yet).
    partial_since: Option<Instant>,
    outbox: Vec<u8>,
    pub follow: Option<Follow>,
    /// Attached to this instance's console (`tmctl attach`); whether it may type.
    pub attached: Option<(InstanceId, bool)>,
    /// The job this client runs (`tmctl run` attached): its output, both streams, in order,
    /// nothing skipped; the job's pipes wait while this client lags.
    pub job: Option<InstanceId>,
    /// Subscribed to state changes (`tmctl events`) of these names (all when empty).
    pub events: Option<Vec<String>>,
    /// Events a lagging subscriber did not get since its last one.
    pub events_missed: u64,
    /// Output bytes a lagging follower did not get since its last chunk.
    missed: u64,
    /// Its last status request asked for cgroup accounting (`status -l`, `--json`): only
    /// then are the per-instance cgroup files read for the reply.
    pub status_usage: bool,
    /// Its last status request asked for the table itself (tmctl's plain `status`), not
    /// the JSON list.
    pub status_table: Option<TableStyle>,
    /// Close once the outbox is flushed (after a fatal protocol error).
    pub closing: bool,
    /// The peer is gone or broken: drop it.
    pub dead: bool,
}

/// What reading from a client produced.
pub enum Incoming {
    Request(Request),
    /// A line that is not a valid request: answer with this error and go on.
    Invalid(String),
}

impl Client {
    pub fn new(id: ClientId, stream: UnixStream) -> Client {
        Client {
            id,
            stream,
            inbox: Vec::new(),
            partial_since: None,
            outbox: Vec::new(),
            follow: None,
            job: None,
            events: None,
            attached: None,
            events_missed: 0,
            missed: 0,
            status_usage: false,
            status_table: None,
            closing: false,
            dead: false,
        }
    }

    /// The peer's uid (SO_PEERCRED), as the kernel saw it at connect time.
    pub fn peer_uid(&self) -> Option<u32> {
        getsockopt(&self.stream, PeerCredentials)
            .ok()
            .map(|cred| cred.uid())
    }

    /// Whether the loop should poll this client for requests: not while it is closing (it
    /// was refused or broke the protocol: nothing more of it is read) and not while too
    /// much of its replies waits to be read.
    pub fn wants_to_read(&self) -> bool {
        !self.closing && self.outbox.len() < READ_PAUSE_REPLY_BYTES
    }

    /// Whether whole requests wait in the inbox (more than one turn's share arrived).
    pub fn has_queued_requests(&self) -> bool {
        self.wants_to_read() && self.inbox.contains(&b'\n')
    }

    /// When a half-sent request times out, if one is pending.
    pub fn partial_deadline(&self) -> Option<Instant> {
        self.partial_since.map(|since| since + HALF_REQUEST_TIMEOUT)
    }

    /// Closes the client if its half-sent request has waited too long.
    pub fn expire_partial(&mut self, now: Instant) {
        if self.partial_deadline().is_some_and(|at| at <= now) && !self.closing {
            self.inbox.clear();
            self.partial_since = None;
            self.closing = true;
            self.send(&Response::error(
                ErrorKind::BadRequest,
                format!(
                    "incomplete request for {} s; closing the connection",
                    HALF_REQUEST_TIMEOUT.as_secs()
                ),
            ));
        }
    }

    /// Reads what is available (bounded) and returns up to [`MAX_REQUESTS_PER_TURN`]
    /// complete request lines; nothing from a client that may not send now.
    pub fn read_requests(&mut self, now: Instant) -> Vec<Incoming> {
        if !self.wants_to_read() {
            return Vec::new();
        }
        while self.inbox.len() <= MAX_REQUEST_BYTES {
            self.inbox.reserve(READ_CHUNK);
            let room = self.inbox.capacity() - self.inbox.len();
            match read_into_spare(self.stream.as_fd(), &mut self.inbox) {
                Ok(0) => {
                    self.dead = true;
                    break;
                }
                // Less than there was room for: the socket had no more. Not read again only
                // to be told EAGAIN (a syscall of every request): poll says when more comes.
                Ok(n) if n < room => break,
                Ok(_) => {}
                Err(e) if e.kind() == IoErrorKind::WouldBlock => break,
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
        let mut requests = Vec::new();
        while requests.len() < MAX_REQUESTS_PER_TURN {
            let Some(end) = self.inbox.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line: Vec<u8> = self.inbox.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            if line.len() > MAX_REQUEST_BYTES {
                requests.push(self.too_long());
                return requests;
            }
            requests.push(match decode_line(line) {
                None => continue,
                Some(Ok(request)) => Incoming::Request(request),
                Some(Err(bad)) => Incoming::Invalid(bad.to_string()),
            });
        }
        if self.inbox.len() > MAX_REQUEST_BYTES && !self.inbox.contains(&b'\n') {
            requests.push(self.too_long());
        }
        // The idle clock of a half-sent request restarts whenever a whole one completes.
        if self.inbox.is_empty() || self.inbox.contains(&b'\n') {
            self.partial_since = None;
        } else if self.partial_since.is_none() || !requests.is_empty() {
            self.partial_since = Some(now);
        }
        requests
    }

    fn too_long(&mut self) -> Incoming {
        self.inbox.clear();
        self.partial_since = None;
        self.closing = true;
        Incoming::Invalid(format!(
            "request longer than {MAX_REQUEST_BYTES} bytes; closing the connection"
        ))
    }

    /// Queues one response line and tries to send it at once.
    /// Room for about `bytes` more in the outbox at once, for a reply whose size is known
    /// roughly (a status line, ~100 bytes an instance), rather than by doubling from
    /// nothing and copying each time (100 KB copied for 1,000 instances).
    pub fn reserve(&mut self, bytes: usize) {
        self.outbox.reserve(bytes);
    }

    pub fn send(&mut self, response: &impl serde::Serialize) {
        // Encoded straight into the outbox, not into a line of its own then copied: with
        // 1,000 instances a status line is 100 KB, and the line's own buffer, grown by
        // doubling and given back to the kernel at once (allocations of 128 KiB and more
        // are mapped for each, see `heap`), was one more copy into fresh pages.
        let start = self.outbox.len();
        match serde_json::to_writer(&mut self.outbox, response) {
            Ok(()) => self.outbox.push(b'\n'),
            Err(_) => {
                self.outbox.truncate(start);
                self.dead = true;
            }
        }
        if self.outbox.len() > MAX_PENDING_REPLY_BYTES {
            self.dead = true;
            return;
        }
        self.flush();
    }

    /// Queues a status table (see `control::table_reply`): its header, then what `write`
    /// appends, straight into the outbox; then tries to send it at once.
    pub fn send_table(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let header = table_reply::Header::begin(&mut self.outbox);
        write(&mut self.outbox);
        header.finish(&mut self.outbox);
        if self.outbox.len() > MAX_PENDING_REPLY_BYTES {
            self.dead = true;
            return;
        }
        self.flush();
    }

    /// Queues output for a follower, or counts it as missed when the follower lags.
    /// `shared` caches the encoded line for followers that missed nothing, so that a chunk
    /// is encoded once however many follow it.
    pub fn send_output(&mut self, data: &[u8], shared: &mut Option<Vec<u8>>) {
        if self.outbox.len() > MAX_FOLLOWER_LAG_BYTES {
            self.missed += data.len() as u64;
            return;
        }
        let missed = std::mem::take(&mut self.missed);
        let response = |missed| Response::Output {
            data: String::from_utf8_lossy(data).into_owned(),
            missed,
        };
        if missed > 0 {
            return self.send(&response(missed));
        }
        if shared.is_none() {
            match serde_json::to_vec(&response(0)) {
                Ok(mut line) => {
                    line.push(b'\n');
                    *shared = Some(line);
                }
                Err(_) => return,
            }
        }
        if let Some(line) = shared {
            self.outbox.extend_from_slice(line);
            self.flush();
        }
    }

    /// Whether it has not read enough of its replies for more job output to be read for it.
    pub fn holds_back_job_output(&self) -> bool {
        self.outbox.len() >= READ_PAUSE_REPLY_BYTES
    }

    /// Whether a subscriber reads too slowly to be sent more now (the event is counted).
    pub fn lags(&self) -> bool {
        self.outbox.len() > MAX_FOLLOWER_LAG_BYTES
    }

    pub fn wants_to_write(&self) -> bool {
        !self.outbox.is_empty()
    }

    pub fn flush(&mut self) {
        while !self.outbox.is_empty() {
            match self.stream.write(&self.outbox) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.outbox.drain(..n);
                }
                Err(e) if e.kind() == IoErrorKind::WouldBlock => return,
                Err(e) if e.kind() == IoErrorKind::Interrupted => continue,
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        if self.closing {
            self.dead = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Client, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        ours.set_nonblocking(true).expect("nonblocking");
        (Client::new(1, ours), theirs)
    }

    #[test]
    fn a_closing_client_has_nothing_read() {
        let (mut client, mut peer) = pair();
        client.closing = true;
        peer.write_all(b"{\"cmd\":\"shutdown\"}\n").expect("send");
        assert!(client.read_requests(Instant::now()).is_empty());
        assert!(!client.wants_to_read());
    }

    #[test]
    fn at_most_one_turns_share_of_requests_is_answered_at_once() {
        let (mut client, mut peer) = pair();
        let line = b"{\"cmd\":\"status\",\"names\":[]}\n";
        peer.write_all(&line.repeat(40)).expect("send");
        let now = Instant::now();
        assert_eq!(client.read_requests(now).len(), MAX_REQUESTS_PER_TURN);
        assert!(client.has_queued_requests());
        assert_eq!(client.read_requests(now).len(), MAX_REQUESTS_PER_TURN);
        assert_eq!(
            client.read_requests(now).len(),
            40 - 2 * MAX_REQUESTS_PER_TURN
        );
        assert!(!client.has_queued_requests());
    }

    #[test]
    fn a_half_request_times_out_from_its_first_byte() {
        let (mut client, mut peer) = pair();
        let start = Instant::now();
        peer.write_all(b"{\"cmd\":").expect("send");
        assert!(client.read_requests(start).is_empty());
        assert_eq!(
            client.partial_deadline(),
            Some(start + HALF_REQUEST_TIMEOUT)
        );
        // More bytes of the same request do not restart the clock.
        peer.write_all(b"\"sta").expect("send");
        let later = start + Duration::from_secs(5);
        assert!(client.read_requests(later).is_empty());
        assert_eq!(
            client.partial_deadline(),
            Some(start + HALF_REQUEST_TIMEOUT)
        );
        client.expire_partial(start + HALF_REQUEST_TIMEOUT);
        assert!(client.closing);
        peer.write_all(b"tus\"}\n").expect("send");
        assert!(client.read_requests(later).is_empty());
    }
}
