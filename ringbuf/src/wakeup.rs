//! Wakeups: how a writer tells a sleeping reader that there is data, like the kernel's
//! `perf_output_wakeup` (`wakeup_events` / `wakeup_watermark`, `perf_event_open(2)`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::sys;

/// When the writer wakes the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WakeupPolicy {
    /// Every `n` records (`perf_event_attr::wakeup_events`, with `watermark = 0`).
    Events(u32),
    /// Every `n` bytes written (`perf_event_attr::wakeup_watermark`, with `watermark = 1`).
    Watermark(u64),
    /// Half the data area: what the kernel does when `wakeup_watermark` is 0.
    #[default]
    HalfBuffer,
}

/// An eventfd shared by a writer (which signals it) and a reader (which polls it).
///
/// The descriptor can be registered with `poll`/`epoll` by the caller, or passed to another
/// process with `SCM_RIGHTS`. A descriptor shared with another process shares its open
/// file description, `O_NONBLOCK` flag included, and its counter: the peer can clear the
/// flag or fill the counter at any moment. Neither side here relies on the flag:
///
/// - the reader ([`WakeupFd::wait`]) polls with a timeout and consumes the counter only
///   with `preadv2(RWF_NOWAIT)`, which cannot block whatever the flag says (never
///   `read(2)`: a peer can drain the counter between a poll and a read);
/// - the writer ([`WakeupFd::signal`]), once the descriptor has left this library
///   (received, or handed out by [`AsFd::as_fd`]), writes only when the flag is still set
///   (it set it; finding it cleared means a peer tampered, and the descriptor is never
///   written again) and `poll` says the counter has room. A full counter or a tampered
///   descriptor is counted ([`crate::WriterStats::wakeups_refused`]); the reader is then
///   woken by its bounded wait. Linux has no per-call non-blocking eventfd write
///   (`pwritev2`'s `RWF_NOWAIT` gives EOPNOTSUPP), so a peer that clears the flag *and*
///   fills the counter within the few hundred nanoseconds between these checks and the
///   write can still block it once; closing that window needs the write off the writer's
///   thread. A descriptor that never left the library is written directly (one system
///   call instead of three).
#[derive(Debug, Clone)]
pub struct WakeupFd(Arc<Shared>);

#[derive(Debug)]
struct Shared {
    fd: OwnedFd,
    /// The descriptor may be held outside this library: it was received, or handed out by
    /// [`AsFd::as_fd`] (to be polled, or sent to another process). Until then nobody else
    /// can reach the open file description (an eventfd cannot be reopened through
    /// `/proc/self/fd`: ENXIO), so [`WakeupFd::signal`] writes it without checks.
    exposed: AtomicBool,
    /// A peer cleared `O_NONBLOCK`: never write this descriptor again.
    tampered: AtomicBool,
    /// The kernel cannot read this descriptor without blocking (before Linux 5.12): never
    /// read it, poll only.
    no_nowait_read: AtomicBool,
}

impl WakeupFd {
    /// Creates a non-blocking, close-on-exec eventfd.
    ///
    /// # Errors
    ///
    /// The `eventfd(2)` error (EMFILE, ENOMEM).
    pub fn new() -> io::Result<Self> {
        Ok(Self::wrap(sys::eventfd()?, false))
    }

    fn wrap(fd: OwnedFd, exposed: bool) -> Self {
        WakeupFd(Arc::new(Shared {
            fd,
            exposed: AtomicBool::new(exposed),
            tampered: AtomicBool::new(false),
            no_nowait_read: AtomicBool::new(false),
        }))
    }

