//! The text of one event line in the log file.

use super::Level;
use std::borrow::Cow;
use std::time::SystemTime;

/// `2026-11-22T01:02:03.456Z warning web:0 (pid 12) exited ...\n`
pub fn format_line(at: SystemTime, level: Level, text: &str) -> String {
    // One event is one line, whatever a service name or an error message contains.
    let text = one_line(text);
    format!(
        "{} {} {}\n",
        humantime::format_rfc3339_millis(at),
        level.word(),
        text
    )
}

/// Newlines inside an event would split it into several lines (or syslog messages).
/// Borrows when there are none (always, for service lines): a byte scan is much cheaper
/// than a copy at syslog rates.
pub fn one_line(text: &str) -> Cow<'_, str> {
    if text.bytes().any(|b| b == b'\n' || b == b'\r') {
        Cow::Owned(text.replace(['\n', '\r'], " "))
    } else {
        Cow::Borrowed(text)
    }
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
