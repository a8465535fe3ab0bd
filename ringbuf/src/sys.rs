//! The crate's system calls, each behind a small function that is safe where it can be:
//! the protocol's eventfd and poll; the emulation's memfd and seals, anonymous
//! reservations, fixed file mappings, madvise and mprotect; the page size and the VMA
//! budget. The one errno helper ([`cvt`]) and the one page size ([`page_size`]) of the
//! crate. (The userfaultfd ioctls stay in `emulation::uffd` and the `SCM_RIGHTS` messages
//! in `emulation::handoff`, next to the code that interprets them.)

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::OnceLock;
use std::time::Duration;

/// The PMD huge page size the emulation models (x86-64: 512 base pages of 4 KiB).
pub(crate) const HUGE_PAGE_SIZE: usize = 2 << 20;

/// The base page size, `sysconf(_SC_PAGESIZE)`, read once. Mapping offsets and lengths,
/// the emulated buffer's control page and its order-0 pages are all this size.
pub(crate) fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    *PAGE.get_or_init(|| {
        // SAFETY: sysconf takes no pointers.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        // Linux always answers _SC_PAGESIZE (a power of two); 4096 only if it ever did not.
        usize::try_from(n)
            .ok()
            .filter(|n| n.is_power_of_two())
            .unwrap_or(4096)
    })
}

/// Turns a `-1` return into the thread's `errno`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds `n` to an eventfd counter; `Ok(false)` when the counter is full (EAGAIN), which
/// already signals readiness.
pub(crate) fn eventfd_add(fd: BorrowedFd<'_>, n: u64) -> io::Result<bool> {
    let buf = n.to_ne_bytes();
    // SAFETY: `buf` is 8 valid bytes, as eventfd requires.
    let ret = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if ret == 8 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.kind() {
        io::ErrorKind::WouldBlock => Ok(false),
        _ => Err(err),
    }
}

