//! A kernel-owned perf ring: `1 + 2^n` pages mapped from an event fd with memmap2's
//! [`MmapRaw`] and read with the [`perf_ringbuf::Reader`] — the same reader as the rings we
//! own.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};
use perf_ringbuf::{OverwriteSnapshot, ReadError, Reader, RingRegion};

use crate::kernel::event::EventFd;
use crate::kernel::sys;

/// Why a ring could not be mapped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelRingError {
    /// The data area must be a power of two pages.
    #[error("ring size of {0} data pages is not a power of two (use 1, 2, 4, ..., e.g. -m 128)")]
    NotPowerOfTwo(usize),
    /// The size overflows.
    #[error("ring size of {0} data pages is too large")]
    TooLarge(usize),
    /// EPERM at mmap: the locked-memory budget is exhausted.
    #[error(
        "mmap of a {ring_kib} KiB ring (1 + {data_pages} pages) was refused ({cause}): perf \
         rings are locked memory; each user may lock kernel.perf_event_mlock_kb = {mlock_kb} \
         KiB per CPU, and beyond that RLIMIT_MEMLOCK = {memlock} applies; {mapped_kib} KiB of \
         rings were already mapped by this capture. Use fewer pages (-m), raise \
         `sysctl kernel.perf_event_mlock_kb`, raise `ulimit -l`, or run with CAP_IPC_LOCK"
    )]
    Mlock {
        /// Data pages asked for.
        data_pages: usize,
        /// This ring's size in KiB.
        ring_kib: usize,
        /// KiB already mapped by this capture.
        mapped_kib: usize,
        /// /proc/sys/kernel/perf_event_mlock_kb.
        mlock_kb: String,
        /// RLIMIT_MEMLOCK, formatted.
        memlock: String,
        /// The error.
        cause: io::Error,
    },
    /// Another mmap failure.
    #[error("mmap of a {ring_kib} KiB perf ring failed: {cause}")]
    Map {
        /// This ring's size in KiB.
        ring_kib: usize,
        /// The error.
        cause: io::Error,
    },
    /// The mapped control page does not describe a valid ring.
    #[error("the kernel's ring has an unexpected layout: {0}")]
    Layout(#[from] perf_ringbuf::LayoutError),
}

/// The former name of [`KernelRingError`] (it clashed with `perf_ringbuf::RingError`).
#[deprecated(note = "renamed KernelRingError")]
pub type RingError = KernelRingError;

/// Checks a user-chosen data-page count: a power of two, at least 1.
///
/// # Errors
/// [`KernelRingError::NotPowerOfTwo`].
pub fn check_data_pages(pages: usize) -> Result<usize, KernelRingError> {
    if pages == 0 || !pages.is_power_of_two() {
        return Err(KernelRingError::NotPowerOfTwo(pages));
    }
    Ok(pages)
}

/// A mapped perf ring and its reader.
pub struct KernelRing {
    reader: Reader,
    /// The event fd the ring is mapped on (a duplicate): readable when the kernel wakes
    /// the reader, hung up when the traced tasks are gone.
    fd: OwnedFd,
    map: Arc<MmapRaw>,
    overwrite: bool,
    snapshot_buf: Vec<u8>,
}

/// The event fd the ring is mapped on, for an embedding event loop (`poll`, epoll,
/// tokio's `AsyncFd`): readable at the kernel's wakeup (`attr.wakeup_events` or
/// `wakeup_watermark`), `POLLHUP` once every traced task is gone.
impl AsFd for KernelRing {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl std::fmt::Debug for KernelRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelRing")
            .field("len", &self.map.len())
            .field("overwrite", &self.overwrite)
            .field("reader", &self.reader)
            .finish()
    }
}

