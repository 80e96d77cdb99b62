//! Output goes to followers as text: a UTF-8 character that a service wrote in two pieces
//! must reach them whole, not as two U+FFFD.

/// The length of `bytes` without an incomplete UTF-8 character at its end (the bytes that
/// may still be completed by the next read). Invalid bytes are not held back: they are
/// shown as U+FFFD like any other.
pub fn complete_utf8_len(bytes: &[u8]) -> usize {
    // A character is at most 4 bytes: look at the last 3 for the lead of an unfinished one.
    for back in 1..=3.min(bytes.len()) {
        let at = bytes.len() - back;
        let byte = bytes[at];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: the lead is further back
        }
        let needed = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1, // ASCII or not a lead byte: nothing to wait for
        };
        return if back < needed { at } else { bytes.len() };
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::complete_utf8_len;

    #[test]
    fn an_unfinished_character_at_the_end_is_held_back() {
        let euro = "\u{20ac}".as_bytes(); // 3 bytes
        let mut text = b"price: ".to_vec();
        text.extend_from_slice(euro);
        assert_eq!(complete_utf8_len(&text), text.len());
        for cut in 1..euro.len() {
            assert_eq!(complete_utf8_len(&text[..7 + cut]), 7, "cut after {cut}");
        }
        let smile = "\u{1f600}".as_bytes(); // 4 bytes
        assert_eq!(complete_utf8_len(&smile[..3]), 0);
        assert_eq!(complete_utf8_len(smile), 4);
        // Invalid bytes are not waited for.
        assert_eq!(complete_utf8_len(b"a\xff"), 2);
        assert_eq!(complete_utf8_len(b"\x80\x80\x80\x80"), 4);
        assert_eq!(complete_utf8_len(b""), 0);
    }
}
