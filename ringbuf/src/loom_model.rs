//! A loom model of the head/tail protocol (`RUSTFLAGS="--cfg loom" cargo test -p
//! perf-ringbuf --release --lib loom_model`).
//!
//! The model keeps the real protocol's arithmetic ([`crate::position`]) and orderings
//! ([`crate::region`]'s `HEAD_*`/`TAIL_*` constants) and replaces the memory: the data area
//! is a row of `loom::cell::UnsafeCell<u64>` words, so loom reports any read of a word that
//! is not ordered after its write (a missing Acquire/Release) as a data race. Records are
//! two words (header, sequence number); a LOST record is two words (header, count).

use loom::cell::UnsafeCell;
use loom::sync::atomic::AtomicU64;
use loom::sync::Arc;

use crate::position::{free_space, span, Span};
use crate::region::{HEAD_LOAD, HEAD_STORE, TAIL_LOAD, TAIL_STORE};

const WORD: u64 = 8;
const SAMPLE: u64 = 9;
const LOST: u64 = 2;

struct Model {
    head: AtomicU64,
    tail: AtomicU64,
    data: Vec<UnsafeCell<u64>>,
    data_size: u64,
}

impl Model {
    fn new(words: usize) -> Arc<Self> {
        Arc::new(Model {
            head: AtomicU64::new(0),
            tail: AtomicU64::new(0),
            data: (0..words).map(|_| UnsafeCell::new(0)).collect(),
            data_size: words as u64 * WORD,
        })
    }

    fn cell(&self, pos: u64) -> &UnsafeCell<u64> {
        &self.data[((pos & (self.data_size - 1)) / WORD) as usize]
    }

    fn put(&self, pos: u64, value: u64) {
        // SAFETY: loom checks that no other access to this word is concurrent.
        self.cell(pos).with_mut(|p| unsafe { *p = value });
    }

    fn get(&self, pos: u64) -> u64 {
        // SAFETY: loom checks that no other access to this word is concurrent.
        self.cell(pos).with(|p| unsafe { *p })
    }
}

/// The writer's side, as `Writer::append`/`publish`: forward mode with drops and LOST.
struct ModelWriter {
    m: Arc<Model>,
    head: u64,
    cached_tail: u64,
    lost_pending: u64,
    dropped: u64,
    written: u64,
}

impl ModelWriter {
    fn try_write(&mut self, seq: u64) -> bool {
        let need = 2 * WORD + if self.lost_pending > 0 { 2 * WORD } else { 0 };
        let fits = |head, tail| free_space(head, tail, self.m.data_size).is_some_and(|f| f >= need);
        if !fits(self.head, self.cached_tail) {
            self.cached_tail = self.m.tail.load(TAIL_LOAD);
            if !fits(self.head, self.cached_tail) {
                self.lost_pending += 1;
                self.dropped += 1;
                return false;
            }
        }
        if self.lost_pending > 0 {
            self.m.put(self.head, LOST);
            self.m.put(self.head + WORD, self.lost_pending);
            self.head += 2 * WORD;
            self.lost_pending = 0;
        }
        self.m.put(self.head, SAMPLE);
        self.m.put(self.head + WORD, seq);
        self.head += 2 * WORD;
        self.written += 1;
        true
    }

    fn publish(&self) {
        self.m.head.store(self.head, HEAD_STORE);
    }
}

/// The reader's side, as `Reader::drain`: one head load, one tail store.
fn drain(m: &Model, tail: &mut u64, seen: &mut Vec<u64>, lost: &mut u64) {
    let head = m.head.load(HEAD_LOAD);
    let Span::Readable(_) = span(head, *tail, m.data_size) else {
        panic!("impossible head {head} for tail {tail}");
    };
    let mut pos = *tail;
    while pos != head {
        match m.get(pos) {
            SAMPLE => seen.push(m.get(pos + WORD)),
            LOST => *lost += m.get(pos + WORD),
            other => panic!("torn record header {other} at {pos}"),
        }
        pos += 2 * WORD;
    }
    *tail = pos;
    m.tail.store(pos, TAIL_STORE);
}

fn run(words: usize, attempts: u64, batch: u64, drains: usize) {
    loom::model(move || {
        let m = Model::new(words);
        let mw = m.clone();
        let producer = loom::thread::spawn(move || {
            let mut w = ModelWriter {
                m: mw,
                head: 0,
                cached_tail: 0,
                lost_pending: 0,
                dropped: 0,
                written: 0,
            };
            for seq in 0..attempts {
                w.try_write(seq);
                if (seq + 1) % batch == 0 {
                    w.publish();
                }
            }
            w.publish();
            (w.written, w.dropped, w.lost_pending)
        });
        let (mut tail, mut seen, mut lost) = (0u64, Vec::new(), 0u64);
        for _ in 0..drains {
            drain(&m, &mut tail, &mut seen, &mut lost);
            loom::thread::yield_now();
        }
        let (written, dropped, pending) = producer.join().unwrap();
        drain(&m, &mut tail, &mut seen, &mut lost);
        assert_eq!(seen.len() as u64, written);
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "order: {seen:?}");
        assert_eq!(lost + pending, dropped, "every drop is reported or pending");
        assert_eq!(written + dropped, attempts);
    });
}

#[test]
fn loom_model_per_record_commit() {
    run(4, 3, 1, 1);
}

#[test]
fn loom_model_batch_commit() {
    run(8, 4, 2, 1);
}

