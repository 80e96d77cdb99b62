//! One service file's text and name, turning KDL's byte offsets into `file:line:col`.

use std::borrow::Cow;
use std::path::Path;

use super::{ConfigError, Origin};

/// The text of one file with the byte offset of each line start, so that every error can
/// name a line and column the way an editor shows them (1-based, columns in characters).
///
/// A [`SourceText::part`] of a file (a part parsed alone, see `split.rs`) takes offsets
/// relative to where the part starts; [`SourceText::text`] is always the whole file.
/// A part borrows the file's name and line starts: a large file is cut in many parts (9,000
/// line starts, 72 KB, for 1,000 services), and a copy for each one was heap churn in the
/// parse threads' arenas.
pub(crate) struct SourceText<'a> {
    file: Cow<'a, Path>,
    text: &'a str,
    line_starts: Cow<'a, [usize]>,
    /// Where in `text` the offsets given to this view start.
    base: usize,
}

impl<'a> SourceText<'a> {
    pub(crate) fn new(file: &Path, text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        SourceText {
            file: Cow::Owned(file.to_path_buf()),
            text,
            line_starts: Cow::Owned(line_starts),
            base: 0,
        }
    }

    /// The same file, for offsets counted from `start` (the spans of a part parsed alone).
    pub(crate) fn part(&self, start: usize) -> SourceText<'_> {
        SourceText {
            file: Cow::Borrowed(&self.file),
            text: self.text,
            line_starts: Cow::Borrowed(&self.line_starts),
            base: self.base + start,
        }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// The position of a byte offset (as in kdl's spans).
    pub(crate) fn origin(&self, offset: usize) -> Origin {
        let offset = (self.base + offset).min(self.text.len());
        let line_index = self.line_index(offset);
        let line_start = self.line_starts[line_index];
        let column = match self.text.get(line_start..offset) {
            Some(before) => before.chars().count() + 1,
            // Not on a character boundary (kdl never does this): fall back to bytes.
            None => offset - line_start + 1,
        };
        Origin {
            file: self.file.to_path_buf(),
            line: line_index + 1,
            column,
        }
    }

    /// Index (0-based) of the line holding `offset` of the whole text.
    fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        // The first entry is 0, so at least one line start is ≤ offset.
        self.line_starts.partition_point(|&start| start <= offset) - 1
    }

    /// Byte offset where the line holding `offset` begins.
    pub(crate) fn line_start(&self, offset: usize) -> usize {
        self.line_starts[self.line_index(self.base + offset)].saturating_sub(self.base)
    }

    /// The whole line holding `offset`, without its line break.
    pub(crate) fn line_at(&self, offset: usize) -> &'a str {
        let line_index = self.line_index(self.base + offset);
        let start = self.line_starts[line_index];
        let end = self
            .line_starts
            .get(line_index + 1)
            .map_or(self.text.len(), |next| next - 1);
        self.text
            .get(start..end)
            .unwrap_or_default()
            .trim_end_matches('\r')
    }

    pub(crate) fn error(&self, offset: usize, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: self.origin(offset).to_string(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let source = SourceText::new(Path::new("a.kdl"), "ab\n  é x\r\nlast");
        assert_eq!(source.origin(0).to_string(), "a.kdl:1:1");
        assert_eq!(source.origin(1).to_string(), "a.kdl:1:2");
        assert_eq!(source.origin(3).to_string(), "a.kdl:2:1");
        // `é` is two bytes but one column.
        assert_eq!(source.origin(8).to_string(), "a.kdl:2:5");
        assert_eq!(source.origin(11).to_string(), "a.kdl:3:1");
        assert_eq!(source.origin(999).to_string(), "a.kdl:3:5");
        assert_eq!(source.line_at(5), "  é x");
        assert_eq!(source.line_at(12), "last");
    }

    #[test]
    fn a_part_counts_from_its_start() {
        let source = SourceText::new(Path::new("a.kdl"), "ab\n  é x\r\nlast");
        let part = source.part(3);
        assert_eq!(part.origin(0).to_string(), "a.kdl:2:1");
        assert_eq!(part.origin(5).to_string(), "a.kdl:2:5");
        assert_eq!(part.origin(8).to_string(), "a.kdl:3:1");
        assert_eq!(part.line_at(2), "  é x");
        assert_eq!(part.line_start(2), 0);
    }
}
