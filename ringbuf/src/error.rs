//! Errors of the ring protocol. Each names the fault and carries the values that show it.

/// The memory region cannot hold a ring as its control page describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The region is smaller than the control page fields.
    #[error("region of {len} bytes is too small for the control page ({need} bytes)")]
    RegionTooSmall {
        /// Region length in bytes.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The region's base address is not 8-byte aligned, so `data_head` cannot be atomic.
    #[error("region base {addr:#x} is not 8-byte aligned")]
    Misaligned {
        /// The base address.
        addr: usize,
    },
    /// `data_size` is zero or not a power of two (`perf_event_mmap_page::data_size`).
    #[error("data_size {0} is not a power of two of at least 8 bytes")]
    DataSizeNotPowerOfTwo(u64),
    /// `data_offset` overlaps the control fields or is not 8-byte aligned.
    #[error("data_offset {0} overlaps the control page fields or is not 8-byte aligned")]
    BadDataOffset(u64),
    /// The data area (twice over when mirrored) does not fit in the region.
    #[error("data area at {data_offset} of {data_size} bytes (mirrored: {mirrored}) does not fit in a region of {len} bytes")]
    DataOutsideRegion {
        /// `data_offset` from the control page.
        data_offset: u64,
        /// `data_size` from the control page.
        data_size: u64,
        /// Whether the data area was declared double-mapped.
        mirrored: bool,
        /// Region length in bytes.
        len: usize,
    },
}

/// What is wrong with a record header found in the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordFault {
    /// `size` is smaller than the 8-byte header itself.
    SmallerThanHeader,
    /// `size` is not a multiple of 8.
    Unaligned,
    /// `size` is larger than the whole data area.
    LargerThanDataArea,
    /// The record extends past the `data_head` snapshot.
    PastHead,
}

impl core::fmt::Display for RecordFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            RecordFault::SmallerThanHeader => "size is smaller than the 8-byte header",
            RecordFault::Unaligned => "size is not a multiple of 8",
            RecordFault::LargerThanDataArea => "size is larger than the data area",
            RecordFault::PastHead => "record extends past data_head",
        })
    }
}

/// The reader found the ring in a state a correct producer cannot create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// `data_head` is behind the reader's position (`data_tail`).
    #[error("data_head {head:#x} is behind data_tail {tail:#x}")]
    HeadBehindTail {
        /// The `data_head` snapshot.
        head: u64,
        /// The reader's position.
        tail: u64,
    },
    /// `data_head` is more than `data_size` bytes ahead of the reader.
    #[error("data_head {head:#x} is more than data_size {data_size} ahead of data_tail {tail:#x}")]
    HeadTooFarAhead {
        /// The `data_head` snapshot.
        head: u64,
        /// The position it is too far ahead of: the reader's, or the last `data_tail` it
        /// stored when a release is deferred ([`crate::Reader::set_release_every`]).
        tail: u64,
        /// The data area size.
        data_size: u64,
    },
    /// `data_head` is not a multiple of 8, so no record can start there.
    #[error("data_head {0:#x} is not 8-byte aligned")]
    MisalignedHead(u64),
    /// The `data_tail` the reader started from (read from the control page) is not a
    /// multiple of 8: no record boundary is known. [`crate::Reader::resync`] skips to the
    /// head.
    #[error("data_tail {0:#x} is not 8-byte aligned")]
    MisalignedTail(u64),
    /// [`crate::Reader::resync`] found `data_head` off a record boundary: there is no
    /// position to resync to, and none will appear until the producer publishes a sane
    /// head (a dead producer never will). Terminal for a consumer: stop reading this ring.
    #[error("data_head {0:#x} is not 8-byte aligned: no record boundary to resync to")]
    CannotResync(u64),
    /// A record header is impossible.
    #[error("corrupt record at position {position:#x}: size {size}: {fault}")]
    CorruptRecord {
        /// Free-running position of the header.
        position: u64,
        /// The `size` field found there.
        size: u16,
        /// What is wrong with it.
        fault: RecordFault,
    },
    /// The producer moved `data_head` while an overwrite ring was being read: it was not
    /// paused (`PERF_EVENT_IOC_PAUSE_OUTPUT`), so the copy cannot be trusted.
    #[error("data_head moved from {before:#x} to {after:#x} while reading an overwrite ring: pause the writer first")]
    WriterNotPaused {
        /// `data_head` before the copy.
        before: u64,
        /// `data_head` after the copy.
        after: u64,
    },
    /// The writer was in the middle of writing records while an overwrite ring was being
    /// read: it had not yet seen the pause. Try again.
    #[error("the writer was mid-record while the overwrite ring was copied; retry")]
    WriterBusy,
    /// Waiting for data failed in the kernel (poll or read of the wakeup descriptor).
    #[error("waiting for the writer failed: {0}")]
    Wait(std::io::ErrorKind),
}

/// A record was not written. Every variant but [`WriteError::RecordTooLarge`] counts the
/// record as lost; the count reaches the reader as a `PERF_RECORD_LOST` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The record (header included, rounded up to 8) exceeds 65528 bytes or the data area.
    #[error("record of {size} bytes exceeds the largest record ({max} bytes)")]
    RecordTooLarge {
        /// Requested size in bytes.
        size: usize,
        /// Largest allowed size.
        max: usize,
    },
    /// Not enough free space: the record was dropped and counted as lost.
    #[error("ring full: {needed} bytes needed, {free} free; record dropped and counted")]
    NoSpace {
        /// Bytes needed (including a pending `PERF_RECORD_LOST`).
        needed: usize,
        /// Bytes free.
        free: u64,
    },
    /// The writer is paused (`PERF_EVENT_IOC_PAUSE_OUTPUT`): the record was dropped and counted.
    #[error("writer paused; record dropped and counted")]
    Paused,
    /// The consumer wrote an impossible `data_tail`; nothing is written until it is sane.
    #[error(
        "consumer's data_tail {tail:#x} is impossible for data_head {head:#x}; record dropped"
    )]
    CorruptTail {
        /// The writer's head.
        head: u64,
        /// The tail found in the control page.
        tail: u64,
    },
}
