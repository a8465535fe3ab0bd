//! The consumer side: drains records between `data_tail` and a `data_head` snapshot.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{ReadError, RecordFault};
use crate::layout::{HEADER_SIZE, MAX_RECORD_SIZE, PERF_RECORD_LOST, RECORD_ALIGN};
use crate::position::{span, Span};
use crate::record::{Record, RecordBytes, RecordHeader};
use crate::region::{Consumer, RingMemory, RingView};
use crate::wakeup::WakeupFd;

/// Tells a reader whether its producer still exists (a thread that dropped its writer, a
/// process that died). Implemented by whoever set the ring up.
pub trait ProducerStatus: Send + Sync + core::fmt::Debug {
    /// True once the producer will never publish again.
    fn is_gone(&self) -> bool;

    /// Records the producer dropped and could not report with a `PERF_RECORD_LOST` before
    /// it went away (the ring was full to the end). Read once [`Self::is_gone`] is true.
    fn unreported_lost(&self) -> u64 {
        0
    }
}

/// What [`Reader::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitOutcome {
    /// There are records to drain.
    Ready,
    /// The timeout passed; there may still be records below the wakeup threshold, so drain.
    TimedOut,
    /// The producer is gone and everything it published has been drained.
    ProducerGone,
}

/// What a reader has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReaderStats {
    /// Records handed out (including `PERF_RECORD_LOST` records).
    pub records: u64,
    /// Bytes handed out, as records or raw chunks.
    pub bytes: u64,
    /// Drains started.
    pub drains: u64,
    /// Sum of the `lost` fields of the `PERF_RECORD_LOST` records handed out.
    pub lost: u64,
    /// Bytes skipped by [`Reader::resync`] after a corrupt ring.
    pub discarded_bytes: u64,
    /// Records the producer dropped and reported only when it went away (included in `lost`).
    pub lost_at_close: u64,
}

/// The consumer of a ring: it owns `data_tail`.
pub struct Reader {
    /// The ring's consumer side: it stores `data_tail` (the last value stored is behind
    /// `tail` by at most `release_every` bytes) and makes the record slices.
    pub(crate) consumer: Consumer,
    /// The reader's position; `data_tail` is this value once published.
    tail: u64,
    /// A drain stores `data_tail` only once it has consumed this many bytes since the last
    /// store (0: after every drain). See [`Reader::set_release_every`].
    release_every: u64,
    scratch: Vec<u8>,
    wakeup: Option<WakeupFd>,
    producer: Option<Arc<dyn ProducerStatus>>,
    stats: ReaderStats,
    /// The producer's final unreported losses were added to the stats.
    closed_accounted: bool,
    /// The writer keeps the overwrite seqlock in `lock` (writers of this crate do).
    pub(crate) seqlock: bool,
}

impl core::fmt::Debug for Reader {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Reader")
            .field("tail", &self.tail)
            .field("data_size", &self.mem().data_size())
            .field("mirrored", &self.mem().is_mirrored())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Reader {
    // `Reader::new`, the public constructor, is in `region.rs` with the other contracts on
    // ring memory.

    /// Creates the reader of the claimed ring, starting at the `data_tail` in its control
    /// page.
    pub(crate) fn from_consumer(consumer: Consumer) -> Self {
        let tail = consumer.released();
        Reader {
            consumer,
            tail,
            release_every: 0,
            scratch: Vec::with_capacity(MAX_RECORD_SIZE + HEADER_SIZE),
            wakeup: None,
            producer: None,
            stats: ReaderStats::default(),
            closed_accounted: false,
            seqlock: false,
        }
    }

    #[inline]
    pub(crate) fn mem(&self) -> &RingMemory {
        self.consumer.mem()
    }

    /// Sets the eventfd the producer signals (see [`crate::WakeupPolicy`]).
    pub fn with_wakeup(mut self, fd: WakeupFd) -> Self {
        self.wakeup = Some(fd);
        self
    }

    /// Sets how the reader learns that its producer is gone.
    pub fn with_producer_status(mut self, status: Arc<dyn ProducerStatus>) -> Self {
        self.producer = Some(status);
        self
    }

    /// Declares that the writer is a [`crate::Writer`] of this crate, which keeps a seqlock
    /// in the control page's `lock` word while it writes an overwrite ring, so that
    /// [`Reader::read_overwrite`] can prove a snapshot was not torn by a record in progress.
    /// Never set it for a kernel ring: the kernel uses `lock` for other fields.
    pub fn with_writer_seqlock(mut self) -> Self {
        self.seqlock = true;
        self
    }

    /// A read-only view of the ring memory this reader drains: its size and positions.
    pub fn memory(&self) -> RingView<'_> {
        RingView::new(self.mem())
    }

