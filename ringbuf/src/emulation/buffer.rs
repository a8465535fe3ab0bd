//! The emulated kernel buffer: one control page and 2^n data pages taken from a memfd
//! ("physical memory"), owned as ONE object with ONE reference count — the "scamem" of the
//! `Mapping vmalloc pages to userspace` thread — like perf's `struct perf_buffer`.
//!
//! The producer (the "kernel") writes through its own writable view of the pages, made
//! before the data memfd is sealed with `F_SEAL_FUTURE_WRITE`: after that, no mapping of
//! the data pages anywhere can be writable, which is what the kernel's cleared
//! `VM_MAYWRITE` guarantees for perf and BPF ring consumers.

use std::ffi::CStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::EmulationError;
use super::pages::{contiguous_runs, scattered_order, PageCounts, Pfn, PhysMemory, CONTROL_PFN};
use super::smaps::{self, BackingPages};
use super::sys::{self, page_size, HUGE_PAGE_SIZE};
use crate::reader::ProducerStatus;
use crate::region::{RingMemory, RingRegion};
use crate::wakeup::WakeupFd;
use crate::writer::{Writer, WriterConfig};

/// Where the data pages sit in physical memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageLayout {
    /// Order-0 pages at shuffled frames, as `rb_alloc` leaves them (one
    /// `alloc_pages_node(..., 0)` per page). The shuffle is deterministic in `seed`.
    Scattered {
        /// Seed of the shuffle.
        seed: u64,
    },
    /// One physically contiguous run (like `CONFIG_PERF_USE_VMALLOC`'s single allocation,
    /// or an AUX area of high-order pages). Needed for huge pages.
    Contiguous,
}

/// Settings of a new buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferConfig {
    /// Data pages: a power of two (`perf_event_open(2)`: the mmap size is 1 + 2^n pages).
    pub data_pages: usize,
    /// Frame placement of the data pages.
    pub layout: PageLayout,
    /// Ask for huge pages behind the data area (hugetlb, else shmem THP, else 4 KiB), at a
    /// 2 MiB-aligned address. Needs [`PageLayout::Contiguous`].
    pub huge_pages: bool,
}

impl BufferConfig {
    /// `data_pages` scattered order-0 pages, no huge pages.
    pub fn new(data_pages: usize) -> Self {
        BufferConfig {
            data_pages,
            layout: PageLayout::Scattered { seed: 0x5ca_3e3 },
            huge_pages: false,
        }
    }
}

/// Which allocator ended up backing the data area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackingSource {
    /// A `MFD_HUGETLB | MFD_HUGE_2MB` memfd (needs reserved `nr_hugepages`).
    Hugetlb,
    /// A shmem memfd, with `MADV_HUGEPAGE` + `MADV_COLLAPSE` asked on the data area.
    ShmemCollapse,
    /// A shmem memfd with base pages.
    Shmem,
}

/// What a buffer is, once allocated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BufferInfo {
    /// Data pages.
    pub data_pages: usize,
    /// `data_size` in bytes.
    pub data_size: u64,
    /// Runs of physically contiguous data pages (1 for a contiguous layout).
    pub contiguous_runs: usize,
    /// The allocator that backs the data. The page size actually used is read from smaps
    /// on demand: [`KernelBuffer::data_backing`], [`super::MapReport::data_backing`].
    pub source: BackingSource,
    /// Why a huge-page attempt fell back, when it did.
    pub huge_fallback: Vec<String>,
    /// Time to allocate the pages and build the producer's view.
    pub alloc_time: Duration,
}

/// The producer's writable view ("vmap") of the buffer: control page, then the data pages
/// in ring order. Unmapped when the buffer is released.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) ctrl: NonNull<u8>,
    pub(crate) len: usize,
}

// SAFETY: the view is an address range; using it is governed by the ring protocol.
unsafe impl Send for View {}
// SAFETY: as for `Send`.
unsafe impl Sync for View {}

impl Drop for View {
    fn drop(&mut self) {
        // SAFETY: the range was mapped for this view and nothing uses it after the last
        // buffer reference (writers hold a reference).
        unsafe { sys::unmap(self.ctrl.as_ptr(), self.len) }
    }
}

