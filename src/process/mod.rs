//! Starting service processes and signalling them: the only place with fork/exec `unsafe`.
//!
//! [`spawn`] works in three phases, each in its own file:
//! 1. `plan.rs`: turn a [`ProcessSpec`](crate::config::ProcessSpec) into an `ExecPlan`,
//!    with every allocation, lookup and check done in the parent (CStrings, PATH search,
//!    environment, capability masks, rlimits).
//! 2. `child.rs`: between fork and execve the child only reads that plan and makes raw
//!    async-signal-safe system calls, in a fixed, commented order.
//! 3. `spawn.rs`: the parent reads a close-on-exec pipe (later, from its loop); EOF means execve
//!    succeeded, six bytes mean a step failed (see `report.rs`) and become a [`SpawnError`].
//!
//! Each process gets its own session and process group (`setsid`), so [`signal_group`] reaches
//! everything it started.

pub mod cgroup;
mod child;
mod console;
mod cstring_array;
mod dispositions;
mod environment;
mod error;
mod limits;
mod path;
pub mod pidfd;
mod plan;
mod privileges;
mod report;
mod signal;
mod spawn;
mod sys;

#[cfg(test)]
mod tests;

use std::os::fd::OwnedFd;

pub use console::spawn_on_console;
pub use environment::daemon_vars;
pub use error::{SpawnError, Step};
pub use signal::{signal_group, signal_group_only, signal_process};
pub use spawn::{
    never_clone_into_cgroup, release_spare_stacks, spawn, spawn_with_ready_fd, start,
    start_in_cgroup, start_with, CgroupTarget, ExecOutcome, ExecReport,
};

/// File descriptors a service is handed besides its stdio: the `listen` sockets (on fds
/// 3, 4, … with `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES`, systemd's socket
/// activation protocol) and, for `console`, the terminal that becomes its stdin and its
/// controlling terminal.
#[derive(Debug, Default)]
pub struct HandedFds {
    /// Copies of the daemon's listening sockets, in `listen` order.
    pub listen: Vec<OwnedFd>,
    /// `LISTEN_FDNAMES`, one name per socket (no `:` in them).
    pub listen_names: Vec<String>,
    /// The pseudo-terminal's slave side: stdin (and stdout/stderr when the daemon passes
    /// it for those too), and the controlling terminal of the child's new session.
    pub terminal: Option<OwnedFd>,
}

/// What the child gets as its stdout or stderr (stdin is always /dev/null).
///
/// The daemon decides: a pipe's write end for capture, an opened file, or [`ChildFd::Null`]
/// for discard. The fd is moved into [`spawn`], which closes the parent's copy once the
/// child has its own.
#[derive(Debug)]
pub enum ChildFd {
    /// The daemon's own stream, left as it is.
    Inherit,
    /// `/dev/null`.
    Null,
    /// This file descriptor (it may be close-on-exec; the child's copy on 1/2 is not).
    Fd(OwnedFd),
}
