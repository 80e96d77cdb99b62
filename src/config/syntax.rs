//! KDL syntax errors, turned into messages a user can act on.
//!
//! kdl's own `Display` only says "Failed to parse KDL document"; the useful text is in each
//! diagnostic. Two mistakes are common enough to deserve their own message: KDL v1 keywords
//! (`autostart true`, v2 wants `#true`) and unquoted paths (`cmd /bin/sleep`, which KDL v2
//! reads as the start of a comment or garbage).

use kdl::{KdlDiagnostic, KdlDocument, KdlError};

use super::nesting::{too_deep, MAX_NESTING};
use super::source::SourceText;
use super::ConfigError;

/// Parse one file as KDL v2, or explain every syntax error in it.
pub(crate) fn parse_document(source: &SourceText<'_>) -> Result<KdlDocument, Vec<ConfigError>> {
    if let Some(offset) = too_deep(source.text(), MAX_NESTING) {
        return Err(vec![source.error(
            offset,
            format!("nested more than {MAX_NESTING} levels deep; refused before parsing"),
        )]);
    }
    source
        .text()
        .parse::<KdlDocument>()
        .map_err(|error| syntax_errors(source, &error))
}

fn syntax_errors(source: &SourceText<'_>, error: &KdlError) -> Vec<ConfigError> {
    let mut hints = Vec::new();
    let mut plain = Vec::new();
    let mut seen = Vec::new();
    for diagnostic in &error.diagnostics {
        let offset = diagnostic.span.offset();
        let text = source
            .text()
            .get(offset..offset + diagnostic.span.len())
            .unwrap_or_default();
        // One KDL mistake often yields several diagnostics at one place; say it once.
        let key = (offset, diagnostic.message.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);

        if let Some(hint) = v1_keyword_hint(source, offset, text) {
            // The v1 hint replaces kdl's "Expected identifier string", which would only confuse.
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        } else {
            if let Some(hint) = unquoted_path_hint(source, offset) {
                if !hints.contains(&hint) {
                    hints.push(hint);
                }
            }
            plain.push(source.error(offset, describe(diagnostic)));
        }
    }
    if hints.is_empty() && plain.is_empty() {
        // kdl always gives at least one diagnostic; never report a failure as nothing.
        plain.push(source.error(0, "not a valid KDL v2 document"));
    }
    hints.extend(plain);
    hints
}

/// "Expected end of document (not EOF)" plus kdl's help, when it has some.
fn describe(diagnostic: &KdlDiagnostic) -> String {
    let mut text = String::from("KDL syntax error: ");
    text.push_str(diagnostic.message.as_deref().unwrap_or("invalid KDL"));
    if let Some(label) = &diagnostic.label {
        text.push_str(&format!(" ({label})"));
    }
    if let Some(help) = &diagnostic.help {
        text.push_str(&format!("; help: {help}"));
    }
    text
}

/// A bare `true`, `false` or `null` where a value belongs is KDL v1: show the v2 spelling.
fn v1_keyword_hint(source: &SourceText<'_>, offset: usize, text: &str) -> Option<ConfigError> {
    if !matches!(text, "true" | "false" | "null") {
        return None;
    }
    let line = source.line_at(offset);
    let column = offset - source.line_start(offset);
    let fixed = format!(
        "{}#{}",
        line.get(..column).unwrap_or_default(),
        line.get(column..).unwrap_or_default()
    );
    Some(source.error(
        offset,
        format!(
            "this looks like KDL v1: a bare `{text}` is not a value in KDL v2, which writes \
             `#{text}`: `{}`",
            fixed.trim()
        ),
    ))
}

/// A diagnostic that starts at `/name` is almost always a path written without quotes.
fn unquoted_path_hint(source: &SourceText<'_>, offset: usize) -> Option<ConfigError> {
    let rest = source.text().get(offset..)?;
    let mut chars = rest.chars();
    if chars.next() != Some('/') {
        return None;
    }
    let next = chars.next()?;
    if !(next.is_alphanumeric() || matches!(next, '.' | '_' | '~')) {
        // `//`, `/*` and `/-` are KDL comments, not paths.
        return None;
    }
    let path: String = rest
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, ';' | '{' | '}'))
        .collect();
    Some(source.error(
        offset,
        format!("paths must be quoted in KDL v2: write \"{path}\", not {path}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn errors(text: &str) -> Vec<String> {
        let source = SourceText::new(Path::new("t.kdl"), text);
        match parse_document(&source) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn v1_keywords_get_their_v2_spelling() {
        let found = errors("service \"web\" {\n    autostart true\n    essential false\n}\n");
        assert_eq!(
            found,
            vec![
                "t.kdl:2:15: this looks like KDL v1: a bare `true` is not a value in KDL v2, \
                 which writes `#true`: `autostart #true`",
                "t.kdl:3:15: this looks like KDL v1: a bare `false` is not a value in KDL v2, \
                 which writes `#false`: `essential #false`",
            ]
        );
    }

    #[test]
    fn unquoted_path_is_explained_first() {
        let found = errors("service \"web\" {\n    cmd /bin/sleep 1\n}\n");
        assert_eq!(
            found[0],
            "t.kdl:2:9: paths must be quoted in KDL v2: write \"/bin/sleep\", not /bin/sleep"
        );
        assert!(found.len() > 1, "kdl's own diagnostics follow: {found:?}");
    }

    #[test]
    fn every_diagnostic_has_position_message_and_help() {
        let found = errors("service \"web\" {\n    cmd \"unterminated\n}\n");
        assert_eq!(
            found[0],
            "t.kdl:2:9: KDL syntax error: Unexpected newline in single-line quoted string \
             (not quoted string); help: You can make a string multi-line by wrapping it in \
             '\"\"\"', with a newline immediately after the opening quotes."
        );
    }

    #[test]
    fn valid_v2_parses() {
        assert!(errors("service \"web\" {\n    autostart #true\n}\n").is_empty());
    }
}
