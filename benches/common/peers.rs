//! Peers of a variable-size record ring whose state depends on the record size: crossbeam
//! `ArrayQueue<[u8; N]>`, bbqueue (bip-buffer grants), the disruptor crate (events written in
//! place, batch publish) and the commit-word variant of our own framing
//! ([`super::commit_word`]). Each moves `N`-byte records, copying the payload in on the
//! producer side and out on the consumer side, and checks every record's sequence number
//! (every byte with [`Check::Full`]) like the other subjects.

use std::hint::spin_loop;

use bbqueue::nicknames::YakiNiku;
use bbqueue::traits::storage::BoxedSlice;
use crossbeam::queue::ArrayQueue;
use disruptor::{BusySpin, Polling, Producer};

use super::affinity::run_pair;
use super::commit_word::CommitWordRing;
use super::subjects::{BATCH, CAPACITY_BYTES};
use super::{check, pattern, stamp, Check, Sample};

/// A two-thread subject with its state built: moves `records` records and times it.
pub trait Runner: Send {
    /// One run of `records` records.
    fn run(&mut self, records: u64, how: Check) -> Sample;
}

/// crossbeam `ArrayQueue<[u8; N]>`, `CAPACITY_BYTES / N` slots: records by value.
pub struct ArrayQueueN<const N: usize>(ArrayQueue<[u8; N]>);

impl<const N: usize> ArrayQueueN<N> {
    /// A queue holding `CAPACITY_BYTES` of records.
    pub fn new() -> Self {
        ArrayQueueN(ArrayQueue::new(CAPACITY_BYTES / N))
    }
}

impl<const N: usize> Runner for ArrayQueueN<N> {
    fn run(&mut self, records: u64, how: Check) -> Sample {
        let q = &self.0;
        run_pair(
            records,
            N as u64,
            || {
                let mut item = [0u8; N];
                item.copy_from_slice(&pattern(N));
                for seq in 0..records {
                    stamp(&mut item, seq);
                    let mut v = item;
                    while let Err(back) = q.push(v) {
                        v = back;
                        spin_loop();
                    }
                }
            },
            || {
                let mut expected = pattern(N);
                let mut seq = 0;
                while seq < records {
                    match q.pop() {
                        Some(v) => {
                            check(&v, seq, how, &mut expected);
                            seq += 1;
                        }
                        None => spin_loop(),
                    }
                }
                seq
            },
        )
    }
}

/// bbqueue 0.7 (heap storage, atomic coordination, polling): the producer asks for an
/// exact grant of one record, copies it in and commits it; the consumer takes every
/// contiguous committed byte in one read grant, copies each record out, and releases the
/// grant once.
pub struct BbqueueStream {
    q: YakiNiku,
    record: usize,
}

impl BbqueueStream {
    /// A bip buffer of `CAPACITY_BYTES` for `record`-byte records.
    pub fn new(record: usize) -> Self {
        assert!(CAPACITY_BYTES.is_multiple_of(record));
        BbqueueStream {
            q: YakiNiku::new_with_storage(BoxedSlice::new(CAPACITY_BYTES)),
            record,
        }
    }
}

impl Runner for BbqueueStream {
    fn run(&mut self, records: u64, how: Check) -> Sample {
        let (q, n) = (&self.q, self.record);
        run_pair(
            records,
            n as u64,
            || {
                let prod = q.stream_producer();
                let mut src = pattern(n);
                for seq in 0..records {
                    stamp(&mut src, seq);
                    let mut grant = loop {
                        match prod.grant_exact(n) {
                            Ok(g) => break g,
                            Err(_) => spin_loop(),
                        }
                    };
                    grant.copy_from_slice(&src);
                    grant.commit(n);
                }
            },
            || {
                let cons = q.stream_consumer();
                let mut dst = vec![0u8; n];
                let mut expected = pattern(n);
                let mut seq = 0;
                while seq < records {
                    let Ok(grant) = cons.read() else {
                        spin_loop();
                        continue;
                    };
                    let whole = grant.len() / n * n;
                    for rec in grant[..whole].chunks_exact(n) {
                        dst.copy_from_slice(rec);
                        check(&dst, seq, how, &mut expected);
                        seq += 1;
                    }
                    grant.release(whole);
                }
                seq
            },
        )
    }
}