    /// The eventfd to register with `poll`/`epoll`, if any.
    pub fn wakeup_fd(&self) -> Option<&WakeupFd> {
        self.wakeup.as_ref()
    }

    /// Counters so far.
    pub fn stats(&self) -> ReaderStats {
        self.stats
    }

    /// The reader's position (the last `data_tail` published or about to be).
    pub fn position(&self) -> u64 {
        self.tail
    }

    /// Defers the `data_tail` store at the end of a drain until at least `bytes` have been
    /// consumed since the last store (clamped to half the data area; 0, the default,
    /// stores after every drain that consumed anything, as perf does).
    ///
    /// `data_head` and `data_tail` share one cache line (offsets 1024 and 1032 of
    /// `perf_event_mmap_page`), so each tail store pulls the line away from a producer
    /// that is storing the head; a busy-polling consumer of small records pays that per
    /// drain. Deferring costs the producer at most `bytes` of free space. The pending
    /// release is stored by [`Reader::release`], [`Drain::release`], before
    /// [`Reader::wait`] sleeps, and when the reader is dropped, so a waiting producer is
    /// never left without the space.
    pub fn set_release_every(&mut self, bytes: u64) {
        self.release_every = bytes.min(self.mem().data_size() / 2);
    }

    /// Stores `data_tail` for everything consumed, if a deferred release is pending.
    /// ATOMICS: Release, pairs with the producer's Acquire load of `data_tail`.
    pub fn release(&mut self) {
        if self.consumer.released() != self.tail {
            self.consumer.store_tail(self.tail);
        }
    }

    /// Bytes published and not yet consumed, validated like a drain.
    ///
    /// # Errors
    ///
    /// As [`Reader::drain`].
    pub fn available(&self) -> Result<u64, ReadError> {
        self.check_head(self.mem().load_head())
    }

    fn check_head(&self, head: u64) -> Result<u64, ReadError> {
        if !head.is_multiple_of(RECORD_ALIGN as u64) {
            return Err(ReadError::MisalignedHead(head));
        }
        // Only a tail loaded from the control page by `Reader::new` can be unaligned: the
        // reader itself moves it by whole records.
        if !self.tail.is_multiple_of(RECORD_ALIGN as u64) {
            return Err(ReadError::MisalignedTail(self.tail));
        }
        let data_size = self.mem().data_size();
        match span(head, self.tail, data_size) {
            // The producer may not pass the last `data_tail` stored either (it is behind
            // `tail` while a release is deferred): a head that did would put bytes the
            // reader has not released under the producer.
            Span::Readable(_) if head.wrapping_sub(self.consumer.released()) > data_size => {
                Err(ReadError::HeadTooFarAhead {
                    head,
                    tail: self.consumer.released(),
                    data_size,
                })
            }
            Span::Readable(n) => Ok(n),
            Span::Behind => Err(ReadError::HeadBehindTail {
                head,
                tail: self.tail,
            }),
            Span::TooFarAhead => Err(ReadError::HeadTooFarAhead {
                head,
                tail: self.tail,
                data_size,
            }),
        }
    }

