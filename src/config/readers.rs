//! Readers for the fields whose value is more than one typed argument: a command line,
//! a umask, seconds, a signal, a size, capabilities, a user or group. Each one turns one
//! field node into its value, or an error naming the field and what it got.

use std::path::PathBuf;
use std::time::Duration;

use kdl::KdlValue;

use super::fields::{number_text, Field};
use super::users::Account;
use super::values;
use super::ConfigError;

/// `cmd "/bin/sleep 10"` is split like a shell would (without running one);
/// `cmd "/bin/echo" "a b"` is taken literally, one string per argument.
pub(crate) fn cmd(field: &Field<'_>) -> Result<Vec<String>, ConfigError> {
    const EXPECTED: &str = "expected a command line such as \"/usr/bin/env python3 -m \
                            http.server\", or the program and its arguments as separate strings";
    let entries = field.arguments()?;
    let argv = match entries.as_slice() {
        [] => return Err(field.error(format!("{EXPECTED}, got nothing"))),
        [line] => {
            let text = field.string_of(line, EXPECTED)?;
            shlex::split(text).ok_or_else(|| {
                field.error(format!(
                    "unbalanced quotes or a trailing backslash in {text:?}"
                ))
            })?
        }
        several => several
            .iter()
            .map(|entry| match entry.value() {
                KdlValue::Integer(_) | KdlValue::Float(_) => Ok(number_text(entry)),
                _ => field.string_of(entry, EXPECTED).map(str::to_string),
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    if argv.iter().any(|arg| arg.contains('\0')) {
        return Err(field.error("an argument contains a NUL character"));
    }
    match argv.first() {
        Some(program) if !program.is_empty() => Ok(argv),
        _ => Err(field.error(format!("{EXPECTED}, got an empty command"))),
    }
}

pub(crate) fn umask(field: &Field<'_>) -> Result<u32, ConfigError> {
    let entry = field.single(values::UMASK_EXPECTED)?;
    let parsed = match entry.value() {
        KdlValue::String(text) => values::umask_from_octal(text),
        KdlValue::Integer(number) => {
            let written = entry.format().map(|format| format.value_repr.trim());
            values::umask_from_integer(*number, written)
        }
        _ => Err(values::Expected::Umask),
    };
    parsed.map_err(|expected| field.invalid(&expected, entry))
}

pub(crate) fn absolute_path(field: &Field<'_>) -> Result<PathBuf, ConfigError> {
    const EXPECTED: &str = "expected an absolute path such as \"/srv/web\"";
    let entry = field.single(EXPECTED)?;
    match field.string_of(entry, EXPECTED)? {
        path if path.starts_with('/') => Ok(PathBuf::from(path)),
        _ => Err(field.invalid(EXPECTED, entry)),
    }
}

pub(crate) fn exitcodes(field: &Field<'_>) -> Result<Vec<i32>, ConfigError> {
    const EXPECTED: &str = "expected one or more exit codes from 0 to 255";
    let entries = field.arguments()?;
    if entries.is_empty() {
        return Err(field.error(format!("{EXPECTED}, got nothing")));
    }
    let mut codes = Vec::new();
    for entry in entries {
        let code = field.integer_of(entry, 0..=255, EXPECTED)? as i32;
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}

pub(crate) fn seconds(field: &Field<'_>) -> Result<Duration, ConfigError> {
    let entry = field.single(values::SECONDS_EXPECTED)?;
    let parsed = match entry.value() {
        KdlValue::Integer(number) => values::seconds_from_integer(*number),
        KdlValue::Float(number) => values::seconds_from_decimal(*number),
        _ => Err(values::Expected::Seconds),
    };
    parsed.map_err(|expected| field.invalid(&expected, entry))
}

pub(crate) fn signal(field: &Field<'_>) -> Result<i32, ConfigError> {
    let entry = field.single(values::SIGNAL_EXPECTED)?;
    let parsed = match entry.value() {
        KdlValue::String(name) => values::signal_by_name(name),
        KdlValue::Integer(number) => values::signal_by_number(*number),
        _ => Err(values::Expected::Signal),
    };
    parsed.map_err(|expected| field.invalid(&expected, entry))
}

/// Zero names is allowed and means "no capabilities at all", even for root.
pub(crate) fn capabilities(field: &Field<'_>) -> Result<Vec<caps::Capability>, ConfigError> {
    let mut found = Vec::new();
    for entry in field.arguments()? {
        let capability = match entry.value() {
            KdlValue::String(name) => values::capability(name),
            _ => Err(values::Expected::Capability),
        }
        .map_err(|expected| field.invalid(&expected, entry))?;
        if !found.contains(&capability) {
            found.push(capability);
        }
    }
    Ok(found)
}

pub(crate) fn size(field: &Field<'_>) -> Result<u64, ConfigError> {
    let entry = field.single(values::SIZE_EXPECTED)?;
    let parsed = match entry.value() {
        KdlValue::String(text) => values::size(text),
        KdlValue::Integer(number) => values::size_from_integer(*number),
        _ => Err(values::Expected::Size),
    };
    parsed.map_err(|expected| field.invalid(&expected, entry))
}

pub(crate) fn account(field: &Field<'_>, what: &str) -> Result<Account, ConfigError> {
    let expected = format!("expected a {what} name or a numeric id");
    let entry = field.single(&expected)?;
    match entry.value() {
        KdlValue::String(text) => Ok(Account::from_text(text)),
        KdlValue::Integer(id) => u32::try_from(*id)
            .map(Account::Id)
            .map_err(|_| field.invalid(&expected, entry)),
        _ => Err(field.invalid(&expected, entry)),
    }
}
