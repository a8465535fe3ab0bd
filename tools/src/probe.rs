//! Running a probe in a forked child and reporting how it ended — the honest way to learn
//! what an access does (SIGSEGV, SIGBUS, or nothing) without risking this process.

use std::io;
use std::time::{Duration, Instant};

/// How a probe child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildOutcome {
    /// It exited with this status (the probe's own result code).
    Exited(i32),
    /// It was killed by this signal (`libc::SIGSEGV`, `libc::SIGBUS`, ...).
    Signaled(i32),
    /// It did not finish within the time limit and was killed.
    TimedOut,
}

impl ChildOutcome {
    /// A short description: `exit 0`, `SIGSEGV`, `SIGBUS`, `timeout`.
    pub fn describe(self) -> String {
        match self {
            ChildOutcome::Exited(c) => format!("exit {c}"),
            ChildOutcome::Signaled(s) => signal_name(s).to_owned(),
            ChildOutcome::TimedOut => "timeout".to_owned(),
        }
    }
}

/// The name of a signal number.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGKILL => "SIGKILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGILL => "SIGILL",
        _ => "signal",
    }
}

/// Forks; the child runs `probe` and exits with its return value (`_exit`, no unwinding,
/// no destructors); the parent waits up to `limit` and reports how the child ended.
///
/// The child of a multi-threaded process has only the forking thread: `probe` should do
/// little more than system calls and memory accesses (glibc keeps `malloc` usable).
///
/// # Errors
///
/// `fork` or `waitpid` failed.
pub fn in_child(limit: Duration, probe: impl FnOnce() -> i32) -> io::Result<ChildOutcome> {
    // SAFETY: fork has no memory-safety preconditions; the child only runs `probe` and
    // `_exit`s, never returning into the caller's frames.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        let code = probe();
        // SAFETY: ends the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let deadline = Instant::now() + limit;
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid int; `pid` is our child.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == pid {
            if libc::WIFSIGNALED(status) {
                return Ok(ChildOutcome::Signaled(libc::WTERMSIG(status)));
            }
            return Ok(ChildOutcome::Exited(libc::WEXITSTATUS(status)));
        }
        if Instant::now() >= deadline {
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Ok(ChildOutcome::TimedOut);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Forks a child that writes one byte at `addr` (an address of this process, which the
/// child inherits only if the mapping is not `MADV_DONTFORK`/`VM_DONTCOPY`).
///
/// # Errors
///
/// As [`in_child`].
pub fn write_in_child(addr: *mut u8) -> io::Result<ChildOutcome> {
    let addr = addr as usize;
    in_child(Duration::from_secs(10), move || {
        // SAFETY: none asserted: this is the experiment. The child may die here, which is
        // what the parent observes; it shares no Rust state with the parent afterwards.
        unsafe { (addr as *mut u8).write_volatile(0x5a) };
        0
    })
}

/// Forks a child that reads one byte at `addr`.
///
/// # Errors
///
/// As [`in_child`].
pub fn read_in_child(addr: *const u8) -> io::Result<ChildOutcome> {
    let addr = addr as usize;
    in_child(Duration::from_secs(10), move || {
        // SAFETY: the experiment, as in `write_in_child`.
        let v = unsafe { (addr as *const u8).read_volatile() };
        i32::from(v == 0xff)
    })
}
