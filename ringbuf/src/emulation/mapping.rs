//! Pre-mapping a buffer into a consumer, as perf does since v6.14 ("perf: map pages in
//! advance"): control page read-write, data pages read-only, `MADV_DONTFORK` and
//! `MADV_DONTDUMP` (VmFlags `dc dd`), and — with [`Strategy::PfnMap`] and
//! [`Strategy::InsertPages`] — every page present before the first access.
//!
//! The three strategies differ in what they do to the page bookkeeping, the way the two
//! kernel primitives do (see the "perf: map pages in advance" thread):
//!
//! | | map calls | page refcount / mapcount | buffer reference | emulated GUP |
//! |---|---|---|---|---|
//! | `PfnMap` (`remap_pfn_range`) | one per physically contiguous run | untouched | one, for the mapping's life | refused |
//! | `InsertPages` (`vm_insert_pages`) | one per batch (contiguous pages within one page table) | +1 / +1 per mapped page | none: pages keep themselves alive | allowed, a pin takes a reference |
//! | `Fault` (pre-6.14 `perf_mmap_fault`) | lazy mapping; pages inserted on first touch | +1 / +1 per faulted page | one | allowed (faults pages in) |
//!
//! `Fault` uses userfaultfd MISSING faults on empty anonymous placeholders and maps the
//! buffer's page over the placeholder on first touch (see `uffd.rs` for why not MINOR
//! faults: a sealed read-only memfd VMA cannot be registered). When userfaultfd is refused
//! it falls back, and says so ([`FaultMode::KernelLazy`]), to a lazy memfd mapping the
//! kernel faults in by itself.
//!
//! What a memfd cannot reproduce (the kernel needs a driver for it): the `pf`/`io` VmFlags,
//! SIGBUS (rather than SIGSEGV) on a data write, refusal of real GUP (`process_vm_readv`,
//! O_DIRECT) and of VMA splits, and Rss 0 / mincore 0 of a pfnmap. The emulated GUP below
//! is bookkeeping only; the real kernel GUP on these mappings works.

use std::os::fd::AsFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::buffer::{reserve_ring, BackingSource, BufferInner, ScamemRef};
use super::error::EmulationError;
use super::pages::{contiguous_runs, Pfn, CONTROL_PFN};
use super::smaps::{self, BackingPages};
use super::sys::{self, page_size, HUGE_PAGE_SIZE};
use super::uffd::{FaultHandler, FaultMode, FaultState};
use crate::reader::{ProducerStatus, Reader};
use crate::region::RingRegion;

/// How a mapping puts the buffer's pages into the page tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// `remap_pfn_range` model (perf since v6.14).
    PfnMap,
    /// `vm_insert_pages` model (BPF ringbuf, tracefs ring).
    InsertPages,
    /// `perf_mmap_fault` model (perf before v6.14): pages inserted on first touch.
    Fault,
}

impl Strategy {
    /// All strategies, in report order.
    pub const ALL: [Strategy; 3] = [Strategy::PfnMap, Strategy::InsertPages, Strategy::Fault];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::PfnMap => "PfnMap",
            Strategy::InsertPages => "InsertPages",
            Strategy::Fault => "Fault",
        }
    }
}

/// Settings of one mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapOptions {
    /// The strategy.
    pub strategy: Strategy,
    /// Map the data pages twice back to back (as the BPF ringbuf does), so that every
    /// record is contiguous in this mapping.
    pub mirrored: bool,
    /// `Fault` only: insert pages through userfaultfd (default). When false, or when
    /// userfaultfd is refused, the mapping is lazy and the kernel faults pages in itself.
    pub userfaultfd: bool,
}

impl MapOptions {
    /// A single (not mirrored) mapping with `strategy`.
    pub fn new(strategy: Strategy) -> Self {
        MapOptions {
            strategy,
            mirrored: false,
            userfaultfd: true,
        }
    }