    /// Starts a drain: loads `data_head` once (Acquire) and hands out the records up to
    /// it. Dropping the drain publishes `data_tail` once (Release).
    ///
    /// # Errors
    ///
    /// [`ReadError::MisalignedHead`], [`ReadError::MisalignedTail`],
    /// [`ReadError::HeadBehindTail`] or
    /// [`ReadError::HeadTooFarAhead`]: the producer is broken or hostile. The reader is
    /// unchanged; [`Reader::resync`] skips to the current head.
    pub fn drain(&mut self) -> Result<Drain<'_>, ReadError> {
        // ATOMICS: Acquire (in `load_head`) pairs with the producer's Release store of
        // `data_head`: every record before `head` is fully written and visible.
        let head = self.consumer.load_head();
        self.check_head(head)?;
        self.stats.drains += 1;
        let pos = self.tail;
        Ok(Drain {
            reader: self,
            cur: Cursor {
                head,
                pos,
                failed: false,
            },
            released: pos,
        })
    }

    /// Skips everything up to the current `data_head`, after a corrupt record or an
    /// impossible head. Returns the bytes skipped (counted in
    /// [`ReaderStats::discarded_bytes`]; at most `data_size`).
    ///
    /// # Errors
    ///
    /// [`ReadError::CannotResync`] when `data_head` is not a multiple of 8: no record can
    /// start there, so there is nothing to resync to. The reader is unchanged. This is
    /// terminal — retrying cannot help until the producer publishes a sane head — so a
    /// consumer should stop (and [`Reader::wait`] tells whether the producer is gone).
    pub fn resync(&mut self) -> Result<u64, ReadError> {
        let head = self.mem().load_head();
        if !head.is_multiple_of(RECORD_ALIGN as u64) {
            return Err(ReadError::CannotResync(head));
        }
        let data_size = self.mem().data_size();
        let skipped = match span(head, self.tail, data_size) {
            Span::Readable(n) => n,
            Span::Behind | Span::TooFarAhead => data_size,
        };
        self.tail = head;
        self.consumer.store_tail(head);
        self.stats.discarded_bytes += skipped;
        Ok(skipped)
    }

    /// Waits until there is something to drain, the producer is gone, or `timeout` passes
    /// (`None`: no limit). Records below the wakeup threshold are never stranded: after a
    /// timeout, drain.
    ///
    /// Without a wakeup eventfd the wait sleeps in steps of up to 1 ms.
    ///
    /// # Errors
    ///
    /// As [`Reader::drain`] for an impossible head while the producer lives (once it is
    /// gone, [`WaitOutcome::ProducerGone`] comes first); [`ReadError::Wait`] if `poll`
    /// fails.
    pub fn wait(&mut self, timeout: Option<Duration>) -> Result<WaitOutcome, ReadError> {
        // A deferred release must not sit behind a sleep: the producer may need the space.
        self.release();
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut nap = Duration::from_micros(10);
        loop {
            // The producer's status is read before the head, so that a producer that
            // published and then left is seen with its last records. Its death is
            // reported before a ring error: a consumer told only of an impossible head
            // would resync and retry for ever; told the producer is gone, it stops (its
            // next drain still reports the ring error).
            let gone = self.producer.as_ref().is_some_and(|p| p.is_gone());
            match self.available() {
                Ok(0) => {}
                Ok(_) => return Ok(WaitOutcome::Ready),
                Err(e) if !gone => return Err(e),
                Err(_) => {}
            }
            if gone {
                if !self.closed_accounted {
                    self.closed_accounted = true;
                    let lost = self.producer.as_ref().map_or(0, |p| p.unreported_lost());
                    self.stats.lost_at_close = lost;
                    self.stats.lost = self.stats.lost.saturating_add(lost);
                }
                return Ok(WaitOutcome::ProducerGone);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Ok(WaitOutcome::TimedOut),
                },
                None => None,
            };
            match &self.wakeup {
                Some(fd) => {
                    // Bounded so a producer that dies without signalling is still noticed.
                    let step = left.map_or(Duration::from_millis(100), |l| {
                        l.min(Duration::from_millis(100))
                    });
                    fd.wait(Some(step)).map_err(|e| ReadError::Wait(e.kind()))?;
                }
                None => {
                    let step = left.map_or(nap, |l| l.min(nap));
                    std::thread::sleep(step);
                    nap = (nap * 2).min(Duration::from_millis(1));
                }
            }
        }
    }
}

