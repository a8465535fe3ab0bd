//! The pre-6.14 `perf_mmap_fault` path, emulated with userfaultfd (`userfaultfd(2)`,
//! `Documentation/admin-guide/mm/userfaultfd.rst`): nothing is mapped at mmap time; the
//! first touch of each page stops in the kernel, a handler thread "inserts" the page,
//! takes a page reference as `perf_mmap_fault` did with `get_page()`, counts, and wakes
//! the faulting thread.
//!
//! Why not MINOR faults + `UFFDIO_CONTINUE` on the memfd mapping itself: the kernel
//! refuses to register a VMA without `VM_MAYWRITE` (`userfaultfd_register`: EPERM), and a
//! read-only mapping of a `F_SEAL_FUTURE_WRITE` memfd never has it. So the range starts as
//! an anonymous private placeholder (read-only for data, read-write for the control page)
//! registered for MISSING faults; on a fault the handler maps the buffer's page over the
//! placeholder page (`mmap(MAP_FIXED | MAP_POPULATE)` of the sealed memfd, read-only) and
//! wakes the faulting thread (`UFFDIO_WAKE`), whose retry finds the page mapped. The
//! placeholder holds no data, so even an `mprotect` of an untouched page to writable
//! exposes nothing: the first access still inserts the sealed read-only page.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::buffer::BufferInner;
use super::sys::{self, cvt, page_size};

const UFFD_API: u64 = 0xAA;
const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;
// _IOWR(0xAA, nr, size): dir 3 << 30 | size << 16 | 0xAA << 8 | nr.
const UFFDIO_API: libc::c_ulong = 0xC018_AA3F;
const UFFDIO_REGISTER: libc::c_ulong = 0xC020_AA00;
// _IOR(0xAA, 0x02, struct uffdio_range).
const UFFDIO_WAKE: libc::c_ulong = 0x8010_AA02;

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRange {
    start: u64,
    len: u64,
}

#[repr(C)]
struct UffdioRegister {
    range: UffdioRange,
    mode: u64,
    ioctls: u64,
}

/// How the `Fault` strategy takes its faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultMode {
    /// userfaultfd MISSING faults on a placeholder, resolved by mapping the page; every
    /// first touch of a page is counted here. `user_mode_only` when only `UFFD_USER_MODE_ONLY` was allowed
    /// (unprivileged): kernel-mode touches (GUP, `read(2)` into the ring) then fail.
    Userfaultfd {
        /// Created with `UFFD_USER_MODE_ONLY`.
        user_mode_only: bool,
    },
    /// userfaultfd was refused: the mapping is lazy and the kernel faults pages in by
    /// itself (with fault-around), so faults are visible only in `getrusage`, not here.
    KernelLazy {
        /// Why userfaultfd could not be used.
        reason: String,
    },
}

/// State shared by a fault handler and its mapping.
#[derive(Debug)]
pub(crate) struct FaultState {
    pub(crate) faults: AtomicU64,
    /// Faults whose page could not be mapped (the thread will fault again).
    pub(crate) insert_errors: AtomicU64,
    /// One flag per page of the mapped range: the page was inserted (and referenced).
    inserted: Box<[AtomicBool]>,
    buffer: Arc<BufferInner>,
    /// First address of the range (the control page).
    base: usize,
    mirrored_pages: usize,
}

impl FaultState {
    /// The frame behind page `index` of the mapping (0 = control page).
    fn frame(&self, index: usize) -> Option<u32> {
        if index == 0 {
            return Some(super::pages::CONTROL_PFN);
        }
        let n = self.buffer.data_pfns.len();
        let i = index - 1;
        if i >= self.mirrored_pages {
            return None;
        }
        self.buffer.data_pfns.get(i % n).copied()
    }

    /// Records that page `index` is now mapped: one reference and one mapcount, once.
    pub(crate) fn insert(&self, index: usize) {
        let Some(flag) = self.inserted.get(index) else {
            return;
        };
        // ATOMICS: AcqRel: exactly one inserter takes the reference.
        if !flag.swap(true, Ordering::AcqRel) {
            if let Some(pfn) = self.frame(index) {
                self.buffer.phys.get_page(pfn);
                self.buffer.phys.map_page(pfn);
            }
        }
    }

    pub(crate) fn is_inserted(&self, index: usize) -> bool {
        // ATOMICS: pairs with the swap in `insert`.
        self.inserted
            .get(index)
            .is_some_and(|f| f.load(Ordering::Acquire))
    }

    /// Page references held for inserted pages.
    pub(crate) fn refs(&self) -> u64 {
        (0..self.inserted.len())
            .filter(|&i| self.is_inserted(i))
            .count() as u64
    }

    /// Drops the references of every inserted page (the mapping is going away).
    pub(crate) fn put_all(&self) {
        for i in 0..self.inserted.len() {
            // ATOMICS: AcqRel pairs with `insert`.
            if self.inserted[i].swap(false, Ordering::AcqRel) {
                if let Some(pfn) = self.frame(i) {
                    self.buffer.phys.unmap_page(pfn);
                    self.buffer.phys.put_page(pfn);
                }
            }
        }
    }
}

/// A userfaultfd registered on one mapping, and the thread that serves it.
#[derive(Debug)]
pub(crate) struct FaultHandler {
    stop: OwnedFd,
    thread: Option<JoinHandle<()>>,
    // Closed after the thread is joined: closing wakes any fault still waiting.
    _uffd: Arc<OwnedFd>,
}