    /// Sets whether the `Fault` strategy uses userfaultfd (see [`MapOptions::userfaultfd`]).
    pub fn userfaultfd(mut self, enabled: bool) -> Self {
        self.userfaultfd = enabled;
        self
    }

    /// Sets whether the data is double-mapped.
    pub fn mirrored(mut self, mirrored: bool) -> Self {
        self.mirrored = mirrored;
        self
    }
}

/// What a mapping did, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MapReport {
    /// The strategy.
    pub strategy: Strategy,
    /// Data mapped twice.
    pub mirrored: bool,
    /// `mmap` calls made at map time (the control page included).
    pub map_calls: u64,
    /// VMAs the mapping occupies now (from smaps).
    pub vmas: usize,
    /// Pages with a page-table entry made at map time (0 for `Fault`).
    pub pages_mapped: u64,
    /// Page references the mapping holds now (map time plus faults plus pins).
    pub page_refs: u64,
    /// Faults taken through the mapping's handler (`None` when the kernel handles them).
    pub faults: Option<u64>,
    /// How faults are taken (`Fault` strategy only).
    pub fault_mode: Option<FaultMode>,
    /// Wall time of the map call (reservation, mmaps, madvise, bookkeeping).
    pub map_time: Duration,
    /// `vm.max_map_count`.
    pub max_map_count: Option<usize>,
    /// VMAs of the whole process now.
    pub process_vmas: usize,
    /// How the data area is backed in this mapping, from smaps.
    pub data_backing: Option<BackingPages>,
    /// Pins taken through emulated GUP and still held.
    pub pins: u64,
}

