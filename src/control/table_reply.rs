//! The reply to a status asked for as a table (`Request::Status` with `table`): one header
//! line, then the table itself, exactly as tmctl prints it.
//!
//! ```text
//! {"result":"table","bytes":                  39}
//! web:0  RUNNING  4242  uptime 1:02:03
//! ```
//!
//! Why not the JSON list: for a plain `tmctl status` the list was made only to be read back
//! and turned into this text. With 1,000 instances the daemon spent most of its 0.6 ms on
//! the list (serde's string escaping, a map per instance, 100 KB written) and tmctl most of
//! its own work on reading it back (a JSON parse of 100 KB into 1,000 rows) before writing
//! 40 KB of table; both sides now handle the table's 40 KB once. The table is written by
//! the one writer tmctl uses for a JSON list (`ctl::status_table::write_table`), so it is
//! the same text whichever side makes it.
//!
//! The header is a JSON object (the reply stays a line a person can read with `socat`),
//! with the byte count of the table that follows: a table line is free text (a service's
//! detail), so the reader counts bytes rather than looking for an end. The count is
//! written after the table into room left for it (leading blanks are allowed in JSON), so
//! the table goes straight into the outbox rather than into a buffer of its own first.
//! Every other reply, errors included, is an ordinary line: a status of an unknown name is
//! answered with the usual error.

/// The header up to its count.
const PREFIX: &[u8] = br#"{"result":"table","bytes":"#;
/// Room for the count: the widest `u64`.
const COUNT_WIDTH: usize = 20;
/// The header's end.
const SUFFIX: &[u8] = b"}\n";

/// Where a header was begun in a buffer, to be completed by [`Header::finish`].
#[derive(Debug)]
#[must_use = "a header is only valid once finished"]
pub struct Header {
    /// Where the count's room starts.
    count_at: usize,
    /// Where the table starts.
    table_at: usize,
}

impl Header {
    /// Appends a header with its count left blank; the table is to be appended next.
    pub fn begin(out: &mut Vec<u8>) -> Header {
        out.extend_from_slice(PREFIX);
        let count_at = out.len();
        out.extend_from_slice(&[b' '; COUNT_WIDTH]);
        out.extend_from_slice(SUFFIX);
        Header {
            count_at,
            table_at: out.len(),
        }
    }

    /// Writes the count of what was appended since [`Header::begin`], right-aligned in
    /// the room left for it.
    pub fn finish(self, out: &mut [u8]) {
        let count = out.len().saturating_sub(self.table_at).to_string();
        let room = &mut out[self.count_at..self.count_at + COUNT_WIDTH];
        room[COUNT_WIDTH - count.len()..].copy_from_slice(count.as_bytes());
    }
}

/// The table's length in bytes if `line` (without its newline) is a table header, else
/// `None`: any other reply line, for the caller to decode as a `Response`.
pub fn table_bytes(line: &[u8]) -> Option<usize> {
    let count = line.strip_prefix(PREFIX)?.strip_suffix(b"}")?;
    std::str::from_utf8(count).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_the_bytes_that_follow() {
        let mut out = b"earlier reply\n".to_vec();
        let header = Header::begin(&mut out);
        out.extend_from_slice("web  RUNNING  42  uptime 0:00:01\n\u{e9}\n".as_bytes());
        header.finish(&mut out);
        let text = String::from_utf8(out).expect("utf-8");
        let (earlier, rest) = text.split_once('\n').expect("first line");
        assert_eq!(earlier, "earlier reply");
        let (line, table) = rest.split_once('\n').expect("header");
        assert_eq!(table_bytes(line.as_bytes()), Some(table.len()));
        assert_eq!(table, "web  RUNNING  42  uptime 0:00:01\n\u{e9}\n");
        // Still a JSON object, for anyone reading the socket by hand.
        let header: serde_json::Value = serde_json::from_str(line).expect("json");
        assert_eq!(header["bytes"], table.len());
        assert_eq!(header["result"], "table");
    }

    #[test]
    fn an_empty_table_has_a_count_of_zero() {
        let mut out = Vec::new();
        Header::begin(&mut out).finish(&mut out);
        let line = out.strip_suffix(b"\n").expect("newline");
        assert_eq!(table_bytes(line), Some(0));
    }

    #[test]
    fn other_lines_are_not_headers() {
        for line in [
            &br#"{"result":"status","instances":[]}"#[..],
            br#"{"result":"error","kind":"bad_request","message":"unknown field `table`"}"#,
            br#"{"result":"table","bytes":-1}"#,
            br#"{"result":"table","bytes":"1"}"#,
            br#"{"result":"table","bytes":1"#,
            b"",
        ] {
            assert_eq!(table_bytes(line), None, "{}", String::from_utf8_lossy(line));
        }
    }
}
