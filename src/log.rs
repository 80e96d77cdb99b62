//! The event log: one line per event, RFC 3339 timestamp first. Every sink (the log file,
//! syslog, the console as PID 1) receives the same text through [`EventLog::write`].

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    /// Also copy every line to stderr (foreground use, and the console as PID 1).
    echo: bool,
}

impl EventLog {
    /// Opens (creating its directory) the log file for appending. A failure is reported
    /// once on stderr and the daemon goes on without the file (PID 1 must not die of it).
    pub fn open(path: &Path, echo: bool) -> EventLog {
        let mut log = EventLog {
            path: path.to_path_buf(),
            file: None,
            echo,
        };
        log.reopen();
        log
    }

    /// Reopens the file (after logrotate moved it away).
    pub fn reopen(&mut self) {
        self.file = match open_append(&self.path) {
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

    pub fn write(&mut self, level: Level, text: &str) {
        let line = format_line(SystemTime::now(), level, text);
        if let Some(file) = &mut self.file {
            // A full disk must not stop the supervisor; the line is lost, nothing else.
            let _ = file.write_all(line.as_bytes());
        }
        if self.echo {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
}

/// `2026-11-22T01:02:03.456Z warning web:0 (pid 12) exited ...\n`
pub fn format_line(at: SystemTime, level: Level, text: &str) -> String {
    // One event is one line, whatever a service name or an error message contains.
    let text = text.replace(['\n', '\r'], " ");
    format!(
        "{} {} {}\n",
        humantime::format_rfc3339_millis(at),
        level.word(),
        text
    )
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn line_is_rfc3339_and_single() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        let line = format_line(at, Level::Warning, "web exited\nbadly");
        assert_eq!(line, "2023-11-14T22:13:20.123Z warning web exited badly\n");
    }
}
