//! perf's pipe mode (`perf record -o -`, `perf report -i -`;
//! `tools/perf/Documentation/perf.data-file-format.txt`, "Pipe-mode data", and
//! `tools/perf/util/header.c`): a 16-byte `perf_pipe_file_header { u64 magic
//! ("PERFILE2"); u64 size (16); }`, then records only. What file mode keeps in its
//! header and sections travels as synthesized records ahead of the data:
//!
//! | record | type | body |
//! |---|---|---|
//! | `HEADER_ATTR` | 64 | `perf_event_attr` (its own `size`), then the ids (u64 each) |
//! | `HEADER_EVENT_TYPE` | 65 | obsolete; skipped |
//! | `HEADER_TRACING_DATA` | 66 | `{u32 size; u32 pad}`; then `size` bytes *after* the record |
//! | `HEADER_BUILD_ID` | 67 | a BUILD_ID feature entry (`pid`, 24-byte id, file name) |
//! | `HEADER_FEATURE` | 80 | `u64 feat_id`, then the feature section's bytes |
//!
//! [`open_stream`] reads a pipe stream's start and walks its records as they arrive (so
//! `report`, `script` and `export` read `-i -` in the memory of one round); [`prelude`] is the
//! stream's start that both [`file_to_pipe`] (a file-mode [`PerfData`] as a stream) and
//! the recorder's pipe mode ([`super::PerfDataWriter::to_pipe`]) write.
//!
//! [`PerfData`]: super::PerfData

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use super::header::{read_u32, read_u64, FileHeader, FileSection, FILE_HEADER_SIZE, MAGIC};
use super::source::ReadAt;
use super::{feature, PerfData, PerfDataError, ATTR_SIZE_VER0};

/// Size of `struct perf_pipe_file_header`.
pub const PIPE_HEADER_SIZE: u64 = 16;

/// Pipe-mode record types (`enum perf_user_event_type`, `tools/lib/perf/include/perf/event.h`).
pub mod user_type {
    /// `PERF_RECORD_HEADER_ATTR`.
    pub const HEADER_ATTR: u32 = 64;
    /// `PERF_RECORD_HEADER_EVENT_TYPE` (obsolete).
    pub const HEADER_EVENT_TYPE: u32 = 65;
    /// `PERF_RECORD_HEADER_TRACING_DATA`.
    pub const HEADER_TRACING_DATA: u32 = 66;
    /// `PERF_RECORD_HEADER_BUILD_ID`.
    pub const HEADER_BUILD_ID: u32 = 67;
    /// `PERF_RECORD_AUXTRACE`: followed by `size` bytes of AUX data.
    pub const AUXTRACE: u32 = 71;
    /// `PERF_RECORD_HEADER_FEATURE`.
    pub const HEADER_FEATURE: u32 = 80;
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean end before the first byte.
fn read_full(r: &mut impl Read, buf: &mut [u8], at: u64) -> Result<bool, PerfDataError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => {
                return Err(PerfDataError::corrupt(
                    at,
                    format!(
                        "the stream ends inside a record ({got} of {} bytes)",
                        buf.len()
                    ),
                ))
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PerfDataError::io(std::path::Path::new("-"), e)),
        }
    }
    Ok(true)
}

/// Reads `n` bytes that must be there.
fn read_payload(r: &mut impl Read, n: u64, at: u64) -> Result<Vec<u8>, PerfDataError> {
    let mut v = Vec::new();
    let got = r
        .take(n)
        .read_to_end(&mut v)
        .map_err(|e| PerfDataError::io(std::path::Path::new("-"), e))?;
    if got as u64 != n {
        return Err(PerfDataError::corrupt(
            at,
            format!("the stream ends inside a {n}-byte payload ({got} read)"),
        ));
    }
    Ok(v)
}

/// The start of a pipe-mode stream as it is read: what file mode keeps in its header.
#[derive(Debug, Default)]
struct Head {
    attrs: Vec<(Vec<u8>, Vec<u8>)>,
    features: BTreeMap<u32, Vec<u8>>,
    build_ids: Vec<u8>,
}

