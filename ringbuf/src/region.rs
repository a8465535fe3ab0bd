//! The raw memory of a ring: a pointer and a length, nothing about where it came from.
//!
//! This is the one module of the protocol that touches ring memory. Concurrently written
//! memory is never turned into a Rust reference here: the control words are accessed with
//! atomics made from raw pointers, and record bytes are copied with raw-pointer copies.
//! The only references handed out are record slices, by [`Consumer::slice`], for byte ranges
//! that the head/tail protocol gives to the reader alone: it checks each against the
//! `data_tail` the consumer stored and the `data_head` it loaded, and the slices borrow the
//! consumer, whose `data_tail` store takes `&mut`.
//!
//! The public constructors of [`crate::Writer`] and [`crate::Reader`] are here too: their
//! contracts (the only writer, the only reader, memory that stays mapped) are about this
//! memory, and they become the crate-private claims [`Producer`] and [`Consumer`] that
//! the writer and the reader hold, so neither of them needs unsafe code.
//!
//! Nothing public and safe here writes ring memory, moves a position or re-initialises a
//! control page: the writes are crate-private (the [`crate::Writer`] and [`crate::Reader`]
//! use them under the protocol's ownership rules), [`RingRegion::init_control`] is an
//! `unsafe fn`, and what a reader or writer shows of its memory is a borrowed, read-only
//! [`RingView`] (whose documentation pins this with `compile_fail` examples).

use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};

use crate::error::LayoutError;
use crate::heap_ring::RingError;
use crate::layout::{
    CONTROL_FIELDS_END, CONTROL_PAGE_SIZE, DATA_HEAD_OFFSET, DATA_OFFSET_OFFSET, DATA_SIZE_OFFSET,
    DATA_TAIL_OFFSET, LOCK_OFFSET, RECORD_ALIGN,
};
use crate::reader::Reader;
use crate::wakeup::WakeupFd;
use crate::writer::{Keepalive, Writer, WriterConfig};

/// Ordering of the producer's `data_head` store. Pairs with [`HEAD_LOAD`]: everything the
/// producer wrote into the data area before the store is visible to a consumer that loads
/// the new head.
pub(crate) const HEAD_STORE: Ordering = Ordering::Release;
/// Ordering of the consumer's `data_head` load. Pairs with [`HEAD_STORE`].
pub(crate) const HEAD_LOAD: Ordering = Ordering::Acquire;
/// Ordering of the consumer's `data_tail` store. Pairs with [`TAIL_LOAD`]: the consumer's
/// reads of the released bytes happen before the producer reuses them.
pub(crate) const TAIL_STORE: Ordering = Ordering::Release;
/// Ordering of the producer's `data_tail` load. Pairs with [`TAIL_STORE`].
pub(crate) const TAIL_LOAD: Ordering = Ordering::Acquire;

/// A memory region holding a perf ring: the control page at offset 0 and the data area at
/// `data_offset` (read from the control page).
///
/// The region may be a heap buffer, an emulated kernel buffer or a real `perf_event`
/// mapping. When it is *mirrored*, the `data_size` bytes after the data area map the same
/// pages again, so every record is contiguous in memory.
#[derive(Debug, Clone, Copy)]
pub struct RingRegion {
    base: NonNull<u8>,
    len: usize,
    mirrored: bool,
}

impl RingRegion {
    /// Describes `len` bytes at `base` as a ring region.
    ///
    /// # Errors
    ///
    /// [`LayoutError::Misaligned`] if `base` is not 8-byte aligned and
    /// [`LayoutError::RegionTooSmall`] if `len` does not cover the control fields.
    ///
    /// # Safety
    ///
    /// `base..base + len` must be mapped readable for as long as any value built from this
    /// region is used, and the control page (`base..base + 4096` or up to `data_offset`)
    /// must be writable — unless the region is only ever read through
    /// [`crate::Reader::new`] and [`crate::Reader::read_overwrite`], which only load
    /// (a kernel overwrite ring, mapped read-only). Other threads or processes may write the memory only as the ring
    /// protocol allows (the producer: the data area outside `[data_tail, data_head)` and
    /// `data_head`; the consumer: `data_tail`).
    pub unsafe fn new(base: *mut u8, len: usize) -> Result<Self, LayoutError> {
        let base = NonNull::new(base).ok_or(LayoutError::Misaligned { addr: 0 })?;
        if !(base.as_ptr() as usize).is_multiple_of(RECORD_ALIGN) {
            return Err(LayoutError::Misaligned {
                addr: base.as_ptr() as usize,
            });
        }
        if len < CONTROL_FIELDS_END {
            return Err(LayoutError::RegionTooSmall {
                len,
                need: CONTROL_FIELDS_END,
            });
        }
        Ok(RingRegion {
            base,
            len,
            mirrored: false,
        })
    }

