//! The soak's record: `PERF_RECORD_SAMPLE`-typed, a 24-byte payload
//! `[seq, checksum(seq), !seq]` (32 bytes with the header), native endian.

/// The record type used (`PERF_RECORD_SAMPLE`).
pub const SAMPLE: u32 = 9;
/// Bytes of one record, header included.
pub const RECORD_SIZE: u64 = 32;

/// A checksum of the sequence number that no plausible corruption preserves.
pub fn checksum(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xA5A5_5A5A_DEAD_BEEF
}

/// The payload of record `seq`.
pub fn payload(seq: u64) -> [u8; 24] {
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&seq.to_ne_bytes());
    out[8..16].copy_from_slice(&checksum(seq).to_ne_bytes());
    out[16..].copy_from_slice(&(!seq).to_ne_bytes());
    out
}

/// The sequence number of a whole record (header included), or `None` if its size or
/// checksum is wrong.
pub fn verify(record: &[u8]) -> Option<u64> {
    if record.len() as u64 != RECORD_SIZE {
        return None;
    }
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&record[8 + 8 * i..16 + 8 * i]);
        u64::from_ne_bytes(w)
    };
    let seq = word(0);
    (word(1) == checksum(seq) && word(2) == !seq).then_some(seq)
}
