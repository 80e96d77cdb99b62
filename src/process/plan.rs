//! Everything the child needs, prepared in the parent before fork.
//!
//! After fork the child may not allocate or look anything up (see `child.rs`), so every
//! string, number, fd and capability mask it will use is made here. Every check that can be
//! done without forking is done here too, so these failures cost no process.

use std::ffi::CString;
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};

use super::cstring_array::CStringArray;
use super::dispositions::SignalBits;
use super::environment::Environment;
use super::error::{errno_of, SpawnError, Step};
use super::limits::PreparedLimit;
use super::path;
use super::privileges::Privileges;
use super::report::Failure;
use super::ChildFd;
use crate::config::{ProcessSpec, Readiness};
use crate::signals::name as signal_name;

pub(super) struct ExecPlan {
    /// The resolved program execve runs.
    pub program: CString,
    /// `cmd` as written: argv[0] is the name the user gave, not the resolved path.
    pub argv: CStringArray,
    pub envp: CStringArray,
    pub workingdir: CString,
    pub umask: Option<libc::mode_t>,
    /// `/dev/null`. All fds here are ≥ 3 and close-on-exec, so a dup onto 0–2 never
    /// overwrites one that is still to be copied, and the originals vanish at execve.
    /// Plain numbers: the child may share this plan's memory (see `spawn.rs`), so nothing
    /// in it changes after the clone; the parent's copies are held apart, in [`HeldFds`].
    pub stdin: RawFd,
    /// `None`: inherit the daemon's.
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
    pub limits: Vec<PreparedLimit>,
    pub privileges: Privileges,
    pub no_new_privs: bool,
    /// `ready "fd:N"`: the pipe's write end (≥ 3, close-on-exec) and N.
    pub ready_fd: Option<(RawFd, libc::c_int)>,
    /// `watchdog`: the `WATCHDOG_PID=` entry of envp, written by the child once it knows
    /// its pid (it is the last entry but NULL).
    pub watchdog_pid: Option<PidSlot>,
    /// The instance's `cgroup.procs`, open for writing (close-on-exec): the child joins
    /// its cgroup before anything else, so nothing it starts is ever outside.
    pub cgroup: Option<RawFd>,
    /// `listen`: the sockets, each close-on-exec on an fd ≥ 3 + their count, so that
    /// placing them on 3, 4, … never overwrites one still to be placed.
    pub listen: Vec<RawFd>,
    /// The `LISTEN_PID=` entry of envp, written by the child (when there are sockets).
    pub listen_pid: Option<PidSlot>,
    /// `console`: the terminal's slave side (≥ 3, close-on-exec).
    pub terminal: Option<RawFd>,
    /// The signals the child sets back to SIG_DFL (the same for every child).
    pub signals_to_reset: SignalBits,
}

/// Room for `WATCHDOG_PID=<pid>\0`, filled in by the child after fork (where nothing may
/// be allocated). An UnsafeCell: the child writes through the shared plan.
pub(super) struct PidSlot(Box<std::cell::UnsafeCell<[u8; 32]>>, usize);

impl PidSlot {
    /// `prefix` is `WATCHDOG_PID=` or `LISTEN_PID=` (at most 19 bytes: the pid follows).
    fn new(prefix: &[u8]) -> PidSlot {
        let mut bytes = [0u8; 32];
        bytes[..prefix.len()].copy_from_slice(prefix);
        PidSlot(Box::new(std::cell::UnsafeCell::new(bytes)), prefix.len())
    }

    pub fn as_ptr(&self) -> *const std::ffi::c_char {
        self.0.get().cast()
    }

    /// Child side: writes the decimal pid after the prefix, NUL-terminated. No allocation.
    pub fn fill(&self, pid: libc::pid_t) {
        let mut digits = [0u8; 12];
        let mut n = pid.unsigned_abs();
        let mut len = 0;
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // SAFETY: only the forked child calls this, single-threaded, before execve; no
        // reference to the cell's contents exists anywhere (envp holds a raw pointer).
        let bytes = unsafe { &mut *self.0.get() };
        let start = self.1;
        for i in 0..len {
            bytes[start + i] = digits[len - 1 - i];
        }
        bytes[start + len] = 0;
    }
}