/// What the mapping holds to keep its pages.
#[derive(Debug)]
enum Hold {
    /// One buffer reference (pfnmap: the VMA's reference on `perf_buffer`).
    Buffer(#[allow(dead_code)] ScamemRef),
    /// One reference and mapcount on each mapped page.
    Pages(Vec<Pfn>),
    /// A buffer reference plus references on faulted pages.
    Faulted {
        _buffer: ScamemRef,
        state: Arc<FaultState>,
        handler: Option<FaultHandler>,
        mode: FaultMode,
    },
}

/// A consumer's view of an emulated buffer: `[control page][data][data again if mirrored]`.
#[derive(Debug)]
pub struct Mapping {
    buffer: Arc<BufferInner>,
    options: MapOptions,
    ctrl: NonNull<u8>,
    len: usize,
    hold: Hold,
    map_calls: u64,
    pages_mapped: u64,
    map_time: Duration,
    pins: Arc<AtomicU64>,
}

// SAFETY: the mapping is an address range plus thread-safe bookkeeping; access to the
// memory follows the ring protocol.
unsafe impl Send for Mapping {}
// SAFETY: as for `Send`; `&Mapping` only reads bookkeeping or takes atomic counters.
unsafe impl Sync for Mapping {}

/// Unmaps a half-built mapping on an error path.
struct Unmapper(Option<(NonNull<u8>, usize)>);

impl Drop for Unmapper {
    fn drop(&mut self) {
        if let Some((p, len)) = self.0.take() {
            // SAFETY: the reservation was ours and nothing refers to it (error path).
            unsafe { sys::unmap(p.as_ptr(), len) }
        }
    }
}

impl Mapping {
    pub(crate) fn new(
        buffer: &Arc<BufferInner>,
        options: MapOptions,
    ) -> Result<Mapping, EmulationError> {
        if buffer.is_released() {
            return Err(EmulationError::Released);
        }
        let started = Instant::now();
        let pfns = &buffer.data_pfns;
        let n = pfns.len();
        let copies = if options.mirrored { 2 } else { 1 };
        let data_len = buffer.data_size();
        let len = page_size() + data_len * copies;
        let runs = contiguous_runs(pfns);

        let batches: Vec<(usize, usize)> = match options.strategy {
            Strategy::PfnMap | Strategy::Fault => runs,
            Strategy::InsertPages => split_at_page_tables(&runs),
        };
        check_map_count(runs_vmas(pfns) * copies + 1)?;

        let align = if buffer.huge_aligned {
            HUGE_PAGE_SIZE
        } else {
            page_size()
        };
        let ctrl =
            reserve_ring(data_len * copies, align).map_err(EmulationError::io("mmap reserve"))?;
        let mut guard = Unmapper(Some((ctrl, len)));
        let phys = &buffer.phys;
        let mut map_calls = 0u64;
        // The Fault strategy maps nothing now when userfaultfd can insert pages on touch;
        // otherwise (refused, hugetlb) it falls back to a lazy mapping the kernel faults.
        let mut fault = None;
        if options.strategy == Strategy::Fault {
            let state = FaultHandler::state(buffer.clone(), ctrl.as_ptr() as usize, 1 + n * copies);
            let attempt = if !options.userfaultfd {
                Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "disabled by MapOptions",
                ))
            } else if buffer.info.source == BackingSource::Hugetlb {
                Err(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    "hugetlb pages cannot be inserted 4 KiB at a time",
                ))
            } else {
                FaultHandler::start(state.clone(), len)
            };
            fault = Some(match attempt {
                Ok((h, user_mode_only)) => {
                    (state, Some(h), FaultMode::Userfaultfd { user_mode_only })
                }
                Err(e) => (
                    state,
                    None,
                    FaultMode::KernelLazy {
                        reason: format!("userfaultfd: {e}"),
                    },
                ),
            });
        }
        let uffd_ready = matches!(fault, Some((_, Some(_), _)));
        let populate = options.strategy != Strategy::Fault;
        // Data in one VMA: MAP_POPULATE in its mmap. In many (scattered pages, InsertPages
        // batches): map them lazily, then populate the whole range with one
        // MADV_POPULATE_READ — the same faults, without a populate pass per mmap.
        let populate_each = populate && batches.len() * copies == 1;
        if !uffd_ready {
            // SAFETY: the control page lies inside the reservation `guard` owns.
            unsafe {
                sys::map_fixed(
                    ctrl.as_ptr(),
                    page_size(),
                    libc::PROT_READ | libc::PROT_WRITE,
                    populate,
                    phys.ctrl_fd.as_fd(),
                    0,
                )
                .map_err(EmulationError::io("mmap control page"))?;
            }
            map_calls += 1;
            let data = ctrl.as_ptr().wrapping_add(page_size());
            for copy in 0..copies {
                let base = data.wrapping_add(copy * data_len);
                for &(first, count) in &batches {
                    // SAFETY: the batch lies inside the reservation `guard` owns.
                    unsafe {
                        sys::map_fixed(
                            base.wrapping_add(first * page_size()),
                            count * page_size(),
                            libc::PROT_READ,
                            populate_each,
                            phys.data_fd.as_fd(),
                            BufferInner::frame_offset(pfns[first]),
                        )
                        .map_err(EmulationError::io("mmap data pages"))?;
                    }
                    map_calls += 1;
                }
            }
            if populate && !populate_each {
                // SAFETY: the data copies were just mapped readable, inside `guard`'s range.
                unsafe {
                    sys::populate_read(data, data_len * copies)
                        .map_err(EmulationError::io("madvise MADV_POPULATE_READ"))?;
                }
            }
        }
        // SAFETY: the whole range is ours; these advices do not change contents.
        unsafe {
            sys::madvise(ctrl.as_ptr(), len, libc::MADV_DONTFORK)
                .map_err(EmulationError::io("madvise MADV_DONTFORK"))?;
            sys::madvise(ctrl.as_ptr(), len, libc::MADV_DONTDUMP)
                .map_err(EmulationError::io("madvise MADV_DONTDUMP"))?;
        }

        let (hold, pages_mapped) = match options.strategy {
            Strategy::PfnMap => (
                Hold::Buffer(ScamemRef::get(buffer)?),
                1 + (n * copies) as u64,
            ),
            Strategy::InsertPages => {
                let mut held = Vec::with_capacity(1 + n * copies);
                held.push(CONTROL_PFN);
                for _ in 0..copies {
                    held.extend_from_slice(pfns);
                }
                for &pfn in &held {
                    phys.get_page(pfn);
                    phys.map_page(pfn);
                }
                let mapped = held.len() as u64;
                (Hold::Pages(held), mapped)
            }
            Strategy::Fault => {
                let scamem = ScamemRef::get(buffer)?;
                let (state, handler, mode) = fault.take().ok_or(EmulationError::Released)?;
                (
                    Hold::Faulted {
                        _buffer: scamem,
                        state,
                        handler,
                        mode,
                    },
                    0,
                )
            }
        };
        guard.0 = None;
        Ok(Mapping {
            buffer: buffer.clone(),
            options,
            ctrl,
            len,
            hold,
            map_calls,
            pages_mapped,
            map_time: started.elapsed(),
            pins: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The strategy of this mapping.
    pub fn strategy(&self) -> Strategy {
        self.options.strategy
    }

    /// Whether the data is double-mapped.
    pub fn is_mirrored(&self) -> bool {
        self.options.mirrored
    }

    /// The control page (read-write).
    pub fn control_ptr(&self) -> *mut u8 {
        self.ctrl.as_ptr()
    }

    /// The first data page (read-only).
    pub fn data_ptr(&self) -> *const u8 {
        self.ctrl.as_ptr().wrapping_add(page_size())
    }

    /// Bytes of one copy of the data.
    pub fn data_len(&self) -> usize {
        self.buffer.data_size()
    }

    /// Bytes of the whole mapping (control page, data, mirror).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a mapping has at least the control page and one data page.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Data pages in this mapping (both copies when mirrored).
    pub fn data_pages(&self) -> usize {
        self.len / page_size() - 1
    }

    /// Page references this mapping holds (its pages, faulted pages, pins).
    pub fn page_refs(&self) -> u64 {
        // ATOMICS: a statistic counter.
        let pins = self.pins.load(Ordering::Relaxed);
        pins + match &self.hold {
            Hold::Buffer(_) => 0,
            Hold::Pages(p) => p.len() as u64,
            Hold::Faulted { state, .. } => state.refs(),
        }
    }

    /// Faults taken through this mapping's userfaultfd handler; `None` for strategies
    /// without one or when the kernel handles them (the fallback).
    pub fn faults(&self) -> Option<u64> {
        match &self.hold {
            Hold::Faulted {
                state,
                handler: Some(_),
                ..
            } => Some(state.faults.load(Ordering::Relaxed)), // ATOMICS: statistic.
            _ => None,
        }
    }

    /// How faults are taken (`Fault` strategy), else `None`.
    pub fn fault_mode(&self) -> Option<&FaultMode> {
        match &self.hold {
            Hold::Faulted { mode, .. } => Some(mode),
            _ => None,
        }
    }

    /// What this mapping did, with VMA counts and page size read from smaps now.
    ///
    /// # Errors
    ///
    /// Reading `/proc/self/smaps` or `/proc/self/maps` failed.
    pub fn report(&self) -> Result<MapReport, EmulationError> {
        let vmas = smaps::vmas_in(self.ctrl.as_ptr() as usize, self.len)
            .map_err(EmulationError::io("read smaps"))?;
        let data_backing =
            smaps::backing_pages(self.data_ptr() as usize, self.len - page_size()).ok();
        Ok(MapReport {
            strategy: self.options.strategy,
            mirrored: self.options.mirrored,
            map_calls: self.map_calls,
            vmas: vmas.len(),
            pages_mapped: self.pages_mapped,
            page_refs: self.page_refs(),
            faults: self.faults(),
            fault_mode: self.fault_mode().cloned(),
            map_time: self.map_time,
            max_map_count: sys::max_map_count(),
            process_vmas: sys::vma_count().map_err(EmulationError::io("read maps"))?,
            data_backing,
            // ATOMICS: a statistic counter.
            pins: self.pins.load(Ordering::Relaxed),
        })
    }

    /// Emulated `pin_user_pages` on data pages `first..first + count` of this mapping.
    ///
    /// # Errors
    ///
    /// [`EmulationError::GupRefused`] on a `PfnMap` (as `check_vma_flags` refuses
    /// VM_PFNMAP), [`EmulationError::PageOutOfRange`] outside the mapping.
    pub fn pin(&self, first: usize, count: usize) -> Result<Pin, EmulationError> {
        let pages = self.data_pages();
        let end = first.checked_add(count).filter(|e| *e <= pages).ok_or(
            EmulationError::PageOutOfRange {
                index: first.saturating_add(count),
                pages,
            },
        )?;
        match &self.hold {
            Hold::Buffer(_) => Err(EmulationError::GupRefused),
            Hold::Pages(_) | Hold::Faulted { .. } => {
                let n = self.buffer.data_pfns.len();
                let mut pfns = Vec::with_capacity(count);
                for i in first..end {
                    if let Hold::Faulted { .. } = self.hold {
                        // GUP faults a missing page in, as `faultin_page` does.
                        // SAFETY: data page `i` is inside the readable mapping.
                        unsafe { sys::touch_pages(self.data_ptr().add(i * page_size()), 1) };
                    }
                    let pfn = self.buffer.data_pfns[i % n];
                    self.buffer.phys.get_page(pfn);
                    pfns.push(pfn);
                }
                // ATOMICS: a statistic counter.
                self.pins.fetch_add(count as u64, Ordering::Relaxed);
                Ok(Pin {
                    buffer: self.buffer.clone(),
                    pfns,
                    held: self.pins.clone(),
                })
            }
        }
    }

    /// The reader of this mapping (the buffer's one reader in this process). It keeps
    /// the mapping alive; with a mirrored mapping every record it yields is one slice.
    ///
    /// # Errors
    ///
    /// [`EmulationError::AlreadyTaken`] if this process already has a reader of the
    /// buffer; [`EmulationError::Layout`] or [`EmulationError::LayoutMismatch`] for a
    /// damaged control page.
    pub fn reader(self: &Arc<Self>) -> Result<Reader, EmulationError> {
        let buffer = &self.buffer;
        // ATOMICS: AcqRel: one winner; cleared by `ReaderToken::drop`.
        if buffer.reader_taken.swap(true, Ordering::AcqRel) {
            return Err(EmulationError::AlreadyTaken("reader"));
        }
        let token = ReaderToken(self.clone());
        // SAFETY: the mapping is `len` bytes, control page writable, data readable, and it
        // lives as long as `token`. When mirrored, the second copy maps the same frames in
        // the same order right after the first.
        let region = unsafe {
            if self.options.mirrored {
                RingRegion::new_mirrored(self.ctrl.as_ptr(), self.len)?
            } else {
                RingRegion::new(self.ctrl.as_ptr(), self.len)?
            }
        };
        // The control page may have been written by a hostile producer: its layout must be
        // the buffer's (as received and validated), not whatever it declares.
        let mem = region.memory()?;
        buffer.check_layout(&mem)?;
        // SAFETY: the single reader (claimed above); `token` keeps the mapping.
        let mut reader = unsafe { Reader::new(mem, Arc::new(token)) };
        if let Some(fd) = &buffer.wakeup {
            reader = reader.with_wakeup(fd.clone());
        }
        let status: Arc<dyn ProducerStatus> = buffer.clone();
        Ok(reader.with_producer_status(status))
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // The handler goes first: its thread stops before the range disappears.
        if let Hold::Faulted { handler, .. } = &mut self.hold {
            handler.take();
        }
        // SAFETY: the range is ours; readers hold an `Arc<Mapping>`, so none is left.
        unsafe { sys::unmap(self.ctrl.as_ptr(), self.len) };
        match &self.hold {
            Hold::Buffer(_) => {}
            Hold::Pages(pfns) => {
                for &pfn in pfns {
                    self.buffer.phys.unmap_page(pfn);
                    self.buffer.phys.put_page(pfn);
                }
            }
            Hold::Faulted { state, .. } => state.put_all(),
        }
        // The buffer reference (if any) drops with `hold`, after the pages.
    }
}

/// Keeps a mapping alive for its reader and frees the reader slot afterwards.
#[derive(Debug)]
struct ReaderToken(Arc<Mapping>);

impl Drop for ReaderToken {
    fn drop(&mut self) {
        // ATOMICS: Release pairs with the AcqRel claim in `Mapping::reader`.
        self.0.buffer.reader_taken.store(false, Ordering::Release);
    }
}

/// Pages pinned by emulated GUP: one reference each until dropped.
#[derive(Debug)]
pub struct Pin {
    buffer: Arc<BufferInner>,
    pfns: Vec<Pfn>,
    /// The mapping's count of held pins.
    held: Arc<AtomicU64>,
}

impl Pin {
    /// Pages pinned.
    pub fn pages(&self) -> usize {
        self.pfns.len()
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        for &pfn in &self.pfns {
            self.buffer.phys.put_page(pfn);
        }
        // ATOMICS: a statistic counter.
        self.held
            .fetch_sub(self.pfns.len() as u64, Ordering::Relaxed);
    }
}

/// `vm_insert_pages` batches per page table: splits runs at 2 MiB (PMD) boundaries of the
/// data's offset in the mapping.
fn split_at_page_tables(runs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    let per_table = HUGE_PAGE_SIZE / page_size();
    let mut out = Vec::with_capacity(runs.len());
    for &(first, len) in runs {
        let mut i = first;
        let end = first + len;
        while i < end {
            let table_end = (i / per_table + 1) * per_table;
            let stop = table_end.min(end);
            out.push((i, stop - i));
            i = stop;
        }
    }
    out
}

/// VMAs one copy of the data needs: one per physically contiguous run.
fn runs_vmas(pfns: &[Pfn]) -> usize {
    contiguous_runs(pfns).len()
}

/// Refuses a mapping that would push the process past `vm.max_map_count`.
pub(crate) fn check_map_count(needed: usize) -> Result<(), EmulationError> {
    if needed < 256 {
        return Ok(());
    }
    let Some(max) = sys::max_map_count() else {
        return Ok(());
    };
    let current = sys::vma_count().map_err(EmulationError::io("read maps"))?;
    // Keep headroom for the allocator and the threads of the process.
    if current.saturating_add(needed).saturating_add(1024) > max {
        return Err(EmulationError::MapCountLimit {
            needed,
            current,
            max,
        });
    }
    Ok(())
}

/// The whole buffer mapping API on [`super::KernelBuffer`].
impl super::buffer::KernelBuffer {
    /// Maps the buffer into this process with `options`.
    ///
    /// # Errors
    ///
    /// [`EmulationError::MapCountLimit`] when scattered pages would need too many VMAs;
    /// [`EmulationError::Released`]; or the failing mmap/madvise.
    pub fn map(&self, options: MapOptions) -> Result<Mapping, EmulationError> {
        Mapping::new(&self.owner.0, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_pages_batches_stop_at_page_table_boundaries() {
        // One contiguous run of 1100 pages crosses two 512-page tables.
        assert_eq!(
            split_at_page_tables(&[(0, 1100)]),
            vec![(0, 512), (512, 512), (1024, 76)]
        );
        // Scattered pages stay one per batch.
        assert_eq!(
            split_at_page_tables(&[(0, 1), (1, 1)]),
            vec![(0, 1), (1, 1)]
        );
        assert_eq!(
            split_at_page_tables(&[(500, 20)]),
            vec![(500, 12), (512, 8)]
        );
    }
}
