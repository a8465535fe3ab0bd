//! The subjects: our ring, its peers, and the limits, each with its pre-built state.

use std::alloc::Layout;
use std::hint::spin_loop;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::channel::{self, Receiver, Sender};
use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use perf_ringbuf::layout::{align_record, HEADER_SIZE};
use perf_ringbuf::{Reader, RecordHeader, Ring, WriteError, Writer};

use super::affinity::{run_pair, run_single};
use super::limits::TunedCopy;
use super::peers::{ArrayQueueN, BbqueueStream, CommitWord, DisruptorBatch, Runner};
use super::{check, pattern, stamp, Check, Sample};

/// Data bytes every two-thread subject can hold: the perf ring's data area, rtrb's byte
/// ring, the copy buffer, and (in items) the queues. 1 MiB stays in this machine's L2.
pub const CAPACITY_BYTES: usize = 1 << 20;
/// Records per `data_head` store for the batch-commit subject (and per disruptor batch).
pub const BATCH: u64 = 32;
/// The row `compare` derives from the limit rows of a group: their per-round maximum.
pub const BEST_LIMIT: &str = "cross-core limit (best handoff)";
/// The row `compare` derives from the peer rows of a group: their per-round maximum.
pub const FASTEST_PEER: &str = "fastest peer";
/// The commit-word variant of our framing (role [`Role::Variant`]).
pub const COMMIT_WORD: &str = "commit-word ring (our framing, separate lines)";
/// Bytes a reader consumes between `data_tail` stores in the deferred-release subject.
pub const DEFERRED_RELEASE: u64 = 64 << 10;
/// `perf_event_header::type` of the bench records (`PERF_RECORD_SAMPLE`).
const RECORD_TYPE: u32 = 9;

/// What a subject is in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `perf-ringbuf`.
    Ours,
    /// Another queue or ring.
    Peer,
    /// Our framing with another control layout (written in `benches/`, not a library):
    /// what perf's ABI layout costs.
    Variant,
    /// A physical limit: nothing moving these bytes across cores can beat it.
    Limit,
    /// Single-thread figure, for scale only.
    Scale,
}

/// A ratio this subject is compared on.
#[derive(Debug, Clone)]
pub struct PeerRef {
    /// The other subject's name (same group).
    pub peer: &'static str,
    /// The target from issue 15, if any.
    pub min: Option<f64>,
}

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `Writer::write` per record: one `data_head` store each.
    RingWrite,
    /// As [`Kind::RingWrite`], with the reader storing `data_tail` once per
    /// [`DEFERRED_RELEASE`] bytes instead of once per drain (`Reader::set_release_every`).
    RingWriteDeferred,
    /// `Writer::write_deferred` and one `publish` per [`BATCH`] records.
    RingBatch,
    /// As [`Kind::RingBatch`], with the reader storing `data_tail` once per
    /// [`DEFERRED_RELEASE`] bytes instead of once per drain (`Reader::set_release_every`).
    RingBatchDeferred,
    /// rtrb `push`/`pop` of `u64`.
    RtrbU64,
    /// rtrb `push_entire_slice`/`pop_entire_slice` of one record's bytes.
    RtrbSlices,
    /// crossbeam `ArrayQueue<u64>`.
    ArrayQueueU64,
    /// crossbeam `ArrayQueue<[u8; N]>`, N the record size.
    ArrayQueueArray,
    /// crossbeam-channel `bounded` of `u64`, `try_send`/`try_recv`.
    ChannelU64,
    /// crossbeam-channel `bounded` of `[u8; 64]`.
    Channel64,
    /// bbqueue stream: one exact grant per record, one read grant per drain.
    Bbqueue,
    /// disruptor: events written in place, [`BATCH`] per publish, polled in batches.
    Disruptor,
    /// [`super::commit_word`]: our framing, header word as commit, separate lines.
    CommitWord,
    /// One core copies chunks into a shared buffer, the other copies each out as soon as
    /// it is published: the ring protocol without framing.
    CrossCoreCopy {
        /// Bytes per chunk (the record size).
        chunk: usize,
        /// Chunks per `written` store: 1 like `Writer::write`, [`BATCH`] like the batch.
        every: u64,
    },
    /// [`super::limits::TunedCopy`]: records written in place, one handoff per
    /// `handoff` bytes, streaming stores or not.
    TunedCopy {
        /// Bytes per handoff.
        handoff: usize,
        /// Non-temporal stores.
        streaming: bool,
    },
    /// Single-thread `memcpy` of a buffer of this many bytes.
    Memcpy {
        /// Buffer size.
        bytes: usize,
    },
}

