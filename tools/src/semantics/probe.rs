//! The measurements themselves, on any ring mapping in this process: smaps, mincore,
//! pagemap, GUP through `process_vm_readv` and O_DIRECT, forked-child accesses, mprotect,
//! madvise, and the thread's minor-fault counter.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::mm as sys;
use crate::probe::{self, ChildOutcome};

use super::Cell;

const PAGE: usize = 4096;

/// A ring mapped in this process, as the probes see it.
#[derive(Debug, Clone)]
pub(crate) struct Subject {
    /// Every mapping of the ring (`(address, length)`), for Rss and mincore.
    pub ranges: Vec<(usize, usize)>,
    /// The first data page.
    pub data: usize,
    /// Bytes of data in one copy.
    pub data_len: usize,
}

/// `errno` name for the common codes.
pub(crate) fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EFAULT) => "EFAULT",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EACCES) => "EACCES",
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENOMEM) => "ENOMEM",
        Some(libc::EIO) => "EIO",
        Some(libc::ENODEV) => "ENODEV",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::EBUSY) => "EBUSY",
        _ => return e.to_string(),
    };
    name.to_owned()
}

fn result_cell(r: io::Result<()>) -> Cell {
    match r {
        Ok(()) => Cell::measured("ok"),
        Err(e) => Cell::measured(errno_name(&e)),
    }
}

/// VmFlags of the data VMA (and of the control VMA when it differs).
pub(crate) fn vm_flags(s: &Subject) -> Cell {
    let mut parts = Vec::new();
    let mut seen = Vec::new();
    for &(a, l) in &s.ranges {
        match sys::vmas_in(a, l) {
            Ok(vmas) => {
                for v in vmas {
                    if !seen.contains(&v.vm_flags) {
                        let what = if v.start <= s.data && s.data < v.end {
                            "data"
                        } else {
                            "ctrl"
                        };
                        parts.push((what, v.vm_flags.clone()));
                        seen.push(v.vm_flags);
                    }
                }
            }
            Err(e) => return Cell::error(format!("smaps: {e}")),
        }
    }
    // Data first: that is the column's subject.
    parts.sort_by_key(|(w, _)| *w != "data");
    let data = parts
        .iter()
        .find(|(w, _)| *w == "data")
        .map(|(_, f)| f.clone())
        .unwrap_or_default();
    let text = parts
        .iter()
        .map(|(w, f)| format!("{w}: {f}"))
        .collect::<Vec<_>>()
        .join("; ");
    Cell::measured(text).with_key(data)
}

/// Sum of smaps `Rss` over the ring's VMAs, in KiB.
pub(crate) fn rss_kb(s: &Subject) -> Cell {
    let mut total = 0u64;
    for &(a, l) in &s.ranges {
        match sys::vmas_in(a, l) {
            Ok(vmas) => total += vmas.iter().map(|v| v.rss_kb).sum::<u64>(),
            Err(e) => return Cell::error(format!("smaps: {e}")),
        }
    }
    Cell::number(format!("{total} kB"), total as f64).with_key(zero_or_some(total))
}

fn zero_or_some(n: u64) -> String {
    if n == 0 { "0" } else { ">0" }.to_owned()
}

/// Resident pages by `mincore` over every mapping of the ring.
pub(crate) fn mincore(s: &Subject) -> Cell {
    let mut resident = 0;
    let mut total = 0;
    for &(a, l) in &s.ranges {
        match sys::resident_pages(a as *const u8, l) {
            Ok(n) => resident += n,
            Err(e) => return Cell::error(format!("mincore: {}", errno_name(&e))),
        }
        total += l / PAGE;
    }
    let key = if resident == 0 {
        "none"
    } else if resident == total {
        "all"
    } else {
        "some"
    };
    Cell::number(format!("{resident}/{total}"), resident as f64).with_key(key)
}

/// `process_vm_readv` of the first data page from this very process (a GUP path).
pub(crate) fn gup_readv(s: &Subject) -> Cell {
    let mut buf = vec![0u8; PAGE];
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: PAGE,
    };
    let remote = libc::iovec {
        iov_base: s.data as *mut libc::c_void,
        iov_len: PAGE,
    };
    // SAFETY: `local` is our writable buffer; the kernel validates `remote` itself
    // (EFAULT when GUP refuses it).
    let r = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if r == PAGE as isize {
        Cell::measured("ok")
    } else {
        Cell::measured(errno_name(&io::Error::last_os_error()))
    }
}

