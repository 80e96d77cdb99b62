//! systemd's unit file syntax: `[Section]`, `Key=Value`, `#`/`;` comments, a trailing `\`
//! continues the line. Each directive keeps its line for warnings.

use std::path::{Path, PathBuf};

use super::ImportError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub file: PathBuf,
    pub line: usize,
    pub section: String,
    pub key: String,
    pub value: String,
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Directive>, ImportError> {
    let mut directives = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let Some(name) = name.strip_suffix(']') else {
                return Err(syntax(path, line_no, "a section header must end with `]`"));
            };
            section = name.to_string();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(syntax(
                path,
                line_no,
                &format!("expected `Key=Value`, got {line:?}"),
            ));
        };
        if section.is_empty() {
            return Err(syntax(path, line_no, "a directive before any [Section]"));
        }
        let mut value = value.trim().to_string();
        // Continuation lines: comment lines in between are skipped, as systemd does.
        while value.ends_with('\\') {
            value.pop();
            let Some((_, next)) = lines.next() else { break };
            let next = next.trim();
            if next.starts_with('#') || next.starts_with(';') {
                value.push('\\');
                continue;
            }
            value.truncate(value.trim_end().len());
            value.push(' ');
            value.push_str(next);
        }
        directives.push(Directive {
            file: path.to_path_buf(),
            line: line_no,
            section: section.clone(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
        });
    }
    Ok(directives)
}

fn syntax(path: &Path, line: usize, message: &str) -> ImportError {
    ImportError::Syntax {
        path: path.to_path_buf(),
        line,
        message: message.to_string(),
    }
}

/// Splits a value into words the way systemd does for lists and command lines: whitespace
/// separates, double or single quotes group, backslash escapes.
pub fn words(value: &str) -> Vec<String> {
    shlex::split(value).unwrap_or_else(|| value.split_whitespace().map(String::from).collect())
}

/// Whether a boolean value is true (`yes`, `true`, `on`, `1`).
pub fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "yes" | "true" | "on" | "1" | "y" | "t"
    )
}

/// A systemd time span (`90`, `90s`, `5min`, `1min 30s`, `500ms`) in seconds;
/// `None` for `infinity` or what cannot be read.
pub fn seconds(value: &str) -> Option<f64> {
    let value = value.trim();
    if value.starts_with(|c: char| c.is_ascii_digit()) {
        if let Ok(plain) = value.parse::<f64>() {
            return Some(plain).filter(|secs| secs.is_finite());
        }
    }
    let mut total = 0.0;
    let mut rest = value;
    while !rest.is_empty() {
        rest = rest.trim_start();
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "" | "s" | "sec" | "second" | "seconds" => 1.0,
            "ms" | "msec" => 0.001,
            "us" | "usec" => 0.000_001,
            "m" | "min" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            "d" | "day" | "days" => 86400.0,
            _ => return None,
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Some(total)
}
