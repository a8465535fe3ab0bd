//! Byte layout of `struct perf_event_mmap_page` and `struct perf_event_header`
//! (`include/uapi/linux/perf_event.h`).
//!
//! Only the fields the ring protocol needs are named here. The rest of the control page
//! (`version`, `lock`, `index`, `time_*`, `cap_*`, `aux_*`) belongs to whoever owns the
//! ring and is left untouched.

/// Offset of `lock` (u32): "seqlock for synchronization". The kernel uses it for the
/// `index`/`time_*` fields; the writers of this crate use it, in overwrite mode only, as the
/// seqlock that lets a reader prove its snapshot was not torn by a write in progress.
pub const LOCK_OFFSET: usize = 8;
/// Offset of `data_head` (u64): the producer's free-running write position.
pub const DATA_HEAD_OFFSET: usize = 1024;
/// Offset of `data_tail` (u64): the consumer's free-running read position.
pub const DATA_TAIL_OFFSET: usize = 1032;
/// Offset of `data_offset` (u64): where the data area starts, from the start of the mapping.
pub const DATA_OFFSET_OFFSET: usize = 1040;
/// Offset of `data_size` (u64): the size of the data area, a power of two.
pub const DATA_SIZE_OFFSET: usize = 1048;
/// The first byte past the fields this crate reads (`aux_offset` follows).
pub const CONTROL_FIELDS_END: usize = 1056;
/// The size of the control page the kernel maps (one page on every architecture perf
/// supports with 4 KiB pages). Rings we allocate use it; rings we map read `data_offset`.
pub const CONTROL_PAGE_SIZE: usize = 4096;

/// Size of `struct perf_event_header { u32 type; u16 misc; u16 size; }`.
pub const HEADER_SIZE: usize = 8;
/// Records are 8-byte aligned: every `size` is a multiple of this.
pub const RECORD_ALIGN: usize = 8;
/// The largest record the 16-bit `size` field can describe while staying 8-byte aligned.
pub const MAX_RECORD_SIZE: usize = 65528;

/// `PERF_RECORD_LOST`: `{ header; u64 id; u64 lost; }`, written when records were dropped.
pub const PERF_RECORD_LOST: u32 = 2;
/// Size of a `PERF_RECORD_LOST` record without a `sample_id` trailer.
pub const LOST_RECORD_SIZE: usize = 24;

/// Rounds `n` up to the record alignment, or `None` on overflow.
#[inline]
pub const fn align_record(n: usize) -> Option<usize> {
    match n.checked_add(RECORD_ALIGN - 1) {
        Some(v) => Some(v & !(RECORD_ALIGN - 1)),
        None => None,
    }
}
