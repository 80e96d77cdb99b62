//! A bounded byte buffer that keeps the most recent output of one stream.

use std::collections::VecDeque;

/// Bytes kept per captured stream for `tmctl tail`.
pub const RING_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub struct Ring {
    bytes: VecDeque<u8>,
    capacity: usize,
}

impl Ring {
    pub fn new(capacity: usize) -> Ring {
        Ring {
            bytes: VecDeque::new(),
            capacity,
        }
    }

    /// Appends, dropping the oldest bytes beyond the capacity.
    pub fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.capacity)..];
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.capacity);
        self.bytes.drain(..overflow);
        self.bytes.extend(data);
    }

    pub fn contents(&self) -> Vec<u8> {
        self.bytes.iter().copied().collect()
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
}
