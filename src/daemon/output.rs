//! Service output: where each stream goes at spawn time, and the pipes the loop reads.
//!
//! | `stdout`/`stderr`            | the child writes to      | the loop                          |
//! |------------------------------|--------------------------|-----------------------------------|
//! | path, no `-maxbytes`         | the file itself          | nothing (fast; nothing to lose)   |
//! | path with `-maxbytes` > 0    | a pipe                   | appends to the file, rotating it  |
//! | captured (default)           | a pipe                   | keeps a ring for `tmctl tail`     |
//! | `"syslog"`                   | a pipe                   | one syslog message per line       |
//! | `"discard"` / `"inherit"`    | /dev/null / our own fd   | nothing                           |
//! | an `on-event` hook's run     | a pipe (both streams)    | one event-log line per line       |
//!
//! Every pipe is read until EOF, also after the process exited, so the last bytes it wrote
//! are never lost; each read is bounded per loop turn so that one chatty service cannot
//! starve the others, the clients or the signals.

use super::handover::{PipeHandover, RingHandover, SinkHandover};
use super::lines::Lines;
use super::ring::{Ring, RING_BYTES};
use super::rotation::{RotatingFile, RotationError};
use super::utf8::complete_utf8_len;
use crate::config::{Output, ProcessSpec, Rotation};
use crate::log::{EventLog, Level, Origin, Tag};
use crate::process::ChildFd;
use crate::supervisor::{InstanceId, SpawnFailure};
use nix::fcntl::OFlag;
use std::collections::HashMap;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// At most this much is read from one pipe per loop turn: enough to keep up with a fast
/// writer in few turns, little enough that a turn stays short.
const READ_PER_TURN: usize = 256 * 1024;
/// Captured output is also encoded for every follower: smaller bites keep turns short.
const CAPTURE_PER_TURN: usize = 64 * 1024;
/// Lines of one `on-event` hook's run written to the event log, at most; the others are
/// counted and the count logged when it ends, so a chatty hook cannot flood the log.
pub const HOOK_LOG_LINES: usize = 50;
/// Pipes the daemon reads get this much kernel buffer (best effort), so that a fast writer
/// blocks less often and the loop needs fewer turns per byte.
const PIPE_BYTES: i32 = 1024 * 1024;

/// The read end of a stream that goes through the daemon.
pub struct Pipe {
    pub file: File,
    pub id: InstanceId,
    pub stderr: bool,
    sink: Sink,
    /// EOF was read; the pipe stays only while its last lines wait for syslog.
    ended: bool,
    /// The start of a UTF-8 character whose other bytes are still to come: held back, so
    /// that followers, who get text, never see a character cut in two.
    partial_char: Vec<u8>,
}

impl Pipe {
    /// Whether EOF has not been read yet.
    pub fn is_open(&self) -> bool {
        !self.ended
    }
}

enum Sink {
    /// Into the instance's ring (and to `tail -f` followers).
    Capture,
    /// One syslog message per line, under the instance's tag and pid, sent as its process
    /// (`origin`) until that process is reaped.
    Syslog {
        lines: Lines,
        tag: Tag,
        origin: Option<Origin>,
        level: Level,
    },
    /// Appended to this file (shared by every pipe that writes to the same path).
    File(PathBuf),
    /// An `on-event` hook's run: each line into the event log as `NAME: line`, at most
    /// [`HOOK_LOG_LINES`].
    EventLog {
        lines: Lines,
        name: String,
        logged: usize,
        dropped: usize,
    },
}

/// What the loop got from one pipe.
pub enum Drained {
    /// Captured bytes, for followers.
    Data(Vec<u8>),
    /// Bytes went to a file or syslog.
    Consumed,
    /// The writer closed it (the process and everything it shared the pipe with are gone).
    Closed,
    Nothing,
}

/// A pipe made for a spawn, attached once the pid is known (syslog messages carry it).
pub struct PendingPipe {
    file: File,
    stderr: bool,
    sink: PendingSink,
}

enum PendingSink {
    Capture,
    Syslog,
    File(PathBuf),
    EventLog,
}

