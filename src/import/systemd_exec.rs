//! systemd command lines (`ExecStart=-@/usr/sbin/foo foo -d $OPTS`) and `%` specifiers,
//! turned into taskmaster's `cmd` conventions (`${VAR}`, `$$`).

use super::unit_file::words;

/// One `Exec*=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLine {
    /// `-`: a failure is ignored.
    pub ignore_failure: bool,
    /// `+`, `!`, `!!`: runs with full privileges whatever `User=` says.
    pub privileged: bool,
    /// `@`: the second word was argv[0]; it has been dropped.
    pub argv0_dropped: Option<String>,
    /// argv in taskmaster's `cmd` form (`${VAR}` expanded at start, `$$` literal).
    pub argv: Vec<String>,
}

/// An `Exec*=` line that holds no command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("empty command")]
pub struct EmptyCommand;

pub fn parse_exec(value: &str) -> Result<ExecLine, EmptyCommand> {
    let value = value.trim();
    let prefix_len = value
        .find(|c: char| !matches!(c, '-' | '@' | ':' | '+' | '!' | '|'))
        .unwrap_or(value.len());
    let (prefix, command) = value.split_at(prefix_len);
    let mut words = words(command);
    if words.is_empty() {
        return Err(EmptyCommand);
    }
    let expand = !prefix.contains(':');
    let argv0_dropped = if prefix.contains('@') && words.len() >= 2 {
        Some(words.remove(1))
    } else {
        None
    };
    let argv = words
        .iter()
        .map(|word| {
            if expand {
                systemd_vars(word)
            } else {
                super::escape_dollars(word)
            }
        })
        .collect();
    Ok(ExecLine {
        ignore_failure: prefix.contains('-'),
        privileged: prefix.contains('+') || prefix.contains('!'),
        argv0_dropped,
        argv,
    })
}

/// systemd's `$VAR` (a whole word, split on whitespace) and `${VAR}` become `${VAR}`, which
/// taskmaster splits the same way when it is a whole argument; any other `$` is literal.
fn systemd_vars(word: &str) -> String {
    if let Some(name) = word.strip_prefix('$') {
        if is_var_name(name) {
            return format!("${{{name}}}");
        }
    }
    let mut out = String::with_capacity(word.len());
    let mut rest = word;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let braced = tail
            .strip_prefix("${")
            .and_then(|t| t.find('}').map(|end| &t[..end]))
            .filter(|name| is_var_name(name));
        match braced {
            Some(name) => {
                out.push_str(&format!("${{{name}}}"));
                rest = &tail[name.len() + 3..];
            }
            None => {
                out.push_str("$$");
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a unit's `%` specifiers stand for.
pub struct Specifiers {
    /// `ssh.service`, `getty@tty1.service`.
    pub unit: String,
    /// The part before `@` (or before the suffix).
    pub prefix: String,
    /// After `@`, empty for a plain unit.
    pub instance: String,
    /// `User=`, for `%u`.
    pub user: Option<String>,
}

/// Replaces `%n %N %p %i %I %t %S %C %L %E %u %%`; returns the specifiers it could not
/// replace (left as written).
pub fn expand_specifiers(value: &str, spec: &Specifiers) -> (String, Vec<char>) {
    let mut out = String::with_capacity(value.len());
    let mut unknown = Vec::new();
    let mut chars = value.chars();
    let stem = spec
        .unit
        .rsplit_once('.')
        .map_or(spec.unit.as_str(), |(stem, _)| stem);
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(code) = chars.next() else {
            out.push('%');
            break;
        };
        let replaced = match code {
            '%' => "%".to_string(),
            'n' => spec.unit.clone(),
            'N' => stem.to_string(),
            'p' | 'P' => spec.prefix.clone(),
            'i' | 'I' => spec.instance.clone(),
            't' => "/run".into(),
            'S' => "/var/lib".into(),
            'C' => "/var/cache".into(),
            'L' => "/var/log".into(),
            'E' => "/etc".into(),
            'T' => "/tmp".into(),
            'V' => "/var/tmp".into(),
            'u' if spec.user.is_some() => spec.user.clone().unwrap_or_default(),
            _ => {
                unknown.push(code);
                format!("%{code}")
            }
        };
        out.push_str(&replaced);
    }
    (out, unknown)
}