/// The reader's wakeup eventfd, for `poll`/`epoll` or an async runtime: it becomes
/// readable when the writer signals (see [`crate::WakeupPolicy`]) and when it goes away.
/// `examples/tokio_reader.rs` drives a reader from tokio's `AsyncFd` this way.
///
/// The signal is a hint, like the kernel's: drain after a timeout as well, because records
/// below the wakeup threshold do not signal. Consume the signal with
/// [`WakeupFd::wait`]`(Some(Duration::ZERO))` (on [`Reader::wakeup_fd`]) before draining.
///
/// # Panics
///
/// If the reader has no wakeup eventfd (a [`crate::Ring`] built with `wakeup_fd(false)`, or
/// a reader made without [`Reader::with_wakeup`]): check [`Reader::wakeup_fd`] first.
///
/// ```
/// use std::os::fd::AsFd;
///
/// let (_writer, reader) = perf_ringbuf::Ring::with_data_size(4096)?;
/// let fd = reader.as_fd(); // register with poll/epoll
/// # let _ = fd;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl AsFd for Reader {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.wakeup {
            Some(fd) => fd.as_fd(),
            None => panic!("this reader has no wakeup eventfd to poll"),
        }
    }
}

/// As [`AsFd`] (tokio's `AsyncFd` asks for `AsRawFd`).
///
/// # Panics
///
/// As [`Reader::as_fd`](#impl-AsFd-for-Reader): without a wakeup eventfd.
impl AsRawFd for Reader {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// One pass over the records published when it started.
///
/// Records borrow the drain, so none can outlive the release of its bytes.
#[derive(Debug)]
pub struct Drain<'r> {
    reader: &'r mut Reader,
    cur: Cursor,
    /// The last `data_tail` stored.
    released: u64,
}

/// Where a drain stands: kept apart from the reader so that records can borrow the ring
/// (through [`Reader::consumer`]) while the drain moves on.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// The `data_head` snapshot: this drain never reads past it.
    head: u64,
    /// Next record position; `[reader.tail, pos)` is consumed but maybe not released.
    pos: u64,
    /// A corrupt record was found: the drain yields nothing more.
    failed: bool,
}

impl Cursor {
    /// Validates the header at `pos` and returns it.
    #[inline]
    fn header(&mut self, mem: &RingMemory) -> Option<Result<RecordHeader, ReadError>> {
        if self.failed || self.pos == self.head {
            return None;
        }
        let header = RecordHeader::from_u64(mem.read_u64(self.pos));
        let size = header.size as u64;
        // `pos` and `head` are 8-aligned and differ, so `left >= 8`; and `left <=
        // data_size` (checked when the drain began). One test for 8 <= size <= left, one
        // for the alignment; which fault it is only matters when there is one.
        let left = self.head.wrapping_sub(self.pos);
        if size.wrapping_sub(HEADER_SIZE as u64) > left - HEADER_SIZE as u64
            || !size.is_multiple_of(RECORD_ALIGN as u64)
        {
            self.failed = true;
            return Some(Err(corrupt_record(
                self.pos,
                header.size,
                left,
                mem.data_size(),
            )));
        }
        Some(Ok(header))
    }