#[derive(Default)]
pub struct Outputs {
    pub pipes: Vec<Pipe>,
    rings: HashMap<(InstanceId, bool), Ring>,
    /// Where each instance's stderr ring stood when its current process was spawned, if
    /// not at 0.
    stderr_marks: HashMap<InstanceId, u64>,
    files: HashMap<PathBuf, RotatingFile>,
    /// One read buffer for every pipe (the loop is single-threaded).
    scratch: Vec<u8>,
}

impl Outputs {
    /// Prepares stdout and stderr for a spawn: the fds the child gets, and the pipes we keep
    /// (give them to [`Outputs::attach`] once the process runs).
    pub fn prepare(
        &mut self,
        spec: &ProcessSpec,
    ) -> Result<(ChildFd, ChildFd, Vec<PendingPipe>), SpawnFailure> {
        let mut pipes = Vec::new();
        // Files are created as the service would create them itself (it may not, being
        // opened here before fork, where the service's umask is not yet in force).
        let mode = crate::log::output_file_mode(spec.umask);
        let stdout = self.child_fd(&spec.stdout, spec.stdout_rotation, mode, false, &mut pipes)?;
        let stderr =
            match spec.stderr {
                // One stream: the same pipe or file (with its one offset) for both.
                Output::Stdout => match &stdout {
                    ChildFd::Inherit => ChildFd::Inherit,
                    ChildFd::Null => ChildFd::Null,
                    ChildFd::Fd(fd) => ChildFd::Fd(fd.try_clone().map_err(|e| {
                        failure(format!("stderr \"stdout\": {e}"), e.raw_os_error())
                    })?),
                },
                _ => self.child_fd(&spec.stderr, spec.stderr_rotation, mode, true, &mut pipes)?,
            };
        Ok((stdout, stderr, pipes))
    }

    /// Starts reading the pipes of a process that was spawned as `name` with `pid`, running
    /// as `spec` says.
    pub fn attach(
        &mut self,
        id: &InstanceId,
        name: &str,
        pid: i32,
        spec: &ProcessSpec,
        pending: Vec<PendingPipe>,
    ) {
        // `tmctl tail` shows where a new process began, after what the last one wrote.
        for pipe in &pending {
            if let Some(ring) = self.rings.get_mut(&(id.clone(), pipe.stderr)) {
                if ring.total() > 0 {
                    let newline = if ring.last() == Some(b'\n') { "" } else { "\n" };
                    ring.push(
                        format!("{newline}--- {name}: new process, pid {pid} ---\n").as_bytes(),
                    );
                }
            }
        }
        // Kept only where it says something (no mark is 0): an instance whose stderr is not
        // captured has no ring, and an entry per instance, made at each spawn, left its
        // name's small string between the spawn burst's freed blocks, where it pinned a page
        // of free heap (bench/PROFILES.md, memory).
        match self.rings.get(&(id.clone(), true)).map_or(0, Ring::total) {
            0 => self.stderr_marks.remove(id),
            mark => self.stderr_marks.insert(id.clone(), mark),
        };
        for pipe in pending {
            let sink = match pipe.sink {
                PendingSink::Capture => Sink::Capture,
                PendingSink::File(path) => Sink::File(path),
                PendingSink::EventLog => Sink::EventLog {
                    lines: Lines::default(),
                    name: name.to_string(),
                    logged: 0,
                    dropped: 0,
                },
                PendingSink::Syslog => Sink::Syslog {
                    lines: Lines::default(),
                    tag: Tag::new(name, u32::try_from(pid).unwrap_or(0)),
                    origin: origin_of(pid, spec),
                    // What a program says on stderr is usually worth a look.
                    level: if pipe.stderr {
                        Level::Warning
                    } else {
                        Level::Info
                    },
                },
            };
            self.pipes.push(Pipe {
                file: pipe.file,
                id: id.clone(),
                stderr: pipe.stderr,
                sink,
                ended: false,
                partial_char: Vec::new(),
            });
        }
        self.forget_unused_files();
    }