/// Polls one descriptor for `events`; returns the `revents`, 0 on timeout. `None` waits
/// forever. EINTR is retried with the full timeout (the caller loops on its own deadline).
pub(crate) fn poll_one(
    fd: BorrowedFd<'_>,
    events: libc::c_short,
    timeout: Option<Duration>,
) -> io::Result<libc::c_short> {
    let ms = match timeout {
        None => -1,
        Some(t) => t.as_millis().min(i32::MAX as u128) as libc::c_int,
    };
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    loop {
        // SAFETY: `pfd` is one valid pollfd.
        let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
        match cvt(ret) {
            Ok(0) => return Ok(0),
            Ok(_) => return Ok(pfd.revents),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

// ---- Hostile peers (issue 16): descriptor operations that a peer cannot make block. ----
//
// A descriptor received over a socket (or sent to another process) shares its open file
// description, and with it the `O_NONBLOCK` flag, with the peer: the peer can clear the
// flag at any moment. So the flag is never relied on here: reads are non-blocking per call
// (`RWF_NOWAIT`), and writes are only attempted after checks that bound the window.

/// Reads and resets an eventfd counter without ever blocking, whatever the (shared)
/// `O_NONBLOCK` flag says: `preadv2(..., RWF_NOWAIT)`, non-blocking per call (eventfd
/// supports it since Linux 5.12, "eventfd: convert to ->read_iter()"). `Ok(0)` when it was
/// not signalled.
///
/// # Errors
///
/// EOPNOTSUPP when the kernel cannot read this descriptor without blocking (the caller
/// must then not read it at all); any other `preadv2` error.
pub(crate) fn eventfd_take(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    loop {
        // SAFETY: `iov` describes the 8 writable bytes of `buf`; offset -1 reads at the
        // current position, as read(2) does (an eventfd has none).
        let ret = unsafe { libc::preadv2(fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
        if ret == 8 {
            return Ok(u64::from_ne_bytes(buf));
        }
        if ret >= 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidData));
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::WouldBlock => return Ok(0),
            io::ErrorKind::Interrupted => continue,
            _ => return Err(err),
        }
    }
}

/// Whether the open file description of `fd` has `O_NONBLOCK` set now (`fcntl(F_GETFL)`).
pub(crate) fn is_nonblocking(fd: BorrowedFd<'_>) -> io::Result<bool> {
    // SAFETY: no pointers.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// Sets `O_NONBLOCK` on the open file description of `fd` (`fcntl(F_SETFL)`).
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no pointers.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: no pointers.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// Whether `fd` is an eventfd: its `/proc/self/fdinfo/N` has an `eventfd-count:` line
/// (`proc(5)`), which no other kind of file has.
///
/// # Errors
///
/// The read error of the fdinfo file (no `/proc`: the caller cannot verify, and refuses).
pub(crate) fn is_eventfd(fd: BorrowedFd<'_>) -> io::Result<bool> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    Ok(info.lines().any(|l| l.starts_with("eventfd-count:")))
}

/// The size of the file behind `fd` and the bytes of storage allocated to it (`st_blocks`
/// × 512, `fstat(2)`). For shmem and hugetlbfs files the blocks count every page taken,
/// by a write, a fault or `fallocate` (`SEEK_HOLE` is no substitute: shmem reports pages
/// that were fallocated but never written as holes).
pub(crate) fn allocation(fd: BorrowedFd<'_>) -> io::Result<(u64, u64)> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `stat`.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    let bad = || io::Error::from(io::ErrorKind::InvalidData);
    let size = u64::try_from(st.st_size).map_err(|_| bad())?;
    let blocks = u64::try_from(st.st_blocks).map_err(|_| bad())?;
    Ok((size, blocks.saturating_mul(512)))
}

// ---- The emulation: memfd pages, reservations, fixed mappings, page-cache probes. ----

/// `memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | extra)`.
pub(crate) fn memfd(name: &std::ffi::CStr, extra: libc::c_uint) -> io::Result<OwnedFd> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | extra;
    // SAFETY: `name` is a valid NUL-terminated string; no other pointers.
    let fd = cvt(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: `fd` was just returned by memfd_create and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `ftruncate(fd, len)`.
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: no pointers.
    cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
}

/// `fallocate(fd, 0, 0, len)`: allocates every page of the file now ("physical memory").
pub(crate) fn allocate(fd: BorrowedFd<'_>, len: usize) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: no pointers.
    cvt(unsafe { libc::fallocate(fd.as_raw_fd(), 0, 0, len) }).map(drop)
}

/// The size of the file behind `fd` (`fstat`).
pub(crate) fn file_len(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: an all-zero `stat` is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is a valid, writable `stat`.
    cvt(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    u64::try_from(st.st_size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Adds seals to a memfd (`fcntl(F_ADD_SEALS)`).
pub(crate) fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// The seals of a memfd (`fcntl(F_GET_SEALS)`).
pub(crate) fn seals(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// Reserves `len` bytes of address space (PROT_NONE, no memory) starting at a multiple of
/// `align` (a power of two, at least a page): maps `len + align`, then unmaps the slack.
pub(crate) fn reserve(len: usize, align: usize) -> io::Result<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && align >= page_size());
    let extra = if align > page_size() { align } else { 0 };
    let total = len
        .checked_add(extra)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
    let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    // SAFETY: a fresh anonymous PROT_NONE mapping at an address the kernel picks.
    let p = unsafe { libc::mmap(core::ptr::null_mut(), total, libc::PROT_NONE, flags, -1, 0) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let start = p as usize;
    let aligned = (start + align - 1) & !(align - 1);
    let head = aligned - start;
    let tail = total - head - len;
    // SAFETY: both ranges lie inside the mapping just made and nobody else uses them.
    unsafe {
        if head > 0 {
            libc::munmap(p, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
    }
    // SAFETY: `aligned` is inside a successful mapping, hence non-null.
    Ok(unsafe { NonNull::new_unchecked(aligned as *mut u8) })
}

/// Maps `len` bytes of `fd` at file offset `offset` exactly at `addr` (`MAP_SHARED |
/// MAP_FIXED`, plus `MAP_POPULATE` when `populate`).
///
/// # Safety
///
/// `addr..addr + len` must be address space this process owns (a reservation made by
/// [`reserve`] that no live Rust value points into as anything but raw memory).
pub(crate) unsafe fn map_fixed(
    addr: *mut u8,
    len: usize,
    prot: libc::c_int,
    populate: bool,
    fd: BorrowedFd<'_>,
    offset: u64,
) -> io::Result<()> {
    let mut flags = libc::MAP_SHARED | libc::MAP_FIXED;
    if populate {
        flags |= libc::MAP_POPULATE;
    }
    let off =
        libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the caller owns the target range; MAP_FIXED replaces only that range.
    let p = unsafe { libc::mmap(addr.cast(), len, prot, flags, fd.as_raw_fd(), off) };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Makes every page of `addr..addr + len` present for reading now
/// (`madvise(MADV_POPULATE_READ)`, Linux 5.14), one call across any number of VMAs. On an
/// older kernel (EINVAL) it reads one byte of every page instead, which faults the same
/// pages in from this thread.
///
/// # Safety
///
/// `addr..addr + len` must be mapped readable and owned by the caller.
pub(crate) unsafe fn populate_read(addr: *mut u8, len: usize) -> io::Result<()> {
    // SAFETY: forwarded to the caller; populating does not change contents.
    match unsafe { madvise(addr, len, libc::MADV_POPULATE_READ) } {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // SAFETY: the range is mapped readable (caller's contract).
            unsafe { touch_pages(addr, len) };
            Ok(())
        }
        other => other,
    }
}

/// `munmap(addr, len)`.
///
/// # Safety
///
/// Nothing may use `addr..addr + len` afterwards.
pub(crate) unsafe fn unmap(addr: *mut u8, len: usize) {
    // SAFETY: the caller gives up the range. A failure (EINVAL) leaves it mapped, which
    // only leaks address space; Drop paths must not panic.
    unsafe {
        libc::munmap(addr.cast(), len);
    }
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
///
/// `addr..addr + len` must be a range this process owns; destructive advice
/// (`MADV_DONTNEED`) must only be given where the contents may be dropped.
pub(crate) unsafe fn madvise(addr: *mut u8, len: usize, advice: libc::c_int) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    cvt(unsafe { libc::madvise(addr.cast(), len, advice) }).map(drop)
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
///
/// As [`madvise`]: the caller owns the range and no Rust reference relies on its old
/// protection.
pub(crate) unsafe fn mprotect(addr: *mut u8, len: usize, prot: libc::c_int) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    cvt(unsafe { libc::mprotect(addr.cast(), len, prot) }).map(drop)
}

/// Reads one byte of every page of `addr..addr + len` (a "first full pass"), returning a
/// wrapping sum so the reads are not optimised away.
///
/// # Safety
///
/// The range must be mapped readable.
pub(crate) unsafe fn touch_pages(addr: *const u8, len: usize) -> u64 {
    let mut sum = 0u64;
    let mut off = 0;
    while off < len {
        // SAFETY: `off < len`, inside the readable range (caller's contract). A volatile
        // read: the byte may be written concurrently by a producer, and we want the access.
        sum = sum.wrapping_add(u64::from(unsafe { addr.add(off).read_volatile() }));
        off += page_size();
    }
    sum
}

/// `vm.max_map_count`: how many VMAs a process may have.
pub(crate) fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The number of VMAs this process has now (lines of `/proc/self/maps`).
pub(crate) fn vma_count() -> io::Result<usize> {
    Ok(std::fs::read_to_string("/proc/self/maps")?.lines().count())
}
