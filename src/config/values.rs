//! Text → typed value for the fields whose values are little languages of their own:
//! signals, sizes, durations, umasks, outputs, capabilities, resource limits, names.
//!
//! Each parser is pure and returns, on failure, what was expected ("expected a size such as
//! \"50MB\""); the caller adds the field name and the value it got.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::{LimitKind, Output, RestartPolicy, ServiceType};

/// What a value should have been, when it was not: the message says it ("expected a size
/// such as …"); the field's reader adds the field and the value it got.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Expected {
    #[error("{TYPE_EXPECTED}")]
    ServiceType,
    #[error("{RESTART_EXPECTED}")]
    RestartPolicy,
    #[error("{SIGNAL_EXPECTED}")]
    Signal,
    #[error("{SIGNAL_EXPECTED} (a valid signal number)")]
    SignalNumber,
    #[error("{SIZE_EXPECTED}")]
    Size,
    #[error("{SIZE_EXPECTED} (this one is too large)")]
    SizeTooLarge,
    #[error("{SECONDS_EXPECTED}")]
    Seconds,
    #[error("{UMASK_EXPECTED}")]
    Umask,
    /// `umask 22`: decimal in KDL, most likely meant as octal.
    #[error("{UMASK_EXPECTED}; a bare integer is decimal in KDL, write \"{0}\" or 0o{0} if you mean octal")]
    UmaskInDecimal(String),
    #[error("{OUTPUT_EXPECTED}")]
    Output,
    #[error("{CAPABILITY_EXPECTED}")]
    Capability,
    #[error("{LIMIT_EXPECTED}")]
    Limit,
}

/// Longest accepted `starttime`/`stoptime`. Far beyond any sane wait, and small enough that
/// `Instant + duration` can never overflow in the supervisor.
pub(crate) const MAX_SECONDS: u64 = 86_400;

/// Most instances one service may ask for: a typo like `numprocs 1000000` must not fork-bomb.
pub(crate) const MAX_NUMPROCS: u32 = 10_000;

/// `setrlimit`'s "no limit", spelled `"unlimited"` in service files.
pub(crate) const UNLIMITED: u64 = libc::RLIM_INFINITY;

pub(crate) const TYPE_EXPECTED: &str = r#"expected "simple" or "oneshot""#;

pub(crate) fn service_type(word: &str) -> Result<ServiceType, Expected> {
    match word {
        "simple" => Ok(ServiceType::Simple),
        "oneshot" => Ok(ServiceType::Oneshot),
        _ => Err(Expected::ServiceType),
    }
}

pub(crate) const RESTART_EXPECTED: &str = r#"expected one of "always", "never", "unexpected""#;

pub(crate) fn restart_policy(word: &str) -> Result<RestartPolicy, Expected> {
    match word {
        "always" => Ok(RestartPolicy::Always),
        "never" => Ok(RestartPolicy::Never),
        "unexpected" => Ok(RestartPolicy::Unexpected),
        _ => Err(Expected::RestartPolicy),
    }
}

pub(crate) const SIGNAL_EXPECTED: &str =
    r#"expected a signal name such as "TERM" or "SIGTERM", or a number"#;

/// `"TERM"`, `"SIGTERM"` or `"term"` → the signal's number on this platform.
pub(crate) fn signal_by_name(name: &str) -> Result<i32, Expected> {
    crate::signals::parse(name).ok_or(Expected::Signal)
}

pub(crate) fn signal_by_number(number: i128) -> Result<i32, Expected> {
    i32::try_from(number)
        .ok()
        .and_then(|number| crate::signals::parse(&number.to_string()))
        .ok_or(Expected::SignalNumber)
}

pub(crate) const SIZE_EXPECTED: &str =
    r#"expected a size such as "50MB", "10KB", "1GB", "512B" or a number of bytes"#;

/// `"50MB"`, `"10KB"`, `"1GB"`, `"512B"`, `"4096"`: bytes, with binary units as supervisord
/// uses them (1KB = 1024 bytes). Also accepts `K`/`KiB`, any case.
pub(crate) fn size(text: &str) -> Result<u64, Expected> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    let number: u64 = digits.parse().map_err(|_| Expected::Size)?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(Expected::Size),
    };
    number.checked_mul(multiplier).ok_or(Expected::SizeTooLarge)
}

pub(crate) fn size_from_integer(bytes: i128) -> Result<u64, Expected> {
    u64::try_from(bytes).map_err(|_| Expected::Size)
}

pub(crate) const SECONDS_EXPECTED: &str =
    "expected seconds (an integer or decimal number from 0 to 86400)";