    /// Like [`RingRegion::new`], for a region whose data area is mapped twice back to back.
    ///
    /// # Errors
    ///
    /// As [`RingRegion::new`].
    ///
    /// # Safety
    ///
    /// As [`RingRegion::new`], and `base + data_offset + data_size + i` must alias
    /// `base + data_offset + i` for every `i < data_size`.
    pub unsafe fn new_mirrored(base: *mut u8, len: usize) -> Result<Self, LayoutError> {
        // SAFETY: the caller upholds `new`'s contract, which is a subset of ours.
        let mut region = unsafe { Self::new(base, len)? };
        region.mirrored = true;
        Ok(region)
    }

    /// The region length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a region covers at least the control fields.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether the data area is declared double-mapped.
    pub fn is_mirrored(&self) -> bool {
        self.mirrored
    }

    fn word(&self, offset: usize) -> &AtomicU64 {
        debug_assert!(offset + 8 <= CONTROL_FIELDS_END && offset.is_multiple_of(8));
        // SAFETY: `offset + 8 <= CONTROL_FIELDS_END <= len` (checked in `new`), the base is
        // 8-aligned so the word is too, and the memory lives as long as `self` (contract of
        // `new`). Every access to these words, here and in other processes, is atomic.
        unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(offset).cast::<u64>()) }
    }

    fn lock_word(&self) -> &AtomicU32 {
        // SAFETY: `LOCK_OFFSET + 4 <= CONTROL_FIELDS_END <= len`, 4-aligned because the base
        // is 8-aligned; alive as long as `self` (contract of `new`); accessed atomically.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().add(LOCK_OFFSET).cast::<u32>()) }
    }

    /// Writes `data_offset` and `data_size` into the control page and zeroes both
    /// positions, as the kernel does when it allocates a ring. Producer side only.
    ///
    /// # Errors
    ///
    /// Any [`LayoutError`] the resulting layout would have.
    ///
    /// # Safety
    ///
    /// The ring must not be in use: no [`crate::Reader`] or [`crate::Writer`] of it may be
    /// alive, here or in another process, and no record slice of it held. Moving
    /// `data_head` or `data_tail` under a live reader lets the producer overwrite bytes
    /// that a record's `&[u8]` still points to. The control page must be writable.
    pub unsafe fn init_control(
        &self,
        data_offset: u64,
        data_size: u64,
    ) -> Result<RingMemory, LayoutError> {
        validate(self, data_offset, data_size)?;
        // ATOMICS: Relaxed is enough: the region is handed to the consumer afterwards by a
        // synchronising operation (thread spawn, channel, or a socket message).
        self.word(DATA_OFFSET_OFFSET)
            .store(data_offset, Ordering::Relaxed);
        self.word(DATA_SIZE_OFFSET)
            .store(data_size, Ordering::Relaxed);
        self.word(DATA_HEAD_OFFSET).store(0, Ordering::Relaxed);
        self.word(DATA_TAIL_OFFSET).store(0, Ordering::Relaxed);
        self.memory()
    }

    /// Reads and validates `data_offset` and `data_size` from the control page.
    ///
    /// # Errors
    ///
    /// [`LayoutError::DataSizeNotPowerOfTwo`], [`LayoutError::BadDataOffset`] or
    /// [`LayoutError::DataOutsideRegion`].
    pub fn memory(&self) -> Result<RingMemory, LayoutError> {
        // ATOMICS: Relaxed: the layout is written once before the region is shared.
        let data_offset = self.word(DATA_OFFSET_OFFSET).load(Ordering::Relaxed);
        let data_size = self.word(DATA_SIZE_OFFSET).load(Ordering::Relaxed);
        validate(self, data_offset, data_size)?;
        let offset = data_offset as usize; // fits: validated against `len`.
        Ok(RingMemory {
            region: *self,
            // SAFETY: `offset + data_size <= len` (validated), so the pointer is in bounds.
            data: unsafe { NonNull::new_unchecked(self.base.as_ptr().add(offset)) },
            data_size,
            mask: data_size - 1,
        })
    }
}

/// The producer's claim on a ring: whoever holds it is the ring's only writer, the data area
/// is writable, and `keep` keeps the memory mapped. Only `unsafe` code makes one
/// ([`Producer::new`]), so the safe crate-private constructor that takes one
/// (`Writer::from_producer`) needs no contract of its own.
#[derive(Debug)]
pub(crate) struct Producer {
    mem: RingMemory,
    _keep: Keepalive,
}

impl Producer {
    /// # Safety
    ///
    /// The holder is the only writer of the ring (nothing else stores `data_head` or writes
    /// the data area), and the data area is writable through `mem` for as long as `keep`
    /// lives.
    pub(crate) unsafe fn new(mem: RingMemory, keep: Keepalive) -> Self {
        Producer { mem, _keep: keep }
    }

    /// The memory, to write under the protocol's rules.
    pub(crate) fn mem(&self) -> RingMemory {
        self.mem
    }
}

