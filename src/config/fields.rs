//! Reading typed values off one field node (`numprocs 2`), with errors that name the
//! field, its position and the value that was wrong.

use std::ops::RangeInclusive;

use kdl::{KdlEntry, KdlNode, KdlValue};

use super::source::SourceText;
use super::values;
use super::ConfigError;

/// One field of a service (`numprocs 2`), and the file it came from for error positions.
pub(crate) struct Field<'a> {
    pub(crate) node: &'a KdlNode,
    source: &'a SourceText<'a>,
}

impl<'a> Field<'a> {
    pub(crate) fn new(node: &'a KdlNode, source: &'a SourceText<'a>) -> Self {
        Field { node, source }
    }

    pub(crate) fn name(&self) -> &'a str {
        self.node.name().value()
    }

    /// Errors point at the field's name: the start of its line, where a reader looks first.
    pub(crate) fn error(&self, message: impl std::fmt::Display) -> ConfigError {
        self.source.error(
            self.node.span().offset(),
            format!("field `{}`: {message}", self.name()),
        )
    }

    /// "field `numprocs`: expected an integer ≥ 1, got "two"".
    pub(crate) fn invalid(
        &self,
        expected: impl std::fmt::Display,
        entry: &KdlEntry,
    ) -> ConfigError {
        self.error(format!("{expected}, got {}", describe(entry)))
    }

    /// The field's arguments. Properties and a child block are refused: no plain field
    /// takes them, and silently ignoring `numprocs count=2` would hide a mistake.
    pub(crate) fn arguments(&self) -> Result<Vec<&'a KdlEntry>, ConfigError> {
        if self.node.children().is_some() {
            return Err(self.error("takes no child block"));
        }
        if let Some(property) = self.node.entries().iter().find(|e| e.name().is_some()) {
            return Err(self.error(format!(
                "takes no properties, got `{}`",
                property.to_string().trim()
            )));
        }
        Ok(self.node.entries().iter().collect())
    }

    /// Exactly one argument.
    pub(crate) fn single(&self, expected: &str) -> Result<&'a KdlEntry, ConfigError> {
        match self.arguments()?.as_slice() {
            [entry] => Ok(entry),
            [] => Err(self.error(format!("{expected}, got nothing"))),
            several => Err(self.error(format!("{expected}, got {} values", several.len()))),
        }
    }

    /// A string argument, without NUL characters (they cannot reach exec or open).
    pub(crate) fn string_of(
        &self,
        entry: &'a KdlEntry,
        expected: &str,
    ) -> Result<&'a str, ConfigError> {
        match entry.value() {
            KdlValue::String(text) if text.contains('\0') => {
                Err(self.error(format!("{expected}, got a string with a NUL character")))
            }
            KdlValue::String(text) => Ok(text),
            _ => Err(self.invalid(expected, entry)),
        }
    }

    /// One string, turned into a value by `parse`; `expected` is what `parse` accepts.
    pub(crate) fn word<T, E: std::fmt::Display>(
        &self,
        expected: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, ConfigError> {
        let entry = self.single(expected)?;
        match entry.value() {
            KdlValue::String(text) => parse(text).map_err(|expected| self.invalid(expected, entry)),
            _ => Err(self.invalid(expected, entry)),
        }
    }

    pub(crate) fn bool(&self) -> Result<bool, ConfigError> {
        const EXPECTED: &str = "expected #true or #false";
        let entry = self.single(EXPECTED)?;
        entry
            .value()
            .as_bool()
            .ok_or_else(|| self.invalid(EXPECTED, entry))
    }

    /// One integer within `range`; `expected` describes the range for the message.
    pub(crate) fn integer(
        &self,
        range: RangeInclusive<i128>,
        expected: &str,
    ) -> Result<i128, ConfigError> {
        let entry = self.single(expected)?;
        self.integer_of(entry, range, expected)
    }

    pub(crate) fn integer_of(
        &self,
        entry: &KdlEntry,
        range: RangeInclusive<i128>,
        expected: &str,
    ) -> Result<i128, ConfigError> {
        entry
            .value()
            .as_integer()
            .filter(|number| range.contains(number))
            .ok_or_else(|| self.invalid(expected, entry))
    }

    /// One or more service names (`requires "db" "cache"`), duplicates dropped.
    pub(crate) fn service_names(&self) -> Result<Vec<String>, ConfigError> {
        const EXPECTED: &str = "expected one or more service names";
        let entries = self.arguments()?;
        if entries.is_empty() {
            return Err(self.error(format!("{EXPECTED}, got nothing")));
        }
        let mut names = Vec::new();
        for entry in entries {
            match entry.value() {
                KdlValue::String(name) if values::is_service_name(name) => {
                    if !names.contains(name) {
                        names.push(name.clone());
                    }
                }
                _ => return Err(self.invalid(format!("{EXPECTED} ([A-Za-z0-9_.-]+)"), entry)),
            }
        }
        Ok(names)
    }
}

/// A value as the user wrote it: strings quoted, numbers in their own notation
/// (`0o022`, `1.50`), keywords with their `#`.
pub(crate) fn describe(entry: &KdlEntry) -> String {
    match entry.value() {
        KdlValue::String(text) => format!("{text:?}"),
        KdlValue::Integer(_) | KdlValue::Float(_) => number_text(entry),
        KdlValue::Bool(true) => "#true".into(),
        KdlValue::Bool(false) => "#false".into(),
        KdlValue::Null => "#null".into(),
    }
}

/// A number's text as written (`8080`, `0x1F`, `1.50`), for `env` and literal argv where the
/// user means the characters, not the value.
pub(crate) fn number_text(entry: &KdlEntry) -> String {
    match entry.format() {
        Some(format) if !format.value_repr.trim().is_empty() => {
            format.value_repr.trim().to_string()
        }
        _ => match entry.value() {
            KdlValue::Integer(number) => number.to_string(),
            KdlValue::Float(number) => number.to_string(),
            other => other.to_string(),
        },
    }
}
