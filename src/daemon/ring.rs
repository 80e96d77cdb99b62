//! A bounded byte buffer that keeps the most recent output of one stream.

use std::collections::VecDeque;

/// Bytes kept per captured stream for `tmctl tail`.
pub const RING_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct Ring {
    bytes: VecDeque<u8>,
    capacity: usize,
    /// Bytes ever pushed: a mark taken now tells later what came after it.
    total: u64,
}

impl Ring {
    pub fn new(capacity: usize) -> Ring {
        Ring {
            bytes: VecDeque::new(),
            capacity,
            total: 0,
        }
    }

    /// Appends, dropping the oldest bytes beyond the capacity.
    pub fn push(&mut self, data: &[u8]) {
        self.total += data.len() as u64;
        let data = &data[data.len().saturating_sub(self.capacity)..];
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(data);
    }

    /// A ring as another daemon image left it (`tmctl upgrade`).
    pub fn restore(capacity: usize, bytes: &[u8], total: u64) -> Ring {
        let mut ring = Ring::new(capacity);
        ring.push(bytes);
        ring.total = total.max(ring.total);
        ring
    }

    /// The newest byte kept, if any.
    pub fn last(&self) -> Option<u8> {
        self.bytes.back().copied()
    }

    pub fn contents(&self) -> Vec<u8> {
        self.bytes.iter().copied().collect()
    }

    /// How many bytes were ever pushed (a mark for [`Ring::since`]).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// What was pushed after `mark`, as far as it is still kept.
    pub fn since(&self, mark: u64) -> Vec<u8> {
        let newer = usize::try_from(self.total.saturating_sub(mark)).unwrap_or(usize::MAX);
        let skip = self.bytes.len().saturating_sub(newer);
        self.bytes.iter().skip(skip).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes() {
        let mut ring = Ring::new(5);
        ring.push(b"abc");
        ring.push(b"def");
        assert_eq!(ring.contents(), b"bcdef");
        ring.push(b"0123456789");
        assert_eq!(ring.contents(), b"56789");
    }

    #[test]
    fn since_a_mark_gives_only_the_newer_bytes() {
        let mut ring = Ring::new(5);
        ring.push(b"abc");
        let mark = ring.total();
        assert_eq!(ring.since(mark), b"");
        ring.push(b"de");
        assert_eq!(ring.since(mark), b"de");
        ring.push(b"fghij");
        assert_eq!(
            ring.since(mark),
            b"fghij",
            "what is no longer kept is not invented"
        );
    }
}
