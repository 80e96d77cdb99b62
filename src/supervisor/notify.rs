//! The sd_notify protocol's messages (what a `Type=notify` daemon sends to `NOTIFY_SOCKET`)
//! and the facts the loop gathers about their sender: pure data, parsed without the OS.
//!
//! A message is newline-separated `KEY=VALUE` assignments; unknown keys are ignored, as
//! systemd does (daemons send `ERRNO=`, `BUSERROR=`, `FDSTORE=`… that we have no use for).

use std::time::Duration;

/// The largest datagram read; systemd's own limit is a page or so. Longer ones are cut.
pub const MAX_NOTIFY_BYTES: usize = 4096;
/// `STATUS=` text longer than this is cut (it is shown in `tmctl status`).
pub const MAX_STATUS_CHARS: usize = 200;

/// What one datagram says, keeping only what taskmaster acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyMessage {
    pub ready: bool,
    pub stopping: bool,
    pub reloading: bool,
    pub watchdog: bool,
    /// `WATCHDOG=trigger`: the service asks to be treated as hung now.
    pub watchdog_trigger: bool,
    pub status: Option<String>,
    pub main_pid: Option<i32>,
    pub extend_timeout: Option<Duration>,
}

impl NotifyMessage {
    pub fn parse(bytes: &[u8]) -> NotifyMessage {
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_NOTIFY_BYTES)]);
        let mut message = NotifyMessage::default();
        for line in text.split('\n') {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "READY" => message.ready |= value == "1",
                "STOPPING" => message.stopping |= value == "1",
                "RELOADING" => message.reloading |= value == "1",
                "WATCHDOG" if value == "1" => message.watchdog = true,
                "WATCHDOG" if value == "trigger" => message.watchdog_trigger = true,
                "STATUS" => {
                    let clean: String = value
                        .chars()
                        .filter(|c| !c.is_control())
                        .take(MAX_STATUS_CHARS)
                        .collect();
                    message.status = Some(clean);
                }
                "MAINPID" => {
                    message.main_pid = value.parse::<i32>().ok().filter(|pid| *pid > 1);
                }
                "EXTEND_TIMEOUT_USEC" => {
                    message.extend_timeout = value.parse::<u64>().ok().map(|usec| {
                        // A day at most, like every other timeout in a service file.
                        Duration::from_micros(usec).min(Duration::from_secs(86_400))
                    });
                }
                _ => {}
            }
        }
        message
    }

    /// Whether it asks for anything at all.
    pub fn is_empty(&self) -> bool {
        *self == NotifyMessage::default()
    }
}

/// A process as the loop saw it in `/proc` (credentials from SCM_CREDENTIALS, the rest from
/// `/proc/PID/stat`): enough for the core to decide which instance, if any, it belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcessFacts {
    pub pid: i32,
    /// From the kernel's credentials (SCM_CREDENTIALS), not from anything the sender wrote.
    pub uid: u32,
    /// Process group and session; `None` when the process was already gone.
    pub pgid: Option<i32>,
    pub sid: Option<i32>,
    /// Parent, grandparent… (bounded), nearest first; stops at pid 1 or an unreadable entry.
    pub ancestors: Vec<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_taskmaster_acts_on() {
        let m = NotifyMessage::parse(
            b"READY=1\nSTATUS=Processing requests...\nMAINPID=4242\nEXTEND_TIMEOUT_USEC=5000000\nERRNO=0\n",
        );
        assert!(m.ready && !m.stopping && !m.watchdog);
        assert_eq!(m.status.as_deref(), Some("Processing requests..."));
        assert_eq!(m.main_pid, Some(4242));
        assert_eq!(m.extend_timeout, Some(Duration::from_secs(5)));
        let m = NotifyMessage::parse(b"WATCHDOG=1");
        assert!(m.watchdog && !m.ready);
        assert!(NotifyMessage::parse(b"WATCHDOG=trigger").watchdog_trigger);
        assert!(NotifyMessage::parse(b"READY=0\nMAINPID=1\nMAINPID=x").is_empty());
        assert!(NotifyMessage::parse(b"\xff\xfe garbage").is_empty());
        let long = format!("STATUS={}\x07", "a".repeat(1000));
        let status = NotifyMessage::parse(long.as_bytes()).status.unwrap();
        assert_eq!(status.len(), MAX_STATUS_CHARS);
    }
}