    fn child_fd(
        &mut self,
        output: &Output,
        rotation: Rotation,
        mode: u32,
        stderr: bool,
        pipes: &mut Vec<PendingPipe>,
    ) -> Result<ChildFd, SpawnFailure> {
        let stream = if stderr { "stderr" } else { "stdout" };
        let sink = match output {
            Output::Inherit => return Ok(ChildFd::Inherit),
            Output::Discard | Output::Stdout => return Ok(ChildFd::Null),
            // The child writes straight into the file: no copy through the daemon, and
            // nothing is lost when the daemon is busy or the service exits. The path is
            // opened anew at every spawn (that is when a renamed file is let go).
            Output::File(path) if rotation.maxbytes == 0 => {
                return crate::log::open_append_for_child(path, mode)
                    .map(|file| ChildFd::Fd(OwnedFd::from(file)))
                    .map_err(|e| {
                        failure(
                            format!("open {stream} {}: {e}", path.display()),
                            e.raw_os_error(),
                        )
                    });
            }
            // Opened now, so that a bad path fails the spawn as a direct file would.
            Output::File(path) => {
                self.open_rotating(path, rotation, mode).map_err(|e| {
                    failure(
                        format!("open {stream} {}: {e}", path.display()),
                        e.raw_os_error(),
                    )
                })?;
                PendingSink::File(path.clone())
            }
            Output::Capture => PendingSink::Capture,
            Output::Syslog => PendingSink::Syslog,
            Output::EventLog => PendingSink::EventLog,
        };
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)
            .map_err(|e| failure(format!("pipe for {stream}: {e}"), Some(e as i32)))?;
        // Only our end is non-blocking; the child's end must block as usual.
        let write = clear_nonblock(write)
            .map_err(|e| failure(format!("pipe for {stream}: {e}"), Some(e as i32)))?;
        let _ = nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETPIPE_SZ(PIPE_BYTES));
        pipes.push(PendingPipe {
            file: File::from(read),
            stderr,
            sink,
        });
        Ok(ChildFd::Fd(write))
    }

    fn open_rotating(&mut self, path: &Path, rotation: Rotation, mode: u32) -> std::io::Result<()> {
        match self.files.get_mut(path) {
            Some(file) => file.set_rotation(rotation),
            None => {
                let file = RotatingFile::open(path, rotation, mode)?;
                self.files.insert(path.to_path_buf(), file);
            }
        }
        Ok(())
    }

    /// The pipes to poll now. A syslog pipe waits while its lines wait for the logger (a
    /// live but slow logger slows the service down, as journald's own streams do, rather
    /// than lose its lines), and an ended pipe is only waiting for that.
    pub fn polled(&self, log: &EventLog) -> Vec<(usize, BorrowedFd<'_>)> {
        let backlogged = log.syslog_backlogged();
        self.pipes
            .iter()
            .enumerate()
            .filter(|(_, pipe)| match &pipe.sink {
                _ if pipe.ended => false,
                Sink::Syslog { lines, .. } => !backlogged && !lines.has_line(),
                Sink::Capture | Sink::File(_) | Sink::EventLog { .. } => true,
            })
            .map(|(index, pipe)| (index, pipe.file.as_fd()))
            .collect()
    }

    /// Reads what one pipe has (bounded per turn) and hands it to its sink. A pipe that
    /// reached EOF is removed (so indexes above `index` move: go from the highest down).
    pub fn drain(&mut self, index: usize, log: &mut EventLog) -> Drained {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.resize(READ_PER_TURN, 0);
        let drained = self.drain_into(index, log, &mut scratch);
        self.scratch = scratch;
        drained
    }

    fn drain_into(&mut self, index: usize, log: &mut EventLog, buf: &mut [u8]) -> Drained {
        let Some(pipe) = self.pipes.get_mut(index) else {
            return Drained::Nothing;
        };
        let limit = match pipe.sink {
            Sink::Capture => CAPTURE_PER_TURN,
            Sink::Syslog { .. } | Sink::File(_) | Sink::EventLog { .. } => READ_PER_TURN,
        };
        let limit = limit.min(buf.len());
        let (filled, closed) = read_some(&mut pipe.file, &mut buf[..limit]);
        let data = &buf[..filled];
        let mut drained = Drained::Nothing;
        match &mut pipe.sink {
            Sink::Capture => {
                let mut bytes = std::mem::take(&mut pipe.partial_char);
                bytes.extend_from_slice(data);
                let whole = if closed {
                    bytes.len()
                } else {
                    complete_utf8_len(&bytes)
                };
                pipe.partial_char = bytes.split_off(whole);
                if !bytes.is_empty() {
                    self.rings
                        .entry((pipe.id.clone(), pipe.stderr))
                        .or_insert_with(|| Ring::new(RING_BYTES))
                        .push(&bytes);
                    drained = Drained::Data(bytes);
                }
            }
            Sink::File(path) => {
                if !data.is_empty() {
                    drained = Drained::Consumed;
                }
                if let Some(file) = self.files.get_mut(path) {
                    if let Err(message) = file.write(data) {
                        log.write(Level::Warning, &message.to_string());
                    }
                }
            }
            Sink::Syslog { lines, .. } | Sink::EventLog { lines, .. } => {
                if !data.is_empty() {
                    drained = Drained::Consumed;
                }
                lines.push(data);
                if closed {
                    lines.end();
                }
            }
        }
        if closed {
            pipe.ended = true;
            if matches!(drained, Drained::Nothing) {
                drained = Drained::Closed;
            }
        }
        self.send_lines(index, log, false);
        drained
    }

    /// Sends the lines syslog pipes hold, as far as the logger keeps up, and forgets the
    /// pipes that are done. Called every turn, after the ready pipes were read.
    pub fn pump_syslog(&mut self, log: &mut EventLog) {
        for index in (0..self.pipes.len()).rev() {
            self.send_lines(index, log, false);
        }
    }

    /// Sends a syslog pipe's lines (all of them when `force`, else while the logger keeps
    /// up), and removes the pipe once it ended and has nothing left.
    fn send_lines(&mut self, index: usize, log: &mut EventLog, force: bool) {
        let Some(pipe) = self.pipes.get_mut(index) else {
            return;
        };
        match &mut pipe.sink {
            Sink::Syslog {
                lines,
                tag,
                origin,
                level,
            } => {
                while force || !log.syslog_backlogged() {
                    let Some(line) = lines.next_line() else {
                        break;
                    };
                    // An empty line carries nothing worth a syslog message.
                    if !line.is_empty() {
                        log.service_line(tag, *origin, *level, line);
                    }
                }
            }
            Sink::EventLog {
                lines,
                name,
                logged,
                dropped,
            } => {
                while let Some(line) = lines.next_line() {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    if *logged < HOOK_LOG_LINES {
                        *logged += 1;
                        let text = String::from_utf8_lossy(line);
                        log.write(Level::Info, &format!("{name}: {text}"));
                    } else {
                        *dropped += 1;
                    }
                }
                if pipe.ended && *dropped > 0 {
                    log.write(
                        Level::Info,
                        &format!("{name}: ({dropped} more line(s) not logged)"),
                    );
                }
            }
            Sink::Capture | Sink::File(_) => {}
        }
        let done = match &pipe.sink {
            Sink::Syslog { lines, .. } | Sink::EventLog { lines, .. } => lines.is_empty(),
            Sink::Capture | Sink::File(_) => true,
        };
        if pipe.ended && done {
            self.pipes.swap_remove(index);
            self.forget_unused_files();
        }
    }

    /// At exit: read what every pipe still holds and hand it on (to syslog without waiting
    /// for the logger: what it cannot take is counted by the event log).
    pub fn drain_all(&mut self, log: &mut EventLog) {
        // Bounded: a process that outlived us could write forever.
        for _ in 0..64 {
            let mut progress = false;
            for index in (0..self.pipes.len()).rev() {
                if self.pipes.get(index).is_some_and(|pipe| !pipe.ended) {
                    let drained = self.drain(index, log);
                    progress |= matches!(drained, Drained::Data(_) | Drained::Consumed);
                }
            }
            if !progress {
                break;
            }
        }
        for index in (0..self.pipes.len()).rev() {
            self.send_lines(index, log, true);
        }
    }

    /// The process `pid` was reaped: lines still in its pipes go out as the daemon's (its
    /// pid could soon be another process's).
    pub fn reaped(&mut self, pid: i32) {
        for pipe in &mut self.pipes {
            if let Sink::Syslog { origin, .. } = &mut pipe.sink {
                if origin.is_some_and(|o| i64::from(o.pid) == i64::from(pid)) {
                    *origin = None;
                }
            }
        }
    }

    /// Reopens every file the daemon writes itself (after logrotate moved them away).
    /// Returns the errors.
    pub fn reopen(&mut self) -> Vec<RotationError> {
        self.files
            .values_mut()
            .filter_map(|file| file.reopen().err())
            .collect()
    }

    /// Closes every file the daemon writes itself (PID 1, before remounting `/` read-only);
    /// returns how many. Output still arriving afterwards is dropped.
    pub fn close_files(&mut self) -> usize {
        let closed = self.files.len();
        self.files.clear();
        closed
    }

    /// How many rotated files are open (for the reopen reply).
    pub fn rotated_files(&self) -> usize {
        self.files.len()
    }

    /// Drops the captured output of one instance that is gone for good (a forgotten job).
    pub fn forget_instance(&mut self, id: &InstanceId) {
        self.rings.remove(&(id.clone(), false));
        self.rings.remove(&(id.clone(), true));
        self.stderr_marks.remove(id);
    }

    /// Drops the captured output of instances that no longer exist (removed by a reload),
    /// so that reload churn cannot grow the daemon.
    pub fn forget_rings(&mut self, exists: impl Fn(&InstanceId) -> bool) {
        self.rings.retain(|(id, _), _| exists(id));
        self.stderr_marks.retain(|id, _| exists(id));
    }

    /// What the instance's current (or last) process wrote to its captured stderr.
    pub fn stderr_of_last_process(&self, id: &InstanceId) -> Vec<u8> {
        let mark = self.stderr_marks.get(id).copied().unwrap_or(0);
        self.rings
            .get(&(id.clone(), true))
            .map(|ring| ring.since(mark))
            .unwrap_or_default()
    }

    pub fn captured(&self, id: &InstanceId, stderr: bool) -> Vec<u8> {
        self.rings
            .get(&(id.clone(), stderr))
            .map(Ring::contents)
            .unwrap_or_default()
    }

    /// A file no pipe writes to any more is closed (a path used again is reopened).
    fn forget_unused_files(&mut self) {
        let pipes = &self.pipes;
        self.files.retain(|path, _| {
            pipes
                .iter()
                .any(|pipe| matches!(&pipe.sink, Sink::File(p) if p == path))
        });
    }
}