impl Head {
    /// Takes in a pipe-only record (`hdr`, `body`) found at stream offset `at`, reading
    /// what follows it from `r` (tracing data); returns the bytes it read beyond the
    /// record, or `None` for a record that is not one (a data record).
    fn take(
        &mut self,
        hdr: &[u8; 8],
        body: &[u8],
        r: &mut impl Read,
        at: u64,
    ) -> Result<Option<u64>, PerfDataError> {
        let kind = read_u32(hdr, 0);
        let rec_size = 8 + body.len() as u64;
        match kind {
            user_type::HEADER_ATTR => {
                let attr_size = match body.get(4..8).map(|b| read_u32(b, 0)) {
                    Some(0) => ATTR_SIZE_VER0,
                    Some(n) => n as usize,
                    None => usize::MAX,
                };
                if attr_size > body.len() || attr_size < ATTR_SIZE_VER0 {
                    return Err(PerfDataError::corrupt(
                        at + 12,
                        format!("attr.size {attr_size} in a {rec_size}-byte HEADER_ATTR"),
                    ));
                }
                let (attr, ids) = body.split_at(attr_size);
                self.attrs.push((attr.to_vec(), ids.to_vec()));
                Ok(Some(0))
            }
            user_type::HEADER_EVENT_TYPE => Ok(Some(0)),
            user_type::HEADER_TRACING_DATA => {
                let n = body
                    .first_chunk::<4>()
                    .map_or(0, |b| u32::from_ne_bytes(*b));
                let payload = read_payload(r, u64::from(n), at + rec_size)?;
                self.features.insert(feature::TRACING_DATA, payload);
                Ok(Some(u64::from(n)))
            }
            user_type::HEADER_BUILD_ID => {
                // The feature's entries are the same records, `type` unused.
                self.build_ids.extend_from_slice(&0u32.to_ne_bytes());
                self.build_ids.extend_from_slice(&hdr[4..8]);
                self.build_ids.extend_from_slice(body);
                Ok(Some(0))
            }
            user_type::HEADER_FEATURE => {
                let id = body
                    .first_chunk::<8>()
                    .map_or(u64::MAX, |b| u64::from_ne_bytes(*b));
                if id < u64::from(feature::BITS) {
                    self.features.insert(id as u32, body[8..].to_vec());
                }
                Ok(Some(0))
            }
            _ => Ok(None),
        }
    }

    /// The file-mode image of the header, with `data` as its data section.
    fn image(mut self, data: &[u8], at: u64) -> Result<Vec<u8>, PerfDataError> {
        if self.attrs.is_empty() {
            return Err(PerfDataError::corrupt(
                at,
                "the stream has no HEADER_ATTR record",
            ));
        }
        if !self.build_ids.is_empty() {
            self.features
                .insert(feature::BUILD_ID, std::mem::take(&mut self.build_ids));
        }
        Ok(assemble(&self.attrs, data, &self.features))
    }
}

fn check_pipe_header(head: &[u8; 16]) -> Result<(), PerfDataError> {
    if read_u64(head, 0) != MAGIC {
        return Err(PerfDataError::corrupt(0, "not a perf.data stream (magic)"));
    }
    let size = read_u64(head, 8);
    if size != PIPE_HEADER_SIZE {
        return Err(PerfDataError::corrupt(
            8,
            format!("header size {size}: not pipe mode (16)"),
        ));
    }
    Ok(())
}

/// A record of a stream: its header's bytes and its body.
type StreamRecord = ([u8; 8], Vec<u8>);

