//! `tmctl run` requests become job specs on a thread of their own, as service files do on
//! the config loader's: `--user` and `--group` are looked up through NSS (getpwnam_r,
//! getgrouplist), which may read files or ask a network service (LDAP, sssd) and take as
//! long as that does. In the loop a slow lookup would stop reaping, answering and reading
//! output for everyone.
//!
//! One worker, started at the first `run`, takes the requests in order; each result comes
//! back over a channel and a byte on a socket pair wakes the loop's poll. The worker only
//! reads the passwd and group databases; it never forks and touches no state of the loop.

use super::jobs::{job_request, RunRefused};
use crate::control::proto::RunRequest;
use crate::supervisor::{ClientId, JobRequest};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;

/// `run` requests waiting for their spec, at most; one more is refused as busy (a lookup
/// that hangs must not let requests pile up without end).
pub const MAX_PREPARING: usize = 64;

/// A request's spec, or why the request is refused (one line for the client).
pub type Prepared = (ClientId, Result<JobRequest, RunRefused>);

struct Order {
    client: ClientId,
    run: RunRequest,
    owner: u32,
}

struct Worker {
    orders: mpsc::Sender<Order>,
    results: mpsc::Receiver<Prepared>,
    wake: UnixStream,
}

#[derive(Default)]
pub struct JobSpecs {
    worker: Option<Worker>,
    /// The clients of the orders sent whose result has not come back, in order.
    preparing: VecDeque<ClientId>,
}

/// What became of a `run` handed to [`JobSpecs::prepare`].
pub enum Submitted {
    /// On the worker: its result comes from [`JobSpecs::finished`].
    Queued,
    /// [`MAX_PREPARING`] are waiting already.
    Busy,
    /// No thread could be had (out of processes or memory): prepared right here, slow but
    /// correct.
    Here(Box<Result<JobRequest, RunRefused>>),
}

impl JobSpecs {
    pub fn prepare(&mut self, client: ClientId, run: RunRequest, owner: u32) -> Submitted {
        if self.preparing.len() >= MAX_PREPARING {
            return Submitted::Busy;
        }
        if self.worker.is_none() {
            self.worker = start().ok();
        }
        let Some(worker) = &self.worker else {
            return Submitted::Here(Box::new(job_request(&run, owner)));
        };
        match worker.orders.send(Order { client, run, owner }) {
            Ok(()) => {
                self.preparing.push_back(client);
                Submitted::Queued
            }
            // The worker is gone (it never is on purpose): this one is prepared here. With
            // nothing in flight a new worker starts at the next `run`; otherwise its closed
            // wake socket turns readable and `finished` answers those in flight first.
            Err(mpsc::SendError(Order { run, owner, .. })) => {
                if self.preparing.is_empty() {
                    self.worker = None;
                }
                Submitted::Here(Box::new(job_request(&run, owner)))
            }
        }
    }

    /// The fd that becomes readable when a result is back; `None` when none is awaited.
    pub fn polled(&self) -> Option<BorrowedFd<'_>> {
        match &self.worker {
            Some(worker) if !self.preparing.is_empty() => Some(worker.wake.as_fd()),
            _ => None,
        }
    }

    /// Whether a `run` is being prepared (an upgrade waits until none is).
    pub fn busy(&self) -> bool {
        !self.preparing.is_empty()
    }

    /// Every result that is back, in the order asked.
    pub fn finished(&mut self) -> Vec<Prepared> {
        let Some(worker) = &mut self.worker else {
            return Vec::new();
        };
        let mut bytes = [0u8; 64];
        while matches!(worker.wake.read(&mut bytes), Ok(n) if n > 0) {}
        let mut done = Vec::new();
        loop {
            match worker.results.try_recv() {
                Ok(prepared) => {
                    self.preparing.pop_front();
                    done.push(prepared);
                }
                Err(mpsc::TryRecvError::Empty) => break,
                // The worker is gone, which it never is on purpose: whoever still waits is
                // told, and the next `run` starts a new worker.
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.worker = None;
                    done.extend(
                        self.preparing
                            .drain(..)
                            .map(|c| (c, Err(RunRefused::Internal))),
                    );
                    break;
                }
            }
        }
        done
    }
}

fn start() -> std::io::Result<Worker> {
    let (wake, mut signal) = UnixStream::pair()?;
    wake.set_nonblocking(true)?;
    let (orders, inbox) = mpsc::channel::<Order>();
    let (send, results) = mpsc::channel();
    let builder = std::thread::Builder::new().name("job-specs".into());
    super::threads::spawn(builder, move || {
        // Ends when the loop drops its sender (at exit).
        for Order { client, run, owner } in inbox {
            // A panic is an answer too: the worker goes on with the next request.
            let prepared = std::panic::catch_unwind(|| job_request(&run, owner))
                .unwrap_or(Err(RunRefused::Internal));
            if send.send((client, prepared)).is_err() {
                return;
            }
            let _ = signal.write_all(&[1]);
        }
    })?;
    Ok(Worker {
        orders,
        results,
        wake,
    })
}
