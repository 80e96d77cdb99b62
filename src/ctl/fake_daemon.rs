//! A stand-in for taskmasterd in unit tests: a Unix socket in a temp dir whose thread
//! answers each request line with a canned reply line. The real daemon is another
//! module; end-to-end tests against it live in tests/.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;

pub(crate) struct FakeDaemon {
    _dir: tempfile::TempDir,
    path: PathBuf,
    requests: Arc<Mutex<Vec<String>>>,
    closed: Receiver<usize>,
    stopping: Arc<AtomicBool>,
}

impl FakeDaemon {
    /// A reply that is never sent: the daemon reads the request, then stays silent until
    /// the client goes away.
    pub(crate) const SILENCE: &'static str = "<silence>";
    /// A reply that is never sent: the daemon reads the request and closes at once.
    pub(crate) const HANG_UP: &'static str = "<hang up>";

    /// Serve one script per connection, in order: each request line read on that
    /// connection gets the next reply (raw text, a newline added). When a connection's
    /// replies run out, it is closed.
    pub(crate) fn start(connections: Vec<Vec<String>>) -> FakeDaemon {
        let dir = tempfile::tempdir().expect("temp dir for the fake daemon");
        let path = dir.path().join("taskmaster.sock");
        let listener = UnixListener::bind(&path).expect("bind the fake daemon's socket");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (closed_tx, closed) = channel();
        let (seen, stop) = (Arc::clone(&requests), Arc::clone(&stopping));
        thread::spawn(move || {
            for (index, replies) in connections.into_iter().enumerate() {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                serve(stream, replies, &seen);
                let _ = closed_tx.send(index);
            }
        });
        FakeDaemon {
            _dir: dir,
            path,
            requests,
            closed,
            stopping,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Every request line received so far, in order.
    pub(crate) fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Block until connection number `index` (from 0) has been closed by the daemon.
    pub(crate) fn wait_closed(&self, index: usize) {
        while let Ok(closed) = self.closed.recv() {
            if closed >= index {
                return;
            }
        }
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        // Wake a thread blocked in accept() so that it sees the flag and ends.
        self.stopping.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
    }
}

fn serve(stream: UnixStream, replies: Vec<String>, seen: &Mutex<Vec<String>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    for reply in replies {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if let Ok(mut seen) = seen.lock() {
            seen.push(line.trim_end_matches('\n').to_string());
        }
        if reply == FakeDaemon::HANG_UP {
            return;
        }
        if reply == FakeDaemon::SILENCE {
            let _ = reader.read_to_end(&mut Vec::new());
            return;
        }
        // The client may hang up mid-reply (an over-long reply); that is its right.
        if writer.write_all(format!("{reply}\n").as_bytes()).is_err() {
            return;
        }
    }
}
