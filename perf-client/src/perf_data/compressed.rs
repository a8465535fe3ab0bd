//! `PERF_RECORD_COMPRESSED` (type 81): records that `perf record -z` squeezed through
//! zstd (`tools/perf/util/zstd.c`, `perf_session__process_compressed_event` in
//! `tools/perf/util/session.c`), and the `HEADER_COMPRESSED` feature that describes them.
//!
//! perf compresses each ring chunk into one or more COMPRESSED records (at most
//! `PERF_SAMPLE_MAX_SIZE` each): `{ perf_event_header; u8 data[]; }`, the payload being
//! the next piece of a zstd stream (the record size is not a multiple of 8). The reader
//! feeds every payload, in file order, to one streaming decoder, as perf does, and the
//! decompressed bytes are ordinary records; one may straddle two COMPRESSED records, so
//! a cut record waits for the next payload. FINISHED_ROUND records stay uncompressed.
//!
//! [`Inflate`] turns a [`DataChunk`] holding COMPRESSED records into one holding the
//! records they carry, so the round-by-round walks above it see ordinary records.
//! Decompressed records have no file offset of their own: the expanded chunk keeps the
//! chunk's file offset, and a record inside it is reported at its position in the
//! expanded bytes (decoding errors name the COMPRESSED record's real file offset).
//! [`Deflate`] is the writer's side: ring bytes in, COMPRESSED records out.

use zstd::stream::raw::{Decoder, Encoder, InBuffer, Operation, OutBuffer};

use super::stream::{step, DataChunk, Step};
use super::PerfDataError;

/// `PERF_RECORD_COMPRESSED`: `{ perf_event_header; char data[]; }`, size not aligned.
pub const COMPRESSED: u32 = 81;
/// `PERF_RECORD_COMPRESSED2` (perf 6.16+): `{ header; u64 data_size; char data[]; }`,
/// padded to 8 bytes.
pub const COMPRESSED2: u32 = 83;
/// The `HEADER_COMPRESSED` feature bit.
pub const FEATURE_COMPRESSED: u32 = 27;
/// `PERF_COMP_ZSTD`, the only compression perf knows.
pub const COMP_ZSTD: u32 = 1;
/// The largest record perf writes (`PERF_SAMPLE_MAX_SIZE`): COMPRESSED records are cut
/// to fit.
pub const MAX_RECORD_SIZE: usize = 1 << 16;

/// The `HEADER_COMPRESSED` feature: `{ u32 version, type, level, ratio, mmap_len; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionInfo {
    /// Format version (perf writes 0).
    pub version: u32,
    /// `PERF_COMP_ZSTD` (1); 0 is none.
    pub kind: u32,
    /// The zstd level (1..=22).
    pub level: u32,
    /// Uncompressed / compressed bytes, rounded down.
    pub ratio: u32,
    /// The ring size: the reader's decompression buffer size.
    pub mmap_len: u32,
}

impl CompressionInfo {
    /// Decodes the feature section.
    ///
    /// # Errors
    ///
    /// A section shorter than 20 bytes (`offset` is its file offset).
    pub fn decode(bytes: &[u8], offset: u64) -> Result<Self, PerfDataError> {
        if bytes.len() < 20 {
            return Err(PerfDataError::corrupt(
                offset,
                format!("HEADER_COMPRESSED of {} bytes, need 20", bytes.len()),
            ));
        }
        let u = |i: usize| u32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        Ok(CompressionInfo {
            version: u(0),
            kind: u(4),
            level: u(8),
            ratio: u(12),
            mmap_len: u(16),
        })
    }

    /// The feature section's bytes.
    pub fn encode(&self) -> Vec<u8> {
        [
            self.version,
            self.kind,
            self.level,
            self.ratio,
            self.mmap_len,
        ]
        .iter()
        .flat_map(|v| v.to_ne_bytes())
        .collect()
    }
}