/// The shared state of a buffer. Its scamem count says whether the buffer is live; the
/// `Arc` only keeps this bookkeeping readable.
#[derive(Debug)]
pub(crate) struct BufferInner {
    pub(crate) phys: Arc<PhysMemory>,
    /// Data page `i` lives in frame `data_pfns[i]`.
    pub(crate) data_pfns: Box<[Pfn]>,
    /// The buffer-wide reference count ("scamem"): owner handle, writer, pfnmap mappings.
    scamem: AtomicUsize,
    released: AtomicBool,
    producer_view: Mutex<Option<View>>,
    pub(crate) wakeup: Option<WakeupFd>,
    writer_taken: AtomicBool,
    pub(crate) reader_taken: AtomicBool,
    producer_gone: AtomicBool,
    /// Place the data of every mapping at a 2 MiB-aligned address.
    pub(crate) huge_aligned: bool,
    pub(crate) info: BufferInfo,
    /// How a reader learns that the producer is gone when it lives in another process.
    pub(crate) remote_status: Option<Arc<dyn ProducerStatus>>,
}

impl BufferInner {
    pub(crate) fn data_size(&self) -> usize {
        self.data_pfns.len() * page_size()
    }

    /// Checks that `mem`, read from a control page any peer may have written, has this
    /// buffer's layout: data at one page, `data_size` the buffer's (the region bounds were
    /// already checked by [`RingRegion::memory`]).
    pub(crate) fn check_layout(&self, mem: &RingMemory) -> Result<(), EmulationError> {
        let (offset, size) = (mem.data_offset(), mem.data_size());
        let (want_offset, want_size) = (page_size() as u64, self.data_size() as u64);
        if offset != want_offset || size != want_size {
            return Err(EmulationError::LayoutMismatch {
                data_offset: offset,
                data_size: size,
                expected_offset: want_offset,
                expected_size: want_size,
            });
        }
        Ok(())
    }

    /// File offset of a frame in its memfd.
    pub(crate) fn frame_offset(pfn: Pfn) -> u64 {
        if pfn == CONTROL_PFN {
            0
        } else {
            u64::from(pfn - 1) * page_size() as u64
        }
    }

    fn release(&self) {
        // ATOMICS: Release pairs with `is_released`'s Acquire.
        self.released.store(true, Ordering::Release);
        // The producer's view goes first: nobody can write through it any more.
        if let Ok(mut v) = self.producer_view.lock() {
            v.take();
        }
        self.phys.put_page(CONTROL_PFN);
        for &pfn in self.data_pfns.iter() {
            self.phys.put_page(pfn);
        }
    }

    pub(crate) fn is_released(&self) -> bool {
        // ATOMICS: Acquire pairs with the Release store in `release`.
        self.released.load(Ordering::Acquire)
    }

    pub(crate) fn scamem_refs(&self) -> usize {
        // ATOMICS: a snapshot for reports.
        self.scamem.load(Ordering::Relaxed)
    }

    pub(crate) fn new_inner(
        phys: PhysMemory,
        data_pfns: Box<[Pfn]>,
        view: Option<View>,
        wakeup: Option<WakeupFd>,
        huge_aligned: bool,
        info: BufferInfo,
        remote_status: Option<Arc<dyn ProducerStatus>>,
    ) -> Arc<BufferInner> {
        // The buffer's own reference on each of its pages (the allocation).
        phys.get_page(CONTROL_PFN);
        for &pfn in data_pfns.iter() {
            phys.get_page(pfn);
        }
        Arc::new(BufferInner {
            phys: Arc::new(phys),
            data_pfns,
            scamem: AtomicUsize::new(0),
            released: AtomicBool::new(false),
            producer_view: Mutex::new(view),
            wakeup,
            writer_taken: AtomicBool::new(false),
            reader_taken: AtomicBool::new(false),
            producer_gone: AtomicBool::new(false),
            huge_aligned,
            info,
            remote_status,
        })
    }
}

impl ProducerStatus for BufferInner {
    fn is_gone(&self) -> bool {
        if let Some(remote) = &self.remote_status {
            return remote.is_gone();
        }
        // ATOMICS: Acquire pairs with the Release store in `WriterToken::drop`, made after
        // the writer's final `data_head` store.
        self.producer_gone.load(Ordering::Acquire)
    }
}

