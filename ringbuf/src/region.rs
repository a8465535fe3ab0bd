//! The raw memory of a ring: a pointer and a length, nothing about where it came from.
//!
//! This is the one module of the protocol that touches ring memory. Concurrently written
//! memory is never turned into a Rust reference here: the control words are accessed with
//! atomics made from raw pointers, and record bytes are copied with raw-pointer copies.
//! The only references handed out are [`RingMemory::data_slice`], for byte ranges that the
//! head/tail protocol gives to the reader alone (see its `# Safety`).

use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::error::LayoutError;
use crate::layout::{
    CONTROL_FIELDS_END, DATA_HEAD_OFFSET, DATA_OFFSET_OFFSET, DATA_SIZE_OFFSET, DATA_TAIL_OFFSET,
    LOCK_OFFSET, RECORD_ALIGN,
};

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
    pub fn init_control(
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

/// A validated ring: the control words and a data area of `data_size` bytes.
///
/// All record-byte access goes through this type; offsets are always masked, so no
/// position — however hostile — can reach outside the data area.
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

    /// Loads `data_head`. ATOMICS: Acquire, pairs with the producer's [`Self::store_head`].
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
    #[inline]
    pub fn store_head(&self, head: u64) {
        self.region.word(DATA_HEAD_OFFSET).store(head, HEAD_STORE)
    }

    /// Loads `data_tail`. ATOMICS: Acquire, pairs with the consumer's [`Self::store_tail`].
    #[inline]
    pub fn load_tail(&self) -> u64 {
        self.region.word(DATA_TAIL_OFFSET).load(TAIL_LOAD)
    }

    /// Stores `data_tail`. ATOMICS: Release, pairs with the producer's [`Self::load_tail`].
    #[inline]
    pub fn store_tail(&self, tail: u64) {
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
    /// at the end. `dst.len()` must not exceed `data_size`.
    pub fn copy_out(&self, pos: u64, dst: &mut [u8]) {
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

    /// Copies `src` into the data area at position `pos`, wrapping at the end. Producer
    /// side: `[pos, pos + src.len())` must be space the producer owns (past `data_head`,
    /// not yet reached again by `data_tail`), and `src.len() <= data_size`.
    pub fn copy_in(&self, pos: u64, src: &[u8]) {
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
    pub unsafe fn data_slice<'a>(&self, pos: u64, len: usize) -> (&'a [u8], &'a [u8]) {
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
