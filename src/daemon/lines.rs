//! Splitting a service's output into syslog messages: one per line. A partial line waits
//! for its newline, but never grows past [`MAX_LINE`] (then it goes out as it is); at EOF
//! the rest goes out as a last line.
//!
//! Lines are taken one at a time, so that the caller can stop when syslog is behind and
//! leave the rest here (and in the pipe) rather than drop it.

/// The longest message sent for one line; a longer line is cut into pieces of this size.
pub const MAX_LINE: usize = 8 * 1024;

#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    /// Bytes before this were already taken.
    start: usize,
    /// Bytes from `start` known to hold no newline (so a long partial line is not scanned
    /// again at every push).
    scanned: usize,
    /// The writer closed the pipe: the rest is a line even without a newline.
    ended: bool,
}

impl Lines {
    pub fn push(&mut self, data: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
        self.scan();
    }

    /// No more data will come: what is left becomes the last line.
    pub fn end(&mut self) {
        self.ended = true;
    }

    /// Whether [`Lines::next_line`] has something now (so reading more can wait).
    pub fn has_line(&self) -> bool {
        self.split().is_some()
    }

    /// Advances `scanned` to the next newline (or the end, or just past the cap).
    fn scan(&mut self) {
        let rest = &self.buf[self.start..];
        let window = &rest[..rest.len().min(MAX_LINE + 1)];
        if self.scanned < window.len() {
            self.scanned = match memchr::memchr(b'\n', &window[self.scanned..]) {
                Some(at) => self.scanned + at,
                None => window.len(),
            };
        }
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    /// The next line, without its `\n` (or `\r\n`).
    pub fn next_line(&mut self) -> Option<&[u8]> {
        let (len, skip) = self.split()?;
        let begin = self.start;
        self.start += len + skip;
        self.scanned = 0;
        self.scan();
        let mut line = &self.buf[begin..begin + len];
        if skip == 1 {
            line = line.strip_suffix(b"\r").unwrap_or(line);
        }
        Some(line)
    }

    /// (length of the next line, 1 if a newline follows it else 0).
    fn split(&self) -> Option<(usize, usize)> {
        let rest = &self.buf[self.start..];
        // A newline past the cap does not count: that line is cut first.
        let newline =
            self.scanned <= MAX_LINE && rest.get(self.scanned).is_some_and(|&b| b == b'\n');
        match newline.then_some(self.scanned) {
            Some(at) => Some((at, 1)),
            // One byte more than the cap and still no newline: cut.
            None if rest.len() > MAX_LINE => Some((MAX_LINE, 0)),
            _ if self.ended && !rest.is_empty() => Some((rest.len(), 0)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(lines: &mut Lines) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(line) = lines.next_line() {
            out.push(String::from_utf8_lossy(line).into_owned());
        }
        out
    }

    #[test]
    fn whole_lines_out_partial_held_until_newline_or_end() {
        let mut lines = Lines::default();
        lines.push(b"one\ntwo\r\nthr");
        assert_eq!(all(&mut lines), ["one", "two"]);
        assert!(!lines.has_line());
        lines.push(b"ee\n\nfour");
        assert_eq!(all(&mut lines), ["three", ""]);
        lines.end();
        assert_eq!(all(&mut lines), ["four"]);
        assert!(lines.is_empty());
    }

    #[test]
    fn a_long_line_is_cut_at_the_cap() {
        let mut lines = Lines::default();
        lines.push(&vec![b'x'; MAX_LINE * 2 + 10]);
        let got = all(&mut lines);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|l| l.len() == MAX_LINE));
        lines.push(b"\n");
        assert_eq!(all(&mut lines), ["x".repeat(10)]);
    }

    #[test]
    fn a_line_of_exactly_the_cap_keeps_its_newline() {
        let mut lines = Lines::default();
        let mut data = vec![b'y'; MAX_LINE];
        data.extend_from_slice(b"\nz\n");
        lines.push(&data);
        let got = all(&mut lines);
        assert_eq!(got, ["y".repeat(MAX_LINE), "z".to_string()]);
    }
}