/// One reference on the whole buffer (`scamem`'s refcount): while any exists, no page of
/// the buffer is freed. Dropping the last releases the buffer.
#[derive(Debug)]
pub(crate) struct ScamemRef(pub(crate) Arc<BufferInner>);

impl ScamemRef {
    /// The first reference, made at allocation.
    pub(crate) fn first(inner: Arc<BufferInner>) -> ScamemRef {
        // ATOMICS: nobody else can see `inner` yet.
        inner.scamem.store(1, Ordering::Relaxed);
        ScamemRef(inner)
    }

    /// Another reference (`refcount_inc_not_zero`).
    pub(crate) fn get(inner: &Arc<BufferInner>) -> Result<ScamemRef, EmulationError> {
        // ATOMICS: a first guess for the CAS below, which validates it.
        let mut cur = inner.scamem.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return Err(EmulationError::Released);
            }
            // ATOMICS: Relaxed success: taking a reference from a live one orders nothing
            // (as `refcount_inc_not_zero`); the decrement that frees is AcqRel.
            match inner.scamem.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(ScamemRef(inner.clone())),
                Err(now) => cur = now,
            }
        }
    }
}

impl Drop for ScamemRef {
    fn drop(&mut self) {
        // ATOMICS: AcqRel: the release sees every use made under the other references.
        if self.0.scamem.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.release();
        }
    }
}

/// A buffer of pages owned like a kernel perf buffer. Dropping this owner handle drops
/// one buffer reference; writers and pfnmap mappings hold others.
///
/// ```
/// use perf_ringbuf::emulation::{BufferConfig, KernelBuffer, MapOptions, Strategy};
///
/// let buffer = KernelBuffer::new(BufferConfig::new(16))?;
/// let mut writer = buffer.writer(Default::default())?;
/// let mapping = std::sync::Arc::new(buffer.map(MapOptions::new(Strategy::InsertPages))?);
/// let mut reader = mapping.reader()?;
/// writer.write(9, 0, b"hi")?;
/// assert_eq!(reader.drain()?.next().unwrap()?.header.record_type, 9);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct KernelBuffer {
    pub(crate) owner: ScamemRef,
}