    /// Validates and accounts the next record and moves past it: its header, position and
    /// size. The caller turns `[position, position + size)` into slices.
    #[inline]
    fn advance(
        &mut self,
        mem: &RingMemory,
        stats: &mut ReaderStats,
    ) -> Option<Result<(RecordHeader, u64, usize), ReadError>> {
        let header = match self.header(mem)? {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        let pos = self.pos;
        let size = header.size as usize;
        self.pos = pos.wrapping_add(size as u64);
        stats.records += 1;
        stats.bytes += header.size as u64;
        if header.record_type == PERF_RECORD_LOST && size >= 24 {
            let lost = mem.read_u64(pos.wrapping_add(16));
            stats.lost = stats.lost.saturating_add(lost);
        }
        Some(Ok((header, pos, size)))
    }

    /// The next record, as [`Drain::next`] hands it out, borrowing `consumer`.
    #[inline]
    fn next_record<'a>(
        &mut self,
        consumer: &'a Consumer,
        stats: &mut ReaderStats,
    ) -> Option<Result<Record<'a>, ReadError>> {
        let (header, pos, size) = match self.advance(consumer.mem(), stats)? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        // `[pos, pos + size)` lies inside `[tail, head)` (checked in `header`).
        let (a, b) = consumer.slice(pos, size);
        Some(Ok(Record {
            header,
            position: pos,
            bytes: RecordBytes::from_pair(a, b),
        }))
    }

    /// The end of a run of [`Drain::for_each_record`]: accounts for it, then hands out
    /// the record that ended it through the one-record path (a record straddling the end
    /// of the data area, or the error of a corrupt one), or starts the next run — from
    /// `pos` to `head` or to the end of the data area — or finds the drain done.
    #[cold]
    #[inline(never)]
    fn end_run<'a>(
        &mut self,
        consumer: &'a Consumer,
        stats: &mut ReaderStats,
        mut run: Run<'a>,
        count: u64,
    ) -> (RunEnd<'a>, Run<'a>) {
        stats.records += count - run.count;
        stats.bytes += self.pos.wrapping_sub(run.start);
        stats.lost = stats.lost.saturating_add(run.lost);
        run.lost = 0;
        if !run.rest.is_empty() {
            run.rest = &[];
            let end = match self.next_record(consumer, stats) {
                Some(Ok(record)) => {
                    // Accounted by `next_record`: the next run starts after it.
                    run.start = record.position.wrapping_add(record.header.size as u64);
                    run.count = count + 1;
                    RunEnd::Straddling(record)
                }
                Some(Err(e)) => RunEnd::Done(Err(e)),
                None => RunEnd::Done(Ok(())),
            };
            return (end, run);
        }
        if self.failed || self.pos == self.head {
            return (RunEnd::Done(Ok(())), run);
        }
        run.start = self.pos;
        run.count = count;
        let left = self.head.wrapping_sub(run.start) as usize; // <= data_size
        let len = consumer.mem().contiguous_len(run.start, left);
        // `[pos, pos + len)` lies inside `[tail, head)` (`len <= left`).
        run.rest = consumer.slice(run.start, len).0;
        (RunEnd::NextRun, run)
    }
}

impl<'r> Drain<'r> {
    /// The `data_head` snapshot.
    pub fn head(&self) -> u64 {
        self.cur.head
    }

    /// Bytes not yet handed out in this drain.
    pub fn remaining(&self) -> u64 {
        self.cur.head.wrapping_sub(self.cur.pos)
    }

