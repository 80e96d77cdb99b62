//! The messages kept while the logger is missing or slow: bounded in count and bytes, oldest
//! dropped first (the recent past says more about the machine's state), and every drop
//! counted so that the gap can be reported where it happened.

use super::origin::Message;
use std::collections::VecDeque;

/// Messages kept at most.
pub const MAX_MESSAGES: usize = 1000;
/// Bytes kept at most (service lines can be up to 8 KiB each).
pub const MAX_BYTES: usize = 1024 * 1024;

#[derive(Debug)]
pub struct Backlog {
    messages: VecDeque<Message>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    /// Dropped since the last [`Backlog::take_dropped`].
    dropped: u64,
}

impl Default for Backlog {
    fn default() -> Self {
        Backlog::with_limits(MAX_MESSAGES, MAX_BYTES)
    }
}

impl Backlog {
    pub fn with_limits(max_messages: usize, max_bytes: usize) -> Backlog {
        Backlog {
            messages: VecDeque::new(),
            bytes: 0,
            max_messages,
            max_bytes,
            dropped: 0,
        }
    }

    /// Keeps `message`, dropping the oldest ones to make room.
    pub fn push(&mut self, message: Message) {
        self.bytes += message.datagram.len();
        self.messages.push_back(message);
        while self.messages.len() > self.max_messages
            || (self.bytes > self.max_bytes && self.messages.len() > 1)
        {
            if let Some(old) = self.messages.pop_front() {
                self.bytes -= old.datagram.len();
                self.dropped += 1;
            }
        }
    }

    pub fn front(&self) -> Option<&Message> {
        self.messages.front()
    }

    pub fn pop_front(&mut self) -> Option<Message> {
        let old = self.messages.pop_front()?;
        self.bytes -= old.datagram.len();
        Some(old)
    }

    /// Puts back a message taken with [`Backlog::pop_front`] that could not be sent.
    pub fn restore_front(&mut self, message: Message) {
        self.bytes += message.datagram.len();
        self.messages.push_front(message);
    }

    /// A message that never entered the backlog was lost too (e.g. too big to send).
    pub fn note_dropped(&mut self) {
        self.dropped += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// How many were dropped since the last call (they were older than everything kept).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_the_oldest_and_counts() {
        let mut backlog = Backlog::with_limits(3, 1000);
        for i in 0..5u8 {
            backlog.push(vec![i].into());
        }
        assert_eq!(backlog.len(), 3);
        assert_eq!(backlog.front(), Some(&vec![2].into()));
        assert_eq!(backlog.take_dropped(), 2);
        assert_eq!(backlog.take_dropped(), 0);
    }

    #[test]
    fn bounded_in_bytes_but_keeps_the_newest_message() {
        let mut backlog = Backlog::with_limits(100, 10);
        backlog.push(vec![0; 6].into());
        backlog.push(vec![1; 6].into());
        assert_eq!(backlog.len(), 1);
        assert_eq!(backlog.front(), Some(&vec![1; 6].into()));
        backlog.push(vec![2; 20].into());
        assert_eq!(
            backlog.len(),
            1,
            "a message bigger than the budget is still kept alone"
        );
        backlog.pop_front();
        assert!(backlog.is_empty());
        assert_eq!(backlog.dropped(), 2);
    }
}
