//! The kernel log as a fallback for PID 1: while syslog is not there (at boot, before
//! journald or syslogd has started), event lines are also written to `/dev/kmsg`, so they
//! are in `dmesg` and journald imports them once it runs.

use super::rfc3164::priority;
use super::Level;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

pub struct Kmsg {
    file: Option<File>,
}

impl Kmsg {
    pub fn new() -> Kmsg {
        Kmsg { file: None }
    }

    /// Writes one record. Best effort: the kernel rate-limits userspace writers (a burst of
    /// 10 lines per 5 s, unless booted with `printk.devkmsg=on`), and a failure
    /// here must not become another log line.
    pub fn write(&mut self, level: Level, text: &str) {
        if self.file.is_none() {
            // Tried again at every line until it works: PID 1 logs its first lines before
            // it has mounted /dev. Non-blocking: a write to /dev/kmsg never waits, but be
            // explicit for init.
            self.file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open("/dev/kmsg")
                .ok();
        }
        if let Some(file) = &mut self.file {
            // One write(2) is one record.
            let _ = file.write_all(record(level, text).as_bytes());
        }
    }
}

/// `<30>taskmaster: text\n`: the priority (facility daemon), then the tag journald files
/// the line under when it imports the kernel log.
pub fn record(level: Level, text: &str) -> String {
    format!("<{}>taskmaster: {}\n", priority(level), text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_has_priority_and_tag() {
        assert_eq!(
            record(Level::Error, "web FATAL"),
            "<27>taskmaster: web FATAL\n"
        );
    }
}
