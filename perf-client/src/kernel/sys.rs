//! The unsafe core of the kernel side: `perf_event_open(2)`, its ioctls, `read(2)` of
//! counter values, and `epoll(7)`. Every function here is a safe wrapper: new fds become
//! [`OwnedFd`] at once, errors become [`io::Error`] from errno.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};

use perf_event_open_sys as pes;
use pes::bindings::perf_event_attr;

/// `PERF_FLAG_FD_CLOEXEC`: the new fd is close-on-exec, so a traced command does not
/// inherit it.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

/// The one errno helper: a negative return is the thread's `errno` as an [`io::Error`].
pub(crate) fn check<T: Copy + PartialOrd + Default>(ret: T) -> io::Result<T> {
    if ret < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `perf_event_open(attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC)`.
///
/// `pid`: 0 the calling thread, > 0 that thread/process, -1 every task (needs `cpu` ≥ 0).
/// `cpu`: -1 any CPU the task runs on, ≥ 0 only that CPU.
///
/// # Errors
/// The kernel's errno (see `perf_event_open(2)`, ERRORS); the kernel may also write the
/// size it expects into `attr.size` on E2BIG.
pub(crate) fn perf_event_open(
    attr: &mut perf_event_attr,
    pid: i32,
    cpu: i32,
    group: Option<BorrowedFd<'_>>,
) -> io::Result<OwnedFd> {
    let group_fd = group.map_or(-1, |g| g.as_raw_fd());
    // SAFETY: `attr` is a valid, initialised `perf_event_attr` whose `size` field is set by
    // the caller (EventConfig always sets it to the size of the struct it owns); the kernel
    // reads at most `attr.size` bytes and may write back `size`, through our `&mut`.
    let fd = unsafe { pes::perf_event_open(attr, pid, cpu, group_fd, PERF_FLAG_FD_CLOEXEC) };
    let fd = check(fd)?;
    // SAFETY: the syscall returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The bytes of a `perf_event_attr`, as the kernel reads them.
pub(crate) fn attr_bytes(attr: &perf_event_attr) -> Vec<u8> {
    const N: usize = std::mem::size_of::<perf_event_attr>();
    // SAFETY: `perf_event_attr` is a `repr(C)` struct of naturally aligned integer
    // fields, unions of integers and bitfield bytes with no padding (its size is the
    // sum of its fields, `PERF_ATTR_SIZE_VER*`), so all N bytes are initialized; the
    // slice lives no longer than the borrow of `attr`.
    let bytes =
        unsafe { std::slice::from_raw_parts((attr as *const perf_event_attr).cast::<u8>(), N) };
    bytes.to_vec()
}

/// `PERF_EVENT_IOC_ENABLE`.
pub(crate) fn enable(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: an ioctl on a live perf fd with an integer argument.
    check(unsafe { pes::ioctls::ENABLE(fd.as_raw_fd(), 0) }).map(drop)
}

/// `PERF_EVENT_IOC_DISABLE`.
pub(crate) fn disable(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: an ioctl on a live perf fd with an integer argument.
    check(unsafe { pes::ioctls::DISABLE(fd.as_raw_fd(), 0) }).map(drop)
}

/// `PERF_EVENT_IOC_SET_OUTPUT`: `fd`'s records go to the ring mapped on `target`.
pub(crate) fn set_output(fd: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: an ioctl on a live perf fd whose argument is another live fd.
    check(unsafe { pes::ioctls::SET_OUTPUT(fd.as_raw_fd(), target.as_raw_fd()) }).map(drop)
}

/// `PERF_EVENT_IOC_PAUSE_OUTPUT`: stop (true) or resume (false) writing to the ring.
pub(crate) fn pause_output(fd: BorrowedFd<'_>, pause: bool) -> io::Result<()> {
    // SAFETY: an ioctl on a live perf fd with an integer argument.
    check(unsafe { pes::ioctls::PAUSE_OUTPUT(fd.as_raw_fd(), u32::from(pause)) }).map(drop)
}

/// `PERF_EVENT_IOC_ID`: the event's id, as `PERF_SAMPLE_ID`/`IDENTIFIER` carry it.
pub(crate) fn event_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut id = 0u64;
    // SAFETY: the kernel writes one u64 through the pointer, which is valid for the call.
    check(unsafe { pes::ioctls::ID(fd.as_raw_fd(), &mut id) })?;
    Ok(id)
}

/// One `read(2)` into `buf`; returns the bytes read.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the call.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `RLIMIT_MEMLOCK` soft limit in bytes (`None`: unlimited).
pub(crate) fn memlock_limit() -> io::Result<Option<u64>> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through the pointer, valid for the call.
    check(unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) })?;
    Ok((r.rlim_cur != libc::RLIM_INFINITY).then_some(r.rlim_cur))
}

/// The system page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// An epoll instance (level-triggered).
#[derive(Debug)]
pub(crate) struct Epoll {
    fd: OwnedFd,
}

/// One readiness report: the token given to [`Epoll::add`] and the `EPOLL*` bits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ready {
    pub token: u64,
    pub events: u32,
}

impl std::os::fd::AsFd for Epoll {
    fn as_fd(&self) -> BorrowedFd<'_> {
        std::os::fd::AsFd::as_fd(&self.fd)
    }
}

