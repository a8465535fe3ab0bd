//! A bounds-checked reader over a record's bytes. Every read is checked; offsets in
//! errors are relative to the start of the record (header included).

use super::error::ParseError;
use super::types::RecordType;

/// Reads native-endian fields front to back from `buf[pos..end]`.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    record: RecordType,
}

impl<'a> Cursor<'a> {
    /// A cursor over `record_bytes[start..end]`; offsets stay relative to the record.
    pub(crate) fn new(
        record_bytes: &'a [u8],
        start: usize,
        end: usize,
        record: RecordType,
    ) -> Self {
        // `end` and `start` come from our own checked arithmetic; clamp anyway so a bug
        // here can only produce a Truncated error, never a panic.
        let end = end.min(record_bytes.len());
        let start = start.min(end);
        Cursor {
            buf: &record_bytes[..end],
            pos: start,
            record,
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn truncated(&self, field: &'static str, needed: u64) -> ParseError {
        ParseError::Truncated {
            record: self.record,
            field,
            offset: self.pos,
            needed,
            available: self.remaining(),
        }
    }

    pub(crate) fn inconsistent(&self, detail: String) -> ParseError {
        ParseError::Inconsistent {
            record: self.record,
            offset: self.pos,
            detail,
        }
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], ParseError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| self.truncated(field, n as u64))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next `n` bytes where `n` came from the record itself (a u64 count).
    pub(crate) fn take_u64_len(
        &mut self,
        n: u64,
        field: &'static str,
    ) -> Result<&'a [u8], ParseError> {
        match usize::try_from(n) {
            Ok(n) if n <= self.remaining() => self.take(n, field),
            _ => Err(self.truncated(field, n)),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ParseError> {
        let b = self.take(N, field)?;
        // `take` returned exactly N bytes.
        b.try_into().map_err(|_| self.truncated(field, N as u64))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, ParseError> {
        Ok(u64::from_ne_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, ParseError> {
        Ok(u32::from_ne_bytes(self.array(field)?))
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, ParseError> {
        Ok(u16::from_ne_bytes(self.array(field)?))
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ParseError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn bytes8(&mut self, field: &'static str) -> Result<[u8; 8], ParseError> {
        self.array(field)
    }

    /// `nr` u64 values, `nr` taken from the record: the size is checked against what is
    /// left before anything is allocated.
    pub(crate) fn u64_array(
        &mut self,
        nr: u64,
        field: &'static str,
    ) -> Result<Vec<u64>, ParseError> {
        let bytes = nr
            .checked_mul(8)
            .ok_or_else(|| self.inconsistent(format!("{field}: count {nr} overflows")))?;
        let raw = self.take_u64_len(bytes, field)?;
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_ne_bytes(b)
            })
            .collect())
    }

    /// The rest as a NUL-terminated, NUL-padded string: the bytes before the first NUL.
    /// A string without a NUL is an inconsistency (the kernel always terminates them).
    pub(crate) fn c_string_rest(&mut self, field: &'static str) -> Result<&'a [u8], ParseError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        match rest.iter().position(|&b| b == 0) {
            Some(n) => {
                self.pos = self.buf.len();
                Ok(&rest[..n])
            }
            None => Err(self.inconsistent(format!(
                "{field} is not NUL-terminated within the {} bytes left",
                rest.len()
            ))),
        }
    }

    /// Fails unless every byte was consumed: left-over bytes mean the attr used to parse
    /// does not match the one that produced the record.
    pub(crate) fn finish(&self, what: &str) -> Result<(), ParseError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(self.inconsistent(format!("{n} bytes left over after {what}"))),
        }
    }
}
