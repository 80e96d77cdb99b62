//! `taskmasterd import`: supervisord and systemd configurations → service files.
//!
//! One file per source format (`systemd`, `supervisord`) turns the source into
//! [`ServiceDraft`]s; `draft` renders them as KDL; `cli` writes them and validates the result
//! with the same loader as `--check`. Nothing is dropped silently: every key that has no
//! equivalent becomes a [`Warning`] and a comment above the service.

pub mod cli;
mod draft;
mod glob;
mod ini;
mod supervisord;
mod supervisord_expand;
mod supervisord_program;
mod systemd;
mod systemd_exec;
mod systemd_keys;
mod unit_file;

#[cfg(test)]
mod tests;

pub use draft::ServiceDraft;
pub use supervisord::import_supervisord;
pub use systemd::import_systemd;

use std::path::PathBuf;

/// A key that was not translated, or translated only in part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    /// 1-based; 0 when the warning is about the whole file.
    pub line: usize,
    /// The key as written (`Restart`, `stdout_events_enabled`) or the section.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}: {}", self.file.display(), self.key, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file.display(),
                self.line,
                self.key,
                self.message
            )
        }
    }
}

/// What an import produced.
#[derive(Debug, Default)]
pub struct Imported {
    pub services: Vec<ServiceDraft>,
    pub warnings: Vec<Warning>,
    /// Keys translated (counted for the summary line).
    pub translated: usize,
}

/// A source file that could not be read or parsed at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Reads a source file, bounded: configurations are small, a huge file is a mistake.
pub(crate) fn read_source(path: &std::path::Path) -> Result<String, ImportError> {
    use std::io::Read;
    const MAX_SOURCE_BYTES: u64 = 1 << 20;
    let read_error = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut text = String::new();
    file.take(MAX_SOURCE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    if text.len() as u64 > MAX_SOURCE_BYTES {
        return Err(ImportError::Invalid {
            path: path.to_path_buf(),
            message: format!("larger than {MAX_SOURCE_BYTES} bytes"),
        });
    }
    Ok(text)
}

/// A name usable as a service name (`[A-Za-z0-9_.-]+`): other characters become `-`.
pub(crate) fn service_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "unnamed".into()
    } else {
        name
    }
}

/// `$` is special in `cmd` (`${VAR}`); a source that meant a literal `$` gets `$$`.
pub(crate) fn escape_dollars(text: &str) -> String {
    text.replace('$', "$$")
}

/// Quotes a word for `/bin/sh -c` (used when several commands become one pre-start).
pub(crate) fn sh_quote(word: &str) -> String {
    shlex::try_quote(word)
        .map(|quoted| quoted.into_owned())
        .unwrap_or_else(|_| format!("'{}'", word.replace('\0', "")))
}