impl KernelBuffer {
    /// Allocates the pages, builds the producer's view, writes the control page and
    /// seals the data memfd against any new writable mapping.
    ///
    /// # Errors
    ///
    /// [`EmulationError::BadPageCount`], [`EmulationError::HugeNeedsContiguous`],
    /// [`EmulationError::MapCountLimit`] when scattered pages would need more VMAs than
    /// `vm.max_map_count` leaves, or the failing system call (memfd_create, fallocate,
    /// mmap, fcntl).
    pub fn new(config: BufferConfig) -> Result<KernelBuffer, EmulationError> {
        let n = config.data_pages;
        if n == 0 || !n.is_power_of_two() || n > 1 << 24 {
            return Err(EmulationError::BadPageCount(n));
        }
        if config.huge_pages && config.layout != PageLayout::Contiguous {
            return Err(EmulationError::HugeNeedsContiguous);
        }
        let started = Instant::now();
        let data_len = n * page_size();
        let ctrl_fd =
            sys::memfd(c"perf-ringbuf-control", 0).map_err(EmulationError::io("memfd_create"))?;
        sys::set_len(ctrl_fd.as_fd(), page_size()).map_err(EmulationError::io("ftruncate"))?;
        sys::allocate(ctrl_fd.as_fd(), page_size()).map_err(EmulationError::io("fallocate"))?;
        sys::add_seals(
            ctrl_fd.as_fd(),
            libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
        )
        .map_err(EmulationError::io("F_ADD_SEALS"))?;

        let mut fallback = Vec::new();
        let (data_fd, source) = allocate_data(config.huge_pages, data_len, &mut fallback)?;

        let order: Vec<u32> = match config.layout {
            PageLayout::Scattered { seed } => scattered_order(n, seed),
            PageLayout::Contiguous => (0..n as u32).collect(),
        };
        let data_pfns: Box<[Pfn]> = order.iter().map(|&k| k + 1).collect();
        // The producer's view needs one VMA per physically contiguous run.
        super::mapping::check_map_count(contiguous_runs(&data_pfns).len() + 1)?;
        let huge_aligned = config.huge_pages;
        let align = if huge_aligned {
            HUGE_PAGE_SIZE
        } else {
            page_size()
        };

        // The producer's view: control RW, data RW in ring order (like vmap of the pages).
        let ctrl = reserve_ring(data_len, align).map_err(EmulationError::io("mmap reserve"))?;
        let view = View {
            ctrl,
            len: page_size() + data_len,
        };
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        // SAFETY: `ctrl..ctrl + len` is the reservation just made, owned by `view`.
        unsafe {
            sys::map_fixed(ctrl.as_ptr(), page_size(), rw, true, ctrl_fd.as_fd(), 0)
                .map_err(EmulationError::io("mmap control page"))?;
        }
        let data = ctrl.as_ptr().wrapping_add(page_size());
        for (first, len) in contiguous_runs(&data_pfns) {
            let offset = BufferInner::frame_offset(data_pfns[first]);
            // SAFETY: the run lies inside the view's reservation.
            unsafe {
                sys::map_fixed(
                    data.wrapping_add(first * page_size()),
                    len * page_size(),
                    rw,
                    true,
                    data_fd.as_fd(),
                    offset,
                )
                .map_err(EmulationError::io("mmap data pages"))?;
            }
        }
        // The view is the "kernel's": a child of the producer must not inherit a writable
        // mapping of the data, and a core dump need not contain it.
        // SAFETY: the view is ours; these advices do not change contents.
        unsafe {
            sys::madvise(ctrl.as_ptr(), view.len, libc::MADV_DONTFORK)
                .map_err(EmulationError::io("madvise MADV_DONTFORK"))?;
            sys::madvise(ctrl.as_ptr(), view.len, libc::MADV_DONTDUMP)
                .map_err(EmulationError::io("madvise MADV_DONTDUMP"))?;
        }
        let mut source = source;
        if source == BackingSource::ShmemCollapse {
            collapse(data, data_len, &mut fallback, &mut source);
        }
        // From now on no new writable mapping of the data can be made, here or elsewhere.
        sys::add_seals(
            data_fd.as_fd(),
            libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL,
        )
        .map_err(EmulationError::io("F_ADD_SEALS F_SEAL_FUTURE_WRITE"))?;

        // SAFETY: the view maps 4096 + data_len bytes, control page writable; it lives as
        // long as the buffer, which outlives every user of this region (writers hold a
        // buffer reference).
        let region = unsafe { RingRegion::new(ctrl.as_ptr(), view.len)? };
        // SAFETY: the buffer is being created: no reader or writer of this ring exists yet.
        unsafe { region.init_control(page_size() as u64, data_len as u64)? };

        let wakeup = WakeupFd::new().map_err(EmulationError::io("eventfd"))?;
        let info = BufferInfo {
            data_pages: n,
            data_size: data_len as u64,
            contiguous_runs: contiguous_runs(&data_pfns).len(),
            source,
            huge_fallback: fallback,
            alloc_time: started.elapsed(),
        };
        let phys = PhysMemory::new(ctrl_fd, data_fd, n);
        let inner = BufferInner::new_inner(
            phys,
            data_pfns,
            Some(view),
            Some(wakeup),
            huge_aligned,
            info,
            None,
        );
        Ok(KernelBuffer {
            owner: ScamemRef::first(inner),
        })
    }

    /// What was allocated.
    pub fn info(&self) -> &BufferInfo {
        &self.owner.0.info
    }

    /// The frame of data page `index`.
    pub fn data_frame(&self, index: usize) -> Option<Pfn> {
        self.owner.0.data_pfns.get(index).copied()
    }

    /// How the producer's view of the data is backed, read from `/proc/self/smaps` now
    /// (the page size is never assumed).
    ///
    /// # Errors
    ///
    /// [`EmulationError::Released`] without a producer view; the smaps read error.
    pub fn data_backing(&self) -> Result<BackingPages, EmulationError> {
        let view = self
            .owner
            .0
            .producer_view
            .lock()
            .map_err(|_| EmulationError::Released)?;
        let v = view.as_ref().ok_or(EmulationError::Released)?;
        let data = v.ctrl.as_ptr() as usize + page_size();
        smaps::backing_pages(data, v.len - page_size()).map_err(EmulationError::io("read smaps"))
    }

