//! Readers for the readiness fields (SPEC.md, "Readiness"): `ready`, `env-file` and
//! `restart-limit`, and the checks between fields (`watchdog` needs `ready "notify"`).

use std::path::PathBuf;
use std::time::Duration;

use kdl::KdlValue;

use std::collections::BTreeMap;

use super::fields::Field;
use super::source::SourceText;
use super::values;
use super::{ConfigError, EnvFile, ProcessSpec, Readiness, RestartLimit, ServiceType};

/// The highest fd `ready "fd:N"` may name: far above what a service keeps open, and within
/// the default open-files limit, so dup2 onto it cannot fail for the limit.
pub(crate) const MAX_READY_FD: i32 = 1023;

pub(crate) const READY_EXPECTED: &str =
    "expected \"started\", \"notify\" or \"fd:N\" (N from 3 to 1023)";

/// What `ready` should have been.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReadyExpected {
    #[error("{READY_EXPECTED}")]
    Word,
    #[error("{READY_EXPECTED}; fds 0, 1 and 2 are stdin, stdout and stderr")]
    StandardFd,
}

pub(crate) fn ready(word: &str) -> Result<Readiness, ReadyExpected> {
    match word {
        "started" => Ok(Readiness::Started),
        "notify" => Ok(Readiness::Notify),
        _ => {
            let number = word.strip_prefix("fd:").ok_or(ReadyExpected::Word)?;
            match number.parse::<i32>() {
                Ok(fd) if (3..=MAX_READY_FD).contains(&fd) => Ok(Readiness::Fd(fd)),
                Ok(0..=2) => Err(ReadyExpected::StandardFd),
                _ => Err(ReadyExpected::Word),
            }
        }
    }
}

/// `env-file "/etc/default/ssh" "-/etc/default/ssh-extra"`: absolute paths, `-` = optional.
pub(crate) fn env_files(field: &Field<'_>) -> Result<Vec<EnvFile>, ConfigError> {
    const EXPECTED: &str =
        "expected one or more absolute paths such as \"/etc/default/ssh\" (a leading - makes one optional)";
    let entries = field.arguments()?;
    if entries.is_empty() {
        return Err(field.error(format!("{EXPECTED}, got nothing")));
    }
    let mut files = Vec::new();
    for entry in entries {
        let text = field.string_of(entry, EXPECTED)?;
        let (optional, path) = match text.strip_prefix('-') {
            Some(path) => (true, path),
            None => (false, text),
        };
        if !path.starts_with('/') {
            return Err(field.invalid(EXPECTED, entry));
        }
        files.push(EnvFile {
            path: PathBuf::from(path),
            optional,
        });
    }
    Ok(files)
}

/// `restart-limit 5 60`: more than 5 automatic restarts within 60 s is FATAL.
pub(crate) fn restart_limit(field: &Field<'_>) -> Result<RestartLimit, ConfigError> {
    const EXPECTED: &str = "expected `restart-limit N SECONDS` (N ≥ 1 restarts within SECONDS > 0)";
    let entries = field.arguments()?;
    let [count, window] = entries.as_slice() else {
        return Err(field.error(format!("{EXPECTED}, got {} value(s)", entries.len())));
    };
    let count = field.integer_of(count, 1..=1_000_000, EXPECTED)? as u32;
    let window = match window.value() {
        KdlValue::Integer(number) => values::seconds_from_integer(*number),
        KdlValue::Float(number) => values::seconds_from_decimal(*number),
        _ => Err(values::Expected::Seconds),
    }
    .ok()
    .filter(|window| !window.is_zero())
    .ok_or_else(|| field.invalid(EXPECTED, window))?;
    Ok(RestartLimit { count, window })
}

/// `watchdog` and `ready-timeout` are about what a notify service reports.
pub(crate) fn positive_seconds(field: &Field<'_>) -> Result<Duration, ConfigError> {
    let seconds = super::readers::seconds(field)?;
    if seconds.is_zero() {
        return Err(field.error("expected a number of seconds > 0, got 0"));
    }
    Ok(seconds)
}

/// Fields that only mean something together: `watchdog` and `ready-timeout` speak of a
/// service that reports its readiness; a oneshot is done when it exits.
pub(crate) fn check_fields(
    fields: &BTreeMap<&str, Field<'_>>,
    process: &ProcessSpec,
    offset: usize,
    source: &SourceText<'_>,
    name: &str,
) -> Result<(), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let at = |field: &str| fields.get(field).map(|f| f.node.span().offset());
    if let Some(at) = at("watchdog") {
        if process.ready != Readiness::Notify {
            errors.push(source.error(
                at,
                "field `watchdog`: needs `ready \"notify\"` (the service pings WATCHDOG=1 through NOTIFY_SOCKET)",
            ));
        }
    }
    if let Some(at) = at("ready-timeout") {
        if !process.ready.is_reported() {
            errors.push(source.error(
                at,
                "field `ready-timeout`: needs `ready \"notify\"` or `ready \"fd:N\"`",
            ));
        }
    }
    if process.kind == ServiceType::Oneshot && process.ready.is_reported() {
        errors.push(source.error(
            offset,
            format!("service `{name}`: a oneshot is done when it exits; `ready` applies to long-running services only"),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_words() {
        assert_eq!(ready("notify"), Ok(Readiness::Notify));
        assert_eq!(ready("started"), Ok(Readiness::Started));
        assert_eq!(ready("fd:3"), Ok(Readiness::Fd(3)));
        assert!(ready("fd:2")
            .unwrap_err()
            .to_string()
            .contains("stdin, stdout and stderr"));
        assert!(ready("fd:-1").is_err());
        assert!(ready("fd:").is_err());
        assert!(ready("fd:1024").is_err());
        assert!(ready("socket").is_err());
    }
}