/// The consumer's side of a ring: the one place that stores `data_tail`, and the one that
/// turns ring bytes into slices. It remembers the last `data_tail` it stored and the last
/// `data_head` it loaded, and hands out only bytes between the two, which the producer does
/// not write; storing the tail takes `&mut self`, so no slice outlives the release of its
/// bytes. Only `unsafe` code makes one ([`Consumer::new`]).
#[derive(Debug)]
pub(crate) struct Consumer {
    mem: RingMemory,
    /// The last `data_tail` stored (or found at creation).
    released: u64,
    /// The last `data_head` loaded that lies at most `data_size` past `released` (else
    /// `released`): `[released, head)` is the consumer's.
    head: u64,
    _keep: Keepalive,
}

impl Consumer {
    /// # Safety
    ///
    /// The holder is the only consumer of the ring (nothing else stores `data_tail`), and
    /// `mem` stays mapped readable for as long as `keep` lives.
    pub(crate) unsafe fn new(mem: RingMemory, keep: Keepalive) -> Self {
        // ATOMICS: Acquire is more than needed (only this consumer stores the tail) but
        // costs nothing once.
        let tail = mem.load_tail();
        Consumer {
            mem,
            released: tail,
            head: tail,
            _keep: keep,
        }
    }

    /// The memory, for loads.
    #[inline]
    pub(crate) fn mem(&self) -> &RingMemory {
        &self.mem
    }

    /// The last `data_tail` stored.
    #[inline]
    pub(crate) fn released(&self) -> u64 {
        self.released
    }

    /// Loads `data_head` (ATOMICS: Acquire, pairs with the producer's Release store) and,
    /// if it lies at most `data_size` past the released tail, takes the bytes up to it.
    #[inline]
    pub(crate) fn load_head(&mut self) -> u64 {
        let head = self.mem.load_head();
        if head.wrapping_sub(self.released) <= self.mem.data_size {
            self.head = head;
        }
        head
    }

    /// Stores `data_tail` (ATOMICS: Release, pairs with the producer's Acquire load): the
    /// bytes before it go back to the producer.
    #[inline]
    pub(crate) fn store_tail(&mut self, tail: u64) {
        self.mem.store_tail(tail);
        self.released = tail;
        if self.head.wrapping_sub(tail) > self.mem.data_size {
            self.head = tail;
        }
    }

    /// The bytes `[pos, pos + len)` as one or two slices (two when they straddle the end of
    /// a data area that is not mirrored), borrowed from `self`.
    ///
    /// # Panics
    ///
    /// If the bytes are not inside `[data_tail, data_head)` as last stored and loaded here:
    /// a bug of the reader (it validates every position against its head first).
    #[inline]
    pub(crate) fn slice(&self, pos: u64, len: usize) -> (&[u8], &[u8]) {
        let owned = self.head.wrapping_sub(self.released);
        let from = pos.wrapping_sub(self.released);
        assert!(
            from <= owned && len as u64 <= owned - from,
            "slice of {len} bytes at {pos:#x} outside [{:#x}, {:#x})",
            self.released,
            self.head
        );
        // SAFETY: `[pos, pos + len)` lies inside `[released, head)` (checked above), with
        // `head - released <= data_size` (kept by `load_head` and `store_tail`): the producer
        // does not write those bytes until `data_tail` passes them, and `data_tail` is
        // stored only through `&mut self`, which the returned slices borrow. The memory is
        // mapped while `self` lives (contract of `new`).
        unsafe { self.mem.data_slice(pos, len) }
    }
}

/// Makes a ring in a fresh anonymous mapping: a control page of [`CONTROL_PAGE_SIZE`]
/// bytes, then `data_size` bytes of data; returns its producer's and consumer's claims.
///
/// # Errors
///
/// The mmap error, or the layout's (`data_size` not a power of two of at least 8).
pub(crate) fn anonymous_ring(data_size: u64) -> Result<(Producer, Consumer), RingError> {
    let len = usize::try_from(data_size)
        .ok()
        .and_then(|d| d.checked_add(CONTROL_PAGE_SIZE))
        .ok_or(LayoutError::DataSizeNotPowerOfTwo(data_size))?;
    let map = MmapOptions::new()
        .len(len)
        .map_anon()
        .map_err(|source| RingError::Io {
            what: "mmap",
            source,
        })?;
    let map: Arc<MmapRaw> = Arc::new(MmapRaw::from(map));
    // SAFETY: the mapping is `len` bytes, read-write, page-aligned, and lives as long as the
    // claims below, which hold it.
    let region = unsafe { RingRegion::new(map.as_mut_ptr(), len)? };
    // SAFETY: a fresh mapping: nobody reads or writes this ring yet.
    let mem = unsafe { region.init_control(CONTROL_PAGE_SIZE as u64, data_size)? };
    // SAFETY: the one producer and the one consumer of this new ring; each holds the map.
    unsafe { Ok((Producer::new(mem, map.clone()), Consumer::new(mem, map))) }
}

