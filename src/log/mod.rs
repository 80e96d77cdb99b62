//! The event log: one line per event, RFC 3339 timestamp first. Every sink receives the
//! same text through [`EventLog::write`]: the log file, syslog (tag `taskmaster`, at the
//! event's [`Level`]), stderr when in the foreground, and `/dev/kmsg` as PID 1 while syslog
//! is unavailable (only the lines the console shows: the kernel prints them there too).
//!
//! The syslog [`Sender`] also carries the services' own output sent to syslog
//! (`stdout "syslog"`), so both share one socket, one backlog and one order.

mod backlog;
mod file;
mod kmsg;
mod line;
mod origin;
mod rfc3164;
mod sender;

pub use file::{open_append, open_append_for_child, output_file_mode};
pub use line::{format_line, one_line};
pub use origin::Origin;
pub use rfc3164::Tag;
pub use sender::{Notice, Sender};

use kmsg::Kmsg;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// Severity, mapped to syslog's info / warning / err.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    pub fn word(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

pub struct EventLog {
    path: PathBuf,
    file: Option<File>,
    /// Lines at this level or above are copied to stderr: every one in the foreground (and
    /// on PID 1's console while it boots and shuts down), warnings and errors under
    /// `--shell` (routine events would bury the prompt, trouble must not hide in the file),
    /// errors only on a console someone uses (see `daemon/console_echo.rs`).
    echo: Option<Level>,
    syslog: Option<Syslog>,
    /// Lines held for the file and for stderr until [`EventLog::flush`] (the loop flushes
    /// after each turn and before each reply): stopping 1,000 services is 2,000 lines, two
    /// writes instead of 6,000 system calls. Off until [`EventLog::batch`].
    batching: bool,
    held_file: Vec<u8>,
    held_echo: Vec<u8>,
}

/// Held lines are written out once this much has piled up, whatever the turn is doing.
const MAX_HELD_BYTES: usize = 64 * 1024;

struct Syslog {
    sender: Sender,
    tag: Tag,
    /// As PID 1: lines that syslog did not take at once also go to the kernel log.
    kmsg: Option<Kmsg>,
}

impl EventLog {
    /// Opens (creating its directory) the log file for appending. A failure is reported
    /// once on stderr and the daemon goes on without the file (PID 1 must not die of it).
    pub fn open(path: &Path, echo: bool) -> EventLog {
        let mut log = EventLog {
            path: path.to_path_buf(),
            file: None,
            echo: echo.then_some(Level::Info),
            syslog: None,
            batching: false,
            held_file: Vec::new(),
            held_echo: Vec::new(),
        };
        log.reopen();
        log
    }

    /// Which lines also go to stderr from now on: those at `level` or above (`None`: none).
    pub fn echo_from(&mut self, level: Option<Level>) {
        self.echo = level;
    }

    /// Also sends every event to syslog at `socket` (`--syslog-socket`; `/dev/log`).
    /// Nothing is connected here: the next line does it, and a missing logger is reported
    /// then, once.
    pub fn use_syslog(&mut self, socket: &Path) {
        let pid = std::process::id();
        let tag = Tag::new("taskmaster", pid);
        self.syslog = Some(Syslog {
            sender: Sender::new(socket, tag.clone()),
            tag,
            kmsg: (pid == 1).then(Kmsg::new),
        });
    }

    /// Holds the lines for the file and stderr until [`EventLog::flush`] (`on`), or writes
    /// each at once from now on (what is held is written first).
    pub fn batch(&mut self, on: bool) {
        if !on {
            self.flush();
        }
        self.batching = on;
    }

