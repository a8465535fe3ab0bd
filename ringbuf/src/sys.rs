//! The few system calls the protocol needs (eventfd, poll), each behind a safe function.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

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
