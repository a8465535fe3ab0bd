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

/// Adds `n` to an eventfd counter. A full counter (EAGAIN) already signals readiness.
pub(crate) fn eventfd_add(fd: BorrowedFd<'_>, n: u64) -> io::Result<()> {
    let buf = n.to_ne_bytes();
    // SAFETY: `buf` is 8 valid bytes, as eventfd requires.
    let ret = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if ret == 8 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.kind() {
        io::ErrorKind::WouldBlock => Ok(()),
        _ => Err(err),
    }
}

/// Reads and resets an eventfd counter; 0 when it was not signalled.
pub(crate) fn eventfd_take(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is 8 writable bytes.
    let ret = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if ret == 8 {
        return Ok(u64::from_ne_bytes(buf));
    }
    let err = io::Error::last_os_error();
    match err.kind() {
        io::ErrorKind::WouldBlock => Ok(0),
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
