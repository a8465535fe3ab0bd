//! The producer ("kernel") side: reserve, fill, commit; lost-record accounting; overwrite.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::WriteError;
use crate::layout::{
    align_record, HEADER_SIZE, LOST_RECORD_SIZE, MAX_RECORD_SIZE, PERF_RECORD_LOST, RECORD_ALIGN,
};
use crate::position::free_space;
use crate::record::RecordHeader;
use crate::region::{Producer, RingMemory, RingView};
use crate::wakeup::{WakeupFd, WakeupPolicy, WakeupState};

/// Keeps the memory behind a writer or reader mapped for as long as it lives.
pub type Keepalive = Arc<dyn Any + Send + Sync>;

/// How the writer treats unread data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Never overwrite unread data: a record that does not fit is dropped, counted, and
    /// reported by a `PERF_RECORD_LOST` record (the kernel's default).
    #[default]
    Forward,
    /// The kernel's `write_backward`: records are written from `data_head` downwards, the
    /// writer never waits and overwrites the oldest records. Read with
    /// [`Reader::read_overwrite`](crate::Reader::read_overwrite) while paused.
    Overwrite,
}

/// Writer settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriterConfig {
    /// Forward or overwrite.
    pub mode: WriteMode,
    /// When to signal the reader.
    pub wakeup: WakeupPolicy,
    /// The `id` written into `PERF_RECORD_LOST` records (the kernel writes the event id).
    pub lost_id: u64,
}

/// What a writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WriterStats {
    /// Records written (not counting `PERF_RECORD_LOST` records).
    pub records: u64,
    /// Bytes of those records.
    pub bytes: u64,
    /// Records dropped (ring full, paused, impossible tail).
    pub lost: u64,
    /// `PERF_RECORD_LOST` records written; their `lost` fields add up to `lost` minus
    /// [`Writer::lost_pending`].
    pub lost_records: u64,
    /// Wakeups signalled.
    pub wakeups: u64,
    /// Of those, wakeups the eventfd did not take: its counter was full, or a peer cleared
    /// `O_NONBLOCK` on the shared descriptor (see [`crate::WakeupFd`]). The reader still
    /// finds the records through its bounded wait.
    pub wakeups_refused: u64,
    /// 1 when the `data_head` found in the control page at creation could not have been
    /// written by a writer (not a multiple of 8): the writer started from it rounded up to
    /// the next record boundary instead, and stored that. Only a peer scribbling on the
    /// shared control page can cause it.
    pub head_repairs: u64,
}

/// Pauses a writer from another thread, like `PERF_EVENT_IOC_PAUSE_OUTPUT`: while paused,
/// every record is dropped and counted as lost.
#[derive(Debug, Clone)]
pub struct PauseHandle(Arc<AtomicBool>);

impl PauseHandle {
    /// Pauses (`true`) or resumes (`false`) the writer.
    pub fn set_paused(&self, paused: bool) {
        // ATOMICS: Release pairs with the writer's Acquire loads (`make_room`, the fast
        // path, `try_append`): writes made before a resume are visible to the writer; the
        // reader's copy of a paused ring is protected by re-reading `data_head`, not by
        // this flag.
        self.0.store(paused, Ordering::Release);
    }
}

/// The producer of a ring: it owns `data_head`.
pub struct Writer {
    pub(crate) mem: RingMemory,
    /// Local head: free-running, ahead of `published` by the unpublished records.
    head: u64,
    /// The last `data_head` stored to the control page.
    published: u64,
    /// A `data_tail` value already loaded: free space is at least what it implies.
    cached_tail: u64,
    unpublished_records: u32,
    /// Records (`PERF_RECORD_LOST` ones included) published by earlier `data_head` stores.
    published_records: u64,
    /// The head when the writer was created: the bytes written are the distance from it.
    start_head: u64,
    /// The largest payload [`Writer::append_fast`] takes: its record fits the 16-bit
    /// `size` field and the data area.
    fast_max_payload: usize,
    /// [`Writer::append_fast`] takes payloads shorter than this: `fast_max_payload + 1`
    /// on a forward ring with no `PERF_RECORD_LOST` pending, else 0 (one test for three
    /// conditions).
    fast_limit: usize,
    /// Overwrite mode: the seqlock value in `lock`; odd while records are being written.
    seq: u32,
    /// Records dropped since the last `PERF_RECORD_LOST` was written.
    lost_pending: u64,
    config: WriterConfig,
    paused: Arc<AtomicBool>,
    wake: WakeupState,
    stats: WriterStats,
    /// Told at drop how many drops no `PERF_RECORD_LOST` could report.
    on_close: Option<Box<dyn FnOnce(u64) + Send>>,
    /// The claim `mem` came from: this is the only writer, and it keeps the memory mapped.
    _claim: Producer,
    /// More to keep alive with the writer and drop after it (see [`Writer::keeping`]).
    _also: Option<Keepalive>,
}

