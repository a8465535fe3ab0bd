//! Memory probes for the experiments: resident pages (`mincore(2)`), the thread's minor
//! faults (`getrusage(2)`), touching every page of a range, `mprotect(2)` and
//! `madvise(2)` experiments, and the VMA
//! budget (`vm.max_map_count`). Measurements only: nothing here is needed to use a ring.

use std::io;

/// The base page size, from `sysconf(_SC_PAGESIZE)`.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

fn cvt(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `mprotect(addr, len, prot)`.
///
/// # Errors
///
/// The `mprotect` error (EACCES where a seal or the kernel forbids the protection).
///
/// # Safety
///
/// The caller owns the range and no Rust reference relies on its old protection.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: libc::c_int) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    cvt(unsafe { libc::mprotect(addr.cast(), len, prot) })
}

/// `madvise(addr, len, advice)`.
///
/// # Errors
///
/// The `madvise` error (EINVAL where the kernel refuses the advice for the mapping).
///
/// # Safety
///
/// The caller owns the range; destructive advice (`MADV_DONTNEED`) only where the contents
/// may be dropped and no Rust reference points into them.
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: libc::c_int) -> io::Result<()> {
    // SAFETY: forwarded to the caller.
    cvt(unsafe { libc::madvise(addr.cast(), len, advice) })
}

/// How many pages of `addr..addr + len` `mincore(2)` reports resident.
///
/// # Errors
///
/// The `mincore` error (ENOMEM when the range is not mapped).
pub fn resident_pages(addr: *const u8, len: usize) -> io::Result<usize> {
    let pages = len.div_ceil(page_size());
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
    let step = page_size();
    let mut sum = 0u64;
    let mut off = 0;
    while off < len {
        // SAFETY: `off < len`, inside the readable range (caller's contract). A volatile
        // read: the byte may be written concurrently by a producer, and we want the access.
        sum = sum.wrapping_add(u64::from(unsafe { addr.add(off).read_volatile() }));
        off += step;
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
///
/// # Errors
///
/// Reading `/proc/self/maps` failed.
pub fn vma_count() -> io::Result<usize> {
    Ok(std::fs::read_to_string("/proc/self/maps")?.lines().count())
}

/// One VMA of `/proc/self/smaps` (`Documentation/filesystems/proc.rst`), with the fields
/// the experiments and tests look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vma {
    /// First address.
    pub start: usize,
    /// One past the last address.
    pub end: usize,
    /// The permission column (`r--s`, `rw-s`, ...).
    pub perms: String,
    /// `VmFlags:` mnemonics (`rd sh mr ms dc dd`, ...).
    pub vm_flags: String,
    /// `Rss:` in KiB.
    pub rss_kb: u64,
}

impl Vma {
    /// Whether `flag` (a two-letter mnemonic) is set.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.vm_flags.split_whitespace().any(|f| f == flag)
    }
}

/// Every VMA of this process that intersects `addr..addr + len`, read from
/// `/proc/self/smaps` (independently of perf-ringbuf's own reading, which is private).
///
/// # Errors
///
/// Reading `/proc/self/smaps` failed.
pub fn vmas_in(addr: usize, len: usize) -> io::Result<Vec<Vma>> {
    let end = addr.saturating_add(len);
    let text = std::fs::read_to_string("/proc/self/smaps")?;
    let mut out = Vec::new();
    let mut cur: Option<Vma> = None;
    for line in text.lines() {
        // A VMA block starts with `start-end perms offset dev inode [path]`.
        let mut words = line.split_whitespace();
        let header = words
            .next()
            .and_then(|r| r.split_once('-'))
            .and_then(|(a, b)| {
                let a = usize::from_str_radix(a, 16).ok()?;
                let b = usize::from_str_radix(b, 16).ok()?;
                let perms = words.next().filter(|p| p.len() == 4)?;
                Some((a, b, perms))
            });
        if let Some((start, stop, perms)) = header {
            out.extend(cur.take().filter(|v| v.start < end && v.end > addr));
            cur = Some(Vma {
                start,
                end: stop,
                perms: perms.to_owned(),
                ..Vma::default()
            });
            continue;
        }
        let (Some(v), Some((key, value))) = (cur.as_mut(), line.split_once(':')) else {
            continue;
        };
        match key {
            "Rss" => {
                v.rss_kb = value
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .unwrap_or(0);
            }
            "VmFlags" => v.vm_flags = value.trim().to_owned(),
            _ => {}
        }
    }
    out.extend(cur.filter(|v| v.start < end && v.end > addr));
    Ok(out)
}