/// The parent's copies of the fds a plan names: open until the child has its own (the
/// clone copies them), then closed, as only the child may keep a pipe's write end open.
pub(super) struct HeldFds(Vec<OwnedFd>);

impl HeldFds {
    pub(super) fn hold(&mut self, fd: OwnedFd) -> RawFd {
        let raw = fd.as_raw_fd();
        self.0.push(fd);
        raw
    }
}

impl ExecPlan {
    pub fn new(
        spec: &ProcessSpec,
        stdout: ChildFd,
        stderr: ChildFd,
        ready: Option<OwnedFd>,
        cgroup: Option<OwnedFd>,
        handed: super::HandedFds,
    ) -> Result<(ExecPlan, HeldFds), SpawnError> {
        let count = handed.listen.len();
        let argv = arguments(&spec.cmd)?;
        let mut held = HeldFds(Vec::with_capacity(4));
        let ready_fd = match (ready, spec.ready) {
            (Some(fd), Readiness::Fd(number)) => Some((
                // Above the listen fds' places too: placing those must not overwrite it.
                held.hold(
                    at_or_above(fd, 3 + count as i32)
                        .map_err(|e| SpawnError::new(Step::ReadyFd, "", e))?,
                ),
                number,
            )),
            _ => None,
        };
        let watchdog_pid = (spec.ready == Readiness::Notify && spec.watchdog.is_some())
            .then(|| PidSlot::new(b"WATCHDOG_PID="));
        let listen_pid = (count > 0).then(|| PidSlot::new(b"LISTEN_PID="));
        let mut listen = Vec::with_capacity(count);
        for fd in handed.listen {
            let fd = at_or_above(fd, 3 + count as i32)
                .map_err(|e| SpawnError::new(Step::ListenFds, "", e))?;
            listen.push(held.hold(fd));
        }
        let terminal = match handed.terminal {
            Some(fd) => Some(
                held.hold(
                    above_stdio(fd)
                        .map_err(|e| SpawnError::new(Step::Stdin, "the console terminal", e))?,
                ),
            ),
            None => None,
        };
        let mut vars = spec.env.to_map();
        if count > 0 {
            vars.insert("LISTEN_FDS".into(), count.to_string());
            vars.insert("LISTEN_FDNAMES".into(), handed.listen_names.join(":"));
        }
        let env = Environment::inherit_with(&vars);
        // `arguments` guarantees cmd[0] exists.
        let name = &spec.cmd[0];
        let program = path::resolve(name, env.path())
            .map_err(|errno| SpawnError::new(Step::Exec, name.as_str(), errno))?;
        let program = c_path(&program, Step::Exec)?;
        let workingdir = c_path(&spec.workingdir, Step::Chdir)?;
        // One /dev/null for stdin and every discarded stream: the child dups it onto each.
        let stdin = shared_null()?;
        let stdout = target(stdout, stdin, &mut held, "stdout")?;
        let stderr = target(stderr, stdin, &mut held, "stderr")?;
        let plan = ExecPlan {
            program,
            argv: CStringArray::new(argv),
            envp: {
                let slots: Vec<_> = [&watchdog_pid, &listen_pid]
                    .into_iter()
                    .flatten()
                    .map(PidSlot::as_ptr)
                    .collect();
                CStringArray::with_extra(env.to_cstrings()?, &slots)
            },
            workingdir,
            umask: spec.umask.map(|mask| mask as libc::mode_t),
            stdout,
            stderr,
            stdin,
            limits: spec
                .limits
                .iter()
                .copied()
                .map(PreparedLimit::new)
                .collect(),
            privileges: Privileges::new(
                spec.credentials.as_ref(),
                spec.capabilities.as_deref(),
                nix::unistd::geteuid().as_raw(),
                caps::runtime::thread_all_supported,
            ),
            no_new_privs: spec.no_new_privs,
            ready_fd,
            watchdog_pid,
            cgroup: cgroup.map(|fd| held.hold(fd)),
            listen,
            listen_pid,
            terminal,
            signals_to_reset: SignalBits::to_reset(),
        };
        Ok((plan, held))
    }

