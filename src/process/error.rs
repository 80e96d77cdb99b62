//! What can go wrong while starting a process, named by the step that failed.

use nix::errno::Errno;

/// One step of starting a process, in the order they run.
///
/// The child reports a failed step as its `u8` value over the report pipe (see `report`),
/// so the discriminants are part of that (in-process) wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    // In the parent, before fork.
    /// A `cmd` entry cannot be passed to execve (empty cmd, NUL byte).
    Argument = 1,
    /// An `env` entry cannot be passed to execve (NUL byte).
    Environment,
    /// Opening `/dev/null` or moving a stdio fd above 2.
    Stdio,
    /// Creating the report pipe.
    Pipe,
    /// fork(2) itself.
    Fork,
    /// Reading the child's report.
    Report,
    // In the child, between fork and execve.
    /// Resetting a signal disposition to SIG_DFL.
    Signals,
    /// Clearing the signal mask.
    SignalMask,
    /// Own session and process group.
    Setsid,
    /// stdin from /dev/null.
    Stdin,
    Stdout,
    Stderr,
    Chdir,
    Setrlimit,
    /// Dropping one capability from the bounding set.
    BoundingDrop,
    KeepCaps,
    Setgroups,
    Setresgid,
    Setresuid,
    Capset,
    AmbientRaise,
    NoNewPrivs,
    /// execve(2), or the PATH search for it in the parent.
    Exec,
    /// Putting the `ready "fd:N"` pipe on fd N.
    ReadyFd,
    /// Putting the `listen` sockets on fds 3, 4, ….
    ListenFds,
    /// Making the `console` terminal the controlling terminal (TIOCSCTTY).
    Terminal,
    /// Joining the instance's cgroup (writing to its `cgroup.procs`).
    Cgroup,
}

impl Step {
    /// Every step, for decoding the child's report.
    const ALL: [Step; 27] = [
        Step::Argument,
        Step::Environment,
        Step::Stdio,
        Step::Pipe,
        Step::Fork,
        Step::Report,
        Step::Signals,
        Step::SignalMask,
        Step::Setsid,
        Step::Stdin,
        Step::Stdout,
        Step::Stderr,
        Step::Chdir,
        Step::Setrlimit,
        Step::BoundingDrop,
        Step::KeepCaps,
        Step::Setgroups,
        Step::Setresgid,
        Step::Setresuid,
        Step::Capset,
        Step::AmbientRaise,
        Step::NoNewPrivs,
        Step::Exec,
        Step::ReadyFd,
        Step::ListenFds,
        Step::Terminal,
        Step::Cgroup,
    ];

    /// The step as a user reads it in a message, e.g. `setresuid` or `exec`.
    pub fn name(self) -> &'static str {
        match self {
            Step::Argument => "argument",
            Step::Environment => "env",
            Step::Stdio => "stdio",
            Step::Pipe => "pipe",
            Step::Fork => "fork",
            Step::Report => "child report",
            Step::Signals => "reset signal",
            Step::SignalMask => "sigprocmask",
            Step::Setsid => "setsid",
            Step::Stdin => "stdin",
            Step::Stdout => "stdout",
            Step::Stderr => "stderr",
            Step::Chdir => "chdir",
            Step::Setrlimit => "setrlimit",
            Step::BoundingDrop => "drop from bounding set",
            Step::KeepCaps => "keepcaps",
            Step::Setgroups => "setgroups",
            Step::Setresgid => "setresgid",
            Step::Setresuid => "setresuid",
            Step::Capset => "capset",
            Step::AmbientRaise => "raise ambient",
            Step::NoNewPrivs => "no_new_privs",
            Step::Exec => "exec",
            Step::ReadyFd => "ready fd",
            Step::ListenFds => "listen fds",
            Step::Terminal => "controlling terminal",
            Step::Cgroup => "join cgroup",
        }
    }

    pub(super) fn from_u8(value: u8) -> Option<Step> {
        Step::ALL.into_iter().find(|step| *step as u8 == value)
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A process could not be started: which step failed, on what, and the errno.
///
/// Displays as `exec /nope: No such file or directory`, `chdir /missing: No such file or
/// directory` or `setresuid 1234: Operation not permitted`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", self.action(), self.errno.desc())]
pub struct SpawnError {
    pub step: Step,
    /// What the step acted on (`/srv`, `1234`, `CAP_CHOWN`); empty when there is nothing to add.
    pub subject: String,
    pub errno: Errno,
}

impl SpawnError {
    pub(super) fn new(step: Step, subject: impl Into<String>, errno: Errno) -> SpawnError {
        SpawnError {
            step,
            subject: subject.into(),
            errno,
        }
    }

    /// The step and its subject, e.g. `chdir /srv`.
    pub fn action(&self) -> String {
        if self.subject.is_empty() {
            self.step.name().to_owned()
        } else {
            format!("{} {}", self.step, self.subject)
        }
    }
}

/// The errno of an `io::Error` from std (EIO if it carries none, which std's fs calls never do).
pub(super) fn errno_of(error: &std::io::Error) -> Errno {
    Errno::from_raw(error.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_round_trips_through_its_byte() {
        for step in Step::ALL {
            assert_eq!(Step::from_u8(step as u8), Some(step));
        }
        assert_eq!(Step::from_u8(0), None);
        assert_eq!(Step::from_u8(200), None);
    }

    #[test]
    fn display_names_step_subject_and_errno() {
        let e = SpawnError::new(Step::Exec, "/nope", Errno::ENOENT);
        assert_eq!(e.to_string(), "exec /nope: No such file or directory");
        let e = SpawnError::new(Step::Setsid, "", Errno::EPERM);
        assert_eq!(e.to_string(), "setsid: Operation not permitted");
    }
}