/// Reads the next record's header and body at stream offset `at`; `None` at a clean end.
fn next_record(r: &mut impl Read, at: u64) -> Result<Option<StreamRecord>, PerfDataError> {
    let mut hdr = [0u8; 8];
    if !read_full(r, &mut hdr, at)? {
        return Ok(None);
    }
    let kind = read_u32(&hdr, 0);
    let rec_size = u16::from_ne_bytes([hdr[6], hdr[7]]) as u64;
    // Synthesized records need not be 8-byte multiples (perf writes a HEADER_FEATURE
    // of 84 bytes); kernel records always are.
    if rec_size < 8 || (kind < user_type::HEADER_ATTR && !rec_size.is_multiple_of(8)) {
        return Err(PerfDataError::corrupt(
            at + 6,
            format!("record size {rec_size} (type {kind})"),
        ));
    }
    let body = read_payload(r, rec_size - 8, at + 8)?;
    Ok(Some((hdr, body)))
}

/// A stream read once, in order, as the [`ReadAt`] of a [`PerfData`] whose records are
/// walked as they arrive: a read must start where the previous one ended. The bytes
/// of the first record, read while looking for the end of the stream's start, are
/// handed out again first.
struct InOrder {
    inner: std::sync::Mutex<(Box<dyn Read + Send>, u64, Vec<u8>)>,
}

impl std::fmt::Debug for InOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InOrder")
    }
}

impl ReadAt for InOrder {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| io::Error::other("the stream's reader panicked"))?;
        let (r, pos, again) = &mut *g;
        if offset != *pos {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("a pipe is read in order: offset {offset:#x} asked at {pos:#x}"),
            ));
        }
        let n = if again.is_empty() {
            r.read(buf)?
        } else {
            let n = again.len().min(buf.len());
            buf[..n].copy_from_slice(&again[..n]);
            again.drain(..n);
            n
        };
        *pos += n as u64;
        Ok(n)
    }
}

/// Opens a pipe-mode stream for walking as it arrives: the records that stand for file
/// mode's header (attrs, features, tracing data, build ids) are read now, up to the
/// first data record; the records are read when the returned [`PerfData`] is walked
/// ([`PerfData::for_each_chunk`]), a round at a time in one reused buffer, so memory is
/// that of the largest round whatever the stream's length, and a round is handed out as
/// soon as it has arrived. `head` is the stream's first 16 bytes, already read.
///
/// Records that stand for the header and come after the first data record (perf does
/// not write them there; `perf-client record -o -` sends the build ids it learns during
/// the capture at the end) are walked as records; AUXTRACE data is skipped.
///
/// # Errors
///
/// A stream that is not pipe mode (wrong magic or header size), a record whose size is
/// below 8 (or a kernel record's not a multiple of 8: synthesized ones need not be), an
/// attr record shorter than its attr, a start without attrs, a stream that ends inside
/// a record, and read errors.
pub fn open_stream(
    head: [u8; 16],
    mut r: Box<dyn Read + Send>,
    opts: super::StreamOptions,
) -> Result<PerfData, PerfDataError> {
    check_pipe_header(&head)?;
    let mut at = PIPE_HEADER_SIZE;
    let mut start = Head::default();
    let mut first = Vec::new();
    while let Some((hdr, body)) = next_record(&mut r, at)? {
        let rec_size = 8 + body.len() as u64;
        match start.take(&hdr, &body, &mut r, at)? {
            Some(extra) => at += extra + rec_size,
            None => {
                first.extend_from_slice(&hdr);
                first.extend_from_slice(&body);
                break;
            }
        }
    }
    let image = start.image(&[], at)?;
    let src = InOrder {
        inner: std::sync::Mutex::new((r, at, first)),
    };
    PerfData::from_stream(image, Box::new(src), at, opts)
}