/// `write(2)` of the first data page to an `O_DIRECT` file (GUP pins the source pages).
pub(crate) fn gup_odirect(s: &Subject) -> Cell {
    let path = std::env::temp_dir().join(format!("perf-client-odirect-{}", std::process::id()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags_odirect()
        .open(&path);
    let _ = std::fs::remove_file(&path);
    let file = match file {
        Ok(f) => f,
        Err(e) => return Cell::na(format!("O_DIRECT open refused here: {}", errno_name(&e))),
    };
    // SAFETY: the source is the ring's first data page, read by the kernel (or refused).
    let r = unsafe { libc::write(file.as_raw_fd(), s.data as *const libc::c_void, PAGE) };
    if r == PAGE as isize {
        Cell::measured("ok")
    } else {
        Cell::measured(errno_name(&io::Error::last_os_error()))
    }
}

trait ODirect {
    fn custom_flags_odirect(&mut self) -> &mut Self;
}

impl ODirect for std::fs::OpenOptions {
    fn custom_flags_odirect(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.custom_flags(libc::O_DIRECT)
    }
}

fn outcome_cell(o: io::Result<ChildOutcome>, ok_text: &str) -> Cell {
    match o {
        Ok(ChildOutcome::Exited(0)) => Cell::measured(ok_text),
        Ok(ChildOutcome::Exited(3)) => Cell::error("child could not map the ring"),
        Ok(other) => Cell::measured(other.describe()),
        Err(e) => Cell::error(format!("fork: {e}")),
    }
}

/// A forked child makes its own mapping with `map` (returns the data address or None)
/// and writes one byte of the first data page.
pub(crate) fn data_write(map: &dyn Fn() -> Option<usize>) -> Cell {
    let o = probe::in_child(Duration::from_secs(10), || match map() {
        // SAFETY: none: the write is the experiment; the child may die of it.
        Some(addr) => unsafe {
            (addr as *mut u8).write_volatile(0x5a);
            0
        },
        None => 3,
    });
    outcome_cell(o, "no fault (written!)")
}

/// Does a forked child inherit the mapping? It reads the parent's data address.
pub(crate) fn fork_inherits(s: &Subject) -> Cell {
    match probe::read_in_child(s.data as *const u8) {
        Ok(ChildOutcome::Exited(_)) => Cell::measured("yes").with_key("yes"),
        Ok(ChildOutcome::Signaled(sig)) => {
            Cell::measured(format!("no ({} in child)", probe::signal_name(sig))).with_key("no")
        }
        Ok(ChildOutcome::TimedOut) => Cell::error("child timed out"),
        Err(e) => Cell::error(format!("fork: {e}")),
    }
}

/// `mprotect(PROT_READ | PROT_WRITE)` on the data (one copy); when that is refused as a
/// split (EINVAL) also on the whole VMA. A successful upgrade of a read-only mapping is
/// reverted.
pub(crate) fn mprotect_rw(s: &Subject, whole: (usize, usize), was_writable: bool) -> Cell {
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    // SAFETY: an experiment on a mapping this process owns; nothing relies on its
    // protection (it is reverted below if it changed).
    let data = unsafe { sys::mprotect(s.data as *mut u8, s.data_len, rw) };
    if data.is_ok() && !was_writable {
        // SAFETY: as above, back to read-only.
        let _ = unsafe { sys::mprotect(s.data as *mut u8, s.data_len, libc::PROT_READ) };
    }
    match data {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            // SAFETY: as above, on the ring's whole VMA.
            let all = unsafe { sys::mprotect(whole.0 as *mut u8, whole.1, rw) };
            let text = match &all {
                Ok(()) => "ok".to_owned(),
                Err(e) => errno_name(e),
            };
            Cell::measured(format!("data range EINVAL (split); whole VMA {text}"))
                .with_key("EINVAL")
        }
        other => result_cell(other),
    }
}

/// `MADV_DONTNEED` on the data; when allowed, what a later read does (in a child when the
/// mapping is inherited, else — memfd-backed rows only — here).
pub(crate) fn madv_dontneed(s: &Subject, inherited: bool, read_here_is_safe: bool) -> Cell {
    // SAFETY: the data is mapped readable (a sum of one byte per page, to compare).
    let before =
        read_here_is_safe.then(|| unsafe { sys::touch_pages(s.data as *const u8, s.data_len) });
    // SAFETY: the ring's data may be dropped from our page tables (a probe ring).
    let r = unsafe { sys::madvise(s.data as *mut u8, s.data_len, libc::MADV_DONTNEED) };
    if let Some(e) = r.err() {
        return Cell::measured(errno_name(&e)).with_key(errno_name(&e));
    }
    let then = if inherited {
        match probe::read_in_child(s.data as *const u8) {
            Ok(ChildOutcome::Exited(_)) => "reads ok".to_owned(),
            Ok(o) => format!("then every read {}", o.describe()),
            Err(e) => format!("fork: {e}"),
        }
    } else if let Some(before) = before {
        // SAFETY: a memfd-backed mapping refaults from the page cache.
        let after = unsafe { sys::touch_pages(s.data as *const u8, s.data_len) };
        if after == before {
            "then reads refault, contents intact".to_owned()
        } else {
            "then reads refault with DIFFERENT contents".to_owned()
        }
    } else {
        "later reads not probed".to_owned()
    };
    let text = format!("ok, {then}");
    Cell::measured(text.clone()).with_key(text)
}

/// Minor faults of this thread during one read of every data page.
pub(crate) fn first_pass_faults(s: &Subject) -> Cell {
    let before = sys::thread_minor_faults();
    // SAFETY: the data is mapped readable.
    unsafe { sys::touch_pages(s.data as *const u8, s.data_len) };
    let n = sys::thread_minor_faults().saturating_sub(before);
    Cell::number(n.to_string(), n as f64).with_key(zero_or_some(n))
}

/// What `/proc/self/pagemap` and `/proc/kpagecount` say about the first data page.
pub(crate) fn kpagecount(addr: usize) -> Result<Option<u64>, String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut pm = std::fs::File::open("/proc/self/pagemap").map_err(|e| e.to_string())?;
    pm.seek(SeekFrom::Start((addr / PAGE * 8) as u64))
        .map_err(|e| e.to_string())?;
    let mut b = [0u8; 8];
    pm.read_exact(&mut b).map_err(|e| e.to_string())?;
    let entry = u64::from_ne_bytes(b);
    if entry >> 63 == 0 {
        return Ok(None);
    }
    let pfn = entry & ((1 << 55) - 1);
    if pfn == 0 {
        return Err("pagemap hides PFNs (not root)".into());
    }
    let mut kc = std::fs::File::open("/proc/kpagecount").map_err(|e| e.to_string())?;
    kc.seek(SeekFrom::Start(pfn * 8))
        .map_err(|e| e.to_string())?;
    kc.read_exact(&mut b).map_err(|e| e.to_string())?;
    Ok(Some(u64::from_ne_bytes(b)))
}