impl Outputs {
    /// What `tmctl upgrade` hands over: every pipe (its fd stays open across execve) and
    /// every ring with its bytes. Complete syslog lines are sent first; nothing is closed,
    /// so if the exec fails everything goes on as before.
    pub fn hand_over(
        &mut self,
        log: &mut EventLog,
    ) -> (Vec<PipeHandover>, Vec<RingHandover>, Vec<Vec<u8>>) {
        for index in (0..self.pipes.len()).rev() {
            self.send_lines(index, log, true);
        }
        let pipes = self
            .pipes
            .iter()
            .map(|pipe| PipeHandover {
                fd: pipe.file.as_raw_fd(),
                service: pipe.id.service.clone(),
                index: pipe.id.index,
                stderr: pipe.stderr,
                sink: match &pipe.sink {
                    Sink::Capture => SinkHandover::Capture,
                    Sink::Syslog { tag, origin, .. } => SinkHandover::Syslog {
                        name: tag.name().to_string(),
                        pid: tag.pid(),
                        origin: *origin,
                    },
                    Sink::File(path) => SinkHandover::File(path.clone()),
                    Sink::EventLog { name, logged, .. } => SinkHandover::EventLog {
                        name: name.clone(),
                        logged: *logged,
                    },
                },
                partial_char: pipe.partial_char.clone(),
            })
            .collect();
        let mut rings = Vec::new();
        let mut bytes = Vec::new();
        for ((id, stderr), ring) in &self.rings {
            let contents = ring.contents();
            rings.push(RingHandover {
                service: id.service.clone(),
                index: id.index,
                stderr: *stderr,
                total: ring.total(),
                len: contents.len(),
                stderr_mark: self.stderr_marks.get(id).copied().filter(|_| *stderr),
            });
            bytes.push(contents);
        }
        (pipes, rings, bytes)
    }