impl Writer {
    /// Creates the writer of `mem`, resuming from the `data_head` in its control page.
    ///
    /// The control page may be shared with an untrusted consumer, so what it holds is
    /// validated before anything is written: a `data_head` that is not on a record
    /// boundary is rounded up to the next one (stored, and counted in
    /// [`WriterStats::head_repairs`](crate::WriterStats::head_repairs)), so every record the
    /// writer frames starts 8-aligned and lies inside the data area; and the free space is
    /// never assumed — the first write loads `data_tail` and validates it against the head
    /// (an impossible pair gives [`WriteError::CorruptTail`](crate::WriteError::CorruptTail)
    /// until the consumer stores a sane tail).
    ///
    /// # Safety
    ///
    /// This must be the only writer of the ring, and the data area must be writable through
    /// `mem` for as long as `keep` lives.
    pub unsafe fn new(
        mem: RingMemory,
        config: WriterConfig,
        wakeup_fd: Option<WakeupFd>,
        keep: Keepalive,
    ) -> Self {
        // SAFETY: our contract is the claim's.
        Writer::from_producer(unsafe { Producer::new(mem, keep) }, config, wakeup_fd)
    }
}

impl Reader {
    /// Creates the reader of `mem`, starting at the `data_tail` in its control page.
    ///
    /// # Safety
    ///
    /// This must be the only reader of the ring (it owns `data_tail`), and `mem` must stay
    /// mapped for as long as `keep` lives.
    pub unsafe fn new(mem: RingMemory, keep: Keepalive) -> Self {
        // SAFETY: our contract is the claim's.
        Reader::from_consumer(unsafe { Consumer::new(mem, keep) })
    }
}

