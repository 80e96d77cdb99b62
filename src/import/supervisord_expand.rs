//! supervisord's `%(name)s` expansions: `program_name`, `process_num` (also `%(process_num)02d`),
//! `group_name`, `host_node_name`, `numprocs`, `here`, `ENV_X`, and `%%`.

use std::collections::BTreeMap;

/// What `%(process_num)…` becomes.
pub enum ProcessNum {
    /// In `command`: taskmaster's per-instance variable, expanded at each start.
    Instance,
    /// Elsewhere: one value for every instance.
    Fixed(u32),
}

pub struct Expander<'a> {
    pub names: BTreeMap<&'static str, String>,
    pub here: String,
    pub process_num: ProcessNum,
    /// Makes `$` literal first when the text becomes a `cmd` (`${VAR}` is special there).
    pub escape_dollars: bool,
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The expanded text and what could not be expanded faithfully.
pub fn expand(text: &str, with: &Expander<'_>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        push_literal(&mut out, &rest[..at], with.escape_dollars);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("%%") {
            out.push('%');
            rest = after;
            continue;
        }
        let Some((name, spec, after)) = reference(tail) else {
            out.push('%');
            rest = &tail[1..];
            continue;
        };
        rest = after;
        if name == "process_num" {
            match with.process_num {
                ProcessNum::Instance => {
                    if spec != "s" && spec != "d" {
                        problems.push(format!(
                            "%(process_num){spec}: the format is lost, instances are numbered 0, 1, …"
                        ));
                    }
                    out.push_str("${TASKMASTER_INSTANCE}");
                }
                ProcessNum::Fixed(n) => out.push_str(&format_number(n, spec)),
            }
            continue;
        }
        let value = if let Some(var) = name.strip_prefix("ENV_") {
            (with.env)(var).or_else(|| {
                problems.push(format!(
                    "%({name})s: {var} is not set here, expanded to nothing"
                ));
                Some(String::new())
            })
        } else if name == "here" {
            Some(with.here.clone())
        } else {
            with.names.get(name).cloned()
        };
        match value {
            Some(value) => match value.parse::<u32>() {
                Ok(number) if spec != "s" => out.push_str(&format_number(number, spec)),
                _ => push_literal(&mut out, &value, with.escape_dollars),
            },
            None => {
                problems.push(format!("%({name}){spec}: unknown name, left as written"));
                out.push_str(&format!("%({name}){spec}"));
            }
        }
    }
    push_literal(&mut out, rest, with.escape_dollars);
    (out, problems)
}

fn push_literal(out: &mut String, text: &str, escape: bool) {
    if escape {
        out.push_str(&super::escape_dollars(text));
    } else {
        out.push_str(text);
    }
}

/// `%(name)02d…` → (`name`, `02d`, the rest).
fn reference(text: &str) -> Option<(&str, &str, &str)> {
    let inner = text.strip_prefix("%(")?;
    let close = inner.find(')')?;
    let name = &inner[..close];
    let after = &inner[close + 1..];
    let spec_len = after.find(|c: char| c.is_ascii_alphabetic())? + 1;
    Some((name, &after[..spec_len], &after[spec_len..]))
}

/// Python's `%02d`, `%d`, `%s` for a number.
fn format_number(number: u32, spec: &str) -> String {
    let width: usize = spec
        .trim_end_matches(|c: char| c.is_ascii_alphabetic())
        .trim_start_matches('0')
        .parse()
        .unwrap_or(0);
    if spec.starts_with('0') {
        format!("{number:0width$}")
    } else {
        format!("{number:width$}")
    }
}