impl core::fmt::Debug for Writer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Writer")
            .field("head", &self.head)
            .field("published", &self.published)
            .field("data_size", &self.mem.data_size())
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Writer {
    // `Writer::new`, the public constructor, is in `region.rs` with the other contracts on
    // ring memory.

    /// Creates the writer of the claimed ring, resuming from the `data_head` in its control
    /// page.
    pub(crate) fn from_producer(
        claim: Producer,
        config: WriterConfig,
        wakeup_fd: Option<WakeupFd>,
    ) -> Self {
        let mem = claim.mem();
        let found = mem.load_head_relaxed();
        let align = RECORD_ALIGN as u64;
        // Round up to a record boundary (wrapping: positions are free-running).
        let head = found.wrapping_add(align - 1) & !(align - 1);
        let mut stats = WriterStats::default();
        if head != found {
            stats.head_repairs = 1;
            mem.store_head(head);
        }
        Writer {
            mem,
            head,
            published: head,
            // No room is known until `data_tail` has been loaded and validated: a cached
            // tail one data area behind the head means "full" to the fast path.
            cached_tail: head.wrapping_sub(mem.data_size()),
            unpublished_records: 0,
            published_records: 0,
            start_head: head,
            fast_max_payload: MAX_RECORD_SIZE.min(mem.data_size() as usize) - HEADER_SIZE,
            fast_limit: 0,
            seq: 0,
            lost_pending: 0,
            wake: WakeupState::new(wakeup_fd, config.wakeup, mem.data_size()),
            config,
            paused: Arc::new(AtomicBool::new(false)),
            stats,
            on_close: None,
            _claim: claim,
            _also: None,
        }
        .with_fast_limit()
    }

    /// Keeps `also` alive as long as the writer, dropping it after the writer's final
    /// publish (the in-process ring's "producer gone" token).
    pub(crate) fn keeping(mut self, also: Keepalive) -> Self {
        self._also = Some(also);
        self
    }

    fn with_fast_limit(mut self) -> Self {
        self.refresh_fast_limit();
        self
    }

    /// Recomputes [`Writer::fast_limit`] after the mode or `lost_pending` changed.
    fn refresh_fast_limit(&mut self) {
        self.fast_limit = if self.config.mode == WriteMode::Forward && self.lost_pending == 0 {
            self.fast_max_payload + 1
        } else {
            0
        };
    }

    /// Sets what happens at drop to records dropped after the last `PERF_RECORD_LOST` that
    /// fitted: `hook(count)` runs when that count is not zero, so a reader can still account
    /// for them (see [`crate::ProducerStatus::unreported_lost`]).
    pub fn on_close(&mut self, hook: impl FnOnce(u64) + Send + 'static) {
        self.on_close = Some(Box::new(hook));
    }

    /// A read-only view of the ring memory this writer fills: its size and positions.
    pub fn memory(&self) -> RingView<'_> {
        RingView::new(&self.mem)
    }

    /// Counters so far.
    pub fn stats(&self) -> WriterStats {
        // Derived rather than counted per record: every record written moved the head
        // by its size, and so did every `PERF_RECORD_LOST` (forward: upwards; overwrite:
        // downwards); abandoned reservations gave their bytes back.
        let moved = match self.config.mode {
            WriteMode::Forward => self.head.wrapping_sub(self.start_head),
            WriteMode::Overwrite => self.start_head.wrapping_sub(self.head),
        };
        let lost_bytes = self.stats.lost_records * LOST_RECORD_SIZE as u64;
        WriterStats {
            records: self.published_records + u64::from(self.unpublished_records)
                - self.stats.lost_records,
            bytes: moved - lost_bytes,
            wakeups: self.wake.wakeups,
            wakeups_refused: self.wake.refused,
            ..self.stats
        }
    }

    /// Records dropped whose `PERF_RECORD_LOST` is not written yet.
    pub fn lost_pending(&self) -> u64 {
        self.lost_pending
    }

    /// A handle that pauses this writer from elsewhere.
    pub fn pause_handle(&self) -> PauseHandle {
        PauseHandle(self.paused.clone())
    }

    /// The eventfd this writer signals, if any.
    pub fn wakeup_fd(&self) -> Option<&WakeupFd> {
        self.wake.fd.as_ref()
    }

    /// Writes one record and publishes `data_head` (with the records written before it by
    /// [`Writer::write_deferred`]).
    ///
    /// # Errors
    ///
    /// [`WriteError::RecordTooLarge`]; or the record was dropped and counted:
    /// [`WriteError::NoSpace`], [`WriteError::Paused`], [`WriteError::CorruptTail`].
    ///
    /// # Examples
    ///
    /// ```
    /// use perf_ringbuf::{Ring, WriteError};
    ///
    /// let (mut writer, mut reader) = Ring::builder(64).wakeup_fd(false).build()?;
    /// writer.write(9, 0, b"hello")?; // 8-byte header + 5 bytes, padded to 16
    /// // A record that does not fit is dropped and counted, never blocks.
    /// assert!(matches!(writer.write(9, 0, &[0; 56]), Err(WriteError::NoSpace { .. })));
    /// assert_eq!(writer.stats().lost, 1);
    ///
    /// let mut drain = reader.drain()?;
    /// let record = drain.next().unwrap()?;
    /// assert_eq!((record.header.record_type, record.header.size), (9, 16));
    /// assert_eq!(&record.payload().parts().0[..5], b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn write(&mut self, record_type: u32, misc: u16, payload: &[u8]) -> Result<(), WriteError> {
        let r = if self.append_fast(record_type, misc, payload) {
            Ok(())
        } else {
            self.append(record_type, misc, &[payload])
        };
        self.publish();
        r
    }

    /// Writes one record without publishing it: readers see it after [`Writer::publish`].
    /// This is the batch commit: one `data_head` store for many records.
    ///
    /// # Errors
    ///
    /// As [`Writer::write`].
    #[inline]
    pub fn write_deferred(
        &mut self,
        record_type: u32,
        misc: u16,
        payload: &[u8],
    ) -> Result<(), WriteError> {
        if self.append_fast(record_type, misc, payload) {
            return Ok(());
        }
        self.append(record_type, misc, &[payload])
    }

    /// Writes one record and publishes `data_head`, or — when it does not fit — writes
    /// nothing, drops nothing and returns `Ok(false)`: the write for producers that wait
    /// for the reader instead of losing records (backpressure). The caller keeps its
    /// record and tries again later. One call replaces [`Writer::has_room_for`] followed
    /// by [`Writer::write`].
    ///
    /// # Errors
    ///
    /// As [`Writer::write`] except [`WriteError::NoSpace`], which becomes `Ok(false)`:
    /// [`WriteError::RecordTooLarge`]; [`WriteError::Paused`] and
    /// [`WriteError::CorruptTail`] drop and count the record, as `write` does.
    #[inline]
    pub fn try_write(
        &mut self,
        record_type: u32,
        misc: u16,
        payload: &[u8],
    ) -> Result<bool, WriteError> {
        let r = self.try_write_deferred(record_type, misc, payload);
        self.publish();
        r
    }

    /// As [`Writer::try_write`], without publishing a record that was written (the batch
    /// commit, as [`Writer::write_deferred`]). When the record does not fit, the records
    /// written before it are published, so that a producer waiting for room never waits
    /// for a reader that cannot see them.
    ///
    /// A pending `PERF_RECORD_LOST` is written first, as by `write_deferred`; `Ok(false)`
    /// means that it and the record together did not fit.
    ///
    /// # Errors
    ///
    /// As [`Writer::try_write`].
    #[inline]
    pub fn try_write_deferred(
        &mut self,
        record_type: u32,
        misc: u16,
        payload: &[u8],
    ) -> Result<bool, WriteError> {
        if self.append_fast(record_type, misc, payload) {
            return Ok(true);
        }
        self.try_append(record_type, misc, payload)
    }

    /// The general path of [`Writer::try_write_deferred`]: everything `append_fast`
    /// leaves, checking room before `append` can drop the record.
    #[inline(never)]
    fn try_append(
        &mut self,
        record_type: u32,
        misc: u16,
        payload: &[u8],
    ) -> Result<bool, WriteError> {
        let size = self.record_size(payload.len())?;
        // ATOMICS: Acquire pairs with `PauseHandle::set_paused`, as in `make_room` (which
        // drops a paused record below).
        if self.config.mode == WriteMode::Forward && !self.paused.load(Ordering::Acquire) {
            let lost = if self.lost_pending > 0 {
                LOST_RECORD_SIZE
            } else {
                0
            };
            match self.has_room((size + lost) as u64) {
                Ok(true) => {}
                Ok(false) => {
                    self.publish();
                    return Ok(false);
                }
                Err(e) => return Err(self.drop_record(e)),
            }
        }
        self.append(record_type, misc, &[payload]).map(|()| true)
    }

    /// Writes one record whose payload is the concatenation of `parts`, unpublished.
    ///
    /// # Errors
    ///
    /// As [`Writer::write`].
    pub fn write_parts_deferred(
        &mut self,
        record_type: u32,
        misc: u16,
        parts: &[&[u8]],
    ) -> Result<(), WriteError> {
        self.append(record_type, misc, parts)
    }

    /// Reserves a record with a payload of `payload_len` bytes to fill in place.
    /// Nothing is visible until [`Reservation::commit`]; dropping the reservation
    /// abandons it (a pending `PERF_RECORD_LOST` it wrote stays, unpublished).
    ///
    /// # Errors
    ///
    /// As [`Writer::write`].
    ///
    /// # Examples
    ///
    /// Fill a record in place, without building the payload elsewhere first:
    ///
    /// ```
    /// use perf_ringbuf::Ring;
    ///
    /// let (mut writer, mut reader) = Ring::with_data_size(4096)?;
    /// let mut record = writer.reserve(9, 0, 16)?;
    /// record.write_at(0, &42u64.to_ne_bytes());
    /// record.write_at(8, &7u64.to_ne_bytes());
    /// assert!(reader.available()? == 0, "nothing visible before commit");
    /// record.commit(); // one data_head store
    ///
    /// let mut drain = reader.drain()?;
    /// let (_, bytes) = drain.next_contiguous().unwrap()?;
    /// assert_eq!(&bytes[8..16], &42u64.to_ne_bytes()); // after the 8-byte header
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve(
        &mut self,
        record_type: u32,
        misc: u16,
        payload_len: usize,
    ) -> Result<Reservation<'_>, WriteError> {
        let (pos, size) = self.frame(record_type, misc, payload_len)?;
        Ok(Reservation {
            writer: self,
            pos,
            size,
            payload_len,
            committed: false,
        })
    }

    /// Stores `data_head` if records were written since the last store, and signals the
    /// reader when the wakeup policy says so.
    #[inline]
    pub fn publish(&mut self) {
        if self.head != self.published {
            self.mem.store_head(self.head);
            self.published = self.head;
            self.wake.published(self.unpublished_records, self.head);
            self.published_records += u64::from(self.unpublished_records);
            self.unpublished_records = 0;
        }
        if self.seq % 2 == 1 {
            self.seq = self.seq.wrapping_add(1);
            self.mem.seq_end(self.seq);
        }
    }

    /// Writes the pending `PERF_RECORD_LOST` now if there is room, and publishes.
    /// Returns whether nothing is pending any more.
    pub fn flush_lost(&mut self) -> bool {
        if self.lost_pending > 0 {
            let room = match self.config.mode {
                WriteMode::Overwrite => true,
                WriteMode::Forward => self.has_room(LOST_RECORD_SIZE as u64).unwrap_or(false),
            };
            if room {
                let pos = self.advance(LOST_RECORD_SIZE);
                self.put_lost(pos);
            }
        }
        self.publish();
        self.lost_pending == 0
    }

    /// Publishes and wakes the reader whatever the policy (for a final flush).
    pub fn flush(&mut self) {
        self.publish();
        self.wake.force(self.head);
    }

    fn record_size(&self, payload_len: usize) -> Result<usize, WriteError> {
        let max = MAX_RECORD_SIZE.min(self.mem.data_size() as usize);
        match HEADER_SIZE.checked_add(payload_len).and_then(align_record) {
            Some(size) if size <= max => Ok(size),
            _ => Err(WriteError::RecordTooLarge {
                size: payload_len.saturating_add(HEADER_SIZE),
                max,
            }),
        }
    }

    /// Whether `need` bytes are free, refreshing the cached tail only when the cache says no.
    #[inline]
    fn has_room(&mut self, need: u64) -> Result<bool, WriteError> {
        let size = self.mem.data_size();
        if let Some(free) = free_space(self.head, self.cached_tail, size) {
            if free >= need {
                return Ok(true);
            }
        }
        // ATOMICS: Acquire (in `load_tail`) pairs with the reader's Release store of
        // `data_tail`: its reads of the bytes we are about to reuse are complete.
        let tail = self.mem.load_tail();
        // A tail that is not on a record boundary (8-aligned) cannot come from a reader;
        // honouring it could hand out bytes of an unread record.
        let aligned = tail.is_multiple_of(crate::layout::RECORD_ALIGN as u64);
        match free_space(self.head, tail, size).filter(|_| aligned) {
            Some(free) => {
                self.cached_tail = tail;
                Ok(free >= need)
            }
            None => Err(WriteError::CorruptTail {
                head: self.head,
                tail,
            }),
        }
    }

    /// Whether a record with a `payload_len`-byte payload (and a pending `PERF_RECORD_LOST`)
    /// fits now, without writing or dropping anything: for producers that wait for the
    /// reader instead of losing records (backpressure). Counts unpublished records.
    ///
    /// # Errors
    ///
    /// [`WriteError::RecordTooLarge`]; [`WriteError::CorruptTail`] for an impossible
    /// `data_tail`.
    pub fn has_room_for(&mut self, payload_len: usize) -> Result<bool, WriteError> {
        let size = self.record_size(payload_len)?;
        let lost = if self.lost_pending > 0 {
            LOST_RECORD_SIZE
        } else {
            0
        };
        self.has_room((size + lost) as u64)
    }

    /// Finds room for a record of `size` bytes (plus a pending LOST record, written here),
    /// or drops and counts it. Returns the position of the record.
    #[inline]
    fn make_room(&mut self, size: usize) -> Result<u64, WriteError> {
        // ATOMICS: Acquire pairs with `PauseHandle::set_paused`.
        if self.paused.load(Ordering::Acquire) {
            return Err(self.drop_record(WriteError::Paused));
        }
        let lost = if self.lost_pending > 0 {
            LOST_RECORD_SIZE
        } else {
            0
        };
        if self.config.mode == WriteMode::Forward {
            let need = (size + lost) as u64;
            match self.has_room(need) {
                Ok(true) => {}
                Ok(false) => {
                    let free = free_space(self.head, self.cached_tail, self.mem.data_size());
                    return Err(self.drop_record(WriteError::NoSpace {
                        needed: size + lost,
                        free: free.unwrap_or(0),
                    }));
                }
                Err(e) => return Err(self.drop_record(e)),
            }
        }
        if lost > 0 {
            let pos = self.advance(LOST_RECORD_SIZE);
            self.put_lost(pos);
        }
        Ok(self.advance(size))
    }

    fn drop_record(&mut self, e: WriteError) -> WriteError {
        self.lost_pending += 1;
        self.stats.lost += 1;
        self.fast_limit = 0;
        e
    }

    /// Moves the local head over `size` bytes and returns where the record starts.
    #[inline]
    fn advance(&mut self, size: usize) -> u64 {
        match self.config.mode {
            WriteMode::Forward => {
                let pos = self.head;
                self.head = pos.wrapping_add(size as u64);
                pos
            }
            WriteMode::Overwrite => {
                // Open a seqlock write section until the next publish: the bytes below
                // the head are the oldest ones of a reader's snapshot window.
                if self.seq.is_multiple_of(2) {
                    self.seq = self.seq.wrapping_add(1);
                    self.mem.seq_begin(self.seq);
                }
                self.head = self.head.wrapping_sub(size as u64);
                self.head
            }
        }
    }

    fn put_lost(&mut self, pos: u64) {
        let header = RecordHeader {
            record_type: PERF_RECORD_LOST,
            misc: 0,
            size: LOST_RECORD_SIZE as u16,
        };
        self.mem.write_u64(pos, header.to_u64());
        self.mem.write_u64(pos.wrapping_add(8), self.config.lost_id);
        self.mem.write_u64(pos.wrapping_add(16), self.lost_pending);
        self.lost_pending = 0;
        self.refresh_fast_limit();
        self.stats.lost_records += 1;
        self.unpublished_records += 1;
    }

    /// The common case of [`Self::append`] for one payload, in a few dozen instructions:
    /// a forward ring, not paused, no `PERF_RECORD_LOST` pending, room known from the
    /// cached tail, and a record that does not straddle the end of the data area. Returns
    /// false, having changed nothing, in every other case, which `append` then handles
    /// (with the same outcome for the caller either way).
    #[inline(always)]
    fn append_fast(&mut self, record_type: u32, misc: u16, payload: &[u8]) -> bool {
        let len = payload.len();
        // `fast_limit` keeps `size` below 65536 and `data_size`, without overflow, and is
        // 0 unless the ring is forward with no `PERF_RECORD_LOST` pending.
        if len >= self.fast_limit {
            return false;
        }
        // ATOMICS: Acquire pairs with `PauseHandle::set_paused`, as in `make_room`.
        if self.paused.load(Ordering::Acquire) {
            return false;
        }
        let size = (len + HEADER_SIZE + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1);
        // `cached_tail` was validated when loaded and the head only moves within the room
        // it showed, so `used <= data_size`.
        let used = self.head.wrapping_sub(self.cached_tail);
        if used + size as u64 > self.mem.data_size() {
            return false; // maybe full: `make_room` reloads `data_tail`
        }
        let header = RecordHeader {
            record_type,
            misc,
            size: size as u16,
        };
        if !self
            .mem
            .write_contiguous_record(self.head, header.to_u64(), payload, size)
        {
            return false;
        }
        self.head = self.head.wrapping_add(size as u64);
        self.unpublished_records += 1;
        true
    }

    /// Makes room for a record with a `payload_len`-byte payload (or drops and counts it),
    /// writes its header and zeroes its padding. Returns its position and total size; the
    /// caller fills the payload.
    #[inline]
    fn frame(
        &mut self,
        record_type: u32,
        misc: u16,
        payload_len: usize,
    ) -> Result<(u64, usize), WriteError> {
        let size = self.record_size(payload_len)?;
        let pos = self.make_room(size)?;
        let header = RecordHeader {
            record_type,
            misc,
            size: size as u16,
        };
        self.mem.write_u64(pos, header.to_u64());
        let pad = size - HEADER_SIZE - payload_len;
        if pad > 0 {
            self.mem.zero(pos.wrapping_add((size - pad) as u64), pad);
        }
        Ok((pos, size))
    }

    #[inline]
    fn append(&mut self, record_type: u32, misc: u16, parts: &[&[u8]]) -> Result<(), WriteError> {
        let payload_len: usize = parts.iter().map(|p| p.len()).sum();
        let (pos, _size) = self.frame(record_type, misc, payload_len)?;
        let mut at = pos.wrapping_add(HEADER_SIZE as u64);
        for part in parts {
            self.mem.copy_in(at, part);
            at = at.wrapping_add(part.len() as u64);
        }
        self.unpublished_records += 1;
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.flush_lost();
        self.flush();
        if self.lost_pending > 0 {
            if let Some(hook) = self.on_close.take() {
                hook(self.lost_pending);
            }
        }
    }
}