/// Copies `len` bytes from `src` to `dst`. Up to 16 bytes (most small records' payloads)
/// are moved with at most two pairs of unaligned loads and stores instead of a call into
/// `memcpy`, whose call and size dispatch cost more than the copy itself at that size.
///
/// # Safety
///
/// As [`core::ptr::copy_nonoverlapping`]: `src` readable and `dst` writable for `len`
/// bytes, the two ranges disjoint.
#[inline(always)]
unsafe fn copy_bytes(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: every access below lies inside `src..src + len` or `dst..dst + len` (the
    // second word of a pair overlaps the first when `len` is not a multiple of the word),
    // which the caller guarantees; unaligned reads and writes need no alignment.
    unsafe {
        if len > 16 {
            core::ptr::copy_nonoverlapping(src, dst, len);
        } else if len >= 8 {
            let a = src.cast::<u64>().read_unaligned();
            let b = src.add(len - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(a);
            dst.add(len - 8).cast::<u64>().write_unaligned(b);
        } else if len >= 4 {
            let a = src.cast::<u32>().read_unaligned();
            let b = src.add(len - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(a);
            dst.add(len - 4).cast::<u32>().write_unaligned(b);
        } else {
            for i in 0..len {
                dst.add(i).write(src.add(i).read());
            }
        }
    }
}

fn validate(region: &RingRegion, data_offset: u64, data_size: u64) -> Result<(), LayoutError> {
    if data_size < RECORD_ALIGN as u64 || !data_size.is_power_of_two() {
        return Err(LayoutError::DataSizeNotPowerOfTwo(data_size));
    }
    if data_offset < CONTROL_FIELDS_END as u64 || !data_offset.is_multiple_of(RECORD_ALIGN as u64) {
        return Err(LayoutError::BadDataOffset(data_offset));
    }
    let copies = if region.mirrored { 2 } else { 1 };
    let end = data_size
        .checked_mul(copies)
        .and_then(|d| d.checked_add(data_offset));
    match end {
        Some(end) if end <= region.len as u64 => Ok(()),
        _ => Err(LayoutError::DataOutsideRegion {
            data_offset,
            data_size,
            mirrored: region.mirrored,
            len: region.len,
        }),
    }
}

/// A read-only view of a ring's memory, borrowed from its [`crate::Reader`] or
/// [`crate::Writer`]: the layout and the two positions. It cannot write records, move a
/// position, or outlive the reader or writer that keeps the memory mapped.
///
/// ```
/// let (mut writer, _reader) = perf_ringbuf::Ring::with_data_size(4096)?;
/// writer.write(9, 0, b"hello")?;
/// let view = writer.memory();
/// assert_eq!(view.data_size(), 4096);
/// assert_eq!(view.load_head() - view.load_tail(), 16); // one 16-byte record unread
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Safe code cannot write a live ring through its view (these examples must not compile):
///
/// ```compile_fail,E0599
/// let (writer, _reader) = perf_ringbuf::Ring::with_data_size(4096).unwrap();
/// writer.memory().copy_in(0, b"XXXXXXXX"); // no such method on a view
/// ```
///
/// nor move `data_tail` under a live record:
///
/// ```compile_fail,E0599
/// let (_writer, reader) = perf_ringbuf::Ring::with_data_size(4096).unwrap();
/// reader.memory().store_tail(0);
/// ```
///
/// nor write through the [`RingMemory`] that a region yields, whose writes and position
/// stores are crate-private:
///
/// ```compile_fail,E0624
/// # use memmap2::{MmapOptions, MmapRaw};
/// # let map = MmapRaw::from(MmapOptions::new().len(8192).map_anon().unwrap());
/// // SAFETY: the mapping is 8192 bytes and outlives `region`.
/// let region = unsafe { perf_ringbuf::RingRegion::new(map.as_mut_ptr(), 8192) }.unwrap();
/// let mem = region.memory().unwrap();
/// mem.store_head(0);
/// ```
///
/// ```compile_fail,E0624
/// # use memmap2::{MmapOptions, MmapRaw};
/// # let map = MmapRaw::from(MmapOptions::new().len(8192).map_anon().unwrap());
/// // SAFETY: the mapping is 8192 bytes and outlives `region`.
/// let region = unsafe { perf_ringbuf::RingRegion::new(map.as_mut_ptr(), 8192) }.unwrap();
/// let mem = region.memory().unwrap();
/// mem.copy_in(0, b"XXXXXXXX");
/// ```
///
/// nor keep a view past the reader that keeps the memory mapped:
///
/// ```compile_fail,E0505
/// let (_writer, reader) = perf_ringbuf::Ring::with_data_size(4096).unwrap();
/// let view = reader.memory();
/// drop(reader);
/// view.load_head();
/// ```
///
/// and re-initialising a control page takes `unsafe`:
///
/// ```compile_fail,E0133
/// # use memmap2::{MmapOptions, MmapRaw};
/// # let map = MmapRaw::from(MmapOptions::new().len(8192).map_anon().unwrap());
/// // SAFETY: the mapping is 8192 bytes and outlives `region`.
/// let region = unsafe { perf_ringbuf::RingRegion::new(map.as_mut_ptr(), 8192) }.unwrap();
/// region.init_control(4096, 4096).unwrap(); // error: call to unsafe function
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RingView<'a> {
    mem: &'a RingMemory,
}

impl<'a> RingView<'a> {
    pub(crate) fn new(mem: &'a RingMemory) -> Self {
        RingView { mem }
    }

    /// Size of the data area (`perf_event_mmap_page::data_size`).
    #[inline]
    pub fn data_size(&self) -> u64 {
        self.mem.data_size
    }

    /// Whether the data area is double-mapped.
    #[inline]
    pub fn is_mirrored(&self) -> bool {
        self.mem.region.mirrored
    }

    /// Offset in the data area of a free-running position.
    #[inline]
    pub fn offset(&self, pos: u64) -> usize {
        self.mem.offset(pos)
    }

    /// Loads `data_head`. ATOMICS: Acquire, pairs with the producer's Release store.
    #[inline]
    pub fn load_head(&self) -> u64 {
        self.mem.load_head()
    }

    /// Loads `data_tail`. ATOMICS: Acquire, pairs with the consumer's Release store.
    #[inline]
    pub fn load_tail(&self) -> u64 {
        self.mem.load_tail()
    }
}

/// A validated ring: the control words and a data area of `data_size` bytes.
///
/// All record-byte access goes through this type; offsets are always masked, so no
/// position — however hostile — can reach outside the data area. Its public methods only
/// read the layout and the positions; writing records and moving positions belong to the
/// one [`crate::Writer`] and the one [`crate::Reader`] made from it (`unsafe` constructors).
#[derive(Debug, Clone, Copy)]
pub struct RingMemory {
    region: RingRegion,
    data: NonNull<u8>,
    data_size: u64,
    mask: u64,
}

// SAFETY: `RingMemory` is a pointer into memory that the `RingRegion` contract keeps mapped;
// all shared words are accessed atomically and record bytes through the protocol's
// ownership rules, which do not depend on which thread runs the code.
unsafe impl Send for RingMemory {}
// SAFETY: as for `Send`: `&RingMemory` exposes only atomic word access and raw copies.
unsafe impl Sync for RingMemory {}

impl RingMemory {
    /// Size of the data area (`perf_event_mmap_page::data_size`).
    #[inline]
    pub fn data_size(&self) -> u64 {
        self.data_size
    }

    /// Whether the data area is double-mapped.
    #[inline]
    pub fn is_mirrored(&self) -> bool {
        self.region.mirrored
    }

    /// The region this memory lives in.
    pub fn region(&self) -> &RingRegion {
        &self.region
    }

    /// Offset in the data area of a free-running position.
    #[inline]
    pub fn offset(&self, pos: u64) -> usize {
        (pos & self.mask) as usize
    }

    /// Loads `data_head`. ATOMICS: Acquire, pairs with the producer's Release store.
    #[inline]
    pub fn load_head(&self) -> u64 {
        self.region.word(DATA_HEAD_OFFSET).load(HEAD_LOAD)
    }

    /// Loads `data_head` with Relaxed ordering, for the producer re-reading its own store.
    #[inline]
    pub(crate) fn load_head_relaxed(&self) -> u64 {
        // ATOMICS: only the producer stores the head, so its own last store is visible.
        self.region.word(DATA_HEAD_OFFSET).load(Ordering::Relaxed)
    }

    /// Stores `data_head`. ATOMICS: Release, pairs with the consumer's [`Self::load_head`].
    /// Producer side only (the [`crate::Writer`] owns `data_head`).
    #[inline]
    pub(crate) fn store_head(&self, head: u64) {
        #[cfg(test)]
        test_counters::HEAD_STORES.with(|n| n.set(n.get() + 1));
        self.region.word(DATA_HEAD_OFFSET).store(head, HEAD_STORE)
    }

    /// Loads `data_tail`. ATOMICS: Acquire, pairs with the consumer's Release store.
    #[inline]
    pub fn load_tail(&self) -> u64 {
        self.region.word(DATA_TAIL_OFFSET).load(TAIL_LOAD)
    }

    /// Stores `data_tail`. ATOMICS: Release, pairs with the producer's [`Self::load_tail`].
    /// Consumer side only (the [`crate::Reader`] owns `data_tail`).
    #[inline]
    pub(crate) fn store_tail(&self, tail: u64) {
        self.region.word(DATA_TAIL_OFFSET).store(tail, TAIL_STORE)
    }

    /// Opens a write section of the overwrite seqlock (`lock` made odd). The Release fence
    /// keeps the record stores that follow from becoming visible before the odd value
    /// (pairs with the reader's Acquire fence in [`Self::seq_retry`]).
    #[inline]
    pub(crate) fn seq_begin(&self, seq: u32) {
        debug_assert!(seq % 2 == 1);
        // ATOMICS: Relaxed store + Release fence: the writer side of a seqlock.
        self.region.lock_word().store(seq, Ordering::Relaxed);
        fence(Ordering::Release);
    }

    /// Closes a write section (`lock` made even again). ATOMICS: Release, pairs with the
    /// reader's Acquire load in [`Self::seq_read_begin`]: the records are visible to a
    /// reader that sees the even value.
    #[inline]
    pub(crate) fn seq_end(&self, seq: u32) {
        debug_assert!(seq.is_multiple_of(2));
        self.region.lock_word().store(seq, Ordering::Release);
    }

    /// Starts a seqlock read: the current `lock` value. ATOMICS: Acquire, pairs with
    /// [`Self::seq_end`].
    #[inline]
    pub(crate) fn seq_read_begin(&self) -> u32 {
        self.region.lock_word().load(Ordering::Acquire)
    }

    /// Ends a seqlock read begun at `start`: true if a write section overlapped it.
    /// ATOMICS: the Acquire fence orders the snapshot's loads before this Relaxed load,
    /// pairing with the Release fence in [`Self::seq_begin`].
    #[inline]
    pub(crate) fn seq_retry(&self, start: u32) -> bool {
        fence(Ordering::Acquire);
        start % 2 == 1 || self.region.lock_word().load(Ordering::Relaxed) != start
    }

    /// Reads the 8 bytes at `pos` (8-aligned positions never straddle the end).
    #[inline]
    pub(crate) fn read_u64(&self, pos: u64) -> u64 {
        let off = self.offset(pos);
        if off + 8 <= self.data_size as usize {
            // SAFETY: `off + 8 <= data_size`, inside the data area. A plain (non-atomic)
            // read: the bytes are either owned by the reader by protocol or, with a hostile
            // producer, garbage that the caller validates.
            unsafe { self.data.as_ptr().add(off).cast::<u64>().read_unaligned() }
        } else {
            let mut b = [0u8; 8];
            self.copy_out(pos, &mut b);
            u64::from_ne_bytes(b)
        }
    }

    /// Copies `dst.len()` bytes starting at position `pos` out of the data area, wrapping
    /// at the end. `dst.len()` must not exceed `data_size`. Plain reads: consumer side, for
    /// bytes the protocol gives it (`[data_tail, data_head)`).
    pub(crate) fn copy_out(&self, pos: u64, dst: &mut [u8]) {
        let (first, second) = self.split(pos, dst.len());
        let off = self.offset(pos);
        // SAFETY: `split` keeps `off + first <= data_size` (or `2 * data_size` when
        // mirrored) and `second <= data_size`; `dst` is a distinct buffer of len first+second.
        unsafe {
            copy_bytes(self.data.as_ptr().add(off), dst.as_mut_ptr(), first);
            if second > 0 {
                copy_bytes(self.data.as_ptr(), dst.as_mut_ptr().add(first), second);
            }
        }
    }

    /// Copies `dst.len()` bytes (a multiple of 8, at most `data_size`) starting at the
    /// 8-aligned position `pos` out of the data area, for a snapshot that a writer may be
    /// racing (the overwrite read, [`crate::Reader::read_overwrite`]).
    ///
    /// Atomic-width reads, not a `memcpy`: every 8-byte word is one Relaxed `AtomicU64`
    /// load, the reader half of crossbeam's `AtomicCell` seqlock. A writer that missed the
    /// pause may store into these bytes while they are copied; the copy is then detected
    /// afterwards (the caller re-reads `data_head` and the seqlock behind an Acquire fence)
    /// and thrown away. With word loads the copy can tear only between words, never inside
    /// a header, and the compiler may not assume the bytes are stable while it copies them
    /// as it may for a plain `memcpy`. The writer's own stores are plain (records are
    /// copied with `memcpy`), so against a writer that ignores the pause the Rust model
    /// still calls the pair a race, as it does crossbeam's; the words read are never
    /// trusted before the recheck says no write overlapped them.
    pub(crate) fn snapshot_out(&self, pos: u64, dst: &mut [u8]) {
        debug_assert!(pos.is_multiple_of(8) && dst.len().is_multiple_of(8));
        assert!(
            dst.len() as u64 <= self.data_size,
            "snapshot exceeds the data area"
        );
        for (i, chunk) in dst.chunks_exact_mut(8).enumerate() {
            let off = self.offset(pos.wrapping_add(8 * i as u64));
            // SAFETY: `off` is 8-aligned (`pos` and `data_size` are multiples of 8, and the
            // data area starts at an 8-aligned `data_offset` of an 8-aligned base) and
            // `off + 8 <= data_size`, so the word is in bounds and aligned; the memory lives
            // as long as `self` (contract of `RingRegion::new`). A Relaxed load of at most
            // 8 bytes is allowed on read-only memory (a kernel overwrite ring).
            let word = unsafe { AtomicU64::from_ptr(self.data.as_ptr().add(off).cast::<u64>()) };
            // ATOMICS: Relaxed; ordered before the caller's head and seqlock recheck by its
            // Acquire fence, which pairs with the writer's Release fence in `seq_begin`.
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
    }

    /// Copies `src` into the data area at position `pos`, wrapping at the end. Producer
    /// side: `[pos, pos + src.len())` must be space the producer owns (past `data_head`,
    /// not yet reached again by `data_tail`), and `src.len() <= data_size`.
    pub(crate) fn copy_in(&self, pos: u64, src: &[u8]) {
        let (first, second) = self.split(pos, src.len());
        let off = self.offset(pos);
        // SAFETY: bounds as in `copy_out`; the bytes are the producer's by protocol.
        unsafe {
            copy_bytes(src.as_ptr(), self.data.as_ptr().add(off), first);
            if second > 0 {
                copy_bytes(src.as_ptr().add(first), self.data.as_ptr(), second);
            }
        }
    }

    /// Writes `len` zero bytes at position `pos` (record padding).
    pub(crate) fn zero(&self, pos: u64, len: usize) {
        let (first, second) = self.split(pos, len);
        let off = self.offset(pos);
        // SAFETY: bounds as in `copy_out`; the bytes are the producer's by protocol.
        unsafe {
            core::ptr::write_bytes(self.data.as_ptr().add(off), 0, first);
            if second > 0 {
                core::ptr::write_bytes(self.data.as_ptr(), 0, second);
            }
        }
    }

    /// Writes a whole record — `header`, `payload`, zeros up to `size` — at the 8-aligned
    /// position `pos`, if it lies contiguously in memory (it does not straddle the end of
    /// a data area that is not mirrored). Returns false, having written nothing, if it
    /// straddles. Producer side, as [`Self::copy_in`]; `HEADER_SIZE + payload.len() <=
    /// size <= data_size`, `size` a multiple of 8.
    #[inline(always)]
    pub(crate) fn write_contiguous_record(
        &self,
        pos: u64,
        header: u64,
        payload: &[u8],
        size: usize,
    ) -> bool {
        let off = self.offset(pos);
        let data_size = self.data_size as usize;
        debug_assert!(size <= data_size && payload.len() + 8 <= size && size.is_multiple_of(8));
        if off + size > data_size && !self.region.mirrored {
            return false;
        }
        let len = payload.len();
        // SAFETY: `off + size <= data_size` (or `<= 2 * data_size` in a mirrored region,
        // since `off < data_size` and `size <= data_size`), so the header, the payload and
        // the last word (`size >= 8`) are inside the data area; the
        // bytes are the producer's by protocol, and `payload` is the caller's own buffer.
        unsafe {
            let at = self.data.as_ptr().add(off);
            // The padding (at most 7 bytes) lies in the record's last word: zero that word
            // first, then let the header and the payload overwrite what is theirs. One
            // store instead of a branch and a loop.
            at.add(size - 8).cast::<u64>().write_unaligned(0);
            at.cast::<u64>().write_unaligned(header);
            copy_bytes(payload.as_ptr(), at.add(8), len);
        }
        true
    }

    /// Writes one u64 at an 8-aligned position. Producer side, as [`Self::copy_in`].
    #[inline]
    pub(crate) fn write_u64(&self, pos: u64, value: u64) {
        let off = self.offset(pos);
        debug_assert!(off.is_multiple_of(8));
        // SAFETY: `off` is 8-aligned and `data_size` a multiple of 8, so `off + 8 <=
        // data_size`; the bytes are the producer's by protocol.
        unsafe {
            self.data
                .as_ptr()
                .add(off)
                .cast::<u64>()
                .write_unaligned(value)
        }
    }

    /// How `len` bytes at `pos` fall: `(before the end, after wrapping to the start)`.
    #[inline]
    fn split(&self, pos: u64, len: usize) -> (usize, usize) {
        let off = self.offset(pos);
        let size = self.data_size as usize;
        assert!(len <= size, "copy of {len} bytes exceeds the data area");
        if self.region.mirrored || off + len <= size {
            (len, 0)
        } else {
            (size - off, len - (size - off))
        }
    }

    /// How many of the `len` bytes at `pos` lie contiguously in memory: all of them in a
    /// mirrored region, else those before the end of the data area.
    #[inline]
    pub(crate) fn contiguous_len(&self, pos: u64, len: usize) -> usize {
        if self.region.mirrored {
            len
        } else {
            len.min(self.data_size as usize - self.offset(pos))
        }
    }

    /// The bytes `[pos, pos + len)` as one or two slices (two when they straddle the end
    /// of a data area that is not mirrored).
    ///
    /// # Safety
    ///
    /// For the lifetime `'a`, nobody may write these bytes: they must lie inside
    /// `[data_tail, data_head)` as last loaded by this consumer, and `data_tail` must not be
    /// released past them while the slices live. `len <= data_size`.
    #[inline]
    unsafe fn data_slice<'a>(&self, pos: u64, len: usize) -> (&'a [u8], &'a [u8]) {
        let (first, second) = self.split(pos, len);
        let off = self.offset(pos);
        // SAFETY: in bounds by `split`; unaliased by writes for `'a` by the caller's contract.
        unsafe {
            (
                core::slice::from_raw_parts(self.data.as_ptr().add(off), first),
                core::slice::from_raw_parts(self.data.as_ptr(), second),
            )
        }
    }
}

// ---- Hostile peers (issue 16): lets an owner check the layout a control page declared. ----
impl RingMemory {
    /// `data_offset` as validated when this memory was made: where the data area starts
    /// in the region.
    pub(crate) fn data_offset(&self) -> u64 {
        (self.data.as_ptr() as usize - self.region.base.as_ptr() as usize) as u64
    }
}

/// Counters of the shared-memory stores, per thread, that the unit tests read.
#[cfg(test)]
pub(crate) mod test_counters {
    use std::cell::Cell;

    std::thread_local! {
        /// `data_head` stores by this thread ([`super::RingMemory::store_head`]).
        pub(crate) static HEAD_STORES: Cell<u64> = const { Cell::new(0) };
    }

    /// `data_head` stores this thread made so far.
    pub(crate) fn head_stores() -> u64 {
        HEAD_STORES.with(Cell::get)
    }
}

#[cfg(test)]
mod tests {
    use crate::Ring;

    fn payload(len: usize, seed: u64) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u64).wrapping_mul(131).wrapping_add(seed) as u8 | 1)
            .collect()
    }

    /// Moved from `tests/ring_fast_path.rs`: `copy_in` and `copy_out` are crate-private.
    #[test]
    fn copy_in_and_copy_out_round_trip_short_lengths_across_the_wrap() {
        let (writer, _reader) = Ring::builder(64).wakeup_fd(false).build().unwrap();
        // The writer is idle and the reader never drains: nobody else touches the bytes.
        let mem = writer.mem;
        for len in 0..=40usize {
            for pos in [0u64, 8, 40, 56, 60, 63, 64 + 50] {
                let src = payload(len, pos);
                mem.copy_in(pos, &src);
                let mut dst = vec![0u8; len];
                mem.copy_out(pos, &mut dst);
                assert_eq!(dst, src, "len {len} at position {pos}");
            }
        }
    }

    #[test]
    fn the_consumer_slices_only_bytes_between_its_tail_and_head() {
        use std::panic::{catch_unwind, AssertUnwindSafe};
        let (mut writer, mut reader) = Ring::builder(64).wakeup_fd(false).build().unwrap();
        let consumer = &mut reader.consumer;
        let refused = |c: &super::Consumer, pos, len| {
            catch_unwind(AssertUnwindSafe(|| c.slice(pos, len).0.len())).is_err()
        };
        writer.write(9, 0, &[1; 8]).unwrap(); // 16 bytes at 0
        assert!(refused(consumer, 0, 8), "head not loaded yet");
        assert_eq!(consumer.load_head(), 16);
        assert_eq!(consumer.slice(0, 16).0.len(), 16);
        assert_eq!(consumer.slice(8, 8).0.len(), 8);
        assert!(refused(consumer, 8, 16), "past head");
        consumer.store_tail(16);
        assert!(refused(consumer, 0, 8), "released");
        assert_eq!(consumer.slice(16, 0).0.len(), 0);
    }

    #[test]
    fn snapshot_out_reads_whole_words_across_the_wrap() {
        let (writer, _reader) = Ring::builder(64).wakeup_fd(false).build().unwrap();
        let mem = writer.mem;
        let src = payload(64, 7);
        mem.copy_in(40, &src);
        for len in (0..=64usize).step_by(8) {
            let mut dst = vec![0u8; len];
            mem.snapshot_out(40, &mut dst);
            assert_eq!(dst, src[..len], "len {len} from position 40");
        }
    }
}
