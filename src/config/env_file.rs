//! `env-file` contents and `${VAR}` in `cmd`: pure text functions, used by the daemon at
//! each start (the file is read then, since it may change or appear later) and by the fuzz
//! targets.
//!
//! The format is the one Debian's `/etc/default/*` files and systemd's `EnvironmentFile=`
//! use: `KEY=VALUE` lines, `#` or `;` comment lines, blank lines, an optional `export `
//! before the key, and values optionally in single quotes (literal) or double quotes
//! (where `\"`, `\\`, `\$` and `\n` are escapes). Nothing is expanded inside a value.

use super::values::is_env_name;

/// The largest env file read (bytes): a file of variables, not a data set.
pub const MAX_ENV_FILE_BYTES: u64 = 64 * 1024;

/// A line of an env file that is not `KEY=VALUE`, a comment or blank.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EnvFileError {
    /// 1-based.
    pub line: usize,
    pub message: String,
}

/// Every assignment of an env file, in file order (a later one of the same key wins when
/// they are applied in order).
pub fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, EnvFileError> {
    let mut vars = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let error = |message: String| EnvFileError {
            line: index + 1,
            message,
        };
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err(error(format!("expected KEY=VALUE, got {:?}", clip(line))));
        };
        let key = key.trim_end();
        if !is_env_name(key) {
            return Err(error(format!(
                "{:?} is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)",
                clip(key)
            )));
        }
        let value = unquote(value.trim()).map_err(|m| error(format!("{key}: {m}")))?;
        if value.contains('\0') {
            return Err(error(format!("{key}: the value holds a NUL byte")));
        }
        vars.push((key.to_string(), value));
    }
    Ok(vars)
}

fn unquote(value: &str) -> Result<String, String> {
    let Some(quote) = value.chars().next().filter(|c| *c == '"' || *c == '\'') else {
        return Ok(value.to_string());
    };
    let body = &value[1..];
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c == quote {
            let rest = chars.as_str().trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!("text after the closing quote: {:?}", clip(rest)));
            }
            return Ok(out);
        }
        if c == '\\' && quote == '"' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(escaped @ ('"' | '\\' | '$' | '`')) => out.push(escaped),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => break,
            }
            continue;
        }
        out.push(c);
    }
    Err(format!("unterminated {quote} quote"))
}

/// The first 40 characters, for messages about a line that may be long.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

/// `${VAR}` replaced by `lookup(VAR)` (an unset variable is the empty string), `$$` by `$`.
/// Any other `$` stays as written: `cmd` holds shell-like text, and `$1` or a lone `$` in an
/// argument for `sh -c` must reach the shell untouched.
pub fn expand_vars<'a>(text: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some((name, tail)) = after
            .strip_prefix('{')
            .and_then(|inner| inner.split_once('}'))
            .filter(|(name, _)| is_env_name(name))
        {
            out.push_str(lookup(name).unwrap_or(""));
            rest = tail;
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn debian_default_files_parse() {
        let text = "# Default settings for openssh-server.\n\n# Options to pass to sshd\nSSHD_OPTS=\n\
                    export LANG=C.UTF-8\n; old style comment\nA = \"two words \\\"quoted\\\"\"\nB='$literal \\n'\n";
        assert_eq!(
            parse_env_file(text).unwrap(),
            pairs(&[
                ("SSHD_OPTS", ""),
                ("LANG", "C.UTF-8"),
                ("A", "two words \"quoted\""),
                ("B", "$literal \\n"),
            ])
        );
    }

    #[test]
    fn a_malformed_line_names_its_number() {
        let err = parse_env_file("A=1\n\njust words\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(
            err.to_string(),
            "line 3: expected KEY=VALUE, got \"just words\""
        );
        let err = parse_env_file("1X=2").unwrap_err();
        assert!(err.message.contains("not a valid variable name"), "{err}");
        let err = parse_env_file("A=\"open").unwrap_err();
        assert_eq!(err.to_string(), "line 1: A: unterminated \" quote");
        let err = parse_env_file("A=\"x\" y").unwrap_err();
        assert!(err.message.contains("after the closing quote"), "{err}");
    }

    #[test]
    fn expansion_of_braced_names_and_double_dollars() {
        let lookup = |name: &str| match name {
            "TASKMASTER_INSTANCE" => Some("3"),
            "OPTS" => Some("-D -p 22"),
            _ => None,
        };
        assert_eq!(expand_vars("--id ${TASKMASTER_INSTANCE}", lookup), "--id 3");
        assert_eq!(expand_vars("${UNSET}x", lookup), "x");
        assert_eq!(
            expand_vars("$$HOME $1 $ ${OPTS}", lookup),
            "$HOME $1 $ -D -p 22"
        );
        assert_eq!(expand_vars("${not closed", lookup), "${not closed");
        assert_eq!(expand_vars("${bad-name}", lookup), "${bad-name}");
    }
}