pub(crate) fn seconds_from_integer(number: i128) -> Result<Duration, Expected> {
    u64::try_from(number)
        .ok()
        .filter(|seconds| *seconds <= MAX_SECONDS)
        .map(Duration::from_secs)
        .ok_or(Expected::Seconds)
}

pub(crate) fn seconds_from_decimal(number: f64) -> Result<Duration, Expected> {
    // `contains` is false for NaN, so NaN and the infinities are refused too.
    if (0.0..=MAX_SECONDS as f64).contains(&number) {
        Duration::try_from_secs_f64(number).map_err(|_| Expected::Seconds)
    } else {
        Err(Expected::Seconds)
    }
}

pub(crate) const UMASK_EXPECTED: &str =
    r#"expected an octal umask from "000" to "777", such as "022" (or 0o022)"#;

/// `"022"` (octal digits, as `umask` and supervisord write it).
pub(crate) fn umask_from_octal(text: &str) -> Result<u32, Expected> {
    let valid =
        !text.is_empty() && text.len() <= 4 && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    let value = if valid {
        u32::from_str_radix(text, 8).ok()
    } else {
        None
    };
    value.filter(|mask| *mask <= 0o777).ok_or(Expected::Umask)
}

/// A KDL integer umask. Only `0o…` (or plain `0`) is accepted: `umask 022` in KDL is the
/// decimal number 22 (octal 026), a silent surprise we would rather refuse.
pub(crate) fn umask_from_integer(value: i128, written: Option<&str>) -> Result<u32, Expected> {
    let written_in_decimal = value > 0 && written.is_some_and(|repr| !repr.starts_with("0o"));
    if written_in_decimal {
        return Err(Expected::UmaskInDecimal(
            written.unwrap_or_default().to_string(),
        ));
    }
    u32::try_from(value)
        .ok()
        .filter(|mask| *mask <= 0o777)
        .ok_or(Expected::Umask)
}

pub(crate) const OUTPUT_EXPECTED: &str =
    r#"expected an absolute path, "discard", "syslog" or "inherit""#;

/// `"discard"`, `"syslog"`, `"inherit"`, or an absolute path to append to.
pub(crate) fn output(text: &str) -> Result<Output, Expected> {
    match text {
        "discard" => Ok(Output::Discard),
        "syslog" => Ok(Output::Syslog),
        "inherit" => Ok(Output::Inherit),
        "stdout" => Ok(Output::Stdout),
        path if path.starts_with('/') => Ok(Output::File(PathBuf::from(path))),
        _ => Err(Expected::Output),
    }
}

pub(crate) const CAPABILITY_EXPECTED: &str =
    r#"expected a capability name such as "CAP_NET_BIND_SERVICE" or "net_bind_service""#;

/// `"CAP_NET_BIND_SERVICE"`, `"net_bind_service"` or `"NET_BIND_SERVICE"`.
pub(crate) fn capability(name: &str) -> Result<caps::Capability, Expected> {
    caps::Capability::from_str(&caps::to_canonical(name)).map_err(|_| Expected::Capability)
}

/// One `limits` value: a count, or `"unlimited"`.
pub(crate) fn limit_from_integer(value: i128) -> Result<u64, Expected> {
    u64::try_from(value).map_err(|_| Expected::Limit)
}

pub(crate) fn limit_from_word(word: &str) -> Result<u64, Expected> {
    match word {
        "unlimited" | "infinity" => Ok(UNLIMITED),
        _ => Err(Expected::Limit),
    }
}

pub(crate) const LIMIT_EXPECTED: &str = r#"expected an integer ≥ 0 or "unlimited""#;

impl LimitKind {
    /// Every limit, in the order the names are listed in messages.
    pub const ALL: [LimitKind; 10] = [
        LimitKind::Nofile,
        LimitKind::Nproc,
        LimitKind::Core,
        LimitKind::Cpu,
        LimitKind::Fsize,
        LimitKind::Data,
        LimitKind::Stack,
        LimitKind::As,
        LimitKind::Memlock,
        LimitKind::Rss,
    ];

    /// The name used in service files (`nofile`), which is `RLIMIT_` + it in C.
    pub fn name(self) -> &'static str {
        match self {
            LimitKind::Nofile => "nofile",
            LimitKind::Nproc => "nproc",
            LimitKind::Core => "core",
            LimitKind::Cpu => "cpu",
            LimitKind::Fsize => "fsize",
            LimitKind::Data => "data",
            LimitKind::Stack => "stack",
            LimitKind::As => "as",
            LimitKind::Memlock => "memlock",
            LimitKind::Rss => "rss",
        }
    }

    pub fn from_name(name: &str) -> Option<LimitKind> {
        LimitKind::ALL.into_iter().find(|kind| kind.name() == name)
    }
}

