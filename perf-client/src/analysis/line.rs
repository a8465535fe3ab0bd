//! A byte-line builder for the text outputs: padded decimal and hex integers and padded
//! strings with `format!`'s semantics (`{:>w}`, `{:<w}`, `{:0w}`, `{:>wx}`; string width
//! in chars), without the formatting machinery or any allocation.

/// Appends to a borrowed buffer.
#[derive(Debug)]
pub(crate) struct Line<'b> {
    buf: &'b mut Vec<u8>,
}

/// The decimal digits of `v`, right-aligned in `tmp`; returns where they start.
fn dec_digits(mut v: u64, tmp: &mut [u8; 20]) -> usize {
    let mut i = tmp.len();
    loop {
        i -= 1;
        // A constant divisor: the compiler multiplies instead of dividing.
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return i;
        }
    }
}

/// The lower-case hex digits of `v`, right-aligned in `tmp`; returns where they start.
fn hex_digits(mut v: u64, tmp: &mut [u8; 20]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = HEX[(v & 15) as usize];
        v >>= 4;
        if v == 0 {
            return i;
        }
    }
}

impl<'b> Line<'b> {
    pub(crate) fn new(buf: &'b mut Vec<u8>) -> Self {
        Line { buf }
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.buf.push(b);
    }

    #[inline]
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    #[inline]
    pub(crate) fn str(&mut self, s: &str) {
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn pad(&mut self, fill: u8, n: usize) {
        self.buf.resize(self.buf.len() + n, fill);
    }

    /// `{s:>width}`.
    pub(crate) fn str_right(&mut self, s: &str, width: usize) {
        let chars = if s.is_ascii() {
            s.len()
        } else {
            s.chars().count()
        };
        self.pad(b' ', width.saturating_sub(chars));
        self.str(s);
    }

    #[inline]
    fn int(&mut self, v: u64, hex: bool, width: usize, fill: u8, right: bool) {
        let mut tmp = [0u8; 20];
        let at = if hex {
            hex_digits(v, &mut tmp)
        } else {
            dec_digits(v, &mut tmp)
        };
        let pad = width.saturating_sub(tmp.len() - at);
        if right {
            self.pad(fill, pad);
        }
        self.buf.extend_from_slice(&tmp[at..]);
        if !right {
            self.pad(fill, pad);
        }
    }

    /// `{v:>width}`.
    pub(crate) fn dec_right(&mut self, v: u64, width: usize) {
        self.int(v, false, width, b' ', true);
    }

    /// `{v:<width}`.
    pub(crate) fn dec_left(&mut self, v: u64, width: usize) {
        self.int(v, false, width, b' ', false);
    }

    /// `{v:0width}`.
    pub(crate) fn dec_zero(&mut self, v: u64, width: usize) {
        self.int(v, false, width, b'0', true);
    }

    /// `{v:>width$x}`.
    pub(crate) fn hex_right(&mut self, v: u64, width: usize) {
        self.int(v, true, width, b' ', true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(f: impl FnOnce(&mut Line<'_>)) -> String {
        let mut v = Vec::new();
        f(&mut Line::new(&mut v));
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn integers_match_format_for_edge_values() {
        for v in [0u64, 1, 9, 10, 999, 1000, 123_456_789, u64::MAX] {
            assert_eq!(with(|l| l.dec_right(v, 7)), format!("{v:>7}"));
            assert_eq!(with(|l| l.dec_left(v, 7)), format!("{v:<7}"));
            assert_eq!(with(|l| l.dec_zero(v, 6)), format!("{v:06}"));
            assert_eq!(with(|l| l.hex_right(v, 16)), format!("{v:>16x}"));
            assert_eq!(with(|l| l.hex_right(v, 0)), format!("{v:x}"));
        }
    }

    #[test]
    fn strings_pad_by_chars_like_format() {
        for s in [
            "",
            "dd",
            "exactly-sixteen!",
            "longer-than-sixteen-chars",
            "héllo→",
        ] {
            assert_eq!(with(|l| l.str_right(s, 16)), format!("{s:>16}"));
        }
    }
}
