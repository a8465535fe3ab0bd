//! Reading an overwrite (`write_backward`) ring: recover the newest complete records from
//! `data_head` onwards, as perf's `overwrite_rb_find_range` does.

use core::sync::atomic::{fence, Ordering};

use crate::error::{ReadError, RecordFault};
use crate::layout::{HEADER_SIZE, RECORD_ALIGN};
use crate::record::RecordHeader;
use crate::Reader;

/// What [`Reader::read_overwrite`] recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OverwriteSnapshot {
    /// The `data_head` the snapshot was taken at.
    pub head: u64,
    /// Complete records recovered, newest first.
    pub records: usize,
    /// Bytes they occupy at the start of the output buffer.
    pub bytes: usize,
}

impl Reader {
    /// Copies the newest complete records of an overwrite ring into `out` (cleared first),
    /// newest first, so that [`crate::RecordIter`] walks them.
    ///
    /// A backward writer puts each record just below the previous one, so the records
    /// from `data_head` upwards run from newest to oldest. The walk stops at a zero header
    /// (never written), or before the record that crosses `data_head + data_size` (its
    /// end was overwritten by the newest records).
    ///
    /// The writer must be paused (`PERF_EVENT_IOC_PAUSE_OUTPUT`, or
    /// [`crate::PauseHandle`]) while this runs; `data_head` is checked again after the
    /// copy and a moved head is an error. A writer that passed its pause check just before
    /// the pause may still be writing the oldest bytes of the window without having moved
    /// the head yet; with [`Reader::with_writer_seqlock`] that is detected too
    /// ([`ReadError::WriterBusy`]). The kernel has the same window and perf accepts it.
    ///
    /// # Errors
    ///
    /// [`ReadError::MisalignedHead`], [`ReadError::CorruptRecord`] for an impossible
    /// header, [`ReadError::WriterNotPaused`], [`ReadError::WriterBusy`].
    ///
    /// This method never stores to the control page (it does not move `data_tail`), so it
    /// may be used on a ring mapped read-only, as the kernel's overwrite rings are.
    ///
    /// # Examples
    ///
    /// A flight recorder: the writer never waits and keeps overwriting the oldest records;
    /// the reader takes the newest ones while the writer is paused.
    ///
    /// ```
    /// use perf_ringbuf::{Ring, RecordIter, WriteMode};
    ///
    /// let (mut writer, mut reader) = Ring::builder(256).mode(WriteMode::Overwrite).build()?;
    /// for i in 0u64..100 {
    ///     writer.write(9, 0, &i.to_ne_bytes())?; // 16-byte records, 16 fit
    /// }
    /// let pause = writer.pause_handle();
    /// pause.set_paused(true);
    /// let mut out = Vec::new();
    /// let snapshot = reader.read_overwrite(&mut out)?;
    /// pause.set_paused(false);
    ///
    /// let newest: Vec<u64> = RecordIter::new(&out[..snapshot.bytes])
    ///     .map(|r| {
    ///         let (_header, bytes) = r.unwrap(); // header included
    ///         u64::from_ne_bytes(bytes[8..16].try_into().unwrap())
    ///     })
    ///     .collect();
    /// assert_eq!(newest.first(), Some(&99), "newest first");
    /// assert!(newest.windows(2).all(|w| w[0] == w[1] + 1), "then older, none missing");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read_overwrite(&mut self, out: &mut Vec<u8>) -> Result<OverwriteSnapshot, ReadError> {
        let mem = *self.mem();
        let seq = self.seqlock.then(|| mem.seq_read_begin());
        // ATOMICS: Acquire pairs with the writer's Release store of `data_head`.
        let head = mem.load_head();
        if !head.is_multiple_of(RECORD_ALIGN as u64) {
            return Err(ReadError::MisalignedHead(head));
        }
        let size = mem.data_size() as usize;
        out.clear();
        out.resize(size, 0);
        // Word-sized atomic reads, validated after by the head and seqlock recheck below
        // (see `RingMemory::snapshot_out`): an unpaused writer may be storing meanwhile.
        mem.snapshot_out(head, out);
        // ATOMICS: the fence orders the copy above before the second head load (seqlock
        // pattern): if the head did not move, no write overlapped the copy.
        fence(Ordering::Acquire);
        let after = mem.load_head();
        if after != head {
            out.clear();
            return Err(ReadError::WriterNotPaused {
                before: head,
                after,
            });
        }
        if seq.is_some_and(|s| mem.seq_retry(s)) {
            out.clear();
            return Err(ReadError::WriterBusy);
        }
        let mut off = 0usize;
        let mut records = 0usize;
        while off + HEADER_SIZE <= size {
            let Some(h) = RecordHeader::parse(&out[off..]) else {
                break;
            };
            if h.size == 0 {
                break;
            }
            let len = h.size as usize;
            let fault = if len < HEADER_SIZE {
                Some(RecordFault::SmallerThanHeader)
            } else if !len.is_multiple_of(RECORD_ALIGN) {
                Some(RecordFault::Unaligned)
            } else {
                None
            };
            if let Some(fault) = fault {
                out.truncate(off);
                return Err(ReadError::CorruptRecord {
                    position: head.wrapping_add(off as u64),
                    size: h.size,
                    fault,
                });
            }
            if off + len > size {
                break;
            }
            off += len;
            records += 1;
        }
        out.truncate(off);
        Ok(OverwriteSnapshot {
            head,
            records,
            bytes: off,
        })
    }
}
