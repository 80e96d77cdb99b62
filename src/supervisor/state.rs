//! The states an instance can be in, as `tmctl status` shows them (SPEC.md, "States").

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// Not running, and nobody asked it to run.
    Stopped,
    /// Asked to run, waiting for dependencies or a scheduled restart time.
    Pending,
    /// Spawned; becomes RUNNING once it has stayed up for `starttime`.
    Starting,
    Running,
    /// Exited before `starttime`; a retry is due.
    Backoff,
    /// Stop signal sent; SIGKILL follows after `stoptime`.
    Stopping,
    /// Left RUNNING (or a oneshot finished) and was not restarted.
    Exited,
    /// Retries used up, or the program could not be executed.
    Fatal,
    /// Stopped by SIGSTOP (from tmctl or anyone else).
    Paused,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Stopped => "STOPPED",
            State::Pending => "PENDING",
            State::Starting => "STARTING",
            State::Running => "RUNNING",
            State::Backoff => "BACKOFF",
            State::Stopping => "STOPPING",
            State::Exited => "EXITED",
            State::Fatal => "FATAL",
            State::Paused => "PAUSED",
        }
    }

    /// Whether a process exists for this state.
    pub fn has_process(self) -> bool {
        matches!(
            self,
            State::Starting | State::Running | State::Stopping | State::Paused
        )
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// How a process ended, as waitpid reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal(sig) => write!(f, "signal {}", crate::signals::name(*sig)),
        }
    }
}