/// The kernel's view of the first data page's mappings, as text.
pub(crate) fn kpagecount_text(addr: usize) -> String {
    match kpagecount(addr) {
        Ok(Some(n)) => format!("kpagecount {n}"),
        Ok(None) => "pagemap: not present".to_owned(),
        Err(e) => format!("kpagecount unreadable: {e}"),
    }
}

/// Row-specific parts of a measurement.
pub(crate) struct RowProbes<'a> {
    /// Time of the map call(s).
    pub map_time: Cell,
    /// Makes a fresh mapping in a forked child; returns its first data page.
    pub child_map: &'a dyn Fn() -> Option<usize>,
    /// Page references, measured after the first pass.
    pub page_refs: &'a dyn Fn() -> Cell,
    /// The whole VMA holding the data (for mprotect when the data alone is a split).
    pub data_vma: (usize, usize),
    /// Whether the data was mapped writable (the perf ring is one RW VMA).
    pub data_writable: bool,
    /// Whether reading after MADV_DONTNEED is known not to kill this process (memfd).
    pub refault_safe: bool,
}

/// Runs every probe in an order that keeps each honest: observations of the fresh
/// mapping first, then the first pass, then GUP, children, and the mutating probes last.
pub(crate) fn columns(s: &Subject, p: &RowProbes<'_>) -> super::Columns {
    let vm_flags = vm_flags(s);
    let rss_after_map = rss_kb(s);
    let mincore_resident = mincore(s);
    let first_pass_minor_faults = first_pass_faults(s);
    let page_references = (p.page_refs)();
    let gup_process_vm_readv = gup_readv(s);
    let gup_odirect_write = gup_odirect(s);
    let data_page_write = data_write(p.child_map);
    let inherited_by_fork = fork_inherits(s);
    let mprotect_ro_to_rw = mprotect_rw(s, p.data_vma, p.data_writable);
    let inherited = inherited_by_fork.key == "yes";
    let madv_dontneed = madv_dontneed(s, inherited, p.refault_safe);
    super::Columns {
        vm_flags,
        rss_after_map,
        mincore_resident,
        gup_process_vm_readv,
        gup_odirect_write,
        data_page_write,
        mprotect_ro_to_rw,
        inherited_by_fork,
        madv_dontneed,
        time_to_map: p.map_time.clone(),
        first_pass_minor_faults,
        page_references,
    }
}
