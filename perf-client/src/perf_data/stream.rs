//! The data section read round by round: records are read with positioned reads into
//! one reused buffer and handed out a round at a time (a round ends at a
//! `PERF_RECORD_FINISHED_ROUND`, after which perf guarantees no earlier timestamp), so
//! a file of any size is walked in the memory of its largest round, with no `mmap` and
//! no copy of the whole file.
//!
//! The per-record checks are the ones the in-memory reader makes (one `step` function decodes for both),
//! with the same messages and file offsets.

use std::path::Path;

use perf_ringbuf::RecordHeader;

use super::header::{read_u64, FileSection};
use super::reader::Records;
use super::source::ReadAt;
use super::{record_type, PerfDataError};

/// `PERF_RECORD_AUXTRACE`: followed by `size` bytes of AUX data not counted in
/// `header.size`.
const RECORD_AUXTRACE: u32 = 71;

/// Buffer sizes of the streaming reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOptions {
    /// Bytes read ahead at first; the buffer grows (doubling) when a round does not fit.
    pub buffer: usize,
    /// The most the buffer may grow to: a round larger than this is an error
    /// ([`PerfDataError::RoundTooLarge`]) rather than unbounded memory.
    pub max_buffer: usize,
    /// Bytes asked of each `pread(2)` (more when the next record needs more, less at
    /// the end of the buffer or of the data section).
    pub read_size: usize,
    /// Read on a second thread, ahead of the walk: the kernel's copy of the file into
    /// memory (most of the time of a walk over a large file in the page cache) overlaps
    /// the caller's work on the rounds already read. Rounds are handed over in batches
    /// of about `buffer` bytes, through three buffers of about that size; the
    /// chunks then hold several rounds, still ending where a round ends. The walk's
    /// records and errors are the same either way. A stream walked as it arrives (a
    /// pipe) is not read ahead: its rounds are handed out one by one, as they come.
    pub read_ahead: bool,
}

/// Buffers of a read-ahead walk: one being filled, one waiting, one being walked.
const READ_AHEAD_BUFFERS: usize = 3;

impl Default for StreamOptions {
    /// 1 MiB at first (a round of a default `perf record` on a few CPUs fits), at most
    /// 1 GiB, read 256 KiB at a time, on a second thread.
    fn default() -> Self {
        StreamOptions {
            buffer: 1 << 20,
            max_buffer: 1 << 30,
            read_size: 256 << 10,
            read_ahead: true,
        }
    }
}

/// A piece of the data section: whole records, in file order.
#[derive(Debug, Clone, Copy)]
pub struct DataChunk<'a> {
    /// File offset of `bytes[0]`.
    pub offset: u64,
    /// The records' bytes.
    pub bytes: &'a [u8],
    /// True when the data section ends with this chunk. A streamed chunk otherwise
    /// ends with a FINISHED_ROUND record, or stops before a bad record (the walk then
    /// ends with that record's error).
    pub last: bool,
}

impl<'a> DataChunk<'a> {
    /// The chunk's records.
    pub fn records(&self) -> Records<'a> {
        Records::new(self.bytes, self.offset)
    }
}

/// What lies at the start of the buffered bytes.
#[derive(Debug)]
pub(crate) enum Step {
    /// A record of `size` bytes; the next one starts `step` bytes on (AUX data skipped).
    Record {
        header: RecordHeader,
        size: usize,
        step: usize,
    },
    /// The data section ends here.
    End,
    /// The first `n` bytes are needed to decide, and more of the section is unread.
    NeedMore(usize),
    /// A bad record.
    Bad(PerfDataError),
}

