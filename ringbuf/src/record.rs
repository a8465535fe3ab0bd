//! Records as the reader hands them out: a header and one or two byte slices.

use crate::layout::HEADER_SIZE;

/// `struct perf_event_header`: the 8 bytes that frame every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordHeader {
    /// `type`: a `PERF_RECORD_*` value (or any value for rings we own).
    pub record_type: u32,
    /// `misc`: `PERF_RECORD_MISC_*` flags.
    pub misc: u16,
    /// `size`: the whole record in bytes, header included.
    pub size: u16,
}

impl RecordHeader {
    /// Decodes a header from its native-endian in-memory form.
    #[inline]
    pub fn from_u64(raw: u64) -> Self {
        let b = raw.to_ne_bytes();
        RecordHeader {
            record_type: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
            misc: u16::from_ne_bytes([b[4], b[5]]),
            size: u16::from_ne_bytes([b[6], b[7]]),
        }
    }

    /// Encodes the header in its native-endian in-memory form.
    #[inline]
    pub fn to_u64(self) -> u64 {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&self.record_type.to_ne_bytes());
        b[4..6].copy_from_slice(&self.misc.to_ne_bytes());
        b[6..].copy_from_slice(&self.size.to_ne_bytes());
        u64::from_ne_bytes(b)
    }

    /// Decodes a header from the first 8 bytes of `bytes`, if there are 8.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let raw: [u8; 8] = bytes.get(..HEADER_SIZE)?.try_into().ok()?;
        Some(Self::from_u64(u64::from_ne_bytes(raw)))
    }
}

/// A record's bytes, header included, without copying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordBytes<'a> {
    /// The record is contiguous in memory.
    Single(&'a [u8]),
    /// The record straddles the end of the data area: first the bytes up to the end, then
    /// the rest from the start.
    Split(&'a [u8], &'a [u8]),
}

impl<'a> RecordBytes<'a> {
    pub(crate) fn from_pair(first: &'a [u8], second: &'a [u8]) -> Self {
        if second.is_empty() {
            RecordBytes::Single(first)
        } else {
            RecordBytes::Split(first, second)
        }
    }

    /// Total length in bytes.
    pub fn len(&self) -> usize {
        match self {
            RecordBytes::Single(a) => a.len(),
            RecordBytes::Split(a, b) => a.len() + b.len(),
        }
    }

    /// True for an empty view (never for a record, which has at least its header).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The two parts; the second is empty for a contiguous record.
    pub fn parts(&self) -> (&'a [u8], &'a [u8]) {
        match *self {
            RecordBytes::Single(a) => (a, &[]),
            RecordBytes::Split(a, b) => (a, b),
        }
    }

    /// Appends the bytes to `out`.
    pub fn extend_into(&self, out: &mut Vec<u8>) {
        let (a, b) = self.parts();
        out.extend_from_slice(a);
        out.extend_from_slice(b);
    }

    /// The record as one slice: borrowed when contiguous, else copied once into `scratch`
    /// (which is cleared first and keeps its capacity for the next record).
    pub fn contiguous<'s>(&self, scratch: &'s mut Vec<u8>) -> &'s [u8]
    where
        'a: 's,
    {
        match *self {
            RecordBytes::Single(a) => a,
            RecordBytes::Split(a, b) => {
                scratch.clear();
                scratch.extend_from_slice(a);
                scratch.extend_from_slice(b);
                scratch
            }
        }
    }
}

/// One record handed out by a drain.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    /// The decoded header.
    pub header: RecordHeader,
    /// Free-running position of the header in the ring.
    pub position: u64,
    /// The record's bytes, header included.
    pub bytes: RecordBytes<'a>,
}

impl<'a> Record<'a> {
    /// The record's payload (everything after the 8-byte header) as one or two slices.
    pub fn payload(&self) -> RecordBytes<'a> {
        match self.bytes {
            RecordBytes::Single(a) => RecordBytes::Single(&a[HEADER_SIZE..]),
            RecordBytes::Split(a, b) if a.len() >= HEADER_SIZE => {
                RecordBytes::from_pair(&a[HEADER_SIZE..], b)
            }
            // The header itself never straddles (positions and sizes are 8-aligned), but
            // stay total for any split.
            RecordBytes::Split(a, b) => RecordBytes::Single(&b[HEADER_SIZE - a.len()..]),
        }
    }
}

/// Walks records laid end to end in a contiguous buffer (an overwrite snapshot, a chunk
/// copied from a ring, the data section of a file). Sizes are validated; a bad one ends
/// the walk with an error carrying its offset.
#[derive(Debug, Clone)]
pub struct RecordIter<'a> {
    buf: &'a [u8],
    offset: usize,
    failed: bool,
}

impl<'a> RecordIter<'a> {
    /// Walks `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Self {
        RecordIter {
            buf,
            offset: 0,
            failed: false,
        }
    }

    /// Offset of the next record in the buffer.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<(RecordHeader, &'a [u8]), crate::ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.offset >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.offset..];
        let fault = |size: u16, fault| crate::ReadError::CorruptRecord {
            position: self.offset as u64,
            size,
            fault,
        };
        let Some(header) = RecordHeader::parse(rest) else {
            self.failed = true;
            return Some(Err(fault(0, crate::RecordFault::PastHead)));
        };
        let size = header.size as usize;
        let bad = if size < HEADER_SIZE {
            Some(crate::RecordFault::SmallerThanHeader)
        } else if !size.is_multiple_of(crate::layout::RECORD_ALIGN) {
            Some(crate::RecordFault::Unaligned)
        } else if size > rest.len() {
            Some(crate::RecordFault::PastHead)
        } else {
            None
        };
        if let Some(f) = bad {
            self.failed = true;
            return Some(Err(fault(header.size, f)));
        }
        self.offset += size;
        Some(Ok((header, &rest[..size])))
    }
}