    /// Turn the child's report into an error that names what the step acted on.
    pub fn error(&self, failure: Failure) -> SpawnError {
        let index = usize::from(failure.index);
        let ids = self.privileges.ids.as_ref();
        let subject = match failure.step {
            Step::Signals => signal_name(i32::from(failure.index)),
            Step::Stdin => "/dev/null".to_owned(),
            Step::Chdir => self.workingdir.to_string_lossy().into_owned(),
            Step::Setrlimit => self
                .limits
                .get(index)
                .map(PreparedLimit::describe)
                .unwrap_or_default(),
            Step::BoundingDrop => nth_name(&self.privileges.bounding_drop, index),
            Step::Setgroups => ids.map(|ids| join(&ids.groups)).unwrap_or_default(),
            Step::Setresgid => ids.map(|ids| ids.gid.to_string()).unwrap_or_default(),
            Step::Setresuid => ids.map(|ids| ids.uid.to_string()).unwrap_or_default(),
            Step::Capset => self.privileges.describe_keep(),
            Step::AmbientRaise => nth_name(&self.privileges.ambient, index),
            Step::Exec => self.program.to_string_lossy().into_owned(),
            Step::ReadyFd => self
                .ready_fd
                .map(|(_, n)| format!("fd {n}"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        SpawnError::new(failure.step, subject, failure.errno)
    }
}

fn arguments(cmd: &[String]) -> Result<Vec<CString>, SpawnError> {
    if cmd.is_empty() || cmd[0].is_empty() {
        return Err(SpawnError::new(
            Step::Argument,
            "(cmd is empty)",
            Errno::EINVAL,
        ));
    }
    cmd.iter()
        .enumerate()
        .map(|(i, arg)| {
            CString::new(arg.as_str()).map_err(|_| {
                let subject = format!("{i} (contains a NUL byte)");
                SpawnError::new(Step::Argument, subject, Errno::EINVAL)
            })
        })
        .collect()
}

fn c_path(path: &Path, step: Step) -> Result<CString, SpawnError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        let subject = format!("{} (contains a NUL byte)", path.display());
        SpawnError::new(step, subject, Errno::EINVAL)
    })
}

/// `/dev/null`, opened at the first spawn and kept for every later one (it was an open and
/// a close per spawn). Every child shares it: reading it is EOF and writing it discards,
/// whatever the offset or flags. Close-on-exec, on an fd ≥ 3, never closed.
fn shared_null() -> Result<RawFd, SpawnError> {
    static NULL: std::sync::OnceLock<OwnedFd> = std::sync::OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd.as_raw_fd());
    }
    let fd = open_null()?;
    // Two threads (tests) may race here: the loser's copy is closed, the winner's kept.
    Ok(NULL.get_or_init(|| fd).as_raw_fd())
}

fn open_null() -> Result<OwnedFd, SpawnError> {
    let stdio_error = |errno| SpawnError::new(Step::Stdio, "open /dev/null", errno);
    // std opens with O_CLOEXEC.
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| stdio_error(errno_of(&e)))?;
    above_stdio(null.into()).map_err(stdio_error)
}

/// What the child's stdout or stderr becomes: `None` keeps the daemon's.
fn target(
    fd: ChildFd,
    null: RawFd,
    held: &mut HeldFds,
    name: &str,
) -> Result<Option<RawFd>, SpawnError> {
    match fd {
        ChildFd::Inherit => Ok(None),
        ChildFd::Null => Ok(Some(null)),
        ChildFd::Fd(fd) => above_stdio(fd)
            .map(|fd| Some(held.hold(fd)))
            .map_err(|errno| SpawnError::new(Step::Stdio, name, errno)),
    }
}

/// The same open file on an fd ≥ `lowest`, close-on-exec.
fn at_or_above(fd: OwnedFd, lowest: i32) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() >= lowest {
        return Ok(fd);
    }
    let raw = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(lowest))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The same open file on an fd ≥ 3, close-on-exec. A daemon started with 0–2 closed (or as
/// PID 1) can get a pipe on fd 1; dup2-ing fds in the child must not clobber one another.
fn above_stdio(fd: OwnedFd) -> Result<OwnedFd, Errno> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    let raw = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(3))?;
    // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn nth_name(caps: &[caps::Capability], index: usize) -> String {
    caps.get(index).map(ToString::to_string).unwrap_or_default()
}

fn join(ids: &[libc::gid_t]) -> String {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    ids.join(",")
}