/// Decodes the record at the start of `rest` (file offset `offset`); `complete` says
/// that `rest` reaches the end of the data section.
pub(crate) fn step(rest: &[u8], offset: u64, complete: bool) -> Step {
    if rest.is_empty() {
        return if complete {
            Step::End
        } else {
            Step::NeedMore(8)
        };
    }
    let Some(header) = RecordHeader::parse(rest) else {
        if !complete {
            return Step::NeedMore(8);
        }
        return Step::Bad(PerfDataError::corrupt(
            offset,
            format!(
                "data section ends inside a record header ({} bytes left)",
                rest.len()
            ),
        ));
    };
    let size = header.size as usize;
    if size < 8 {
        return Step::Bad(PerfDataError::corrupt(
            offset,
            format!("record of type {} has size {size}", header.record_type),
        ));
    }
    if size > rest.len() {
        if !complete {
            return Step::NeedMore(size);
        }
        return Step::Bad(PerfDataError::corrupt(
            offset,
            format!(
                "record of type {} and size {size} runs past the data section ({} bytes left)",
                header.record_type,
                rest.len()
            ),
        ));
    }
    let mut step = size;
    if header.record_type == RECORD_AUXTRACE && size >= 16 {
        let aux = read_u64(rest, 8);
        match usize::try_from(aux).ok().and_then(|a| step.checked_add(a)) {
            Some(s) if s <= rest.len() => step = s,
            Some(s) if !complete => return Step::NeedMore(s),
            _ => {
                return Step::Bad(PerfDataError::corrupt(
                    offset,
                    format!("AUXTRACE data of {aux} bytes runs past the data section"),
                ))
            }
        }
    }
    Step::Record { header, size, step }
}

/// Reads `buf.len()` bytes at `offset` of `src`; the source ending early is a
/// truncation of `what` (which should end at `end`), any other failure an I/O error.
pub(crate) fn read_exact(
    src: &dyn ReadAt,
    name: &Path,
    buf: &mut [u8],
    offset: u64,
    what: &'static str,
    end: u64,
) -> Result<(), PerfDataError> {
    let mut done = 0usize;
    while done < buf.len() {
        let at = offset.saturating_add(done as u64);
        match src.read_at(&mut buf[done..], at) {
            Ok(0) => {
                return Err(PerfDataError::Truncated {
                    what,
                    offset,
                    end,
                    len: at,
                })
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(PerfDataError::io(name, e)),
        }
    }
    Ok(())
}

/// Walks the data section of a streamed file, one round per [`DataChunk`].
///
/// Invariant: `keep <= start <= scan <= end <= buf.len()`, and `base + end <= data_end`.
/// `buf[i]` is the file byte at `base + i` for `i < end`; `buf[..start]` was handed out;
/// `buf[start..scan]` are whole records of the round being gathered, checked by
/// [`step`]; `buf[scan..end]` is read but not yet checked. `buf[keep..start]` is the
/// batch of rounds a read-ahead walk has not yet taken ([`RoundReader::take_batch`]);
/// without batching `keep` is 0 and only `buf[start..]` is kept when the buffer is
/// refilled.
#[derive(Debug)]
pub(crate) struct RoundReader<'s> {
    src: &'s dyn ReadAt,
    name: &'s Path,
    buf: Vec<u8>,
    batching: bool,
    keep: usize,
    start: usize,
    scan: usize,
    end: usize,
    /// File offset of `buf[0]`.
    base: u64,
    data_end: u64,
    max: usize,
    read_size: u64,
    /// The error that follows the chunk just handed out.
    pending: Option<PerfDataError>,
    done: bool,
    /// The section ends where the source does (a pipe: `data_end` is unknown until then),
    /// and each read takes what the source has now rather than waiting for a full
    /// buffer, so that a round is handed out as soon as it has arrived.
    to_source_end: bool,
}

impl<'s> RoundReader<'s> {
    /// A reader of `data` (its bounds already checked against the file's length).
    pub(crate) fn new(
        src: &'s dyn ReadAt,
        name: &'s Path,
        data: FileSection,
        opts: StreamOptions,
    ) -> Self {
        let max = opts.max_buffer.max(8);
        // Never more than the data section needs.
        let size = usize::try_from(data.size).unwrap_or(usize::MAX);
        let first = opts.buffer.clamp(8, max).min(size);
        RoundReader {
            src,
            name,
            buf: vec![0; first],
            batching: false,
            keep: 0,
            start: 0,
            scan: 0,
            end: 0,
            base: data.offset,
            data_end: data.offset.saturating_add(data.size),
            max,
            read_size: opts.read_size.max(1) as u64,
            pending: None,
            done: false,
            to_source_end: false,
        }
    }

    /// A reader of the records from `offset` to the end of `src`, a stream read in
    /// order (the records of a pipe, [`super::pipe`]).
    pub(crate) fn to_end_of(
        src: &'s dyn ReadAt,
        name: &'s Path,
        offset: u64,
        opts: StreamOptions,
    ) -> Self {
        let data = FileSection {
            offset,
            size: u64::MAX - offset,
        };
        let mut r = Self::new(src, name, data, opts);
        r.to_source_end = true;
        r
    }