    /// A handle that observes the buffer's bookkeeping without keeping it alive.
    pub fn watch(&self) -> BufferWatch {
        BufferWatch(self.owner.0.clone())
    }

    /// The memfd behind the data pages (sealed with `F_SEAL_FUTURE_WRITE`).
    pub fn data_fd(&self) -> BorrowedFd<'_> {
        self.owner.0.phys.data_fd.as_fd()
    }

    /// The memfd behind the control page.
    pub fn control_fd(&self) -> BorrowedFd<'_> {
        self.owner.0.phys.ctrl_fd.as_fd()
    }

    /// The eventfd the writer signals.
    pub fn wakeup_fd(&self) -> Option<&WakeupFd> {
        self.owner.0.wakeup.as_ref()
    }

    /// The buffer's one writer (the "kernel" side), writing through the producer's view.
    /// It holds a buffer reference; dropping it tells readers the producer is gone.
    ///
    /// # Errors
    ///
    /// [`EmulationError::AlreadyTaken`] for a second writer; [`EmulationError::Layout`]
    /// or [`EmulationError::LayoutMismatch`] if a consumer damaged the control page's
    /// layout fields. A damaged `data_head` is repaired and counted instead
    /// ([`crate::WriterStats::head_repairs`]).
    pub fn writer(&self, config: WriterConfig) -> Result<Writer, EmulationError> {
        let inner = &self.owner.0;
        // ATOMICS: AcqRel makes the claim a single winner; nothing else is published.
        if inner.writer_taken.swap(true, Ordering::AcqRel) {
            return Err(EmulationError::AlreadyTaken("writer"));
        }
        let checked = (|| {
            let (ptr, len) = {
                let view = inner
                    .producer_view
                    .lock()
                    .map_err(|_| EmulationError::Released)?;
                let v = view.as_ref().ok_or(EmulationError::Released)?;
                (v.ctrl.as_ptr(), v.len)
            };
            let buffer = ScamemRef::get(inner)?;
            // SAFETY: the producer view is mapped read-write for `len` bytes and stays
            // mapped while `buffer` (moved into the writer's token below) holds a buffer
            // reference; the data memfd seal does not affect this mapping (made before
            // sealing).
            let region = unsafe { RingRegion::new(ptr, len)? };
            // The control page is shared with every consumer: its layout is checked
            // against the buffer's own, and `Writer::new` validates `data_head`.
            let mem = region.memory()?;
            inner.check_layout(&mem)?;
            Ok((mem, buffer))
        })();
        let (mem, buffer) = match checked {
            Ok(ok) => ok,
            Err(e) => {
                // No writer was made: give the claim back, so a later call may succeed
                // (and readers are not told that a producer went away).
                // ATOMICS: Release pairs with the AcqRel claim above.
                inner.writer_taken.store(false, Ordering::Release);
                return Err(e);
            }
        };
        // The token is made only for a writer that exists: its drop tells readers the
        // producer is gone.
        let token = WriterToken { buffer };
        // SAFETY: the single writer (claimed above); `token` keeps the view mapped.
        Ok(unsafe { Writer::new(mem, config, inner.wakeup.clone(), Arc::new(token)) })
    }
}

/// Keeps a buffer reference for a writer and reports its end to readers.
#[derive(Debug)]
struct WriterToken {
    buffer: ScamemRef,
}

impl Drop for WriterToken {
    fn drop(&mut self) {
        let inner = &self.buffer.0;
        // ATOMICS: Release pairs with `BufferInner::is_gone`; the writer's last head
        // store happened before this drop.
        inner.producer_gone.store(true, Ordering::Release);
        if let Some(fd) = &inner.wakeup {
            // A failed signal leaves readers to their bounded wait, which sees the flag.
            let _ = fd.signal();
        }
    }
}

/// Observes a buffer's bookkeeping — its scamem count and its pages' counters — without
/// holding a reference, so tests and reports can look after the owner is gone.
#[derive(Debug, Clone)]
pub struct BufferWatch(pub(crate) Arc<BufferInner>);

