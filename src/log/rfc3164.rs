//! One syslog message as a datagram: `<PRI>Mmm dd hh:mm:ss TAG[PID]: TEXT` (RFC 3164, as
//! `/dev/log` readers expect), formatted by the `syslog` crate.
//!
//! Only the crate's formatter is used: its sender connects once and never reconnects
//! (rust-syslog#21), which a supervisor that may start before its logger cannot live with,
//! so sending is ours (see `sender.rs`).

use super::Level;
use syslog::{Facility, Formatter3164, LogFormat, Severity};

/// Who a message is from: the tag journald files it under (`journalctl -t TAG`) and a pid.
#[derive(Debug, Clone)]
pub struct Tag {
    formatter: Formatter3164,
}

impl Tag {
    pub fn new(name: &str, pid: u32) -> Tag {
        Tag {
            formatter: Formatter3164 {
                facility: Facility::LOG_DAEMON,
                // With a hostname, journald would take the hostname for the identifier and
                // `journalctl -t taskmaster` would find nothing.
                hostname: None,
                process: name.to_string(),
                pid,
            },
        }
    }

    /// The name messages are tagged with.
    pub fn name(&self) -> &str {
        &self.formatter.process
    }

    pub fn pid(&self) -> u32 {
        self.formatter.pid
    }

    /// The datagram for one message. `text` must be one line (the caller makes sure).
    /// Bytes, not text: a service's output goes out as it wrote it, with no UTF-8 check
    /// or copy (syslog readers take bytes; journald keeps non-UTF-8 as binary).
    pub fn datagram(&self, level: Level, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(48 + self.formatter.process.len() + text.len());
        // The crate formats the header; the message is appended as it is. Writing into a
        // Vec cannot fail, and the crate's own unwraps are on constant formats.
        let _ = self.formatter.format(&mut out, severity(level), "");
        out.extend_from_slice(text);
        out
    }
}

pub fn severity(level: Level) -> Severity {
    match level {
        Level::Info => Severity::LOG_INFO,
        Level::Warning => Severity::LOG_WARNING,
        Level::Error => Severity::LOG_ERR,
    }
}

/// The numeric priority (facility daemon), as `/dev/kmsg` wants it in `<N>`.
pub fn priority(level: Level) -> u8 {
    Facility::LOG_DAEMON as u8 | severity(level) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_and_pid_come_first_with_no_hostname() {
        let text = Tag::new("web:0", 42).datagram(Level::Warning, b"disk full");
        let text = String::from_utf8(text).expect("utf-8");
        // <28> = daemon (3 << 3) | warning (4); then "Mmm dd hh:mm:ss ".
        assert!(text.starts_with("<28>"), "{text}");
        assert!(text.ends_with(" web:0[42]: disk full"), "{text}");
        assert_eq!(
            text.split(' ').filter(|w| !w.is_empty()).count(),
            6,
            "{text}"
        );
    }

    #[test]
    fn priorities() {
        assert_eq!(priority(Level::Info), 30);
        assert_eq!(priority(Level::Warning), 28);
        assert_eq!(priority(Level::Error), 27);
    }
}
