//! Wakeups: how a writer tells a sleeping reader that there is data, like the kernel's
//! `perf_output_wakeup` (`wakeup_events` / `wakeup_watermark`, `perf_event_open(2)`).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
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
/// process with `SCM_RIGHTS`.
#[derive(Debug, Clone)]
pub struct WakeupFd(Arc<OwnedFd>);

impl WakeupFd {
    /// Creates a non-blocking, close-on-exec eventfd.
    ///
    /// # Errors
    ///
    /// The `eventfd(2)` error (EMFILE, ENOMEM).
    pub fn new() -> io::Result<Self> {
        Ok(WakeupFd(Arc::new(sys::eventfd()?)))
    }

    /// Wraps an existing eventfd (for example one received over a Unix socket).
    pub fn from_owned(fd: OwnedFd) -> Self {
        WakeupFd(Arc::new(fd))
    }

    /// Signals the reader.
    ///
    /// # Errors
    ///
    /// The `write(2)` error other than a full counter (which already signals).
    pub fn signal(&self) -> io::Result<()> {
        sys::eventfd_add(self.0.as_fd(), 1)
    }

    /// Waits until signalled or until `timeout` passes; `Ok(true)` when signalled. The
    /// signal is consumed.
    ///
    /// # Errors
    ///
    /// The `poll(2)` or `read(2)` error.
    pub fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        if sys::eventfd_take(self.0.as_fd())? > 0 {
            return Ok(true);
        }
        let revents = sys::poll_one(self.0.as_fd(), libc::POLLIN, timeout)?;
        if revents == 0 {
            return Ok(false);
        }
        Ok(sys::eventfd_take(self.0.as_fd())? > 0 || revents & libc::POLLIN != 0)
    }
}

impl AsFd for WakeupFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for WakeupFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
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
            // A failed signal leaves the reader to its timeout path: nothing is lost.
            let _ = fd.signal();
        }
    }

    /// Wakes the reader regardless of thresholds (writer closing, flush).
    pub(crate) fn force(&mut self, head: u64) {
        if let Some(fd) = &self.fd {
            self.pending_events = 0;
            self.mark = head;
            self.wakeups += 1;
            let _ = fd.signal();
        }
    }
}
