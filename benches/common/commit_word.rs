//! Our record framing with a BPF-ringbuf / Agrona-style commit instead of perf's ABI
//! layout: the measure of what `data_head` and `data_tail` on one cache line cost.
//!
//! Records are framed exactly as in a perf ring — an 8-byte `perf_event_header`
//! (`u32 type`, `u16 misc`, `u16 size`; `size` includes the header), 8-byte aligned, in a
//! power-of-two data area — but:
//!
//! * **The header word is the commit flag.** The producer writes the payload, then stores
//!   the 8-byte header with one Release store; a non-zero header is a committed record
//!   (Agrona `OneToOneRingBuffer`: the length written last; BPF ringbuf: the BUSY bit
//!   cleared). There is no producer position in shared memory at all.
//! * **Head and tail on separate cache lines.** The only shared position is the
//!   consumer's (`head`, bytes released), alone on its 128-byte line; the producer keeps
//!   its position and a cached copy of `head` in its own memory and reloads `head` only
//!   when its cached view says the ring is full.
//! * **The consumer zeroes what it consumed** before releasing it (Agrona's
//!   `setMemory(head, bytesRead, 0)`), so that a later lap never sees a stale header — a
//!   record boundary of the next lap may fall in the middle of an old record.
//! * **A padding record at the wrap** (Agrona's `PADDING_MSG_TYPE_ID`): a record that would
//!   straddle the end of the data area is written at offset 0 instead, after a padding
//!   header that tells the consumer to skip to the end.
//!
//! This lives in `benches/` as a subject, not in the library: a real perf ring cannot
//! change its control page.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::utils::CachePadded;

/// `type` of the padding record at the wrap (`u32::MAX`: no perf record type).
const PADDING: u32 = u32::MAX;

/// The data area and the consumer's position.
pub struct CommitWordRing {
    /// Page-aligned, `len` bytes, zeroed at first.
    data: NonNull<u8>,
    /// A power of two, at least 4096.
    len: usize,
    /// Bytes the consumer has released (free-running). Written by the consumer only.
    head: CachePadded<AtomicU64>,
}

// SAFETY: the data is accessed through raw pointers only, by one producer and one consumer
// that own disjoint ranges as the header words and `head` say (Release/Acquire pairs).
unsafe impl Sync for CommitWordRing {}
// SAFETY: the allocation is owned; moving the owner between threads is fine.
unsafe impl Send for CommitWordRing {}

impl CommitWordRing {
    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len, 4096).expect("commit-word ring layout")
    }

    /// A zeroed data area of `len` bytes (a power of two, at least 4096).
    pub fn new(len: usize) -> Self {
        assert!(len.is_power_of_two() && len >= 4096);
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(Self::layout(len)) };
        CommitWordRing {
            data: NonNull::new(p).expect("commit-word ring allocation"),
            len,
            head: CachePadded::new(AtomicU64::new(0)),
        }
    }

    /// The producer side, starting where the consumer stands (the ring is empty between
    /// runs: the previous consumer released everything).
    pub fn producer(&self) -> CommitWordProducer<'_> {
        // ATOMICS: Acquire pairs with the consumer's Release store of `head`.
        let head = self.head.load(Ordering::Acquire);
        CommitWordProducer {
            ring: self,
            pos: head,
            cached_head: head,
        }
    }

    /// The consumer side.
    pub fn consumer(&self) -> CommitWordConsumer<'_> {
        // ATOMICS: Relaxed: written by the consumer side only (the previous run's
        // consumer thread was joined).
        let pos = self.head.load(Ordering::Relaxed);
        CommitWordConsumer { ring: self, pos }
    }

    fn at(&self, pos: u64) -> *mut u8 {
        let off = pos as usize & (self.len - 1);
        // SAFETY: `off < len`, inside the allocation.
        unsafe { self.data.as_ptr().add(off) }
    }

    /// The header word at `pos` (8-byte aligned) as an atomic.
    fn header(&self, pos: u64) -> &AtomicU64 {
        // SAFETY: `pos` is 8-byte aligned and the area page-aligned, so the word is
        // aligned and inside the allocation; header words are only ever accessed
        // atomically while both sides run (payload bytes are never at a header's place
        // in the same lap, and a lap's headers are zeroed by the consumer before
        // `head` releases them).
        unsafe { AtomicU64::from_ptr(self.at(pos).cast::<u64>()) }
    }
}

impl Drop for CommitWordRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout, freed once.
        unsafe { std::alloc::dealloc(self.data.as_ptr(), Self::layout(self.len)) };
    }
}

fn header_word(record_type: u32, size: u16) -> u64 {
    // `perf_event_header` in memory order on a little-endian machine: type, misc, size.
    u64::from(record_type) | (u64::from(size) << 48)
}

/// The producer: writes records and commits each with its header word.
pub struct CommitWordProducer<'r> {
    ring: &'r CommitWordRing,
    /// Next write position (free-running).
    pos: u64,
    /// Last `head` seen; reloaded only when the ring looks full.
    cached_head: u64,
}

