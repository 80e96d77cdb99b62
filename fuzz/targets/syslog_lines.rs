//! The splitter of service output into syslog lines: any bytes, pushed in any chunks.
//! The first byte of each chunk says how long it is.

use taskmaster::daemon::lines::{Lines, MAX_LINE};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut lines = Lines::default();
        let mut pushed = 0usize;
        let mut taken = 0usize;
        let mut rest = data;
        let mut take = |lines: &mut Lines| {
            while let Some(line) = lines.next_line() {
                assert!(line.len() <= MAX_LINE, "a line over the cap");
                assert!(!line.contains(&b'\n'), "a line with a newline in it");
                taken += line.len();
            }
        };
        while let Some((&size, tail)) = rest.split_first() {
            // Sizes up to 64 KiB from one byte: small chunks, and some past the cap.
            let size = (size as usize * size as usize).min(tail.len());
            let (chunk, tail) = tail.split_at(size);
            lines.push(chunk);
            pushed += chunk.len();
            take(&mut lines);
            rest = tail;
        }
        lines.end();
        take(&mut lines);
        assert!(lines.is_empty(), "bytes left after the end");
        assert!(taken <= pushed, "more out than in");
        // Only newlines (and a CR before one) are dropped.
        let dropped = data.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
        assert!(taken + dropped >= pushed, "bytes lost");
    });
}