/// Lays out a file-mode image: header, ids, attrs (every attr zero-extended to the
/// largest `attr.size`, which file mode needs to be one size), data, feature table and
/// feature sections.
fn assemble(
    attrs: &[(Vec<u8>, Vec<u8>)],
    data: &[u8],
    features: &BTreeMap<u32, Vec<u8>>,
) -> Vec<u8> {
    let attr_size = attrs
        .iter()
        .map(|(a, _)| a.len())
        .max()
        .unwrap_or(ATTR_SIZE_VER0);
    let mut out = vec![0u8; FILE_HEADER_SIZE];
    let mut id_sections = Vec::with_capacity(attrs.len());
    for (_, ids) in attrs {
        id_sections.push(FileSection {
            offset: out.len() as u64,
            size: ids.len() as u64,
        });
        out.extend_from_slice(ids);
    }
    let attrs_at = out.len() as u64;
    for ((attr, _), ids) in attrs.iter().zip(&id_sections) {
        let start = out.len();
        out.extend_from_slice(attr);
        out.resize(start + attr_size, 0);
        out[start + 4..start + 8].copy_from_slice(&(attr_size as u32).to_ne_bytes());
        ids.encode(&mut out);
    }
    let mut header = FileHeader {
        attr_size: (attr_size + 16) as u64,
        attrs: FileSection {
            offset: attrs_at,
            size: out.len() as u64 - attrs_at,
        },
        data: FileSection::default(),
        features: [0; 4],
    };
    let data_at = out.len() as u64;
    out.extend_from_slice(data);
    header.data = FileSection {
        offset: data_at,
        size: data.len() as u64,
    };
    let table_at = out.len();
    out.resize(table_at + features.len() * 16, 0);
    for (i, (&bit, bytes)) in features.iter().enumerate() {
        header.set_feature(bit);
        let section = FileSection {
            offset: out.len() as u64,
            size: bytes.len() as u64,
        };
        let mut s = Vec::with_capacity(16);
        section.encode(&mut s);
        out[table_at + i * 16..table_at + (i + 1) * 16].copy_from_slice(&s);
        out.extend_from_slice(bytes);
    }
    out[..FILE_HEADER_SIZE].copy_from_slice(&header.encode());
    out
}

/// Opens perf.data read from `r` whatever its mode: a pipe-mode stream is walked as it
/// arrives ([`open_stream`]); a file-mode image (`perf-client record -o -` never writes
/// one, but `cat perf.data |` does) is read into memory, since its header says where
/// things are only at its end.
///
/// # Errors
///
/// As [`open_stream`] and [`PerfData::from_bytes`].
pub fn read_any(mut r: Box<dyn Read + Send>) -> Result<PerfData, PerfDataError> {
    let mut head = [0u8; 16];
    if !read_full(&mut r, &mut head, 0)? {
        return Err(PerfDataError::corrupt(0, "the input is empty"));
    }
    if read_u64(&head, 8) == FILE_HEADER_SIZE as u64 {
        let mut all = head.to_vec();
        r.read_to_end(&mut all)
            .map_err(|e| PerfDataError::io(std::path::Path::new("-"), e))?;
        return PerfData::from_bytes(all);
    }
    open_stream(head, r, super::StreamOptions::default())
}