/// One row of the comparison: a named measurement in a record-size group.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Record size of the group (16, 64, 256, 4096).
    pub group: usize,
    /// Unique within the group.
    pub name: &'static str,
    /// The series this row belongs to in the plot.
    pub family: &'static str,
    /// Ours, peer, variant, limit or scale.
    pub role: Role,
    /// What runs.
    pub kind: Kind,
    /// Bytes moved per record (the record for the perf ring, header included).
    pub unit_bytes: usize,
    /// Same-run ratios to report, with their targets.
    pub peers: Vec<PeerRef>,
}

fn peer(peer: &'static str, min: Option<f64>) -> PeerRef {
    PeerRef { peer, min }
}

/// `ArrayQueue<[u8; N]>`'s row name for record size `group`.
fn array_queue_name(group: usize) -> &'static str {
    match group {
        16 => "crossbeam ArrayQueue<[u8; 16]>",
        64 => "crossbeam ArrayQueue<[u8; 64]>",
        256 => "crossbeam ArrayQueue<[u8; 256]>",
        4096 => "crossbeam ArrayQueue<[u8; 4096]>",
        _ => unreachable!("record sizes are 16, 64, 256, 4096"),
    }
}

/// Every subject, grouped by record size.
pub fn catalogue() -> Vec<Spec> {
    let mut out = Vec::new();
    for group in [16usize, 64, 256, 4096] {
        let spec = |name, family, role, kind, unit_bytes, peers| Spec {
            group,
            name,
            family,
            role,
            kind,
            unit_bytes,
            peers,
        };
        // The targets of issue 15: every commit mode at least as fast as the fastest peer
        // of the round, and from 256 bytes on within 5% of the limit; the commit-word
        // variant shows what the perf ABI's shared head/tail line costs.
        let ours_peers = vec![
            peer(FASTEST_PEER, Some(1.0)),
            peer(COMMIT_WORD, None),
            peer(BEST_LIMIT, (group >= 256).then_some(0.95)),
        ];
        for (name, family, kind) in [
            (
                "perf-ringbuf write",
                "perf-ringbuf write (per-record commit)",
                Kind::RingWrite,
            ),
            (
                "perf-ringbuf write, deferred tail",
                "perf-ringbuf write, tail per 64 KiB",
                Kind::RingWriteDeferred,
            ),
            (
                "perf-ringbuf batch",
                "perf-ringbuf batch (commit per 32)",
                Kind::RingBatch,
            ),
            (
                "perf-ringbuf batch, deferred tail",
                "perf-ringbuf batch, tail per 64 KiB",
                Kind::RingBatchDeferred,
            ),
        ] {
            out.push(spec(
                name,
                family,
                Role::Ours,
                kind,
                group,
                ours_peers.clone(),
            ));
        }
        if group == 16 {
            out.push(spec(
                "rtrb u64 push/pop",
                "rtrb u64 push/pop",
                Role::Peer,
                Kind::RtrbU64,
                8,
                vec![],
            ));
            out.push(spec(
                "crossbeam ArrayQueue<u64>",
                "crossbeam ArrayQueue<u64>",
                Role::Peer,
                Kind::ArrayQueueU64,
                8,
                vec![],
            ));
            out.push(spec(
                "crossbeam-channel u64",
                "crossbeam-channel",
                Role::Peer,
                Kind::ChannelU64,
                8,
                vec![],
            ));
        }
        out.push(spec(
            "rtrb slices",
            "rtrb slices",
            Role::Peer,
            Kind::RtrbSlices,
            group,
            vec![],
        ));
        out.push(spec(
            array_queue_name(group),
            "crossbeam ArrayQueue<[u8; N]>",
            Role::Peer,
            Kind::ArrayQueueArray,
            group,
            vec![],
        ));
        if group == 64 {
            out.push(spec(
                "crossbeam-channel [u8; 64]",
                "crossbeam-channel",
                Role::Peer,
                Kind::Channel64,
                64,
                vec![],
            ));
        }
        out.push(spec(
            "bbqueue stream grants",
            "bbqueue stream grants",
            Role::Peer,
            Kind::Bbqueue,
            group,
            vec![],
        ));
        out.push(spec(
            "disruptor batch publish",
            "disruptor batch publish (32)",
            Role::Peer,
            Kind::Disruptor,
            group,
            vec![],
        ));
        out.push(spec(
            COMMIT_WORD,
            COMMIT_WORD,
            Role::Variant,
            Kind::CommitWord,
            group,
            vec![peer(BEST_LIMIT, None)],
        ));
        out.push(spec(
            "cross-core copy, per-record handoff",
            "cross-core copy, per-record handoff (limit)",
            Role::Limit,
            Kind::CrossCoreCopy {
                chunk: group,
                every: 1,
            },
            group,
            vec![],
        ));
        out.push(spec(
            "cross-core copy, batch handoff",
            "cross-core copy, handoff per 32 (limit)",
            Role::Limit,
            Kind::CrossCoreCopy {
                chunk: group,
                every: BATCH,
            },
            group,
            vec![],
        ));
        for (name, family, handoff, streaming) in [
            (
                "tuned copy, handoff per 4 KiB",
                "tuned copy, handoff per 4 KiB (limit)",
                4096,
                false,
            ),
            (
                "tuned copy, handoff per 64 KiB",
                "tuned copy, handoff per 64 KiB (limit)",
                64 << 10,
                false,
            ),
            (
                "tuned copy, handoff per 256 KiB",
                "tuned copy, handoff per 256 KiB (limit)",
                256 << 10,
                false,
            ),
            (
                "tuned copy, streaming stores, per 64 KiB",
                "tuned copy, streaming stores (limit)",
                64 << 10,
                true,
            ),
        ] {
            out.push(spec(
                name,
                family,
                Role::Limit,
                Kind::TunedCopy { handoff, streaming },
                group,
                vec![],
            ));
        }
        out.push(spec(
            "memcpy, 1 thread",
            "memcpy, 1 thread (scale)",
            Role::Scale,
            Kind::Memcpy { bytes: group },
            group,
            vec![],
        ));
        if group == 4096 {
            out.push(spec(
                "memcpy 1 MiB, 1 thread",
                "memcpy 1 MiB, 1 thread (scale)",
                Role::Scale,
                Kind::Memcpy {
                    bytes: CAPACITY_BYTES,
                },
                CAPACITY_BYTES,
                vec![],
            ));
        }
    }
    out
}

