//! How serious an event the core reports is. The core's own word for it, so that it does
//! not depend on the shell's log: the loop maps it onto the event log's level (and so onto
//! syslog's info / warning / err) when it performs an [`super::Action::Log`].

/// The severity of one [`super::Action::Log`] line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Routine: a start, a stop, a state change that was asked for.
    Info,
    /// Something went wrong that the core handles (a crash it restarts, a refused sender).
    Warning,
    /// Something that needs a person (FATAL, an essential service down).
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
