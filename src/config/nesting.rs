//! A bound on nesting, checked before the KDL parser sees a file: the parser recurses once
//! per level (children blocks, nested block comments), so 2,000 levels overflow its stack
//! and abort the whole process, which as PID 1 would take the machine down. No service file
//! needs more than a few levels.
//!
//! The scan is cheap (one pass over the bytes) and skips what cannot nest: quoted, raw and
//! multi-line strings, line comments. Block comments nest in KDL, so they count as levels too.

/// Deepest nesting of `{ }` blocks (and of `/* */` comments) a service file may have.
pub(crate) const MAX_NESTING: usize = 32;

/// The byte offset of the first `{` (or `/*`) that goes deeper than `max`, if any.
pub(crate) fn too_deep(text: &str, max: usize) -> Option<usize> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = skip_quoted(b, i),
            b'#' | b'r' if raw_string_start(b, i).is_some() => {
                let (hashes, quote) = raw_string_start(b, i).unwrap_or((0, i));
                i = skip_raw(b, quote, hashes);
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match skip_block_comment(b, i, max) {
                Ok(end) => i = end,
                Err(at) => return Some(at),
            },
            b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            _ => i += 1,
        }
    }
    None
}

/// After the string that starts at `start` (a `"` or `"""`), backslash escapes honoured.
pub(super) fn skip_quoted(b: &[u8], start: usize) -> usize {
    let multi = b[start..].starts_with(b"\"\"\"");
    let mut i = start + if multi { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' if !multi => return i + 1,
            b'"' if b[i..].starts_with(b"\"\"\"") => return i + 3,
            _ => i += 1,
        }
    }
    b.len()
}

/// A raw string `#"…"#` (v2) or `r#"…"#` / `r"…"` (v1) at `i`: (number of hashes, offset
/// of the opening quote).
fn raw_string_start(b: &[u8], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if b[j] == b'r' {
        // Only at the start of a token: `user"` is not a raw string.
        if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'-') {
            return None;
        }
        j += 1;
    }
    let hashes_start = j;
    while b.get(j) == Some(&b'#') {
        j += 1;
    }
    let hashes = j - hashes_start;
    (b.get(j) == Some(&b'"') && (hashes > 0 || b[i] == b'r')).then_some((hashes, j))
}

/// After the raw string whose opening quote is at `quote`.
fn skip_raw(b: &[u8], quote: usize, hashes: usize) -> usize {
    let multi = b[quote..].starts_with(b"\"\"\"");
    let closing_quotes = if multi { 3 } else { 1 };
    let mut i = quote + closing_quotes;
    while i < b.len() {
        if b[i..].starts_with(&b"\"\"\""[..closing_quotes])
            && b[i + closing_quotes..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == b'#')
                .count()
                == hashes
        {
            return i + closing_quotes + hashes;
        }
        i += 1;
    }
    b.len()
}

/// After the (nested) block comment at `start`, or the offset of the `/*` too deep.
fn skip_block_comment(b: &[u8], start: usize, max: usize) -> Result<usize, usize> {
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            if depth > max {
                return Err(i);
            }
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Ok(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!(
            "service \"a\" {{ cmd \"/bin/true\"; {}{} }}",
            "x { ".repeat(levels),
            "} ".repeat(levels)
        )
    }

    #[test]
    fn ordinary_files_are_shallow() {
        let text = "service \"web\" {\n    cmd \"/bin/sleep 1\"\n    env { A \"{{{{{\" }\n}\n";
        assert_eq!(too_deep(text, 2), None);
    }

    #[test]
    fn the_first_brace_past_the_limit_is_reported() {
        let text = nested(MAX_NESTING + 5);
        let at = too_deep(&text, MAX_NESTING).expect("too deep");
        // The service block is level 1, so the limit is passed at the MAX_NESTING-th `x {`.
        let expected = text.match_indices('{').nth(MAX_NESTING).map(|(i, _)| i);
        assert_eq!(Some(at), expected);
        assert_eq!(too_deep(&nested(MAX_NESTING - 1), MAX_NESTING), None);
    }

    #[test]
    fn braces_in_strings_and_comments_do_not_count() {
        let braces = "{".repeat(100);
        for text in [
            format!("a \"{braces}\""),
            format!("a \"\\\"{braces}\""),
            format!("a #\"{braces}\"#"),
            format!("a ##\"\"#{braces}\"##"),
            format!("a \"\"\"\n{braces}\n\"\"\""),
            format!("a #\"\"\"\n\"{braces}\n\"\"\"#"),
            format!("a r\"{braces}\""),
            format!("// {braces}\na"),
            format!("/* {braces} */ a"),
            format!("/* /* {braces} */ */ a"),
        ] {
            assert_eq!(too_deep(&text, 2), None, "{text}");
        }
    }

    #[test]
    fn nested_block_comments_count_as_levels() {
        let text = format!("{}{}", "/*".repeat(3000), "*/".repeat(3000));
        assert_eq!(too_deep(&text, MAX_NESTING), Some(2 * MAX_NESTING));
    }

    #[test]
    fn the_deepest_allowed_file_parses_on_a_small_stack() {
        // The unit-test thread's stack (2 MiB) is smaller than the daemon's main thread's.
        let text = nested(MAX_NESTING - 1);
        assert_eq!(too_deep(&text, MAX_NESTING), None);
        assert!(text.parse::<kdl::KdlDocument>().is_ok());
        let comments = format!("{}{} a", "/*".repeat(MAX_NESTING), "*/".repeat(MAX_NESTING));
        assert!(comments.parse::<kdl::KdlDocument>().is_ok());
    }
}
