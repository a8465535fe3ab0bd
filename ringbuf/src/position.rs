//! Free-running positions: `data_head` and `data_tail` count bytes forever (mod 2^64);
//! the data-area offset of a position is `pos & (data_size - 1)`.
//!
//! These pure functions are the arithmetic of the protocol, shared by the writer, the
//! reader and the loom model.

/// How `data_head` relates to the reader's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// `head - tail` bytes are readable (`<= data_size`).
    Readable(u64),
    /// `head` is behind `tail`: it moved backwards.
    Behind,
    /// `head` is more than `data_size` ahead of `tail`: unread data was overwritten or the
    /// head is garbage.
    TooFarAhead,
}

/// Classifies `head - tail` for a data area of `data_size` bytes.
#[inline]
pub(crate) fn span(head: u64, tail: u64, data_size: u64) -> Span {
    let used = head.wrapping_sub(tail);
    if used <= data_size {
        Span::Readable(used)
    } else if (used as i64) < 0 {
        Span::Behind
    } else {
        Span::TooFarAhead
    }
}

/// Free bytes for a forward writer at `head` whose reader is at `tail`, or `None` when
/// the pair is impossible (the consumer's tail is ahead of the head or too far behind).
#[inline]
pub(crate) fn free_space(head: u64, tail: u64, data_size: u64) -> Option<u64> {
    match span(head, tail, data_size) {
        Span::Readable(used) => Some(data_size - used),
        Span::Behind | Span::TooFarAhead => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_classifies_wrapping_positions() {
        assert_eq!(span(16, 8, 64), Span::Readable(8));
        assert_eq!(span(8, u64::MAX - 7, 64), Span::Readable(16));
        assert_eq!(span(8, 16, 64), Span::Behind);
        assert_eq!(span(200, 8, 64), Span::TooFarAhead);
        assert_eq!(free_space(64, 0, 64), Some(0));
        assert_eq!(free_space(0, 8, 64), None);
    }
}