/// A subject with its queues, rings and buffers built (and kept across runs, so pages
/// are faulted in once, by [`Subject::verify`]).
pub struct Subject {
    /// What it is.
    pub spec: Spec,
    state: State,
}

enum State {
    /// Writer and reader each on their own lines: the two threads' hot fields never
    /// share one.
    Ring(Box<(CachePadded<Writer>, CachePadded<Reader>)>),
    RtrbU64(rtrb::Producer<u64>, rtrb::Consumer<u64>),
    RtrbBytes(rtrb::Producer<u8>, rtrb::Consumer<u8>),
    ArrayQueueU64(Box<ArrayQueue<u64>>),
    /// Subjects whose state depends on the record size (const generics).
    Dyn(Box<dyn Runner>),
    ChannelU64(Sender<u64>, Receiver<u64>),
    Channel64(Sender<[u8; 64]>, Receiver<[u8; 64]>),
    Copy(Box<CopyBuffer>),
    Memcpy(Vec<u8>, Vec<u8>),
}

impl Subject {
    /// Builds the state of `spec`.
    pub fn new(spec: Spec) -> Subject {
        let state = match spec.kind {
            Kind::RingWrite
            | Kind::RingWriteDeferred
            | Kind::RingBatch
            | Kind::RingBatchDeferred => {
                // Busy-spinning consumer, like every peer: no eventfd.
                let (writer, mut reader) = single_core_ring();
                if matches!(spec.kind, Kind::RingWriteDeferred | Kind::RingBatchDeferred) {
                    reader.set_release_every(DEFERRED_RELEASE);
                }
                State::Ring(Box::new((
                    CachePadded::new(writer),
                    CachePadded::new(reader),
                )))
            }
            Kind::RtrbU64 => {
                let (p, c) = rtrb::RingBuffer::new(CAPACITY_BYTES / 8);
                State::RtrbU64(p, c)
            }
            Kind::RtrbSlices => {
                let (p, c) = rtrb::RingBuffer::new(CAPACITY_BYTES);
                State::RtrbBytes(p, c)
            }
            Kind::ArrayQueueU64 => {
                State::ArrayQueueU64(Box::new(ArrayQueue::new(CAPACITY_BYTES / 8)))
            }
            Kind::ArrayQueueArray => State::Dyn(sized(spec.group, SizedKind::ArrayQueue)),
            Kind::Disruptor => State::Dyn(sized(spec.group, SizedKind::Disruptor)),
            Kind::TunedCopy { handoff, streaming } => {
                State::Dyn(sized(spec.group, SizedKind::Tuned { handoff, streaming }))
            }
            Kind::Bbqueue => State::Dyn(Box::new(BbqueueStream::new(spec.group))),
            Kind::CommitWord => State::Dyn(Box::new(CommitWord::new(spec.group))),
            Kind::ChannelU64 => {
                let (s, r) = channel::bounded(CAPACITY_BYTES / 8);
                State::ChannelU64(s, r)
            }
            Kind::Channel64 => {
                let (s, r) = channel::bounded(CAPACITY_BYTES / 64);
                State::Channel64(s, r)
            }
            Kind::CrossCoreCopy { .. } => State::Copy(Box::new(CopyBuffer::new(CAPACITY_BYTES))),
            Kind::Memcpy { bytes } => State::Memcpy(pattern(bytes), vec![0; bytes]),
        };
        Subject { spec, state }
    }