/// One pipe-mode record: `kind`, `misc`, `body` (its size must fit `header.size`).
fn user_record(kind: u32, misc: u16, body: &[u8], out: &mut Vec<u8>) -> Result<(), PerfDataError> {
    let size = u16::try_from(8 + body.len())
        .map_err(|_| PerfDataError::Invalid(format!("a {}-byte type {kind} record", body.len())))?;
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(&misc.to_ne_bytes());
    out.extend_from_slice(&size.to_ne_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// BUILD_ID feature entries (records with their own size) as `HEADER_BUILD_ID`
/// records, appended to `out`.
///
/// # Errors
///
/// An entry that runs past `entries`.
pub fn encode_build_ids(entries: &[u8], out: &mut Vec<u8>) -> Result<(), PerfDataError> {
    let mut at = 0usize;
    while let Some(h) = entries.get(at..at + 8) {
        let size = u16::from_ne_bytes([h[6], h[7]]) as usize;
        let Some(entry) = entries.get(at..at + size).filter(|_| size >= 8) else {
            return Err(PerfDataError::corrupt(
                at as u64,
                "a BUILD_ID entry runs past its section",
            ));
        };
        let start = out.len();
        out.extend_from_slice(entry);
        out[start..start + 4].copy_from_slice(&user_type::HEADER_BUILD_ID.to_ne_bytes());
        at += size;
    }
    Ok(())
}

/// The start of a pipe-mode stream, in `perf record -o -`'s (6.1) order: the pipe
/// header, one `HEADER_ATTR` per attr with its ids, one `HEADER_FEATURE` per feature
/// (but TRACING_DATA and BUILD_ID), `HEADER_TRACING_DATA` with its payload, and one
/// `HEADER_BUILD_ID` per BUILD_ID entry. Records follow. perf also sends an empty
/// `HEADER_LAST_FEATURE` mark after the features (it only triggers `perf report
/// --header`'s printing); this stream does not.
///
/// # Errors
///
/// A record too large for `header.size` (an attr with 8000 ids), tracing data over
/// 4 GiB, BUILD_ID bytes that are not whole entries.
pub fn prelude<'a>(
    attrs: impl IntoIterator<Item = (&'a [u8], &'a [u64])>,
    features: &[(u32, &[u8])],
) -> Result<Vec<u8>, PerfDataError> {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&PIPE_HEADER_SIZE.to_ne_bytes());
    for (attr, ids) in attrs {
        let mut body = attr.to_vec();
        for id in ids {
            body.extend_from_slice(&id.to_ne_bytes());
        }
        user_record(user_type::HEADER_ATTR, 0, &body, &mut out)?;
    }
    for &(bit, bytes) in features {
        if bit == feature::TRACING_DATA || bit == feature::BUILD_ID {
            continue;
        }
        let mut body = (u64::from(bit)).to_ne_bytes().to_vec();
        body.extend_from_slice(bytes);
        body.resize(body.len().next_multiple_of(8), 0);
        user_record(user_type::HEADER_FEATURE, 0, &body, &mut out)?;
    }
    if let Some(&(_, td)) = features.iter().find(|(b, _)| *b == feature::TRACING_DATA) {
        let padded = td.len().next_multiple_of(8);
        let n = u32::try_from(padded)
            .map_err(|_| PerfDataError::Invalid("tracing data over 4 GiB".into()))?;
        let mut body = n.to_ne_bytes().to_vec();
        body.extend_from_slice(&[0; 4]);
        user_record(user_type::HEADER_TRACING_DATA, 0, &body, &mut out)?;
        out.extend_from_slice(td);
        out.resize(out.len() + (padded - td.len()), 0);
    }
    if let Some(&(_, ids)) = features.iter().find(|(b, _)| *b == feature::BUILD_ID) {
        encode_build_ids(ids, &mut out)?;
    }
    Ok(out)
}