    /// Takes over what [`Outputs::hand_over`] gave, in the new image. `spec_of` finds the
    /// running spec of a service (for a rotated file's size and mode); a pipe of a service
    /// gone from the config is captured until it ends.
    pub fn take_over(
        &mut self,
        pipes: Vec<PipeHandover>,
        rings: Vec<(RingHandover, Vec<u8>)>,
        spec_of: impl Fn(&str) -> Option<std::sync::Arc<ProcessSpec>>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for pipe in pipes {
            // SAFETY: the old image handed this fd over for this pipe only.
            let file = unsafe { File::from_raw_fd(pipe.fd) };
            super::handover::set_cloexec(pipe.fd, true);
            let id = InstanceId {
                service: pipe.service,
                index: pipe.index,
            };
            let sink = match pipe.sink {
                SinkHandover::Capture => Sink::Capture,
                SinkHandover::EventLog { name, logged } => Sink::EventLog {
                    lines: Lines::default(),
                    name,
                    logged,
                    dropped: 0,
                },
                SinkHandover::Syslog { name, pid, origin } => Sink::Syslog {
                    lines: Lines::default(),
                    tag: Tag::new(&name, pid),
                    origin,
                    level: if pipe.stderr {
                        Level::Warning
                    } else {
                        Level::Info
                    },
                },
                SinkHandover::File(path) => {
                    let spec = spec_of(&id.service);
                    let opened = spec.as_ref().map(|spec| {
                        let rotation = if pipe.stderr {
                            spec.stderr_rotation
                        } else {
                            spec.stdout_rotation
                        };
                        let mode = crate::log::output_file_mode(spec.umask);
                        self.open_rotating(&path, rotation, mode)
                    });
                    match opened {
                        Some(Ok(())) => Sink::File(path),
                        Some(Err(e)) => {
                            problems.push(format!(
                                "upgrade: reopen {}: {e}; capturing instead",
                                path.display()
                            ));
                            Sink::Capture
                        }
                        None => Sink::Capture,
                    }
                }
            };
            self.pipes.push(Pipe {
                file,
                id,
                stderr: pipe.stderr,
                sink,
                ended: false,
                partial_char: pipe.partial_char,
            });
        }
        for (ring, bytes) in rings {
            let id = InstanceId {
                service: ring.service,
                index: ring.index,
            };
            if let Some(mark) = ring.stderr_mark {
                self.stderr_marks.insert(id.clone(), mark);
            }
            self.rings.insert(
                (id, ring.stderr),
                Ring::restore(RING_BYTES, &bytes, ring.total),
            );
        }
        problems
    }
}