/// Service names become instance names (`web:0`), syslog tags and CLI arguments, so they
/// stay within `[A-Za-z0-9_.-]+`.
pub(crate) fn is_service_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// POSIX shell variable names: `[A-Za-z_][A-Za-z0-9_]*`.
pub(crate) fn is_env_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(signal_by_name("TERM"), Ok(15));
        assert_eq!(signal_by_name("SIGTERM"), Ok(15));
        assert_eq!(signal_by_name("hup"), Ok(1));
        assert_eq!(signal_by_name("USR1"), Ok(libc::SIGUSR1));
        assert!(signal_by_name("BOGUS").is_err());
        assert!(signal_by_name("").is_err());
        assert_eq!(signal_by_number(9), Ok(9));
        assert!(signal_by_number(0).is_err());
        assert!(signal_by_number(99).is_err());
        assert!(signal_by_number(1 << 40).is_err());
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(size("512B"), Ok(512));
        assert_eq!(size("10KB"), Ok(10 * 1024));
        assert_eq!(size("50MB"), Ok(50 * 1024 * 1024));
        assert_eq!(size("1GB"), Ok(1 << 30));
        assert_eq!(size("2 mib"), Ok(2 << 20));
        assert_eq!(size("4096"), Ok(4096));
        assert_eq!(size("0"), Ok(0));
        for bad in [
            "",
            "MB",
            "1.5MB",
            "10TB",
            "-1",
            "99999999999999999999GB",
            "ten",
        ] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn seconds_are_bounded() {
        assert_eq!(seconds_from_integer(10), Ok(Duration::from_secs(10)));
        assert_eq!(seconds_from_decimal(1.5), Ok(Duration::from_millis(1500)));
        assert_eq!(seconds_from_decimal(0.0), Ok(Duration::ZERO));
        assert!(seconds_from_integer(-1).is_err());
        assert!(seconds_from_integer(86_401).is_err());
        assert!(seconds_from_decimal(-0.5).is_err());
        assert!(seconds_from_decimal(f64::NAN).is_err());
        assert!(seconds_from_decimal(f64::INFINITY).is_err());
    }

    #[test]
    fn umasks() {
        assert_eq!(umask_from_octal("022"), Ok(0o022));
        assert_eq!(umask_from_octal("0077"), Ok(0o077));
        assert_eq!(umask_from_octal("777"), Ok(0o777));
        for bad in ["999", "", "1000", "0o22", "abc", "07777"] {
            assert!(umask_from_octal(bad).is_err(), "{bad}");
        }
        assert_eq!(umask_from_integer(0o022, Some("0o022")), Ok(0o022));
        assert_eq!(umask_from_integer(0, Some("0")), Ok(0));
        assert!(umask_from_integer(22, Some("022")).is_err());
        assert!(umask_from_integer(0o1777, Some("0o1777")).is_err());
    }

    #[test]
    fn outputs() {
        assert_eq!(output("discard"), Ok(Output::Discard));
        assert_eq!(output("syslog"), Ok(Output::Syslog));
        assert_eq!(output("inherit"), Ok(Output::Inherit));
        assert_eq!(
            output("/var/log/web.log"),
            Ok(Output::File("/var/log/web.log".into()))
        );
        assert!(output("web.log").is_err());
        assert!(output("").is_err());
    }

    #[test]
    fn capabilities_in_both_spellings() {
        let expected = Ok(caps::Capability::CAP_NET_BIND_SERVICE);
        assert_eq!(capability("CAP_NET_BIND_SERVICE"), expected);
        assert_eq!(capability("net_bind_service"), expected);
        assert!(capability("CAP_BOGUS").is_err());
    }

    #[test]
    fn limit_names_round_trip() {
        for kind in LimitKind::ALL {
            assert_eq!(LimitKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(LimitKind::from_name("files"), None);
        assert_eq!(limit_from_word("unlimited"), Ok(u64::MAX));
        assert!(limit_from_integer(-1).is_err());
    }

    #[test]
    fn names() {
        assert!(is_service_name("web-1.api_v2"));
        assert!(!is_service_name(""));
        assert!(!is_service_name("web:0"));
        assert!(!is_service_name("a b"));
        assert!(is_env_name("_PATH2"));
        assert!(!is_env_name("2PATH"));
        assert!(!is_env_name("A-B"));
        assert!(!is_env_name(""));
    }
}