impl FaultHandler {
    /// Creates the shared state for `pages` pages at `base` (control page first).
    pub(crate) fn state(buffer: Arc<BufferInner>, base: usize, pages: usize) -> Arc<FaultState> {
        Arc::new(FaultState {
            faults: AtomicU64::new(0),
            insert_errors: AtomicU64::new(0),
            inserted: (0..pages).map(|_| AtomicBool::new(false)).collect(),
            mirrored_pages: pages - 1,
            buffer,
            base,
        })
    }

    /// Turns `base..base + len` (a reservation) into placeholders — control page
    /// read-write, data read-only, anonymous and empty — opens a userfaultfd, registers
    /// the range for MISSING faults and starts the handler thread. Returns the handler and
    /// whether it is user-mode only.
    pub(crate) fn start(state: Arc<FaultState>, len: usize) -> io::Result<(FaultHandler, bool)> {
        let base = state.base as *mut u8;
        // SAFETY: `base..base + len` is the caller's fresh reservation (anonymous,
        // private); nothing refers to it yet.
        unsafe {
            sys::mprotect(base, page_size(), libc::PROT_READ | libc::PROT_WRITE)?;
            sys::mprotect(base.add(page_size()), len - page_size(), libc::PROT_READ)?;
        }
        let (uffd, user_mode_only) = open_uffd()?;
        let mut api = UffdioApi {
            api: UFFD_API,
            features: 0,
            ioctls: 0,
        };
        // SAFETY: `api` is a valid uffdio_api for this ioctl.
        cvt(unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_API, &mut api) })?;
        let mut reg = UffdioRegister {
            range: UffdioRange {
                start: state.base as u64,
                len: len as u64,
            },
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        // SAFETY: `reg` is a valid uffdio_register; the range is our placeholder.
        cvt(unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_REGISTER, &mut reg) })?;
        let stop = crate::sys::eventfd()?;
        let stop_raw = stop.as_raw_fd();
        let uffd = Arc::new(uffd);
        let uffd2 = uffd.clone();
        let thread = std::thread::Builder::new()
            .name("uffd-fault".into())
            .spawn(move || serve(&uffd2, stop_raw, &state, len))?;
        Ok((
            FaultHandler {
                stop,
                thread: Some(thread),
                _uffd: uffd,
            },
            user_mode_only,
        ))
    }
}

impl Drop for FaultHandler {
    fn drop(&mut self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writing 8 bytes to our eventfd.
        unsafe { libc::write(self.stop.as_raw_fd(), one.as_ptr().cast(), 8) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn open_uffd() -> io::Result<(OwnedFd, bool)> {
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: userfaultfd takes only flags.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
    if fd >= 0 {
        // SAFETY: a fresh descriptor owned by nobody else.
        return Ok((unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }, false));
    }
    let first = io::Error::last_os_error();
    // SAFETY: as above.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY) };
    if fd >= 0 {
        // SAFETY: a fresh descriptor owned by nobody else.
        return Ok((unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) }, true));
    }
    Err(first)
}

/// The handler loop: wait for faults or the stop signal; map each faulting page.
fn serve(uffd: &OwnedFd, stop: libc::c_int, state: &FaultState, len: usize) {
    let mut msgs = [[0u8; 32]; 16];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: uffd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: stop,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfds.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        if fds[1].revents != 0 {
            return;
        }
        if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            return;
        }
        // SAFETY: `msgs` is 16 * 32 writable bytes; uffd_msg is 32 bytes.
        let n = unsafe {
            libc::read(
                uffd.as_raw_fd(),
                msgs.as_mut_ptr().cast(),
                core::mem::size_of_val(&msgs),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => continue,
                _ => return,
            }
        }
        if n == 0 {
            return;
        }
        for msg in msgs.iter().take(n as usize / 32) {
            if msg[0] != UFFD_EVENT_PAGEFAULT {
                continue;
            }
            let addr = u64::from_ne_bytes(msg[16..24].try_into().unwrap_or([0; 8])) as usize;
            let page = addr & !(page_size() - 1);
            let Some(off) = page.checked_sub(state.base).filter(|o| *o < len) else {
                continue;
            };
            let index = off / page_size();
            if !state.is_inserted(index) {
                match insert_page(state, page, index) {
                    Ok(()) => {
                        // ATOMICS: a statistic counter.
                        state.faults.fetch_add(1, Ordering::Relaxed);
                        state.insert(index);
                    }
                    Err(_) => {
                        // ATOMICS: a statistic counter.
                        state.insert_errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            let mut range = UffdioRange {
                start: page as u64,
                len: page_size() as u64,
            };
            // SAFETY: a valid uffdio_range; waking needs no registration of the range.
            unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_WAKE, &mut range) };
        }
    }
}

/// Maps the buffer's page for mapping page `index` over the placeholder at `page`.
fn insert_page(state: &FaultState, page: usize, index: usize) -> io::Result<()> {
    let phys = &state.buffer.phys;
    let (fd, offset, prot) = if index == 0 {
        (phys.ctrl_fd.as_fd(), 0, libc::PROT_READ | libc::PROT_WRITE)
    } else {
        let pfn = state
            .frame(index)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        (
            phys.data_fd.as_fd(),
            BufferInner::frame_offset(pfn),
            libc::PROT_READ,
        )
    };
    // SAFETY: `page` is a page of our registered placeholder range; the faulting thread
    // waits in the kernel (without the mmap lock) until we wake it.
    unsafe {
        sys::map_fixed(page as *mut u8, page_size(), prot, true, fd, offset)?;
        sys::madvise(page as *mut u8, page_size(), libc::MADV_DONTFORK)?;
        sys::madvise(page as *mut u8, page_size(), libc::MADV_DONTDUMP)?;
    }
    Ok(())
}