    /// The next record, zero-copy: one slice, or two when it straddles the end of a data
    /// area that is not mirrored.
    ///
    /// After an error the drain yields `None`; records before the fault are consumed.
    #[allow(clippy::should_implement_trait)] // a lending iterator: items borrow the drain
    #[inline]
    pub fn next(&mut self) -> Option<Result<Record<'_>, ReadError>> {
        let reader = &mut *self.reader;
        self.cur.next_record(&reader.consumer, &mut reader.stats)
    }

    /// Hands every remaining record of this drain to `f`, zero-copy, in order: the batch
    /// read. It validates the same as [`Drain::next`] (and yields the same records, with
    /// the same [`ReaderStats`]), but walks each contiguous run of the data area with one
    /// bounds computation per run instead of per record, and updates the counters once per
    /// run. A record that straddles the end of a data area that is not mirrored goes
    /// through the one-record path and reaches `f` as [`RecordBytes::Split`].
    ///
    /// Returns the number of records handed to `f`. The records consumed are released
    /// when the drain is dropped, as with `next`. To stop early, use [`Drain::next`].
    ///
    /// # Errors
    ///
    /// [`ReadError::CorruptRecord`] for an impossible header, as `next` returns it: the
    /// records before it were handed to `f` and are consumed; the drain yields nothing
    /// more.
    ///
    /// If `f` panics, the records already handed to it are consumed, but the record and
    /// byte counters of [`ReaderStats`] may miss those of the current run.
    ///
    /// # Examples
    ///
    /// ```
    /// use perf_ringbuf::Ring;
    ///
    /// let (mut writer, mut reader) = Ring::with_data_size(4096)?;
    /// for i in 0u64..100 {
    ///     writer.write_deferred(9, 0, &i.to_ne_bytes())?;
    /// }
    /// writer.publish();
    ///
    /// let (mut sum, mut scratch) = (0u64, Vec::new());
    /// let mut drain = reader.drain()?;
    /// let n = drain.for_each_record(|record| {
    ///     // Zero-copy: the payload borrows the ring; only a record split by the end of
    ///     // the data area is copied into `scratch`.
    ///     let payload = record.payload().contiguous(&mut scratch);
    ///     sum += u64::from_ne_bytes(payload[..8].try_into().unwrap());
    /// })?;
    /// drop(drain); // one data_tail store for the whole batch
    /// assert_eq!((n, sum), (100, 4950));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn for_each_record<F: FnMut(Record<'_>)>(&mut self, mut f: F) -> Result<u64, ReadError> {
        // The records borrow the consumer; the cursor and the counters move beside them.
        let reader = &mut *self.reader;
        let (consumer, stats) = (&reader.consumer, &mut reader.stats);
        let cur = &mut self.cur;
        let mut count = 0u64;
        let mut run = Run {
            rest: &[],
            start: cur.pos,
            count: 0,
            lost: 0,
        };
        // One call site for `f`, so that it is inlined once; the end of a run is out of
        // line.
        loop {
            let fast = match run.rest.first_chunk::<HEADER_SIZE>() {
                Some(raw) => {
                    let header = RecordHeader::from_u64(u64::from_ne_bytes(*raw));
                    let size = header.size as usize;
                    // One test for 8 <= size <= rest.len() (`rest.len() >= 8`), one for the
                    // alignment. A record that fails either is corrupt or straddles the end
                    // of the run: the one-record path sorts out which.
                    let ok = size.wrapping_sub(HEADER_SIZE) <= run.rest.len() - HEADER_SIZE
                        && size.is_multiple_of(RECORD_ALIGN);
                    ok.then_some((header, size))
                }
                None => None,
            };
            let record = match fast {
                Some((header, size)) => {
                    let (bytes, after) = run.rest.split_at(size);
                    run.rest = after;
                    if header.record_type == PERF_RECORD_LOST && size >= 24 {
                        run.lost = run.lost.saturating_add(lost_field(bytes));
                    }
                    let position = cur.pos;
                    cur.pos = position.wrapping_add(size as u64);
                    Record {
                        header,
                        position,
                        bytes: RecordBytes::Single(bytes),
                    }
                }
                None => {
                    // By value, so that the hot loop keeps the run in registers.
                    let (end, next) = cur.end_run(consumer, stats, run, count);
                    run = next;
                    match end {
                        RunEnd::Straddling(record) => record,
                        RunEnd::NextRun => continue,
                        RunEnd::Done(r) => return r.map(|()| count),
                    }
                }
            };
            f(record);
            count += 1;
        }
    }

    /// The next record as one slice: borrowed from the ring when contiguous, copied once
    /// into the reader's scratch buffer (sized for the largest record) when it straddles.
    pub fn next_contiguous(&mut self) -> Option<Result<(RecordHeader, &[u8]), ReadError>> {
        let reader = &mut *self.reader;
        let (header, pos, size) =
            match self.cur.advance(reader.consumer.mem(), &mut reader.stats)? {
                Ok(r) => r,
                Err(e) => return Some(Err(e)),
            };
        // `[pos, pos + size)` lies inside `[tail, head)` (checked in `header`).
        let (a, b) = reader.consumer.slice(pos, size);
        let bytes = RecordBytes::from_pair(a, b).contiguous(&mut reader.scratch);
        Some(Ok((header, bytes)))
    }

    /// Hands out every remaining byte of this drain at once, as at most two slices,
    /// without looking at the records (for writing a ring straight to a file). The
    /// records are not validated or counted as records.
    pub fn take_remaining(&mut self) -> RecordBytes<'_> {
        if self.cur.failed {
            return RecordBytes::Single(&[]);
        }
        let pos = self.cur.pos;
        // At most `data_size`: checked when the drain began.
        let len = self.remaining() as usize;
        let reader = &mut *self.reader;
        // `[pos, head)` is inside `[tail, head)`.
        let (a, b) = reader.consumer.slice(pos, len);
        self.cur.pos = self.cur.head;
        reader.stats.bytes += len as u64;
        RecordBytes::from_pair(a, b)
    }

    /// Publishes `data_tail` now for everything handed out so far (a batch release in the
    /// middle of a long drain). ATOMICS: Release, pairs with the producer's Acquire load.
    pub fn release(&mut self) {
        if self.cur.pos != self.released {
            self.released = self.cur.pos;
            self.reader.tail = self.cur.pos;
        }
        self.reader.release();
    }
}