    /// Wraps an existing eventfd (for example one received over a Unix socket), after
    /// checking that it is one (`/proc/self/fdinfo`), and sets `O_NONBLOCK` on it.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] when `fd` is not an eventfd (a pipe, a socket, a
    /// file); the fdinfo read error when `/proc` is not available to check; the `fcntl`
    /// error.
    pub fn from_owned(fd: OwnedFd) -> io::Result<Self> {
        if !sys::is_eventfd(fd.as_fd())? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the wakeup descriptor is not an eventfd",
            ));
        }
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Self::wrap(fd, true))
    }

    /// Signals the reader, never blocking on a descriptor a peer made blocking (see the
    /// type's documentation for the one window that remains). `Ok(false)` when the signal
    /// was not delivered: the counter is full (pollers are woken already; a correct reader
    /// empties it, so only a peer fills it), or a peer cleared `O_NONBLOCK` on the shared
    /// description, after which the descriptor is never written again and readers rely on
    /// their bounded wait.
    ///
    /// # Errors
    ///
    /// The `fcntl`, `poll` or `write(2)` error.
    pub fn signal(&self) -> io::Result<bool> {
        let s = &*self.0;
        // ATOMICS: Relaxed: sticky flags about the descriptor; no other memory depends on
        // them. `exposed` is stored by `as_fd` before the descriptor can leave the
        // process (the sendmsg that follows it), so the writer's load sees it long before
        // a peer has received the descriptor and acted on it.
        if !s.exposed.load(Ordering::Relaxed) {
            return sys::eventfd_add(s.fd.as_fd(), 1);
        }
        // ATOMICS: as above.
        if s.tampered.load(Ordering::Relaxed) {
            return Ok(false);
        }
        if !sys::is_nonblocking(s.fd.as_fd())? {
            // ATOMICS: as above.
            s.tampered.store(true, Ordering::Relaxed);
            return Ok(false);
        }
        let room = sys::poll_one(s.fd.as_fd(), libc::POLLOUT, Some(Duration::ZERO))?;
        if room & libc::POLLOUT == 0 {
            return Ok(false);
        }
        sys::eventfd_add(s.fd.as_fd(), 1)
    }

    /// Consumes the counter without blocking; `None` when this kernel cannot.
    fn take(&self) -> io::Result<Option<u64>> {
        let s = &*self.0;
        // ATOMICS: Relaxed: a sticky capability flag.
        if s.no_nowait_read.load(Ordering::Relaxed) {
            return Ok(None);
        }
        match sys::eventfd_take(s.fd.as_fd()) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                // ATOMICS: as above.
                s.no_nowait_read.store(true, Ordering::Relaxed);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until signalled or until `timeout` passes; `Ok(true)` when signalled. The
    /// signal is consumed. Never blocks past `timeout`, whatever a peer does to the
    /// descriptor.
    ///
    /// On a kernel that cannot read an eventfd without blocking (before 5.12) the counter
    /// is never consumed: a signalled descriptor stays readable, so the wait then sleeps
    /// (up to 1 ms) instead of returning at once, and readers poll in 1 ms steps.
    ///
    /// # Errors
    ///
    /// The `poll(2)` or `preadv2(2)` error.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        let fd = self.0.fd.as_fd();
        let Some(n) = self.take()? else {
            // The counter cannot be consumed: a readable descriptor may be an old signal,
            // so it is followed by a nap, never by a busy loop.
            if sys::poll_one(fd, libc::POLLIN, timeout)? == 0 {
                return Ok(false);
            }
            std::thread::sleep(timeout.map_or(Duration::from_millis(1), |t| {
                t.min(Duration::from_millis(1))
            }));
            return Ok(true);
        };
        if n > 0 {
            return Ok(true);
        }
        let revents = sys::poll_one(fd, libc::POLLIN, timeout)?;
        if revents == 0 {
            return Ok(false);
        }
        Ok(self.take()?.is_some_and(|n| n > 0) || revents & libc::POLLIN != 0)
    }
}

impl AsFd for WakeupFd {
    /// The descriptor, to register with `poll`/`epoll` or to send to another process.
    /// From then on [`WakeupFd::signal`] no longer trusts its `O_NONBLOCK` flag.
    fn as_fd(&self) -> BorrowedFd<'_> {
        // ATOMICS: Relaxed: see `signal`.
        self.0.exposed.store(true, Ordering::Relaxed);
        self.0.fd.as_fd()
    }
}

impl AsRawFd for WakeupFd {
    /// As [`AsFd::as_fd`] (the descriptor counts as handed out).
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// The writer's side of the policy: counts records and bytes since the last wakeup.
#[derive(Debug)]
pub(crate) struct WakeupState {
    pub(crate) fd: Option<WakeupFd>,
    events: u32,
    watermark: u64,
    pending_events: u32,
    /// Head position at the last wakeup (bytes are counted from here).
    mark: u64,
    pub(crate) wakeups: u64,
    /// Wakeups the eventfd did not take (full counter, descriptor made blocking by a peer).
    pub(crate) refused: u64,
}

impl WakeupState {
    pub(crate) fn new(fd: Option<WakeupFd>, policy: WakeupPolicy, data_size: u64) -> Self {
        let (events, watermark) = match policy {
            WakeupPolicy::Events(n) => (n.max(1), 0),
            WakeupPolicy::Watermark(b) => (0, b.clamp(1, data_size)),
            WakeupPolicy::HalfBuffer => (0, (data_size / 2).max(1)),
        };
        WakeupState {
            fd,
            events,
            watermark,
            pending_events: 0,
            mark: 0,
            wakeups: 0,
            refused: 0,
        }
    }

    /// Called after `records` records moved the head to `head` (distance measured in
    /// absolute bytes, so backward rings count the same way).
    #[inline]
    pub(crate) fn published(&mut self, records: u32, head: u64) {
        let Some(fd) = &self.fd else { return };
        let fire = if self.events > 0 {
            self.pending_events = self.pending_events.saturating_add(records);
            self.pending_events >= self.events
        } else {
            let moved = head.wrapping_sub(self.mark);
            let moved = moved.min(moved.wrapping_neg());
            moved >= self.watermark
        };
        if fire {
            self.pending_events = 0;
            self.mark = head;
            self.wakeups += 1;
            // A refused or failed signal leaves the reader to its timeout path: nothing
            // is lost.
            if !matches!(fd.signal(), Ok(true)) {
                self.refused += 1;
            }
        }
    }

    /// Wakes the reader regardless of thresholds (writer closing, flush).
    pub(crate) fn force(&mut self, head: u64) {
        if let Some(fd) = &self.fd {
            self.pending_events = 0;
            self.mark = head;
            self.wakeups += 1;
            if !matches!(fd.signal(), Ok(true)) {
                self.refused += 1;
            }
        }
    }
}
