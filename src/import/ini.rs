//! The INI dialect supervisord reads (Python's RawConfigParser as supervisor sets it up):
//! `[section]`, `key = value` or `key: value`, `;`/`#` comment lines, inline comments after
//! whitespace, indented lines continue the value. Keys keep their line for warnings.
//!
//! Hand-written rather than an ini crate: none of them reports line numbers, and every
//! warning must name one.

use std::path::{Path, PathBuf};

use super::ImportError;

#[derive(Debug, Clone)]
pub struct Section {
    pub file: PathBuf,
    pub line: usize,
    pub name: String,
    pub keys: Vec<Key>,
}

#[derive(Debug, Clone)]
pub struct Key {
    pub line: usize,
    /// Lower-cased, as ConfigParser does.
    pub name: String,
    pub value: String,
}

impl Section {
    pub fn get(&self, name: &str) -> Option<&Key> {
        self.keys.iter().rfind(|key| key.name == name)
    }
}

pub fn parse(path: &Path, text: &str) -> Result<Vec<Section>, ImportError> {
    let mut sections: Vec<Section> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let continues = raw.starts_with([' ', '\t']);
        if continues {
            if let Some(key) = sections.last_mut().and_then(|s| s.keys.last_mut()) {
                let more = strip_inline_comment(trimmed);
                if !more.is_empty() {
                    key.value.push('\n');
                    key.value.push_str(more);
                }
                continue;
            }
        }
        let content = strip_inline_comment(trimmed);
        if let Some(header) = content.strip_prefix('[') {
            let Some(name) = header.strip_suffix(']') else {
                return Err(syntax(path, line, "a section header must end with `]`"));
            };
            sections.push(Section {
                file: path.to_path_buf(),
                line,
                name: name.trim().to_string(),
                keys: Vec::new(),
            });
            continue;
        }
        let Some(at) = content.find(['=', ':']) else {
            return Err(syntax(
                path,
                line,
                &format!("expected `key = value`, got {content:?}"),
            ));
        };
        let Some(section) = sections.last_mut() else {
            return Err(syntax(path, line, "a key before any [section]"));
        };
        section.keys.push(Key {
            line,
            name: content[..at].trim().to_ascii_lowercase(),
            value: content[at + 1..].trim().to_string(),
        });
    }
    Ok(sections)
}

/// `value ; comment` → `value`; a `;` or `#` counts only after whitespace.
fn strip_inline_comment(text: &str) -> &str {
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if (b == b';' || b == b'#') && i > 0 && bytes[i - 1].is_ascii_whitespace() {
            return text[..i].trim_end();
        }
    }
    text
}

fn syntax(path: &Path, line: usize, message: &str) -> ImportError {
    ImportError::Syntax {
        path: path.to_path_buf(),
        line,
        message: message.to_string(),
    }
}
