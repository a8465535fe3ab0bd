//! The system calls of the emulation, each behind a small safe function: memfd and seals,
//! anonymous reservations, fixed file mappings, madvise, and the page-cache and resource
//! probes (`mincore`, `getrusage`). All unsafe code of the emulation that is not
//! userfaultfd or fd passing lives here.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::NonNull;

/// The base page size the emulation models (x86-64 order-0 page).
pub const PAGE_SIZE: usize = 4096;
/// The PMD huge page size (x86-64).
pub const HUGE_PAGE_SIZE: usize = 2 << 20;

/// Turns a `-1` return into the thread's `errno`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

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
pub fn seals(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// Reserves `len` bytes of address space (PROT_NONE, no memory) starting at a multiple of
/// `align` (a power of two, at least a page): maps `len + align`, then unmaps the slack.
pub(crate) fn reserve(len: usize, align: usize) -> io::Result<NonNull<u8>> {
    debug_assert!(align.is_power_of_two() && align >= PAGE_SIZE);
    let extra = if align > PAGE_SIZE { align } else { 0 };
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
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: libc::c_int) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    cvt(unsafe { libc::madvise(addr.cast(), len, advice) }).map(drop)
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
///
/// As [`madvise`]: the caller owns the range and no Rust reference relies on its old
/// protection.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: libc::c_int) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    cvt(unsafe { libc::mprotect(addr.cast(), len, prot) }).map(drop)
}

/// How many pages of `addr..addr + len` `mincore(2)` reports resident.
///
/// # Errors
///
/// The `mincore` error (ENOMEM when the range is not mapped).
pub fn resident_pages(addr: *const u8, len: usize) -> io::Result<usize> {
    let pages = len.div_ceil(PAGE_SIZE);
    let mut vec = vec![0u8; pages];
    // SAFETY: `vec` has one byte per page of the range; mincore only writes into it and
    // fails cleanly (ENOMEM) on unmapped addresses.
    cvt(unsafe { libc::mincore(addr as *mut libc::c_void, len, vec.as_mut_ptr()) })?;
    Ok(vec.iter().filter(|b| **b & 1 != 0).count())
}

/// The calling thread's minor page faults so far (`getrusage(RUSAGE_THREAD).ru_minflt`):
/// per thread, so other threads of the process do not disturb a measurement.
pub fn thread_minor_faults() -> u64 {
    // SAFETY: an all-zero `rusage` is a valid value to be overwritten.
    let mut ru: libc::rusage = unsafe { core::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable `rusage`.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    u64::try_from(ru.ru_minflt).unwrap_or(0)
}

/// Reads one byte of every page of `addr..addr + len` (a "first full pass"), returning a
/// wrapping sum so the reads are not optimised away.
///
/// # Safety
///
/// The range must be mapped readable.
pub unsafe fn touch_pages(addr: *const u8, len: usize) -> u64 {
    let mut sum = 0u64;
    let mut off = 0;
    while off < len {
        // SAFETY: `off < len`, inside the readable range (caller's contract). A volatile
        // read: the byte may be written concurrently by a producer, and we want the access.
        sum = sum.wrapping_add(u64::from(unsafe { addr.add(off).read_volatile() }));
        off += PAGE_SIZE;
    }
    sum
}

/// `vm.max_map_count`: how many VMAs a process may have.
pub fn max_map_count() -> Option<usize> {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The number of VMAs this process has now (lines of `/proc/self/maps`).
pub fn vma_count() -> io::Result<usize> {
    Ok(std::fs::read_to_string("/proc/self/maps")?.lines().count())
}