/// One zstd stream across all COMPRESSED records of a file, and the tail of a record
/// that the last payload cut.
pub struct Inflate {
    decoder: Option<Decoder<'static>>,
    /// Decompressed bytes not yet handed out: the start of a cut record.
    carry: Vec<u8>,
    /// The expanded chunk.
    out: Vec<u8>,
    /// COMPRESSED records read.
    records: u64,
    /// Bytes they decompressed to.
    inflated: u64,
}

impl std::fmt::Debug for Inflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflate")
            .field("carry", &self.carry.len())
            .field("records", &self.records)
            .field("inflated", &self.inflated)
            .finish()
    }
}

impl Default for Inflate {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflate {
    /// A decoder that has seen nothing yet (the zstd context is made on first use).
    pub fn new() -> Self {
        Inflate {
            decoder: None,
            carry: Vec::new(),
            out: Vec::new(),
            records: 0,
            inflated: 0,
        }
    }

    /// COMPRESSED records decoded so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes they decompressed to.
    pub fn inflated_bytes(&self) -> u64 {
        self.inflated
    }

    /// Hands `chunk` to `f`: as it is when it holds no COMPRESSED record, else with each
    /// COMPRESSED record replaced by the whole records it completes.
    ///
    /// # Errors
    ///
    /// The first error of `f`; a payload zstd cannot decode, or decompressed bytes that
    /// are not records (with the COMPRESSED record's file offset); a chunk that ends
    /// the data section inside a decompressed record.
    pub fn chunk<E: From<PerfDataError>>(
        &mut self,
        chunk: DataChunk<'_>,
        f: &mut impl FnMut(DataChunk<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let has_compressed = chunk
            .records()
            .any(|r| r.is_ok_and(|r| matches!(r.header.record_type, COMPRESSED | COMPRESSED2)));
        if !has_compressed && self.carry.is_empty() {
            return f(chunk);
        }
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        let result = self.expand(chunk, &mut out);
        let result = match result {
            Ok(()) => f(DataChunk {
                offset: chunk.offset,
                bytes: &out,
                last: chunk.last,
            }),
            Err(e) => Err(e.into()),
        };
        self.out = out;
        result
    }

    fn expand(&mut self, chunk: DataChunk<'_>, out: &mut Vec<u8>) -> Result<(), PerfDataError> {
        for r in chunk.records() {
            let r = r?;
            let payload = match r.header.record_type {
                COMPRESSED => &r.bytes[8..],
                COMPRESSED2 => {
                    let n = r
                        .bytes
                        .get(8..16)
                        .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or_default()));
                    match n
                        .and_then(|n| usize::try_from(n).ok())
                        .and_then(|n| r.bytes.get(16..16usize.checked_add(n)?))
                    {
                        Some(p) => p,
                        None => {
                            return Err(PerfDataError::corrupt(
                                r.offset,
                                "COMPRESSED2 record whose data_size runs past it",
                            ))
                        }
                    }
                }
                _ => {
                    if !self.carry.is_empty() {
                        return Err(PerfDataError::corrupt(
                            r.offset,
                            format!(
                                "a record cut at the end of a COMPRESSED record ({} bytes) \
                                 is followed by an uncompressed record",
                                self.carry.len()
                            ),
                        ));
                    }
                    out.extend_from_slice(r.bytes);
                    continue;
                }
            };
            self.feed(payload, r.offset)?;
            self.records += 1;
            // Hand out the whole records; keep a cut one for the next payload.
            let mut at = 0;
            loop {
                match step(&self.carry[at..], r.offset, false) {
                    Step::Record { size, .. } => {
                        out.extend_from_slice(&self.carry[at..at + size]);
                        at += size;
                    }
                    Step::End | Step::NeedMore(_) => break,
                    Step::Bad(e) => {
                        return Err(PerfDataError::corrupt(
                            r.offset,
                            format!("in the records decompressed from this COMPRESSED record: {e}"),
                        ))
                    }
                }
            }
            self.carry.drain(..at);
        }
        if chunk.last && !self.carry.is_empty() {
            return Err(PerfDataError::corrupt(
                chunk.offset + chunk.bytes.len() as u64,
                format!(
                    "the data section ends inside a compressed record ({} bytes of it)",
                    self.carry.len()
                ),
            ));
        }
        Ok(())
    }

