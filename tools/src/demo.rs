//! A two-thread transfer through an in-process [`perf_ringbuf::Ring`], with sequence numbers
//! and checksums, reporting throughput. It exercises the protocol end to end without the
//! kernel.

use std::time::{Duration, Instant};

use perf_ringbuf::{Ring, RingError, WaitOutcome, WakeupPolicy, WriteError};

/// What a demo transfer did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DemoReport {
    /// Record size in bytes, header included.
    pub record_size: usize,
    /// Records the writer wrote.
    pub written: u64,
    /// Records the reader received.
    pub read: u64,
    /// Records the writer dropped for lack of space (reported by `PERF_RECORD_LOST`).
    pub lost: u64,
    /// Records that arrived out of sequence or with a bad checksum.
    pub corrupt: u64,
    /// Wall time of the transfer.
    pub elapsed: Duration,
}

impl DemoReport {
    /// Records per second received.
    pub fn records_per_sec(&self) -> f64 {
        self.read as f64 / self.elapsed.as_secs_f64()
    }

    /// Payload bandwidth received, in bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.records_per_sec() * self.record_size as f64
    }
}

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// The ring could not be created.
    #[error(transparent)]
    Ring(#[from] RingError),
    /// The reader found the ring corrupt.
    #[error(transparent)]
    Read(#[from] perf_ringbuf::ReadError),
    /// Record size outside 16..=65528 or not a multiple of 8.
    #[error("record size {0} must be a multiple of 8 between 16 and 65528")]
    BadRecordSize(usize),
    /// The writer refused a record that can never fit the ring (larger than its data area).
    #[error(transparent)]
    Write(perf_ringbuf::WriteError),
}

const SAMPLE: u32 = 9;

/// Sends `count` records of `record_size` bytes (header included) from a writer thread to
/// the calling thread through a ring of `data_size` bytes; the writer publishes every
/// `batch` records and, when the ring is full, yields and retries (counting nothing lost)
/// unless `lossy` is set, in which case full-ring records are dropped and counted.
///
/// # Errors
///
/// [`DemoError`] for a bad size or a corrupt ring.
pub fn run(
    record_size: usize,
    count: u64,
    data_size: u64,
    batch: u32,
    lossy: bool,
) -> Result<DemoReport, DemoError> {
    if !(16..=65528).contains(&record_size) || !record_size.is_multiple_of(8) {
        return Err(DemoError::BadRecordSize(record_size));
    }
    let (mut writer, mut reader) = Ring::builder(data_size)
        .wakeup_policy(WakeupPolicy::HalfBuffer)
        .build()?;
    let payload_len = record_size - 8;
    let batch = batch.max(1);
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        let mut payload = vec![0u8; payload_len];
        let mut written = 0u64;
        let mut seq = 0u64;
        while seq < count {
            fill(&mut payload, seq);
            match writer.write_deferred(SAMPLE, 0, &payload) {
                Ok(()) => {
                    written += 1;
                    seq += 1;
                    if written.is_multiple_of(batch as u64) {
                        writer.publish();
                    }
                }
                // Never fits, however much the reader frees: retrying would spin for ever.
                Err(e @ WriteError::RecordTooLarge { .. }) => return Err(e),
                Err(_) if lossy => seq += 1,
                Err(_) => {
                    // Full: publish what we have and let the reader catch up (the writer
                    // counted a drop; this mode reports no loss, see `lost` below).
                    writer.publish();
                    std::thread::yield_now();
                }
            }
        }
        writer.publish();
        Ok((written, writer.stats()))
    });
    let mut read = 0u64;
    let mut corrupt = 0u64;
    let mut next_seq = 0u64;
    loop {
        let outcome = reader.wait(Some(Duration::from_millis(50)))?;
        let mut drain = reader.drain()?;
        while let Some(rec) = drain.next() {
            let rec = rec?;
            if rec.header.record_type != SAMPLE {
                continue;
            }
            let (seq, ok) = verify(rec.payload(), payload_len);
            if !ok || (!lossy && seq != next_seq) || seq < next_seq {
                corrupt += 1;
            }
            next_seq = seq + 1;
            read += 1;
        }
        drop(drain);
        if outcome == WaitOutcome::ProducerGone {
            break;
        }
    }
    let elapsed = start.elapsed();
    let (written, stats) = producer
        .join()
        .expect("demo producer panicked")
        .map_err(DemoError::Write)?;
    Ok(DemoReport {
        record_size,
        written,
        read,
        lost: if lossy { stats.lost } else { 0 },
        corrupt,
        elapsed,
    })
}

fn checksum(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// Payload layout: the sequence number in the first 8 bytes and, when there is room, its
/// checksum in the last 8, so a torn or misplaced record shows at both ends.
fn fill(payload: &mut [u8], seq: u64) {
    payload[..8].copy_from_slice(&seq.to_ne_bytes());
    if payload.len() >= 16 {
        let end = payload.len();
        payload[end - 8..].copy_from_slice(&checksum(seq).to_ne_bytes());
    }
}

fn verify(payload: perf_ringbuf::RecordBytes<'_>, payload_len: usize) -> (u64, bool) {
    let mut first = [0u8; 8];
    let mut last = [0u8; 8];
    copy_at(payload, 0, &mut first);
    if payload.len() != payload_len {
        return (u64::from_ne_bytes(first), false);
    }
    let seq = u64::from_ne_bytes(first);
    if payload_len < 16 {
        return (seq, true);
    }
    copy_at(payload, payload_len - 8, &mut last);
    (seq, u64::from_ne_bytes(last) == checksum(seq))
}

/// Copies `out.len()` bytes at `offset` of a possibly split record.
fn copy_at(bytes: perf_ringbuf::RecordBytes<'_>, offset: usize, out: &mut [u8]) {
    let (a, b) = bytes.parts();
    for (i, o) in out.iter_mut().enumerate() {
        let at = offset + i;
        *o = if at < a.len() {
            a[at]
        } else {
            b.get(at - a.len()).copied().unwrap_or(0)
        };
    }
}