    /// Writes the held lines: the file's in one write, stderr's in pieces of at most
    /// PIPE_BUF, each only if it cannot block (see [`echo`]).
    pub fn flush(&mut self) {
        if !self.held_file.is_empty() {
            if let Some(file) = &mut self.file {
                // A full disk must not stop the supervisor; the lines are lost, nothing else.
                let _ = file.write_all(&self.held_file);
            }
            self.held_file.clear();
        }
        let mut rest = &self.held_echo[..];
        while !rest.is_empty() {
            // Whole lines, as many as fit in PIPE_BUF (a longer line alone).
            let mut end = 0;
            for (at, _) in rest.iter().enumerate().filter(|(_, b)| **b == b'\n') {
                if at + 1 > libc::PIPE_BUF && end > 0 {
                    break;
                }
                end = at + 1;
            }
            if end == 0 {
                end = rest.len();
            }
            // A single line longer than PIPE_BUF is skipped, as it always was.
            if end <= libc::PIPE_BUF && !echo(&rest[..end]) {
                break; // not writable now: the rest is dropped, as a line would be
            }
            rest = &rest[end..];
        }
        self.held_echo.clear();
    }

    /// Reopens the file (after logrotate moved it away).
    pub fn reopen(&mut self) {
        self.flush();
        self.file = match file::open_event_log(&self.path) {
            Ok(file) => Some(file),
            Err(err) => {
                eprintln!(
                    "taskmasterd: cannot open log file {}: {err}; going on without it",
                    self.path.display()
                );
                None
            }
        };
    }

    /// Closes the log file for good (PID 1, just before remounting `/` read-only, which a
    /// file open for writing would make fail with EBUSY). Lines still go to the console
    /// and syslog.
    pub fn close_file(&mut self) {
        self.flush();
        self.file = None;
    }

    pub fn write(&mut self, level: Level, text: &str) {
        self.write_file(level, text);
        // The kernel prints what it is given on its console too: a line the console is not
        // to show (see `echo_from`) does not go to the kernel log either.
        let shown = self.echo.is_some_and(|from| level >= from);
        if let Some(syslog) = &mut self.syslog {
            let text = one_line(text);
            let delivered = syslog
                .sender
                .send(syslog.tag.datagram(level, text.as_bytes()), Instant::now());
            if !delivered && shown {
                if let Some(kmsg) = &mut syslog.kmsg {
                    kmsg.write(level, &text);
                }
            }
        }
        self.report_syslog_news();
    }

    /// Sends one line of a service's output to syslog (`stdout "syslog"`), under its own
    /// tag, and as sent by `origin` (its process) when given. `line` holds no newline (see
    /// `daemon/lines.rs`). Returns false when syslog is off.
    pub fn service_line(
        &mut self,
        tag: &Tag,
        origin: Option<Origin>,
        level: Level,
        line: &[u8],
    ) -> bool {
        let Some(syslog) = &mut self.syslog else {
            return false;
        };
        let message = origin::Message {
            datagram: tag.datagram(level, line),
            origin,
        };
        syslog.sender.send(message, Instant::now());
        self.report_syslog_news();
        true
    }

    /// When the loop must call [`EventLog::retry_syslog`] even if nothing happens: kept
    /// messages wait for a missing logger. `None` when nothing waits.
    pub fn next_retry(&self) -> Option<Instant> {
        self.syslog.as_ref()?.sender.next_retry()
    }