    /// The next round (or the records before a bad one), `None` at the end.
    ///
    /// # Errors
    ///
    /// A bad record (after the chunk of the good records before it), a round larger
    /// than [`StreamOptions::max_buffer`], a read failure, or the file ending before
    /// its data section does.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<DataChunk<'_>>, PerfDataError> {
        if let Some(e) = self.pending.take() {
            self.done = true;
            return Err(e);
        }
        if self.done {
            return Ok(None);
        }
        loop {
            debug_assert!(
                self.keep <= self.start
                    && self.start <= self.scan
                    && self.scan <= self.end
                    && self.end <= self.buf.len()
            );
            let buffered_to = self.base + self.end as u64;
            let complete = buffered_to >= self.data_end;
            let offset = self.base + self.scan as u64;
            match step(&self.buf[self.scan..self.end], offset, complete) {
                Step::Record { header, step, .. } => {
                    self.scan += step;
                    if header.record_type == record_type::FINISHED_ROUND {
                        return Ok(Some(self.take_chunk(false)));
                    }
                }
                Step::End => {
                    self.done = true;
                    if self.scan == self.start {
                        return Ok(None);
                    }
                    return Ok(Some(self.take_chunk(true)));
                }
                Step::NeedMore(n) => {
                    if let Err(e) = self.refill(n) {
                        self.done = true;
                        return Err(e);
                    }
                }
                Step::Bad(e) => {
                    if self.scan == self.start {
                        self.done = true;
                        return Err(e);
                    }
                    self.pending = Some(e);
                    return Ok(Some(self.take_chunk(false)));
                }
            }
        }
    }

    fn take_chunk(&mut self, last: bool) -> DataChunk<'_> {
        let (a, b) = (self.start, self.scan);
        self.start = b;
        DataChunk {
            offset: self.base + a as u64,
            bytes: &self.buf[a..b],
            last,
        }
    }

    /// Bytes handed out since the last [`RoundReader::take_batch`].
    fn batched(&self) -> usize {
        self.start - self.keep
    }

    /// Takes the chunks handed out since the last batch as one owned buffer and the
    /// range of it they fill (with the file offset of the range's start); the bytes
    /// read but not handed out move to `spare`, which becomes the reader's buffer.
    fn take_batch(&mut self, mut spare: Vec<u8>) -> (Vec<u8>, std::ops::Range<usize>, u64) {
        let left = self.end - self.start;
        let len = self.buf.len().max(left);
        if spare.len() < len {
            spare.resize(len, 0);
        }
        spare[..left].copy_from_slice(&self.buf[self.start..self.end]);
        let batch = std::mem::replace(&mut self.buf, spare);
        let range = self.keep..self.start;
        let offset = self.base + self.keep as u64;
        self.base += self.start as u64;
        self.scan -= self.start;
        self.end = left;
        self.start = 0;
        self.keep = 0;
        (batch, range, offset)
    }

    /// Makes the first `need` bytes from `scan` readable if the data section has
    /// them: drops the chunks handed out, grows the buffer if the round needs it, and
    /// reads as much of the section as fits.
    fn refill(&mut self, need: usize) -> Result<(), PerfDataError> {
        let drop = if self.batching { self.keep } else { self.start };
        if drop > 0 {
            self.buf.copy_within(drop..self.end, 0);
            self.base += drop as u64;
            self.keep -= self.keep.min(drop);
            self.start -= drop;
            self.scan -= drop;
            self.end -= drop;
        }
        let unread = self.data_end - (self.base + self.end as u64);
        // Everything of the section that is left, from the round's start.
        let section_left = (self.end as u64).saturating_add(unread);
        let want = (self.scan as u64)
            .saturating_add(need as u64)
            .min(section_left);
        if want > self.buf.len() as u64 {
            // The round alone is held to the cap (a batch before it is not counted).
            let round = want - self.start as u64;
            if round > self.max as u64 {
                return Err(PerfDataError::RoundTooLarge {
                    offset: self.base + self.start as u64,
                    needs: round,
                    limit: self.max as u64,
                });
            }
            // `want <= start + max`, and `start` bytes are in the buffer, so it fits in
            // usize; grow by doubling, within the cap and the section.
            let cap = (self.max as u64)
                .saturating_add(self.start as u64)
                .min(section_left)
                .min(usize::MAX as u64) as usize;
            let grown = (want as usize)
                .max(self.buf.len().saturating_mul(2))
                .min(cap);
            self.buf.resize(grown, 0);
        }
        // Read what the round needs, at least `read_size`: the bytes are scanned while
        // still in cache, and a round that ends early leaves little to move.
        let wanted = want.saturating_sub(self.end as u64).max(self.read_size);
        let room = ((self.buf.len() - self.end) as u64).min(unread).min(wanted) as usize;
        let at = self.base + self.end as u64;
        if self.to_source_end && room > 0 {
            // One read: what has arrived. Nothing more means the section ends here.
            let n = loop {
                match self
                    .src
                    .read_at(&mut self.buf[self.end..self.end + room], at)
                {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(PerfDataError::io(self.name, e)),
                }
            };
            if n == 0 {
                self.data_end = at;
            }
            self.end += n;
            return Ok(());
        }
        let (name, data_end) = (self.name, self.data_end);
        read_exact(
            self.src,
            name,
            &mut self.buf[self.end..self.end + room],
            at,
            "data section",
            data_end,
        )?;
        self.end += room;
        Ok(())
    }
}