impl CommitWordProducer<'_> {
    /// Writes one record of `payload` bytes; `false` (nothing written) when it does not
    /// fit yet.
    ///
    /// # Panics
    ///
    /// When the record is larger than 65535 bytes or than half the ring.
    #[inline(always)]
    pub fn try_write(&mut self, record_type: u32, payload: &[u8]) -> bool {
        let ring = self.ring;
        let size = (8 + payload.len() + 7) & !7;
        assert!(
            size <= usize::from(u16::MAX) && size <= ring.len / 2,
            "record too large"
        );
        let off = self.pos as usize & (ring.len - 1);
        let to_end = ring.len - off;
        let pad = if size > to_end { to_end } else { 0 };
        let need = (pad + size) as u64;
        if self.pos + need - self.cached_head > ring.len as u64 {
            // ATOMICS: Acquire pairs with the consumer's Release store of `head`: the
            // released bytes (zeroed by the consumer) are ours to write.
            self.cached_head = ring.head.load(Ordering::Acquire);
            if self.pos + need - self.cached_head > ring.len as u64 {
                return false;
            }
        }
        if pad != 0 {
            // ATOMICS: Release pairs with the consumer's Acquire load of this header.
            ring.header(self.pos)
                .store(header_word(PADDING, 8), Ordering::Release);
            self.pos += pad as u64;
        }
        let at = ring.at(self.pos);
        // SAFETY: `[pos, pos + size)` is free (released by the consumer, zeroed) and
        // contiguous (padding above); the consumer reads it only after the header store
        // below. The payload starts 8 bytes in and ends before `size`.
        unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), at.add(8), payload.len()) };
        // ATOMICS: Release pairs with the consumer's Acquire load of this header: the
        // payload above is visible once the header is.
        ring.header(self.pos)
            .store(header_word(record_type, size as u16), Ordering::Release);
        self.pos += size as u64;
        true
    }
}

/// The consumer: reads committed records, zeroes and releases them once per drain.
pub struct CommitWordConsumer<'r> {
    ring: &'r CommitWordRing,
    /// Next read position (free-running).
    pos: u64,
}

impl CommitWordConsumer<'_> {
    /// Hands every committed record to `f` as (type, payload), zeroes them and releases
    /// them with one `head` store. Returns the records.
    #[inline(always)]
    pub fn drain(&mut self, mut f: impl FnMut(u32, Payload<'_>)) -> u64 {
        let ring = self.ring;
        let start = self.pos;
        let mut n = 0;
        loop {
            // ATOMICS: Acquire pairs with the producer's Release store of the header:
            // a non-zero header means the record's payload is written.
            let word = ring.header(self.pos).load(Ordering::Acquire);
            if word == 0 {
                break;
            }
            let record_type = word as u32;
            let off = self.pos as usize & (ring.len - 1);
            let size = if record_type == PADDING {
                ring.len - off
            } else {
                (word >> 48) as usize
            };
            assert!(
                size >= 8 && size.is_multiple_of(8) && size <= ring.len - off,
                "corrupt header {word:#x} at {}",
                self.pos
            );
            if record_type != PADDING {
                f(
                    record_type,
                    Payload {
                        at: ring.at(self.pos).wrapping_add(8),
                        len: size - 8,
                        _drain: std::marker::PhantomData,
                    },
                );
                n += 1;
            }
            // Zero the record for the next lap: the header word atomically (the producer
            // may not touch it before `head` moves), the rest plainly.
            ring.header(self.pos).store(0, Ordering::Relaxed);
            // SAFETY: the record's bytes after its header are ours until `head` moves.
            unsafe { std::ptr::write_bytes(ring.at(self.pos).add(8), 0, size - 8) };
            self.pos += size as u64;
            if self.pos - start >= ring.len as u64 / 2 {
                break; // release half a ring at a time at most
            }
        }
        if self.pos != start {
            // ATOMICS: Release pairs with the producer's Acquire load of `head`: the
            // zeroing above happens before the producer reuses the space.
            ring.head.store(self.pos, Ordering::Release);
        }
        n
    }
}

/// A committed record's payload, valid during the [`CommitWordConsumer::drain`] callback.
/// Not a slice: the bytes live in memory the other side writes in other laps.
pub struct Payload<'d> {
    at: *const u8,
    len: usize,
    _drain: std::marker::PhantomData<&'d ()>,
}

impl Payload<'_> {
    /// Payload bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the payload is empty (a header-only record).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the payload into `dst`, which must be exactly [`Payload::len`] bytes.
    ///
    /// # Panics
    ///
    /// When `dst` has another length.
    #[inline(always)]
    pub fn copy_to(&self, dst: &mut [u8]) {
        assert_eq!(dst.len(), self.len, "payload length");
        // SAFETY: the record was committed (header seen with Acquire) and stays the
        // consumer's until `head` moves past it, after the callback returns.
        unsafe { std::ptr::copy_nonoverlapping(self.at, dst.as_mut_ptr(), self.len) };
    }
}
