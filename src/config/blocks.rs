//! The two fields that hold a child block of their own: `env { KEY "value" }` and
//! `limits { nofile 1024 }`. Each line of the block is checked on its own, so one load
//! reports every bad line at once.

use std::collections::BTreeMap;

use kdl::{KdlEntry, KdlValue};

use super::fields::{describe, number_text, Field};
use super::source::SourceText;
use super::suggest::did_you_mean;
use super::values;
use super::{ConfigError, Limit, LimitKind};

/// `env { KEY "value" }` and/or `env KEY="value"`; numbers are kept as written (`PORT 8080`).
pub(crate) fn env(
    field: &Field<'_>,
    source: &SourceText<'_>,
) -> Result<BTreeMap<String, String>, Vec<ConfigError>> {
    let mut errors = Vec::new();
    // (name, value, where to point an error at): from properties first, then block lines.
    let mut assignments: Vec<(&str, &KdlEntry, usize)> = Vec::new();
    for entry in field.node.entries() {
        match entry.name() {
            Some(key) => assignments.push((key.value(), entry, field.node.span().offset())),
            None => errors.push(field.error(format!(
                "expected KEY=\"value\" properties or a block of `KEY \"value\"` lines, got {}",
                describe(entry)
            ))),
        }
    }
    for node in field.node.iter_children() {
        let key = node.name().value();
        match node.entries() {
            [entry] if entry.name().is_none() && node.children().is_none() => {
                assignments.push((key, entry, node.span().offset()))
            }
            _ => errors.push(source.error(
                node.span().offset(),
                format!("field `env`: expected `{key} \"value\"`, one value per line"),
            )),
        }
    }

    let mut vars = BTreeMap::new();
    for (key, entry, offset) in assignments {
        let error = |message: String| source.error(offset, format!("field `env`: {message}"));
        if !values::is_env_name(key) {
            errors.push(error(format!(
                "`{key}` is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)"
            )));
            continue;
        }
        let value = match entry.value() {
            // A NUL cannot be passed to exec.
            KdlValue::String(text) if !text.contains('\0') => text.clone(),
            KdlValue::Integer(_) | KdlValue::Float(_) => number_text(entry),
            _ => {
                errors.push(error(format!(
                    "`{key}`: expected a string or a number, got {}",
                    describe(entry)
                )));
                continue;
            }
        };
        if vars.insert(key.to_string(), value).is_some() {
            errors.push(error(format!("`{key}` is given twice")));
        }
    }
    if errors.is_empty() {
        Ok(vars)
    } else {
        Err(errors)
    }
}

/// `limits { nofile 1024; nproc 512 1024; core "unlimited" }`: one value sets soft = hard.
pub(crate) fn limits(
    field: &Field<'_>,
    source: &SourceText<'_>,
) -> Result<Vec<Limit>, Vec<ConfigError>> {
    let Some(block) = field.node.children() else {
        return Err(vec![
            field.error("expected a block such as `limits { nofile 1024 }`")
        ]);
    };
    if let Some(entry) = field.node.entries().first() {
        return Err(vec![field.error(format!(
            "takes only a block such as `limits {{ nofile 1024 }}`, got {}",
            describe(entry)
        ))]);
    }
    let mut limits: Vec<Limit> = Vec::new();
    // Every name seen, valid or not, so that a repeated one is reported even when the
    // first had a bad value.
    let mut seen: Vec<LimitKind> = Vec::new();
    let mut errors = Vec::new();
    for node in block.nodes() {
        let name = node.name().value();
        let error = |message: String| {
            source.error(node.span().offset(), format!("field `limits`: {message}"))
        };
        let Some(resource) = LimitKind::from_name(name) else {
            let known = LimitKind::ALL.map(LimitKind::name);
            errors.push(error(format!(
                "unknown limit `{name}` (known: {}){}",
                known.join(" "),
                did_you_mean(name, known)
            )));
            continue;
        };
        if seen.contains(&resource) {
            errors.push(error(format!("`{name}` is given twice")));
            continue;
        }
        seen.push(resource);
        match limit_values(name, node.entries(), node.children().is_some()) {
            Ok((soft, hard)) => limits.push(Limit {
                resource,
                soft,
                hard,
            }),
            Err(message) => errors.push(error(message)),
        }
    }
    if errors.is_empty() {
        Ok(limits)
    } else {
        Err(errors)
    }
}

/// `nofile 1024` → (1024, 1024); `nproc 512 1024` → (512, 1024).
fn limit_values(name: &str, entries: &[KdlEntry], has_block: bool) -> Result<(u64, u64), String> {
    let one = |entry: &KdlEntry| -> Result<u64, String> {
        let parsed = match entry.value() {
            KdlValue::Integer(number) => values::limit_from_integer(*number),
            KdlValue::String(word) => values::limit_from_word(word),
            _ => Err(values::Expected::Limit),
        };
        parsed.map_err(|expected| format!("`{name}`: {expected}, got {}", describe(entry)))
    };
    if has_block || entries.iter().any(|entry| entry.name().is_some()) {
        return Err(format!("`{name}` takes one or two values (soft, hard)"));
    }
    match entries {
        [both] => one(both).map(|value| (value, value)),
        [soft, hard] => {
            let (soft_value, hard_value) = (one(soft)?, one(hard)?);
            if soft_value > hard_value {
                Err(format!(
                    "`{name}`: the soft limit {} is above the hard limit {}",
                    describe(soft),
                    describe(hard)
                ))
            } else {
                Ok((soft_value, hard_value))
            }
        }
        _ => Err(format!(
            "`{name}` takes one or two values (soft, hard), got {}",
            entries.len()
        )),
    }
}