/// Writes `file` as a pipe-mode stream: its [`prelude`], then the data section's
/// records as they are.
///
/// # Errors
///
/// A corrupt file (a record or section that does not fit) and write errors
/// ([`PerfDataError::Io`]; a broken pipe is `io::ErrorKind::BrokenPipe` inside).
pub fn file_to_pipe(file: &PerfData, out: &mut impl Write) -> Result<(), PerfDataError> {
    let io_err = |e| PerfDataError::io(std::path::Path::new("-"), e);
    let mut features = Vec::new();
    for bit in file.feature_bits().collect::<Vec<_>>() {
        if let Some(bytes) = file.feature(bit)? {
            features.push((bit, bytes));
        }
    }
    let head = prelude(
        file.attrs()
            .iter()
            .map(|a| (&a.attr.as_bytes()[..], a.ids.as_slice())),
        &features,
    )?;
    out.write_all(&head).map_err(io_err)?;
    file.for_each_chunk(|chunk| -> Result<(), PerfDataError> {
        for r in chunk.records() {
            out.write_all(r?.bytes).map_err(io_err)?;
        }
        Ok(())
    })?;
    out.flush().map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `n` bytes at a time, as a pipe fed in small writes does.
    struct Trickle(Vec<u8>, usize, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.2).min(self.0.len() - self.1);
            buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    fn record(kind: u32, body_u64s: usize) -> Vec<u8> {
        let mut v = Vec::new();
        user_record(kind, 0, &vec![0x5a; body_u64s * 8], &mut v).unwrap();
        v
    }

    /// A pipe stream: one attr and HOSTNAME, then `rounds` rounds of three samples.
    fn stream(rounds: usize) -> Vec<u8> {
        let attr = super::super::FileAttr::zeroed();
        let mut host = Vec::new();
        super::super::features::put_string(&mut host, "h");
        let mut v = prelude(
            [(&attr.as_bytes()[..], &[7u64][..])],
            &[(feature::HOSTNAME, &host[..])],
        )
        .unwrap();
        for _ in 0..rounds {
            for _ in 0..3 {
                v.extend(record(9, 3));
            }
            v.extend(record(68, 0));
        }
        v
    }

    fn open(bytes: Vec<u8>, step: usize) -> Result<PerfData, PerfDataError> {
        let mut head = [0u8; 16];
        head.copy_from_slice(&bytes[..16]);
        let rest = Trickle(bytes[16..].to_vec(), 0, step);
        let opts = super::super::StreamOptions {
            buffer: 64,
            max_buffer: 1 << 20,
            read_size: 16,
            read_ahead: false,
        };
        open_stream(head, Box::new(rest), opts)
    }

    #[test]
    fn a_stream_read_in_small_pieces_is_walked_round_by_round() {
        for step in [1, 3, 8, 1000] {
            let file = open(stream(50), step).unwrap();
            assert!(file.is_live_stream());
            assert_eq!(file.attrs()[0].ids, vec![7]);
            assert_eq!(file.hostname().unwrap().as_deref(), Some("h"));
            let mut chunks = 0;
            let mut types = BTreeMap::new();
            file.for_each_chunk(|c| {
                chunks += 1;
                for r in c.records() {
                    *types.entry(r?.header.record_type).or_insert(0) += 1;
                }
                Ok::<(), PerfDataError>(())
            })
            .unwrap();
            assert_eq!(types, BTreeMap::from([(9, 150), (68, 50)]), "step {step}");
            assert_eq!(chunks, 50, "one chunk per round, step {step}");
        }
    }

    #[test]
    fn a_stream_cut_inside_a_record_is_an_error_after_its_whole_rounds() {
        let mut bytes = stream(4);
        bytes.truncate(bytes.len() - 12);
        let file = open(bytes, 5).unwrap();
        let mut samples = 0;
        let e = file
            .for_each_chunk(|c| {
                samples += c
                    .records()
                    .filter(|r| r.as_ref().is_ok_and(|r| r.header.record_type == 9))
                    .count();
                Ok::<(), PerfDataError>(())
            })
            .unwrap_err();
        assert!(e.to_string().contains("runs past"), "{e}");
        assert_eq!(samples, 11);
        // A stream is walked once, in order: it is not held for slices of it.
        assert!(matches!(file.records().next(), Some(Err(_))));
    }

    #[test]
    fn a_stream_that_ends_with_its_start_has_no_records() {
        let file = open(stream(0), 7).unwrap();
        assert_eq!(file.count_by_type().unwrap(), BTreeMap::new());
    }

    #[test]
    fn a_file_mode_header_is_not_taken_for_a_pipe() {
        let mut v = MAGIC.to_le_bytes().to_vec();
        v.extend_from_slice(&104u64.to_ne_bytes());
        let e = open(v, 8).unwrap_err();
        assert!(e.to_string().contains("not pipe mode"), "{e}");
    }

    #[test]
    fn a_stream_without_attrs_is_an_error_not_an_empty_file() {
        let mut v = MAGIC.to_le_bytes().to_vec();
        v.extend_from_slice(&16u64.to_ne_bytes());
        let e = open(v, 8).unwrap_err();
        assert!(e.to_string().contains("HEADER_ATTR"), "{e}");
    }

    #[test]
    fn a_record_cut_short_names_its_offset() {
        let mut v = MAGIC.to_le_bytes().to_vec();
        v.extend_from_slice(&16u64.to_ne_bytes());
        v.extend_from_slice(&9u32.to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&64u16.to_ne_bytes());
        v.extend_from_slice(&[0; 10]);
        let e = open(v, 8).unwrap_err();
        assert!(e.to_string().contains("ends inside"), "{e}");
    }
}
