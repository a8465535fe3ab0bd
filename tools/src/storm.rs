//! Workloads for measuring captures: a syscall storm (a tight `getppid` loop), the
//! yardstick of `scripts/capture-compare.sh`.

use std::io;
use std::time::Duration;

/// What a storm did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StormReport {
    /// `getppid` calls made.
    pub calls: u64,
    /// CPU time the storm used (user + system, `getrusage(RUSAGE_SELF)`).
    pub cpu_time: Duration,
}

/// Pins the calling thread to `cpu` (`sched_setaffinity`).
///
/// # Errors
///
/// The syscall's error (an offline or out-of-range CPU).
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET is given an index below
    // CPU_SETSIZE (checked above) and a valid set; sched_setaffinity reads `set`.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `n` `getppid` system calls as fast as possible, optionally pinned to `cpu`
/// first.
///
/// # Errors
///
/// Pinning failed.
pub fn syscall_storm(n: u64, cpu: Option<usize>) -> io::Result<StormReport> {
    if let Some(c) = cpu {
        pin_to_cpu(c)?;
    }
    for _ in 0..n {
        // SAFETY: getppid has no preconditions.
        std::hint::black_box(unsafe { libc::getppid() });
    }
    Ok(StormReport {
        calls: n,
        cpu_time: self_cpu_time(),
    })
}

/// User + system CPU time of this process so far.
pub fn self_cpu_time() -> Duration {
    // SAFETY: `ru` is a valid out-parameter for getrusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
