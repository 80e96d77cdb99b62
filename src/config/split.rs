//! Where a large service file can be cut into parts that parse alone, which a few threads
//! then take in turn (`workers.rs`).
//!
//! The KDL parser costs about 0.5 µs per byte (about 90 ms for one file of 1,000 services on
//! the 2-core machine of bench/PROFILES.md), and at boot nothing can start before the
//! config is known, while the other CPUs wait.
//!
//! A cut must fall where the whole file's parse has a node boundary, so that the parts parse
//! to exactly the nodes the whole would. It is only looked for in files written in the plain
//! subset of KDL whose structure one pass over the bytes sees for sure: quoted strings (with
//! escapes), `//` comments, identifiers, values and `{ }` blocks, with `\n` or `\r\n` line
//! ends. A block comment, a slashdash, a raw or multi-line string, a line continuation or
//! another newline character anywhere before a cut leaves the file whole. A cut is the start
//! of a line that follows a line ending (spaces aside) with the `}` that closes a top-level
//! node's block, when the new line starts with a node name (a letter or a quote): the line
//! end after that `}` ends the node.
//!
//! The caller parses the whole file instead when any part fails to parse, so that the
//! errors are the whole file's.

use super::nesting::skip_quoted;

/// Files smaller than this are parsed whole: a thread would cost more than it saves.
pub(crate) const MIN_SPLIT_BYTES: usize = 16 * 1024;

/// Newlines of KDL other than `\n` and `\r\n`: a `//` comment ends at any of them, which
/// this scan does not follow, so a file with one is never cut.
const OTHER_NEWLINES: [char; 5] = ['\u{0B}', '\u{0C}', '\u{85}', '\u{2028}', '\u{2029}'];

/// Where each of at most `parts` parts of `text` starts (the first at 0), about equal in
/// size; `None` when the file stays whole.
pub(crate) fn part_starts(text: &str, parts: usize) -> Option<Vec<usize>> {
    if parts < 2 || text.len() < MIN_SPLIT_BYTES || text.contains(OTHER_NEWLINES) {
        return None;
    }
    let b = text.as_bytes();
    let mut starts = vec![0];
    let mut target = text.len() / parts;
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() && starts.len() < parts {
        match b[i] {
            b'"' => {
                // `"""` multi-line, `r"` a v1 raw string (no escapes in it).
                if b[i..].starts_with(b"\"\"\"") || (i > 0 && b[i - 1] == b'r') {
                    break;
                }
                i = skip_quoted(b, i);
            }
            b'/' => match b.get(i + 1) {
                Some(b'/') => {
                    while i < b.len() && b[i] != b'\n' {
                        if b[i] == b'\r' && b.get(i + 1) != Some(&b'\n') {
                            return finish(starts);
                        }
                        i += 1;
                    }
                }
                Some(b'*' | b'-') => break,
                _ => i += 1,
            },
            b'#' if matches!(b.get(i + 1), Some(b'"' | b'#')) => break,
            b'\\' => break,
            b'\r' if b.get(i + 1) != Some(&b'\n') => break,
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' => {
                // A stray `}`: the whole file's parse says where.
                let Some(outer) = depth.checked_sub(1) else {
                    break;
                };
                depth = outer;
                i += 1;
                if depth == 0 && i >= target {
                    if let Some(start) = next_node_line(b, i) {
                        starts.push(start);
                        target = text.len() * starts.len() / parts;
                        i = start;
                    }
                }
            }
            _ => i += 1,
        }
    }
    finish(starts)
}

fn finish(starts: Vec<usize>) -> Option<Vec<usize>> {
    (starts.len() > 1).then_some(starts)
}

/// After a top-level `}` at `after`: the start of the next line when only spaces and the
/// line end come first and that line starts with a node name.
fn next_node_line(b: &[u8], after: usize) -> Option<usize> {
    let mut i = after;
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    if b.get(i) == Some(&b'\r') {
        i += 1;
    }
    if b.get(i) != Some(&b'\n') {
        return None;
    }
    let start = i + 1;
    b.get(start)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'"')
        .then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(count: usize) -> String {
        (0..count)
            .map(|i| {
                format!(
                    "service \"s{i}\" {{\n    cmd \"/bin/sleep\" \"1\" // {{ \"\n    env {{ A \"}}\\\"}}\" }}\n}}\n"
                )
            })
            .collect()
    }

    #[test]
    fn a_large_plain_file_is_cut_at_node_starts_in_about_equal_parts() {
        let text = services(400);
        let starts = part_starts(&text, 3).expect("cut");
        assert_eq!(starts.len(), 3);
        assert_eq!(starts[0], 0);
        for &start in &starts[1..] {
            assert!(text[start..].starts_with("service \"s"), "{start}");
        }
        let third = text.len() / 3;
        assert!(starts[1] >= third && starts[1] < third + 200);
        // The parts parse to the whole file's nodes.
        let whole: kdl::KdlDocument = text.parse().expect("whole");
        let mut names = Vec::new();
        let ends = starts.iter().skip(1).copied().chain([text.len()]);
        for (start, end) in starts.iter().copied().zip(ends) {
            let part: kdl::KdlDocument = text[start..end].parse().expect("part");
            names.extend(
                part.nodes()
                    .iter()
                    .map(|n| n.entries()[0].value().to_string()),
            );
        }
        let expected: Vec<_> = whole
            .nodes()
            .iter()
            .map(|n| n.entries()[0].value().to_string())
            .collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn small_files_and_single_parts_stay_whole() {
        assert_eq!(part_starts(&services(3), 2), None);
        assert_eq!(part_starts(&services(400), 1), None);
    }

    #[test]
    fn syntax_the_scan_cannot_follow_leaves_the_file_whole() {
        let plain = services(400);
        for odd in [
            "/* } */",
            "/-",
            "a #\"}\"#",
            "a \"\"\"\n}\n\"\"\"",
            "a \\\n b",
            "a r\"\\\"",
            "// \u{2028}",
            "// x\r}",
        ] {
            let text = format!("{odd}\n{plain}");
            assert_eq!(part_starts(&text, 2), None, "{odd:?}");
        }
    }

    #[test]
    fn a_cut_needs_a_line_end_and_a_node_name_after_the_block() {
        let one_line: String = (0..2000)
            .map(|i| format!("service \"s{i}\" {{ }} "))
            .collect();
        assert_eq!(part_starts(&one_line, 2), None);
        let commented: String = (0..2000)
            .map(|i| format!("service \"s{i}\" {{ }}\n// next\n"))
            .collect();
        assert_eq!(part_starts(&commented, 2), None);
    }
}
