//! The loop's side of logging: when syslog needs a wakeup, what to do after each turn,
//! reopening files (`tmctl reopen`, SIGUSR1), and the last flush at exit.

use super::Daemon;
use crate::log::Level;
use std::time::Instant;

/// The core's severity is the event log's: the same three steps.
impl From<crate::supervisor::Level> for Level {
    fn from(level: crate::supervisor::Level) -> Level {
        match level {
            crate::supervisor::Level::Info => Level::Info,
            crate::supervisor::Level::Warning => Level::Warning,
            crate::supervisor::Level::Error => Level::Error,
        }
    }
}

impl Daemon {
    /// Runs at the end of every turn, after the ready pipes were read: retries syslog when
    /// its socket has room again (`writable`) or its retry is due, then lets syslog pipes
    /// send the lines they hold.
    pub(super) fn after_turn_logging(&mut self, writable: bool) {
        let due = self.log.next_retry().is_some_and(|at| at <= Instant::now());
        if writable || due {
            self.log.retry_syslog();
        }
        self.outputs.pump_syslog(&mut self.log);
    }

    /// Reopens the event log and every output file the daemon writes itself (rotated
    /// ones). Files a service writes directly are reopened when it is next spawned.
    pub(super) fn reopen_logs(&mut self) -> String {
        self.log.reopen();
        let errors = self.outputs.reopen();
        for error in &errors {
            self.log.write(Level::Warning, &error.to_string());
        }
        let files = self.outputs.rotated_files();
        let text = format!(
            "log files reopened: the event log and {files} rotated output file(s){}",
            match errors.len() {
                0 => String::new(),
                n => format!(", {n} failed"),
            }
        );
        self.log.write(Level::Info, &text);
        text
    }

    /// At exit: the last bytes of every pipe, and one last try at syslog.
    pub(super) fn finish_logging(&mut self) {
        self.outputs.drain_all(&mut self.log);
        self.log.finish_syslog();
    }
}
