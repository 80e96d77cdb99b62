//! Control connections: non-blocking, bounded both ways, so a slow, silent or hostile
//! client can never stall the loop or grow the daemon without bound.

use crate::control::proto::{Request, Response, MAX_REQUEST_BYTES};
use crate::supervisor::{ClientId, InstanceId};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;

/// A client whose unsent replies pass this is disconnected (it does not read).
const MAX_PENDING_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// A follower (`tail -f`) lagging by more than this skips output and is told how much.
const MAX_FOLLOWER_LAG_BYTES: usize = 256 * 1024;

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
    outbox: Vec<u8>,
    pub follow: Option<Follow>,
    /// Output bytes a lagging follower did not get since its last chunk.
    missed: u64,
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
            outbox: Vec::new(),
            follow: None,
            missed: 0,
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

    /// Reads what is available and returns the complete request lines.
    pub fn read_requests(&mut self) -> Vec<Incoming> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.dead = true;
                    break;
                }
                Ok(n) => {
                    self.inbox.extend_from_slice(&buf[..n]);
                    if self.inbox.len() > MAX_REQUEST_BYTES * 2 {
                        break; // parse what we have; the cap check below decides
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.dead = true;
                    break;
                }
            }
        }
        let mut requests = Vec::new();
        while let Some(end) = self.inbox.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.inbox.drain(..=end).collect();
            let line = &line[..line.len() - 1];
            if line.len() > MAX_REQUEST_BYTES {
                requests.push(self.too_long());
                return requests;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            requests.push(match serde_json::from_slice::<Request>(line) {
                Ok(request) => Incoming::Request(request),
                Err(err) => Incoming::Invalid(format!("bad request: {err}")),
            });
        }
        if self.inbox.len() > MAX_REQUEST_BYTES {
            requests.push(self.too_long());
        }
        requests
    }

    fn too_long(&mut self) -> Incoming {
        self.inbox.clear();
        self.closing = true;
        Incoming::Invalid(format!(
            "request longer than {MAX_REQUEST_BYTES} bytes; closing the connection"
        ))
    }

    /// Queues one response line and tries to send it at once.
    pub fn send(&mut self, response: &Response) {
        match serde_json::to_vec(response) {
            Ok(mut line) => {
                line.push(b'\n');
                self.outbox.extend_from_slice(&line);
            }
            Err(_) => self.dead = true,
        }
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
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
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
