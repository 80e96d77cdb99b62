//! Config loads for reload run on their own thread, so that the loop keeps reaping,
//! answering and reading output while a large directory is parsed (about 0.5 s per MiB).
//!
//! The thread only reads files and resolves users; it never forks and touches no state of
//! the loop. Its result comes back over a channel, and a byte on a socket pair wakes the
//! loop's poll. One load runs at a time; reloads asked for meanwhile run after it, each
//! answered with its own result (SIGHUPs in a row are one).

use crate::config::{ConfigError, FileStamps, KnownFiles, Limit};
use crate::graph::DependencyGraph;
use crate::supervisor::ClientId;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// What a load produced.
pub type Loaded = Result<LoadedParts, Vec<ConfigError>>;

/// A good load: the config, its dependency graph, the stamps of its clean files.
pub type LoadedParts = (crate::config::Config, DependencyGraph, FileStamps);

/// The loader thread's stack. Nesting is bounded before parsing, so this is a margin, not a
/// requirement.
const STACK_BYTES: usize = 16 * 1024 * 1024;

struct Running {
    client: Option<ClientId>,
    wake: UnixStream,
    result: mpsc::Receiver<Loaded>,
}

#[derive(Default)]
pub struct ConfigLoader {
    running: Option<Running>,
    /// Reloads asked for while one runs, in order.
    queued: VecDeque<Option<ClientId>>,
}

impl ConfigLoader {
    /// Asks for a load for `client` (`None`: SIGHUP), with the files it need not parse if
    /// unchanged. Returns `Some` when it could not be run on a thread and was loaded right
    /// here instead (the caller applies it now). A load that must wait for the running one
    /// parses every file: what `known` says may no longer be what runs by then.
    pub fn request(
        &mut self,
        client: Option<ClientId>,
        dir: &Path,
        nofile: Option<Limit>,
        known: KnownFiles,
    ) -> Option<(Option<ClientId>, Loaded)> {
        if self.running.is_some() {
            if client.is_some() || !self.queued.contains(&None) {
                self.queued.push_back(client);
            }
            return None;
        }
        match start(client, dir.to_path_buf(), nofile, known) {
            Ok(running) => {
                self.running = Some(running);
                None
            }
            // No thread to be had (out of processes or memory): load here, slow but correct.
            Err(_) => Some((
                client,
                super::startup::load_config_for_services(dir, nofile, KnownFiles::new()),
            )),
        }
    }

    /// The fd that becomes readable when the running load is done.
    pub fn polled(&self) -> Option<BorrowedFd<'_>> {
        self.running.as_ref().map(|r| r.wake.as_fd())
    }

    /// The finished load, if it is; then the next queued one is started.
    pub fn finished(
        &mut self,
        dir: &Path,
        nofile: Option<Limit>,
    ) -> Vec<(Option<ClientId>, Loaded)> {
        let mut done = Vec::new();
        let Some(running) = self.running.as_mut() else {
            return done;
        };
        let mut byte = [0u8; 1];
        let _ = running.wake.read(&mut byte);
        match running.result.try_recv() {
            Ok(loaded) => done.push((running.client, loaded)),
            Err(mpsc::TryRecvError::Empty) => return done,
            Err(mpsc::TryRecvError::Disconnected) => {
                // The thread died without an answer (a panic): say so, keep the config.
                let error = ConfigError {
                    location: dir.display().to_string(),
                    message: "internal error while loading; the running config stays".into(),
                };
                done.push((running.client, Err(vec![error])));
            }
        }
        self.running = None;
        while let Some(client) = self.queued.pop_front() {
            if let Some(now) = self.request(client, dir, nofile, KnownFiles::new()) {
                done.push(now);
            } else {
                break;
            }
        }
        done
    }
}

fn start(
    client: Option<ClientId>,
    dir: PathBuf,
    nofile: Option<Limit>,
    known: KnownFiles,
) -> std::io::Result<Running> {
    let (wake, mut signal) = UnixStream::pair()?;
    wake.set_nonblocking(true)?;
    let (send, result) = mpsc::channel();
    let builder = std::thread::Builder::new()
        .name("config-loader".into())
        .stack_size(STACK_BYTES);
    super::threads::spawn(builder, move || {
        let loaded = super::startup::load_config_for_services(&dir, nofile, known);
        let _ = send.send(loaded);
        let _ = signal.write_all(&[1]);
    })?;
    Ok(Running {
        client,
        wake,
        result,
    })
}