    /// The syslog socket to poll for POLLOUT (the logger is there but was full).
    pub fn syslog_waiting_fd(&self) -> Option<BorrowedFd<'_>> {
        self.syslog.as_ref()?.sender.waiting_fd()
    }

    /// Sends what syslog takes of the kept messages (on POLLOUT or at the retry deadline).
    pub fn retry_syslog(&mut self) {
        if let Some(syslog) = &mut self.syslog {
            syslog.sender.flush(Instant::now());
        }
        self.report_syslog_news();
    }

    /// The logger is alive but behind: service output to syslog should wait (see
    /// [`Sender::is_backlogged`]).
    pub fn syslog_backlogged(&self) -> bool {
        self.syslog
            .as_ref()
            .is_some_and(|s| s.sender.is_backlogged())
    }

    /// At exit: one last try, and say in the file what could not be sent.
    pub fn finish_syslog(&mut self) {
        self.retry_syslog();
        let Some(syslog) = &self.syslog else {
            return;
        };
        let pending = syslog.sender.pending();
        if pending > 0 {
            let text = format!(
                "syslog: {pending} message(s) not sent at exit ({} unavailable)",
                syslog.sender.path().display()
            );
            self.write_file(Level::Warning, &text);
        }
    }

    /// What the sender had to say about syslog itself becomes an event. An outage goes to
    /// syslog too (kept, it marks where the gap began); the rest only to the file, since
    /// syslog already has its own notice in the stream.
    fn report_syslog_news(&mut self) {
        let Some(syslog) = &mut self.syslog else {
            return;
        };
        let news = syslog.sender.take_news();
        let path = syslog.sender.path().display().to_string();
        for notice in news {
            match notice {
                Notice::Unreachable(text) => self.write(Level::Warning, &text),
                Notice::Back { kept } => self.write_file(
                    Level::Info,
                    &format!("syslog: {path} reachable again; sending {kept} kept message(s)"),
                ),
                Notice::Dropped(n) => self.write_file(
                    Level::Warning,
                    &format!(
                        "syslog: {n} message(s) dropped while the logger was unavailable or slow"
                    ),
                ),
            }
        }
    }

    /// The file (and stderr) only.
    fn write_file(&mut self, level: Level, text: &str) {
        let line = format_line(SystemTime::now(), level, text);
        let echoed = self.echo.is_some_and(|from| level >= from);
        if self.batching {
            if self.file.is_some() {
                self.held_file.extend_from_slice(line.as_bytes());
            }
            if echoed {
                self.held_echo.extend_from_slice(line.as_bytes());
            }
            if self.held_file.len() + self.held_echo.len() > MAX_HELD_BYTES {
                self.flush();
            }
            return;
        }
        if let Some(file) = &mut self.file {
            // A full disk must not stop the supervisor; the line is lost, nothing else.
            let _ = file.write_all(line.as_bytes());
        }
        if echoed && line.len() <= libc::PIPE_BUF {
            echo(line.as_bytes());
        }
    }
}

impl Drop for EventLog {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Copies lines to stderr only if that cannot block: a terminal held with Ctrl-S, a slow
/// serial console or a pipe nobody reads must not stall the loop. Lines that do not fit
/// now are dropped (the log file and syslog still have them); returns whether written.
fn echo(lines: &[u8]) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let stderr = std::io::stderr();
    let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLOUT)];
    let writable = matches!(poll(&mut fds, PollTimeout::ZERO), Ok(1))
        && fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLOUT));
    // POLLOUT on a pipe promises room for PIPE_BUF bytes, written at once: stay within it.
    if writable && lines.len() <= libc::PIPE_BUF {
        let _ = stderr.lock().write_all(lines);
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_lines_reach_the_file_at_flush_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taskmaster.log");
        let mut log = EventLog::open(&path, false);
        log.write(Level::Info, "one");
        log.batch(true);
        log.write(Level::Info, "two");
        log.write(Level::Warning, "three");
        let text = || std::fs::read_to_string(&path).unwrap();
        assert!(text().ends_with("info one\n"), "{}", text());
        log.flush();
        let lines: Vec<String> = text().lines().map(str::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[1].ends_with("info two") && lines[2].ends_with("warning three"));
        // Turning batching off writes what is held, and each line at once after that.
        log.write(Level::Info, "four");
        log.batch(false);
        log.write(Level::Info, "five");
        assert!(text().contains("info four\n"));
        assert!(text().ends_with("info five\n"));
    }

    #[test]
    fn held_lines_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taskmaster.log");
        let mut log = EventLog::open(&path, false);
        log.batch(true);
        let line = "x".repeat(1000);
        for _ in 0..100 {
            log.write(Level::Info, &line);
        }
        assert!(log.held_file.len() <= MAX_HELD_BYTES);
        drop(log);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().count(),
            100,
            "dropping the log writes what it held"
        );
    }
}