    /// Moves enough records to wrap every buffer several times, checking every byte.
    pub fn verify(&mut self) {
        let per_pass = (CAPACITY_BYTES / self.spec.unit_bytes).max(1) as u64;
        self.run(3 * per_pass + 7, Check::Full);
    }

    /// Moves `records` records and times it.
    pub fn run(&mut self, records: u64, how: Check) -> Sample {
        let unit = self.spec.unit_bytes;
        match (&mut self.state, self.spec.kind) {
            (State::Ring(pair), kind) => {
                let (writer, reader) = &mut **pair;
                let (writer, reader) = (&mut **writer, &mut **reader);
                let batch = matches!(kind, Kind::RingBatch | Kind::RingBatchDeferred);
                ring(writer, reader, records, unit, batch, how)
            }
            (State::RtrbU64(p, c), _) => run_pair(
                records,
                8,
                || {
                    for seq in 0..records {
                        while p.push(seq).is_err() {
                            spin_loop();
                        }
                    }
                },
                || {
                    let mut seq = 0;
                    while seq < records {
                        match c.pop() {
                            Ok(v) => {
                                assert_eq!(v, seq, "rtrb u64 out of sequence");
                                seq += 1;
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                    seq
                },
            ),
            (State::RtrbBytes(p, c), _) => run_pair(
                records,
                unit as u64,
                || {
                    let mut src = pattern(unit);
                    for seq in 0..records {
                        stamp(&mut src, seq);
                        while p.push_entire_slice(&src).is_err() {
                            spin_loop();
                        }
                    }
                },
                || {
                    let mut dst = vec![0u8; unit];
                    let mut expected = pattern(unit);
                    let mut seq = 0;
                    while seq < records {
                        if c.pop_entire_slice(&mut dst).is_ok() {
                            check(&dst, seq, how, &mut expected);
                            seq += 1;
                        } else {
                            spin_loop();
                        }
                    }
                    seq
                },
            ),
            (State::ArrayQueueU64(q), _) => {
                let q = &**q;
                run_pair(
                    records,
                    8,
                    || {
                        for seq in 0..records {
                            let mut item = seq;
                            while let Err(back) = q.push(item) {
                                item = back;
                                spin_loop();
                            }
                        }
                    },
                    || {
                        let mut seq = 0;
                        while seq < records {
                            match q.pop() {
                                Some(v) => {
                                    assert_eq!(v, seq, "ArrayQueue out of sequence");
                                    seq += 1;
                                }
                                None => spin_loop(),
                            }
                        }
                        seq
                    },
                )
            }
            (State::Dyn(runner), _) => runner.run(records, how),
            (State::ChannelU64(s, r), _) => run_pair(
                records,
                8,
                || {
                    for seq in 0..records {
                        let mut item = seq;
                        while let Err(e) = s.try_send(item) {
                            item = e.into_inner();
                            spin_loop();
                        }
                    }
                },
                || {
                    let mut seq = 0;
                    while seq < records {
                        match r.try_recv() {
                            Ok(v) => {
                                assert_eq!(v, seq, "channel out of sequence");
                                seq += 1;
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                    seq
                },
            ),
            (State::Channel64(s, r), _) => run_pair(
                records,
                64,
                || {
                    let mut item = [0u8; 64];
                    item.copy_from_slice(&pattern(64));
                    for seq in 0..records {
                        stamp(&mut item, seq);
                        let mut v = item;
                        while let Err(e) = s.try_send(v) {
                            v = e.into_inner();
                            spin_loop();
                        }
                    }
                },
                || {
                    let mut expected = pattern(64);
                    let mut seq = 0;
                    while seq < records {
                        match r.try_recv() {
                            Ok(v) => {
                                check(&v, seq, how, &mut expected);
                                seq += 1;
                            }
                            Err(_) => spin_loop(),
                        }
                    }
                    seq
                },
            ),
            (State::Copy(buf), Kind::CrossCoreCopy { chunk, every }) => {
                cross_core_copy(buf, records, chunk, every, how)
            }
            (State::Memcpy(src, dst), _) => {
                let len = src.len();
                run_single(records, len as u64, || {
                    for _ in 0..records {
                        dst.copy_from_slice(std::hint::black_box(&src[..]));
                        std::hint::black_box(&mut dst[..]);
                    }
                    assert!(dst == src, "memcpy result differs");
                    records
                })
            }
            (State::Copy(_), _) => unreachable!("copy state for a non-copy kind"),
        }
    }
}

/// The record-size-generic subjects.
enum SizedKind {
    ArrayQueue,
    Disruptor,
    Tuned { handoff: usize, streaming: bool },
}

/// Builds `kind` for `group`-byte records.
fn sized(group: usize, kind: SizedKind) -> Box<dyn Runner> {
    fn of<const N: usize>(kind: SizedKind) -> Box<dyn Runner> {
        match kind {
            SizedKind::ArrayQueue => Box::new(ArrayQueueN::<N>::new()),
            SizedKind::Disruptor => Box::new(DisruptorBatch::<N>::new()),
            SizedKind::Tuned { handoff, streaming } => {
                Box::new(TunedCopy::<N>::new(handoff, streaming))
            }
        }
    }
    match group {
        16 => of::<16>(kind),
        64 => of::<64>(kind),
        256 => of::<256>(kind),
        4096 => of::<4096>(kind),
        _ => unreachable!("record sizes are 16, 64, 256, 4096"),
    }
}

/// The ring the two-thread subjects use, for single-thread measurements.
pub fn single_core_ring() -> (Writer, Reader) {
    Ring::builder(CAPACITY_BYTES as u64)
        .wakeup_fd(false)
        .build()
        .expect("ring")
}

/// `records` records of `record` bytes (header included) through a perf ring.
fn ring(
    writer: &mut Writer,
    reader: &mut Reader,
    records: u64,
    record: usize,
    batch: bool,
    how: Check,
) -> Sample {
    let size = record_size(record);
    run_pair(
        records,
        size,
        || {
            let mut producer = RingProducer::new(record, batch);
            producer.produce(writer, records);
        },
        || {
            let mut consumer = RingConsumer::new(record, how);
            while consumer.seq < records {
                if consumer.drain_once(reader) == 0 {
                    spin_loop();
                }
            }
            consumer.seq
        },
    )
}

fn record_size(record: usize) -> u64 {
    let size = align_record(record).expect("record size") as u64;
    assert_eq!(size, record as u64, "bench records are 8-byte multiples");
    size
}

/// The producer side of the ring subjects, as a step function so that the single-thread
/// instruction-count harness (`examples/ring_instructions.rs`) runs exactly this code.
pub struct RingProducer {
    src: Vec<u8>,
    batch: bool,
    /// The next record's sequence number.
    pub seq: u64,
}

impl RingProducer {
    /// A producer of `record`-byte records (header included), batch or per-record commit.
    pub fn new(record: usize, batch: bool) -> Self {
        record_size(record);
        RingProducer {
            src: pattern(record - HEADER_SIZE),
            batch,
            seq: 0,
        }
    }

    /// Writes `n` more records, waiting for room rather than dropping any; the batch
    /// mode publishes once per [`BATCH`] records and after the last.
    #[inline(always)]
    pub fn produce(&mut self, writer: &mut Writer, n: u64) {
        let src = &mut self.src;
        let end = self.seq + n;
        let mut seq = self.seq;
        // Wait for room rather than drop: `try_write*` returns false, dropping nothing,
        // when the record does not fit.
        if self.batch {
            while seq < end {
                let n = BATCH.min(end - seq);
                for _ in 0..n {
                    stamp(src, seq);
                    loop {
                        match writer.try_write_deferred(RECORD_TYPE, 0, src) {
                            Ok(true) => break,
                            Ok(false) => spin_loop(),
                            Err(e) => write_failed(seq, e),
                        }
                    }
                    seq += 1;
                }
                writer.publish();
            }
        } else {
            while seq < end {
                stamp(src, seq);
                loop {
                    match writer.try_write(RECORD_TYPE, 0, src) {
                        Ok(true) => break,
                        Ok(false) => spin_loop(),
                        Err(e) => write_failed(seq, e),
                    }
                }
                seq += 1;
            }
        }
        self.seq = seq;
    }
}

/// The consumer side of the ring subjects: copies every payload out and checks it.
pub struct RingConsumer {
    dst: Vec<u8>,
    expected: Vec<u8>,
    size: u64,
    /// How much of each payload is checked.
    pub how: Check,
    /// The next expected sequence number (= records received).
    pub seq: u64,
}

impl RingConsumer {
    /// A consumer of `record`-byte records (header included).
    pub fn new(record: usize, how: Check) -> Self {
        let payload = record - HEADER_SIZE;
        RingConsumer {
            dst: vec![0u8; payload],
            expected: pattern(payload),
            size: record_size(record),
            how,
            seq: 0,
        }
    }

    /// One drain: every record published so far. Returns the records received.
    #[inline(always)]
    pub fn drain_once(&mut self, reader: &mut Reader) -> u64 {
        let before = self.seq;
        let (dst, expected, size, how) = (&mut self.dst, &mut self.expected, self.size, self.how);
        let mut seq = self.seq;
        let mut drain = reader.drain().expect("drain");
        // The batch read: every record of the drain, validated, zero-copy.
        let got = drain.for_each_record(|record| {
            if record.header.record_type != RECORD_TYPE || record.header.size as u64 != size {
                unexpected_header(seq, record.header);
            }
            let (a, b) = record.payload().parts();
            dst[..a.len()].copy_from_slice(a);
            if !b.is_empty() {
                dst[a.len()..].copy_from_slice(b);
            }
            check(dst, seq, how, expected);
            seq += 1;
        });
        if let Err(e) = got {
            panic!("record {seq}: {e}");
        }
        drop(drain); // one data_tail store (or fewer, when deferred)
        self.seq = seq;
        seq - before
    }
}

#[cold]
#[inline(never)]
fn write_failed(seq: u64, e: WriteError) -> ! {
    panic!("write of record {seq}: {e}");
}

#[cold]
#[inline(never)]
fn unexpected_header(seq: u64, header: RecordHeader) -> ! {
    panic!("record {seq}: unexpected header {header:?}");
}

/// The shared buffer of the cross-core copy limit, with the producer's and the
/// consumer's positions on separate 128-byte lines.
pub struct CopyBuffer {
    /// Page-aligned like the ring's data area (a heap `Vec` of this size would start 16
    /// bytes into a page, so every chunk would straddle one more cache line).
    bytes: NonNull<u8>,
    pub(super) len: usize,
    /// Bytes published by the producer (free-running).
    pub(super) written: CachePadded<AtomicU64>,
    /// Bytes released by the consumer (free-running).
    pub(super) read: CachePadded<AtomicU64>,
}

// SAFETY: the bytes are accessed only through raw pointers, by one producer and one
// consumer that own disjoint ranges as `written`/`read` say (Release/Acquire pairs).
unsafe impl Sync for CopyBuffer {}
// SAFETY: the allocation is owned; moving the owner between threads is fine.
unsafe impl Send for CopyBuffer {}

impl CopyBuffer {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len, 4096).expect("copy buffer layout")
    }

    pub(super) fn new(len: usize) -> Self {
        assert!(len.is_power_of_two() && len >= 4096);
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(Self::layout(len)) };
        let bytes = NonNull::new(p).expect("copy buffer allocation");
        CopyBuffer {
            bytes,
            len,
            written: CachePadded::new(AtomicU64::new(0)),
            read: CachePadded::new(AtomicU64::new(0)),
        }
    }

    pub(super) fn ptr(&self, pos: u64) -> *mut u8 {
        let off = pos as usize & (self.len - 1);
        // SAFETY: `off < len`, inside the allocation.
        unsafe { self.bytes.as_ptr().add(off) }
    }
}

impl Drop for CopyBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.bytes.as_ptr(), Self::layout(self.len)) };
    }
}