impl KernelRing {
    /// Maps `1 + data_pages` pages of `event`'s ring: read-write (the reader owns
    /// `data_tail`), or read-only for an overwrite ring (`attr.write_backward`; the kernel
    /// then never waits for the reader). `mapped_before` is the bytes of rings this capture
    /// already mapped, for the error message.
    ///
    /// # Errors
    /// [`KernelRingError`], EPERM explained with the mlock limits.
    pub fn map(
        event: &EventFd,
        data_pages: usize,
        overwrite: bool,
        mapped_before: usize,
    ) -> Result<Self, KernelRingError> {
        let pages = check_data_pages(data_pages)?;
        let page = sys::page_size();
        let fd = event
            .as_fd()
            .try_clone_to_owned()
            .map_err(|cause| KernelRingError::Map { ring_kib: 0, cause })?;
        let len = pages
            .checked_add(1)
            .and_then(|p| p.checked_mul(page))
            .ok_or(KernelRingError::TooLarge(pages))?;
        let mut opts = MmapOptions::new();
        opts.len(len);
        let raw_fd = event.as_fd().as_raw_fd();
        let mapped = if overwrite {
            opts.map_raw_read_only(raw_fd)
        } else {
            opts.map_raw(raw_fd)
        };
        let map = match mapped {
            Ok(m) => Arc::new(m),
            Err(cause) if cause.raw_os_error() == Some(libc::EPERM) => {
                return Err(KernelRingError::Mlock {
                    data_pages: pages,
                    ring_kib: len / 1024,
                    mapped_kib: mapped_before / 1024,
                    mlock_kb: std::fs::read_to_string("/proc/sys/kernel/perf_event_mlock_kb")
                        .map(|s| s.trim().to_string())
                        .unwrap_or_else(|_| "?".into()),
                    memlock: match sys::memlock_limit() {
                        Ok(Some(b)) => format!("{} KiB", b / 1024),
                        Ok(None) => "unlimited".into(),
                        Err(_) => "?".into(),
                    },
                    cause,
                })
            }
            Err(cause) => {
                return Err(KernelRingError::Map {
                    ring_kib: len / 1024,
                    cause,
                })
            }
        };
        // SAFETY: the mapping covers `len` bytes and lives as long as the `Arc` handed to
        // the reader as its keepalive (and the one kept here). The kernel writes only the
        // data area and `data_head`; this reader is the only one of this ring. For an
        // overwrite ring the mapping is read-only: the reader is then used only through
        // `Reader::read_overwrite` (see `snapshot`), which never stores `data_tail`, and
        // `Reader::new` only loads it.
        let region = unsafe { RingRegion::new(map.as_mut_ptr(), len)? };
        let mem = region.memory()?;
        // SAFETY: the only reader of this ring; `map` (the keepalive) keeps `mem` mapped.
        let reader = unsafe { Reader::new(mem, map.clone()) };
        Ok(KernelRing {
            reader,
            fd,
            map,
            overwrite,
            snapshot_buf: Vec::new(),
        })
    }

    /// Bytes mapped (control page + data area).
    pub fn mapped_len(&self) -> usize {
        self.map.len()
    }

    /// True for a read-only overwrite ring.
    pub fn is_overwrite(&self) -> bool {
        self.overwrite
    }

    /// The reader, for a forward ring (drain, wait, stats).
    ///
    /// `None` for an overwrite ring (use [`KernelRing::snapshot`]): draining would store
    /// `data_tail` into a read-only page.
    pub fn reader(&mut self) -> Option<&mut Reader> {
        (!self.overwrite).then_some(&mut self.reader)
    }

    /// Reader statistics (records, bytes, LOST records' sum).
    pub fn stats(&self) -> perf_ringbuf::ReaderStats {
        self.reader.stats()
    }

    /// Drains a forward ring, handing each record (header included) to `f` as one slice:
    /// borrowed from the ring, or copied once when it straddles the end.
    ///
    /// # Errors
    /// The reader's [`ReadError`] for a corrupt ring (the ring is resynced to `data_head`
    /// so the next drain can proceed), or `f`'s error.
    pub fn drain<E: From<ReadError>>(
        &mut self,
        mut f: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<u64, E> {
        if self.overwrite {
            return Ok(0);
        }
        let mut n = 0u64;
        let result = {
            let mut drain = self.reader.drain()?;
            loop {
                match drain.next_contiguous() {
                    None => break Ok(()),
                    Some(Ok((_, bytes))) => {
                        n += 1;
                        if let Err(e) = f(bytes) {
                            break Err(e);
                        }
                    }
                    Some(Err(e)) => break Err(E::from(e)),
                }
            }
        };
        if result.is_err() {
            // A corrupt record stops the drain; skip to the head so we do not spin on it.
            // (A kernel head is always 8-aligned; if not, the error already returned says
            // what is wrong, and the next drain reports it again.)
            let _ = self.reader.resync();
        }
        result.map(|()| n)
    }

    /// Flight-recorder read of an overwrite ring: pauses output on `event` (the fd the
    /// ring is mapped on, `PERF_EVENT_IOC_PAUSE_OUTPUT`), copies the newest complete
    /// records into `out` (newest first), resumes. Records arriving while paused are
    /// counted as lost by the kernel.
    ///
    /// # Errors
    /// The ioctl error or the reader's.
    pub fn snapshot(
        &mut self,
        event: &EventFd,
    ) -> Result<(OverwriteSnapshot, &[u8]), SnapshotError> {
        event.pause_output(true)?;
        let r = self.reader.read_overwrite(&mut self.snapshot_buf);
        let resumed = event.pause_output(false);
        let snap = r?;
        resumed?;
        Ok((snap, &self.snapshot_buf[..snap.bytes]))
    }
}

/// Why an overwrite snapshot failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Pausing or resuming failed.
    #[error(transparent)]
    Ioctl(#[from] crate::kernel::event::OpenError),
    /// The ring could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

#[cfg(test)]
mod tests {
    use super::check_data_pages;

    #[test]
    fn data_pages_must_be_a_power_of_two() {
        for ok in [1, 2, 4, 128, 1 << 20] {
            assert_eq!(check_data_pages(ok).unwrap(), ok);
        }
        for bad in [0, 3, 6, 100, 129] {
            assert!(check_data_pages(bad).is_err(), "{bad}");
        }
    }
}