    /// Decompresses `payload` onto `carry`.
    fn feed(&mut self, payload: &[u8], at: u64) -> Result<(), PerfDataError> {
        let zerr = |e: std::io::Error| {
            PerfDataError::corrupt(at, format!("COMPRESSED record zstd cannot decode: {e}"))
        };
        if self.decoder.is_none() {
            self.decoder = Some(Decoder::new().map_err(zerr)?);
        }
        let Some(dec) = self.decoder.as_mut() else {
            return Ok(());
        };
        let mut input = InBuffer::around(payload);
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let mut output = OutBuffer::around(&mut buf[..]);
            dec.run(&mut input, &mut output).map_err(zerr)?;
            let n = output.pos();
            self.carry.extend_from_slice(&buf[..n]);
            self.inflated += n as u64;
            // Done when the input is used up and the output did not fill (no more
            // buffered in the decoder).
            if input.pos() == payload.len() && n < buf.len() {
                return Ok(());
            }
        }
    }
}

/// The writer's side of `-z`: one zstd stream whose output is cut into COMPRESSED
/// records, flushed after each batch of ring bytes (perf's
/// `zstd_compress_stream_to_records`).
pub struct Deflate {
    encoder: Encoder<'static>,
    level: i32,
    /// Bytes in and out, for the ratio in HEADER_COMPRESSED.
    bytes_in: u64,
    bytes_out: u64,
}

impl std::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflate")
            .field("level", &self.level)
            .field("bytes_in", &self.bytes_in)
            .field("bytes_out", &self.bytes_out)
            .finish()
    }
}

impl Deflate {
    /// A zstd stream at `level` (perf's `-z` is level 1; `--compression-level` 1..=22).
    ///
    /// # Errors
    ///
    /// zstd refuses the level.
    pub fn new(level: i32) -> Result<Self, PerfDataError> {
        let encoder = Encoder::new(level)
            .map_err(|e| PerfDataError::Invalid(format!("zstd compression level {level}: {e}")))?;
        Ok(Deflate {
            encoder,
            level,
            bytes_in: 0,
            bytes_out: 0,
        })
    }

    /// Appends to `out` COMPRESSED records carrying `records` (whole records), flushed
    /// so that a reader can decode everything written so far.
    ///
    /// # Errors
    ///
    /// A zstd failure.
    pub fn compress(&mut self, records: &[u8], out: &mut Vec<u8>) -> Result<(), PerfDataError> {
        let zerr = |e: std::io::Error| PerfDataError::Invalid(format!("zstd: {e}"));
        let mut input = InBuffer::around(records);
        let mut buf = vec![0u8; MAX_RECORD_SIZE - 8];
        let emit = |out: &mut Vec<u8>, data: &[u8]| {
            // data.len() <= MAX_RECORD_SIZE - 8, so the size fits in u16.
            let size = (data.len() + 8) as u16;
            out.extend_from_slice(&COMPRESSED.to_ne_bytes());
            out.extend_from_slice(&0u16.to_ne_bytes());
            out.extend_from_slice(&size.to_ne_bytes());
            out.extend_from_slice(data);
        };
        while input.pos() < records.len() {
            let mut output = OutBuffer::around(&mut buf[..]);
            self.encoder.run(&mut input, &mut output).map_err(zerr)?;
            let n = output.pos();
            if n > 0 {
                self.bytes_out += n as u64 + 8;
                emit(out, &buf[..n]);
            }
        }
        loop {
            let mut output = OutBuffer::around(&mut buf[..]);
            let left = self.encoder.flush(&mut output).map_err(zerr)?;
            let n = output.pos();
            if n > 0 {
                self.bytes_out += n as u64 + 8;
                emit(out, &buf[..n]);
            }
            if left == 0 {
                break;
            }
        }
        self.bytes_in += records.len() as u64;
        Ok(())
    }