/// Who the lines of process `pid` are from: its pid, and the ids it runs as (the daemon's
/// own when the spec names no user).
fn origin_of(pid: i32, spec: &ProcessSpec) -> Option<Origin> {
    let (uid, gid) = match &*spec.credentials {
        Some(credentials) => (credentials.uid, credentials.gid),
        None => (
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        ),
    };
    Some(Origin {
        pid: u32::try_from(pid).ok()?,
        uid,
        gid,
    })
}

/// Reads until `buf` is full, the pipe is empty (EAGAIN) or closed. Returns (bytes, closed).
fn read_some(file: &mut File, buf: &mut [u8]) -> (usize, bool) {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => return (filled, true),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return (filled, true),
        }
    }
    (filled, false)
}

fn clear_nonblock(fd: OwnedFd) -> nix::Result<OwnedFd> {
    use nix::fcntl::{fcntl, FcntlArg};
    let flags = OFlag::from_bits_truncate(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags - OFlag::O_NONBLOCK))?;
    Ok(fd)
}

/// A `console` service's terminal master, read like a captured stdout pipe (its stdout
/// and stderr both go to the terminal, in the order written).
pub fn console_pipe(master: File) -> PendingPipe {
    PendingPipe {
        file: master,
        stderr: false,
        sink: PendingSink::Capture,
    }
}

/// A spawn failure; transient when the machine is out of processes, descriptors or memory.
pub fn failure(reason: String, errno: Option<i32>) -> SpawnFailure {
    let transient = matches!(
        errno,
        Some(libc::EAGAIN | libc::EMFILE | libc::ENFILE | libc::ENOMEM)
    );
    SpawnFailure { reason, transient }
}