/// A record reserved in the ring, filled in place, then committed. Dropping it without
/// committing gives the space back.
#[derive(Debug)]
pub struct Reservation<'w> {
    writer: &'w mut Writer,
    pos: u64,
    size: usize,
    payload_len: usize,
    committed: bool,
}

impl Reservation<'_> {
    /// Copies `bytes` into the payload at `offset`.
    ///
    /// # Panics
    ///
    /// If `offset + bytes.len()` exceeds the reserved payload length.
    pub fn write_at(&mut self, offset: usize, bytes: &[u8]) {
        let end = offset.checked_add(bytes.len());
        assert!(
            end.is_some_and(|e| e <= self.payload_len),
            "write of {} bytes at {offset} past a {}-byte payload",
            bytes.len(),
            self.payload_len
        );
        let at = self.pos.wrapping_add((HEADER_SIZE + offset) as u64);
        self.writer.mem.copy_in(at, bytes);
    }

    /// The record's total size (header and padding included).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Makes the record visible: publishes `data_head`.
    ///
    /// ```
    /// let (mut writer, mut reader) = perf_ringbuf::Ring::with_data_size(4096)?;
    /// let mut record = writer.reserve(9, 0, 5)?;
    /// record.write_at(0, b"hello");
    /// record.commit();
    /// assert_eq!(reader.available()?, 16);
    ///
    /// // Dropping a reservation instead abandons it: nothing is published.
    /// drop(writer.reserve(9, 0, 5)?);
    /// assert_eq!(reader.available()?, 16);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(mut self) {
        self.mark_committed();
        self.writer.publish();
    }

    /// Keeps the record for the next [`Writer::publish`] (batch commit).
    pub fn commit_deferred(mut self) {
        self.mark_committed();
    }

    fn mark_committed(&mut self) {
        self.committed = true;
        self.writer.unpublished_records += 1;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.committed {
            // Give the space back: the local head returns to where this record began.
            let w = &mut *self.writer;
            w.head = match w.config.mode {
                WriteMode::Forward => self.pos,
                WriteMode::Overwrite => self.pos.wrapping_add(self.size as u64),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::region::test_counters::head_stores;
    use crate::Ring;

    const SAMPLE: u32 = 9;

    /// Moved from `tests/ring_protocol.rs`, where it could only see visibility: here the
    /// `data_head` stores themselves are counted (a per-thread counter in
    /// `RingMemory::store_head`, compiled into unit tests only).
    #[test]
    fn batch_commit_publishes_data_head_once() {
        let (mut writer, mut reader) = Ring::builder(4096).wakeup_fd(false).build().unwrap();
        let before = head_stores();
        for i in 0..10u8 {
            writer.write_deferred(SAMPLE, 0, &[i; 8]).unwrap();
        }
        assert_eq!(head_stores(), before, "no data_head store before publish");
        assert_eq!(
            reader.available().unwrap(),
            0,
            "nothing visible before publish"
        );
        writer.publish();
        assert_eq!(
            head_stores(),
            before + 1,
            "one data_head store for the batch"
        );
        writer.publish();
        assert_eq!(head_stores(), before + 1, "nothing new: no second store");
        assert_eq!(reader.available().unwrap(), 160);
        let mut d = reader.drain().unwrap();
        let mut n = 0;
        while d.next().is_some() {
            n += 1;
        }
        assert_eq!(n, 10);
    }

    #[test]
    fn each_write_publishes_data_head_once() {
        let (mut writer, _reader) = Ring::builder(4096).wakeup_fd(false).build().unwrap();
        let before = head_stores();
        for i in 0..10u8 {
            writer.write(SAMPLE, 0, &[i; 8]).unwrap();
        }
        assert_eq!(head_stores(), before + 10);
    }
}