impl BufferWatch {
    /// The buffer-wide reference count.
    pub fn scamem_refs(&self) -> usize {
        self.0.scamem_refs()
    }

    /// Whether the last buffer reference is gone.
    pub fn is_released(&self) -> bool {
        self.0.is_released()
    }

    /// Counters of the control page.
    pub fn control_page(&self) -> PageCounts {
        self.0.phys.counts(CONTROL_PFN).unwrap_or_default()
    }

    /// Counters of data page `index` (in ring order).
    pub fn data_page(&self, index: usize) -> Option<PageCounts> {
        let pfn = *self.0.data_pfns.get(index)?;
        self.0.phys.counts(pfn)
    }

    /// Sums of refcounts and mapcounts over every frame.
    pub fn totals(&self) -> (u64, u64) {
        self.0.phys.totals()
    }

    /// Number of frames (control page included).
    pub fn frames(&self) -> usize {
        self.0.phys.frames()
    }
}

/// Reserves room for a control page followed by `data_len` bytes, the data starting at a
/// multiple of `align`; returns where the control page goes.
pub(crate) fn reserve_ring(data_len: usize, align: usize) -> std::io::Result<NonNull<u8>> {
    if align <= page_size() {
        return sys::reserve(page_size() + data_len, page_size());
    }
    // [align - 4096 bytes of slack][control page][data...]: data lands on `base + align`.
    let base = sys::reserve(align + data_len, align)?;
    let slack = align - page_size();
    // SAFETY: the slack is the head of our own fresh reservation.
    unsafe { sys::unmap(base.as_ptr(), slack) };
    // SAFETY: inside the reservation, hence non-null.
    Ok(unsafe { NonNull::new_unchecked(base.as_ptr().add(slack)) })
}

/// Creates and allocates the data memfd: hugetlb when asked and available, else shmem.
fn allocate_data(
    huge: bool,
    data_len: usize,
    fallback: &mut Vec<String>,
) -> Result<(OwnedFd, BackingSource), EmulationError> {
    let name: &CStr = c"perf-ringbuf-data";
    if huge {
        if !data_len.is_multiple_of(HUGE_PAGE_SIZE) {
            fallback.push(format!(
                "data area of {data_len} bytes is not a multiple of 2 MiB: base pages"
            ));
        } else {
            match try_hugetlb(name, data_len) {
                Ok(fd) => return Ok((fd, BackingSource::Hugetlb)),
                Err(e) => fallback.push(format!("hugetlb memfd: {e} (vm.nr_hugepages reserved?)")),
            }
        }
    }
    let fd = sys::memfd(name, 0).map_err(EmulationError::io("memfd_create"))?;
    sys::set_len(fd.as_fd(), data_len).map_err(EmulationError::io("ftruncate"))?;
    sys::allocate(fd.as_fd(), data_len).map_err(EmulationError::io("fallocate"))?;
    let source = if huge && data_len.is_multiple_of(HUGE_PAGE_SIZE) {
        BackingSource::ShmemCollapse
    } else {
        BackingSource::Shmem
    };
    Ok((fd, source))
}

fn try_hugetlb(name: &CStr, data_len: usize) -> std::io::Result<OwnedFd> {
    let fd = sys::memfd(name, libc::MFD_HUGETLB | libc::MFD_HUGE_2MB)?;
    sys::set_len(fd.as_fd(), data_len)?;
    // fallocate takes the huge pages now, so a shortage fails here and not at first touch.
    sys::allocate(fd.as_fd(), data_len)?;
    Ok(fd)
}

/// `MADV_HUGEPAGE` then `MADV_COLLAPSE` on the producer's aligned data view.
fn collapse(data: *mut u8, len: usize, fallback: &mut Vec<String>, source: &mut BackingSource) {
    // SAFETY: the data view is ours; these advices do not change contents.
    if let Err(e) = unsafe { sys::madvise(data, len, libc::MADV_HUGEPAGE) } {
        fallback.push(format!("MADV_HUGEPAGE: {e}"));
    }
    // SAFETY: as above.
    if let Err(e) = unsafe { sys::madvise(data, len, libc::MADV_COLLAPSE) } {
        fallback.push(format!("MADV_COLLAPSE: {e}: base pages"));
        *source = BackingSource::Shmem;
    }
}