    /// The HEADER_COMPRESSED feature for what was written, with the ring size.
    pub fn info(&self, mmap_len: u32) -> CompressionInfo {
        CompressionInfo {
            version: 0,
            kind: COMP_ZSTD,
            level: self.level.max(0) as u32,
            ratio: (self.bytes_in / self.bytes_out.max(1)) as u32,
            mmap_len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u32, body: &[u8]) -> Vec<u8> {
        let mut r = Vec::new();
        r.extend_from_slice(&kind.to_ne_bytes());
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&((body.len() + 8) as u16).to_ne_bytes());
        r.extend_from_slice(body);
        r
    }

    fn inflate_all(bytes: &[u8]) -> Result<Vec<u8>, PerfDataError> {
        let mut inf = Inflate::new();
        let mut got = Vec::new();
        inf.chunk(
            DataChunk {
                offset: 0,
                bytes,
                last: true,
            },
            &mut |c: DataChunk<'_>| {
                got.extend_from_slice(c.bytes);
                Ok::<(), PerfDataError>(())
            },
        )?;
        Ok(got)
    }

    #[test]
    fn compressed_records_inflate_to_the_records_they_carry() {
        let plain: Vec<u8> = (0..500u32)
            .flat_map(|i| record(9, &[i as u8; 24]))
            .collect();
        let mut def = Deflate::new(1).unwrap();
        let mut file = Vec::new();
        def.compress(&plain[..plain.len() / 2 + 3 * 32], &mut file)
            .unwrap();
        file.extend(record(68, &[]));
        def.compress(&plain[plain.len() / 2 + 3 * 32..], &mut file)
            .unwrap();
        let got = inflate_all(&file).unwrap();
        let mut want = plain[..plain.len() / 2 + 96].to_vec();
        want.extend(record(68, &[]));
        want.extend_from_slice(&plain[plain.len() / 2 + 96..]);
        assert_eq!(got, want);
        assert!(def.info(4096).ratio >= 2, "{:?}", def.info(4096));
    }

    #[test]
    fn a_record_cut_between_two_payloads_is_joined() {
        let plain: Vec<u8> = (0..64u32).flat_map(|i| record(9, &[i as u8; 56])).collect();
        let mut def = Deflate::new(3).unwrap();
        let mut z = Vec::new();
        def.compress(&plain, &mut z).unwrap();
        // Re-cut the one payload into two COMPRESSED records at an odd place.
        let payload = &z[8..];
        let mut file = record(COMPRESSED, &payload[..payload.len() / 2 + 1]);
        file.extend(record(COMPRESSED, &payload[payload.len() / 2 + 1..]));
        assert_eq!(inflate_all(&file).unwrap(), plain);
    }

    #[test]
    fn garbage_in_a_compressed_record_is_an_error_at_its_offset() {
        let mut file = record(9, &[0; 8]);
        file.extend(record(COMPRESSED, b"not zstd at all"));
        let err = inflate_all(&file).unwrap_err();
        assert_eq!(err.offset(), Some(16), "{err}");
    }

    #[test]
    fn a_file_ending_inside_a_compressed_record_is_an_error() {
        let plain = record(9, &[7; 40]);
        let mut def = Deflate::new(1).unwrap();
        let mut z = Vec::new();
        def.compress(&plain[..20], &mut z).unwrap();
        assert!(inflate_all(&z).is_err());
    }

    #[test]
    fn the_feature_round_trips() {
        let info = CompressionInfo {
            version: 0,
            kind: COMP_ZSTD,
            level: 1,
            ratio: 8,
            mmap_len: 528384,
        };
        assert_eq!(CompressionInfo::decode(&info.encode(), 0).unwrap(), info);
        assert!(CompressionInfo::decode(&[0; 19], 5).is_err());
    }
}