#[test]
fn loom_model_lost_record_emission() {
    // Two records fit; the third is dropped and reported by a LOST record once the
    // reader frees space.
    run(4, 4, 1, 2);
}

/// Overwrite mode: a backward writer, a pause flag and the `lock` seqlock; the reader
/// pauses, copies the window and accepts the copy only if neither `data_head` nor the
/// seqlock moved. Data words are Relaxed atomics here (a seqlock reads racing bytes by
/// design; the real code copies them and discards a torn copy).
mod overwrite {
    use loom::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
    use loom::sync::Arc;

    /// Two-word records `[seq, !seq]` in a ring of `WORDS` words.
    const WORDS: u64 = 4;

    struct Ring {
        head: AtomicU64,
        lock: AtomicU32,
        paused: AtomicBool,
        data: Vec<AtomicU64>,
    }

    fn writer(r: &Ring, records: u64, seqlock: bool) {
        let (mut head, mut seq) = (0u64, 0u32);
        for s in 1..=records {
            // As `Writer::make_room`: the pause is checked before writing.
            if r.paused.load(Ordering::Acquire) {
                continue;
            }
            if seqlock {
                // As `RingMemory::seq_begin`.
                seq += 1;
                r.lock.store(seq, Ordering::Relaxed);
                fence(Ordering::Release);
            }
            head = head.wrapping_sub(2);
            r.data[(head % WORDS) as usize].store(s, Ordering::Relaxed);
            r.data[((head + 1) % WORDS) as usize].store(!s, Ordering::Relaxed);
            // As `Writer::publish`: head (Release), then `RingMemory::seq_end`.
            r.head.store(head.wrapping_mul(8), Ordering::Release);
            if seqlock {
                seq += 1;
                r.lock.store(seq, Ordering::Release);
            }
        }
    }

    /// As `Reader::read_overwrite`; `None` when the copy was refused.
    fn snapshot(r: &Ring, seqlock: bool) -> Option<Vec<u64>> {
        r.paused.store(true, Ordering::SeqCst);
        let s1 = r.lock.load(Ordering::Acquire);
        let head = r.head.load(Ordering::Acquire) / 8;
        let copy: Vec<u64> = (0..WORDS)
            .map(|i| r.data[((head + i) % WORDS) as usize].load(Ordering::Relaxed))
            .collect();
        fence(Ordering::Acquire);
        if r.head.load(Ordering::Acquire) / 8 != head {
            return None;
        }
        if seqlock && (s1 % 2 == 1 || r.lock.load(Ordering::Relaxed) != s1) {
            return None;
        }
        Some(copy)
    }

    fn run(seqlock: bool) {
        // Two preemptions are enough to interleave "pause check, half a record, snapshot".
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(2);
        model.check(move || {
            let r = Arc::new(Ring {
                head: AtomicU64::new(0),
                lock: AtomicU32::new(0),
                paused: AtomicBool::new(false),
                data: (0..WORDS).map(|_| AtomicU64::new(0)).collect(),
            });
            let w = r.clone();
            let t = loom::thread::spawn(move || writer(&w, 2, seqlock));
            if let Some(copy) = snapshot(&r, seqlock) {
                for rec in copy.chunks(2) {
                    let never_written = rec[0] == 0 && rec[1] == 0;
                    assert!(never_written || rec[1] == !rec[0], "torn record {rec:?}");
                }
            }
            t.join().unwrap();
        });
    }

    #[test]
    fn loom_model_overwrite_snapshot_with_seqlock_is_never_torn() {
        run(true);
    }

    /// Without the seqlock, loom finds the interleaving where the writer passed its pause
    /// check, wrote half a record over the oldest slot, and the head had not moved yet.
    #[test]
    #[should_panic(expected = "torn record")]
    fn loom_model_overwrite_snapshot_without_seqlock_can_be_torn() {
        run(false);
    }
}

/// Wakeups: the writer signals every `EVERY` records (an eventfd modelled as a counter);
/// the reader sleeps only when the ring is empty, and after its bounded wait ("timeout")
/// drains anyway, so records below the threshold are never stranded.
mod wakeups {
    use loom::sync::atomic::{AtomicU64, Ordering};
    use loom::sync::Arc;

    const EVERY: u64 = 2;

    #[test]
    fn loom_model_records_below_the_wakeup_threshold_are_drained_after_the_timeout() {
        loom::model(|| {
            let head = Arc::new(AtomicU64::new(0));
            let eventfd = Arc::new(AtomicU64::new(0));
            let (h, e) = (head.clone(), eventfd.clone());
            let total = 3; // one record stays below the threshold
            let t = loom::thread::spawn(move || {
                for n in 1..=total {
                    h.store(n, Ordering::Release); // publish one record
                    if n % EVERY == 0 {
                        e.fetch_add(1, Ordering::Release); // eventfd write
                    }
                }
            });
            let mut tail = 0;
            let mut wakeups = 0;
            for _ in 0..2 {
                // `Reader::wait`: return at once when there is data, else one bounded
                // wait on the eventfd (a single check stands for poll with a timeout).
                if head.load(Ordering::Acquire) == tail && eventfd.swap(0, Ordering::Acquire) > 0 {
                    wakeups += 1;
                }
                tail = head.load(Ordering::Acquire); // drain
            }
            t.join().unwrap();
            // The final timed drain after the producer is gone.
            tail = head.load(Ordering::Acquire).max(tail);
            assert_eq!(tail, total, "a record was stranded");
            assert!(wakeups <= 1);
        });
    }
}