impl Epoll {
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 has no memory-safety preconditions.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: a new fd that nothing else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches `fd` for readability (and HUP/ERR, always reported) under `token`.
    pub(crate) fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is valid for the call; the kernel copies it.
        check(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        })
        .map(drop)
    }

    /// Stops watching `fd`.
    pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is valid for the call (ignored by DEL on current kernels).
        check(unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                &mut ev,
            )
        })
        .map(drop)
    }

    /// Waits up to `timeout_ms` (-1: forever) and appends what is ready to `out`.
    pub(crate) fn wait(&self, out: &mut Vec<Ready>, timeout_ms: i32) -> io::Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
        // SAFETY: `evs` is valid for writes of 64 events for the call.
        let n = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                evs.as_mut_ptr(),
                evs.len() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            };
        }
        for ev in &evs[..n as usize] {
            // Copy out of the packed struct before use.
            let (token, events) = (ev.u64, ev.events);
            out.push(Ready { token, events });
        }
        Ok(())
    }
}

/// `mount("tracefs", target, "tracefs", 0, NULL)`.
pub(crate) fn mount_tracefs(target: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(target.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: all pointers are NUL-terminated strings valid for the call; data is NULL.
    check(unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    })
    .map(drop)
}

/// The real user and group ids.
pub(crate) fn real_ids() -> (u32, u32) {
    // SAFETY: getuid and getgid have no preconditions and cannot fail.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// The effective user id.
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A process-wide flag that signal handlers set: the `Arc` handed out (kept alive forever
/// in `owner`) and a plain pointer to it, so the handler does one atomic load and one
/// atomic store (async-signal-safe).
struct SignalFlag {
    owner: OnceLock<Arc<AtomicBool>>,
    ptr: AtomicPtr<AtomicBool>,
}

impl SignalFlag {
    const fn new() -> Self {
        SignalFlag {
            owner: OnceLock::new(),
            ptr: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Called from the handler.
    fn raise(&self) {
        // ATOMICS: Acquire pairs with the Release store in `install_flag_handler`, so the
        // pointer is seen fully initialised; the flag store is Relaxed (a polled flag).
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: the pointer comes from an `Arc` kept alive forever in `owner`.
            unsafe { (*p).store(true, Ordering::Relaxed) };
        }
    }
}

static STOP: SignalFlag = SignalFlag::new();
static DUMP: SignalFlag = SignalFlag::new();

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.raise();
}

extern "C" fn on_dump_signal(_: libc::c_int) {
    DUMP.raise();
}

/// Installs `handler` (which only raises `flag`) for `signals` with `sa_flags`, and
/// returns the flag. Installing twice returns the same flag.
fn install_flag_handler(
    flag: &'static SignalFlag,
    handler: extern "C" fn(libc::c_int),
    signals: &[libc::c_int],
    sa_flags: libc::c_int,
) -> io::Result<Arc<AtomicBool>> {
    let arc = flag
        .owner
        .get_or_init(|| Arc::new(AtomicBool::new(false)))
        .clone();
    // ATOMICS: Release pairs with the handler's Acquire load in `SignalFlag::raise`.
    flag.ptr
        .store(Arc::as_ptr(&arc).cast_mut(), Ordering::Release);
    for &sig in signals {
        // SAFETY: a zeroed sigaction is valid; we set the handler, the flags and an empty
        // mask, and the handler only performs atomic operations.
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = handler as *const () as libc::sighandler_t;
            sa.sa_flags = sa_flags;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut())
        };
        check(r)?;
    }
    Ok(arc)
}

/// SIGINT/SIGTERM set a flag (async-signal-safe: one atomic store) instead of killing us.
pub(crate) fn install_stop_handler() -> io::Result<Arc<AtomicBool>> {
    install_flag_handler(&STOP, on_stop_signal, &[libc::SIGINT, libc::SIGTERM], 0)
}

/// SIGUSR2 sets a flag (a flight-recorder dump request); interrupted system calls restart.
pub(crate) fn install_dump_handler() -> io::Result<Arc<AtomicBool>> {
    install_flag_handler(&DUMP, on_dump_signal, &[libc::SIGUSR2], libc::SA_RESTART)
}

/// Runs the calling thread under `SCHED_FIFO` at `priority` (`sched_setscheduler(2)`),
/// with `SCHED_RESET_ON_FORK`: processes it forks start with the default policy. The
/// returned guard puts the thread's previous policy back when dropped.
///
/// # Errors
///
/// `EPERM` without root, `CAP_SYS_NICE` or a sufficient `RLIMIT_RTPRIO`; `EINVAL` for a
/// priority outside 1..=99.
pub(crate) fn set_fifo_priority(priority: u8) -> io::Result<PreviousPolicy> {
    // SAFETY: sched_getscheduler reads no memory of ours; pid 0 is the calling thread.
    let policy = check(unsafe { libc::sched_getscheduler(0) })?;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: the kernel writes one `sched_param` through the pointer, valid for the call.
    check(unsafe { libc::sched_getparam(0, &mut param) })?;
    let fifo = libc::sched_param {
        sched_priority: libc::c_int::from(priority),
    };
    // SAFETY: the kernel reads one `sched_param` through the pointer, valid for the call;
    // pid 0 is the calling thread.
    check(unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &fifo)
    })?;
    Ok(PreviousPolicy { policy, param })
}

/// The scheduling policy a thread had before [`set_fifo_priority`], restored on drop.
pub(crate) struct PreviousPolicy {
    policy: libc::c_int,
    param: libc::sched_param,
}

impl Drop for PreviousPolicy {
    fn drop(&mut self) {
        // SAFETY: as in `set_fifo_priority`. Going back to a less privileged policy
        // cannot be refused, so the result is not needed.
        unsafe { libc::sched_setscheduler(0, self.policy, &self.param) };
    }
}