/// One disruptor event: a record's bytes, written in place.
pub struct Event<const N: usize>([u8; N]);

type DisruptorProducer<const N: usize> =
    disruptor::SingleProducer<Event<N>, disruptor::SingleConsumerBarrier>;
type DisruptorPoller<const N: usize> =
    disruptor::EventPoller<Event<N>, disruptor::SingleProducerBarrier>;

/// The disruptor crate (4.x), single producer, busy-spin: the producer claims [`BATCH`]
/// events at a time (`try_batch_publish`), copies each record into its event in place and
/// publishes the batch with one store; the consumer polls every published event
/// (`EventPoller::poll`), copies each out, and releases them when the guard drops.
pub struct DisruptorBatch<const N: usize> {
    producer: DisruptorProducer<N>,
    poller: DisruptorPoller<N>,
}

impl<const N: usize> DisruptorBatch<N> {
    /// A ring of `CAPACITY_BYTES / N` events.
    pub fn new() -> Self {
        let builder =
            disruptor::build_single_producer(CAPACITY_BYTES / N, || Event([0u8; N]), BusySpin);
        let (poller, builder) = builder.new_event_poller();
        DisruptorBatch {
            producer: builder.build(),
            poller,
        }
    }
}

impl<const N: usize> Runner for DisruptorBatch<N> {
    fn run(&mut self, records: u64, how: Check) -> Sample {
        let (producer, poller) = (&mut self.producer, &mut self.poller);
        run_pair(
            records,
            N as u64,
            move || {
                let mut src = pattern(N);
                let mut seq = 0;
                while seq < records {
                    let n = BATCH.min(records - seq) as usize;
                    loop {
                        let published = producer.try_batch_publish(n, |events| {
                            for e in events {
                                stamp(&mut src, seq);
                                e.0.copy_from_slice(&src);
                                seq += 1;
                            }
                        });
                        if published.is_ok() {
                            break;
                        }
                        spin_loop();
                    }
                }
            },
            move || {
                let mut dst = [0u8; N];
                let mut expected = pattern(N);
                let mut seq = 0;
                while seq < records {
                    match poller.poll() {
                        Ok(mut events) => {
                            for e in &mut events {
                                dst.copy_from_slice(&e.0);
                                check(&dst, seq, how, &mut expected);
                                seq += 1;
                            }
                        }
                        Err(Polling::NoEvents) => spin_loop(),
                        Err(Polling::Shutdown) => panic!("disruptor shut down at record {seq}"),
                    }
                }
                seq
            },
        )
    }
}

/// Our framing (8-byte `perf_event_header`, 8-byte aligned records, padding at the wrap)
/// with the BPF-ringbuf / Agrona commit: see [`CommitWordRing`].
pub struct CommitWord {
    ring: Box<CommitWordRing>,
    record: usize,
}

impl CommitWord {
    /// A ring of `CAPACITY_BYTES` for `record`-byte records (header included).
    pub fn new(record: usize) -> Self {
        CommitWord {
            ring: Box::new(CommitWordRing::new(CAPACITY_BYTES)),
            record,
        }
    }
}

/// `perf_event_header::type` of the commit-word records (`PERF_RECORD_SAMPLE`).
const RECORD_TYPE: u32 = 9;

impl Runner for CommitWord {
    fn run(&mut self, records: u64, how: Check) -> Sample {
        let ring = &*self.ring;
        let n = self.record;
        let payload = n - 8;
        run_pair(
            records,
            n as u64,
            || {
                let mut producer = ring.producer();
                let mut src = pattern(payload);
                for seq in 0..records {
                    stamp(&mut src, seq);
                    while !producer.try_write(RECORD_TYPE, &src) {
                        spin_loop();
                    }
                }
            },
            || {
                let mut consumer = ring.consumer();
                let mut dst = vec![0u8; payload];
                let mut expected = pattern(payload);
                let mut seq = 0;
                while seq < records {
                    let got = consumer.drain(|record_type, bytes| {
                        if record_type != RECORD_TYPE || bytes.len() != payload {
                            panic!("record {seq}: type {record_type}, {} bytes", bytes.len());
                        }
                        bytes.copy_to(&mut dst);
                        check(&dst, seq, how, &mut expected);
                        seq += 1;
                    });
                    if got == 0 {
                        spin_loop();
                    }
                }
                seq
            },
        )
    }
}