/// `records` chunks of `chunk` bytes through [`CopyBuffer`]: the producer waits for room
/// for `every` chunks, copies them in and publishes them with one Release store; the
/// consumer copies out everything published and releases it with one store per pass —
/// exactly what the ring's writer (`write`: every = 1; batch: every = 32) and drain do,
/// without the record headers and their checks.
fn cross_core_copy(
    buf: &mut CopyBuffer,
    records: u64,
    chunk: usize,
    every: u64,
    how: Check,
) -> Sample {
    let cap = buf.len as u64;
    assert!(chunk.is_power_of_two() && chunk as u64 <= cap);
    let handoff = chunk;
    let h = chunk as u64;
    let buf = &*buf;
    // ATOMICS: Relaxed: the previous run ended with both threads joined.
    let start = buf.written.load(Ordering::Relaxed);
    run_pair(
        records,
        h,
        || {
            let mut src = pattern(handoff);
            let mut pos = start;
            // ATOMICS: Acquire pairs with the consumer's Release store of `read`.
            let mut read = buf.read.load(Ordering::Acquire);
            let mut seq = 0;
            while seq < records {
                let n = every.min(records - seq);
                while pos + n * h - read > cap {
                    read = buf.read.load(Ordering::Acquire);
                    spin_loop();
                }
                for _ in 0..n {
                    stamp(&mut src, seq);
                    // SAFETY: `[pos, pos + h)` is free (the consumer released it) and
                    // inside the buffer (power-of-two chunks never straddle the end).
                    unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), buf.ptr(pos), handoff) };
                    pos += h;
                    seq += 1;
                }
                // ATOMICS: Release pairs with the consumer's Acquire load of `written`.
                buf.written.store(pos, Ordering::Release);
            }
        },
        || {
            let mut dst = vec![0u8; handoff];
            let mut expected = pattern(handoff);
            let mut pos = start;
            let mut seq = 0;
            while seq < records {
                // ATOMICS: Acquire pairs with the producer's Release store of `written`.
                let written = buf.written.load(Ordering::Acquire);
                if written == pos {
                    spin_loop();
                    continue;
                }
                while pos != written {
                    // SAFETY: `[pos, pos + h)` was published and is not reused before the
                    // Release store of `read` below.
                    unsafe {
                        std::ptr::copy_nonoverlapping(buf.ptr(pos), dst.as_mut_ptr(), handoff)
                    };
                    check(&dst, seq, how, &mut expected);
                    pos += h;
                    seq += 1;
                }
                // ATOMICS: Release pairs with the producer's Acquire load of `read`.
                buf.read.store(pos, Ordering::Release);
            }
            seq
        },
    )
}