/// One batch of a read-ahead walk: `buf[range]` are whole rounds starting at file offset
/// `offset`; `last` as in [`DataChunk`].
struct Batch {
    buf: Vec<u8>,
    range: std::ops::Range<usize>,
    offset: u64,
    last: bool,
}

/// Walks `data` of `src` as [`RoundReader`] does, handing each chunk to `f`, with the
/// reads done on a second thread ([`StreamOptions::read_ahead`]). If the thread cannot
/// be started, the walk reads on the caller's thread.
///
/// # Errors
///
/// The first error of `f`, or of the reader (after the chunks before it).
pub(crate) fn read_ahead<E: From<PerfDataError>>(
    src: &dyn ReadAt,
    name: &Path,
    data: FileSection,
    opts: StreamOptions,
    mut f: impl FnMut(DataChunk<'_>) -> Result<(), E>,
) -> Result<(), E> {
    use std::sync::mpsc;
    let target = opts.buffer.max(1);
    std::thread::scope(|scope| {
        let (full_tx, full_rx) = mpsc::sync_channel::<Result<Batch, PerfDataError>>(1);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        let reader = move || {
            let mut rounds = RoundReader::new(src, name, data, opts);
            rounds.batching = true;
            // Buffers in use: the reader's own, and those sent and not yet back.
            let mut made = 1;
            let mut send = |rounds: &mut RoundReader<'_>, last: bool| -> bool {
                let spare = match free_rx.try_recv() {
                    Ok(v) => v,
                    Err(_) if made < READ_AHEAD_BUFFERS => {
                        made += 1;
                        Vec::new()
                    }
                    // The walk has ended (its error, or `f`'s) when it returns no buffer.
                    Err(_) => match free_rx.recv() {
                        Ok(v) => v,
                        Err(_) => return false,
                    },
                };
                let (buf, range, offset) = rounds.take_batch(spare);
                let batch = Batch {
                    buf,
                    range,
                    offset,
                    last,
                };
                full_tx.send(Ok(batch)).is_ok()
            };
            loop {
                match rounds.next_chunk() {
                    Ok(Some(chunk)) => {
                        let last = chunk.last;
                        if (last || rounds.batched() >= target) && !send(&mut rounds, last) {
                            return;
                        }
                    }
                    Ok(None) => {
                        if rounds.batched() > 0 {
                            send(&mut rounds, false);
                        }
                        return;
                    }
                    Err(e) => {
                        if rounds.batched() > 0 && !send(&mut rounds, false) {
                            return;
                        }
                        // The walk may have ended already; then nobody needs the error.
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        };
        let spawned = std::thread::Builder::new()
            .name("perf.data read-ahead".to_owned())
            .spawn_scoped(scope, reader);
        if spawned.is_err() {
            let mut rounds = RoundReader::new(src, name, data, opts);
            while let Some(chunk) = rounds.next_chunk()? {
                f(chunk)?;
            }
            return Ok(());
        }
        for batch in full_rx {
            let batch = batch?;
            f(DataChunk {
                offset: batch.offset,
                bytes: &batch.buf[batch.range.clone()],
                last: batch.last,
            })?;
            // The reader may have finished: the buffer is then not needed.
            let _ = free_tx.send(batch.buf);
        }
        Ok(())
    })
}