/// The current run of [`Drain::for_each_record`]: `rest` holds its bytes not yet handed
/// out (from `Cursor::pos`); the run began at position `start`, after `count` records of
/// the call, and the `lost` fields of its `PERF_RECORD_LOST` records add up to `lost`.
struct Run<'a> {
    rest: &'a [u8],
    start: u64,
    count: u64,
    lost: u64,
}

/// What [`Cursor::end_run`] found.
enum RunEnd<'a> {
    /// The record after the run, handed out by `next_record`.
    Straddling(Record<'a>),
    /// `Run::rest` holds the next run.
    NextRun,
    /// The drain is done, or failed.
    Done(Result<(), ReadError>),
}

/// The error for a record header at `position` whose `size` is impossible with `left`
/// bytes before `data_head`.
#[cold]
#[inline(never)]
fn corrupt_record(position: u64, size: u16, left: u64, data_size: u64) -> ReadError {
    let size64 = u64::from(size);
    let fault = if size64 < HEADER_SIZE as u64 {
        RecordFault::SmallerThanHeader
    } else if !size64.is_multiple_of(RECORD_ALIGN as u64) {
        RecordFault::Unaligned
    } else if size64 > data_size {
        RecordFault::LargerThanDataArea
    } else {
        debug_assert!(size64 > left);
        RecordFault::PastHead
    };
    ReadError::CorruptRecord {
        position,
        size,
        fault,
    }
}

/// The `lost` field of a `PERF_RECORD_LOST` record (`{ header; u64 id; u64 lost; }`) of at
/// least 24 bytes.
#[cold]
fn lost_field(record: &[u8]) -> u64 {
    record
        .get(16..24)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        // One `data_tail` store per drain, or per `release_every` bytes when deferred.
        let reader = &mut *self.reader;
        reader.tail = self.cur.pos;
        if self.cur.pos.wrapping_sub(reader.consumer.released()) >= reader.release_every.max(1) {
            reader.release();
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.release();
    }
}
