//! What the kernel says about our mappings: `/proc/self/smaps` (`fs/proc/task_mmu.c`,
//! `Documentation/filesystems/proc.rst`). Used to report the page size that really backs
//! a data area, VMA counts, VmFlags and Rss — never assumed, always read back.

use std::io;

/// One VMA of `/proc/self/smaps`, with the fields this crate reports. (Crate-private: the
/// experiments in `perf-ringbuf-tools` and the tests read smaps themselves.)
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VmaInfo {
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
    /// `KernelPageSize:` in KiB (2048 for hugetlb).
    pub kernel_page_kb: u64,
    /// `ShmemPmdMapped:` in KiB: shmem THP mapped with PMD entries.
    pub shmem_pmd_kb: u64,
    /// `FilePmdMapped:` in KiB.
    pub file_pmd_kb: u64,
    /// `Shared_Hugetlb:` + `Private_Hugetlb:` in KiB.
    pub hugetlb_kb: u64,
}

/// Every VMA of this process that intersects `addr..addr + len`.
///
/// # Errors
///
/// Reading `/proc/self/smaps` failed.
pub(crate) fn vmas_in(addr: usize, len: usize) -> io::Result<Vec<VmaInfo>> {
    let end = addr.saturating_add(len);
    let text = std::fs::read_to_string("/proc/self/smaps")?;
    let mut out = Vec::new();
    let mut cur: Option<VmaInfo> = None;
    for line in text.lines() {
        if let Some((range, perms)) = vma_header(line) {
            if let Some(v) = cur.take() {
                if v.start < end && v.end > addr {
                    out.push(v);
                }
            }
            cur = Some(VmaInfo {
                start: range.0,
                end: range.1,
                perms: perms.to_owned(),
                ..VmaInfo::default()
            });
            continue;
        }
        let Some(v) = cur.as_mut() else { continue };
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kb = || {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .unwrap_or(0)
        };
        match key {
            "Rss" => v.rss_kb = kb(),
            "KernelPageSize" => v.kernel_page_kb = kb(),
            "ShmemPmdMapped" => v.shmem_pmd_kb = kb(),
            "FilePmdMapped" => v.file_pmd_kb = kb(),
            "Shared_Hugetlb" | "Private_Hugetlb" => v.hugetlb_kb += kb(),
            "VmFlags" => v.vm_flags = value.trim().to_owned(),
            _ => {}
        }
    }
    if let Some(v) = cur {
        if v.start < end && v.end > addr {
            out.push(v);
        }
    }
    Ok(out)
}

/// Parses `start-end perms ...`, the first line of a VMA block.
fn vma_header(line: &str) -> Option<((usize, usize), &str)> {
    let mut it = line.split_whitespace();
    let range = it.next()?;
    let perms = it.next()?;
    let (a, b) = range.split_once('-')?;
    let a = usize::from_str_radix(a, 16).ok()?;
    let b = usize::from_str_radix(b, 16).ok()?;
    if perms.len() != 4 {
        return None;
    }
    Some(((a, b), perms))
}

/// The page size that backs a range, as smaps reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackingPages {
    /// The page size that maps *every* byte of the range: 2 MiB when all of it is PMD-mapped
    /// (shmem THP) or hugetlb, otherwise the smallest `KernelPageSize` seen (4 KiB).
    pub page_size: usize,
    /// Bytes of the range mapped by huge page-table entries.
    pub huge_bytes: u64,
    /// Bytes of the range covered by VMAs.
    pub total_bytes: u64,
}

/// Reads how `addr..addr + len` is backed. Counts whole VMAs, so pass VMA-aligned ranges.
///
/// # Errors
///
/// Reading smaps failed, or no VMA covers the range.
pub(crate) fn backing_pages(addr: usize, len: usize) -> io::Result<BackingPages> {
    let vmas = vmas_in(addr, len)?;
    if vmas.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            "no VMA covers the range",
        ));
    }
    let mut huge = 0u64;
    let mut total = 0u64;
    let mut smallest = u64::MAX;
    for v in &vmas {
        total += (v.end - v.start) as u64;
        let pmd = (v.shmem_pmd_kb + v.file_pmd_kb + v.hugetlb_kb) * 1024;
        huge += pmd;
        smallest = smallest.min(v.kernel_page_kb.max(4));
    }
    let page_size = if huge >= total {
        super::sys::HUGE_PAGE_SIZE
    } else {
        usize::try_from(smallest * 1024).unwrap_or(super::sys::page_size())
    };
    Ok(BackingPages {
        page_size: page_size.max(usize::try_from(smallest * 1024).unwrap_or(0)),
        huge_bytes: huge,
        total_bytes: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vma_header_parses_the_range_and_permissions() {
        let line = "7f12a0000000-7f12a0200000 r--s 00000000 00:01 1234 /memfd:x (deleted)";
        assert_eq!(
            vma_header(line),
            Some(((0x7f12a0000000, 0x7f12a0200000), "r--s"))
        );
        assert_eq!(vma_header("Rss:                 4 kB"), None);
        assert_eq!(vma_header("VmFlags: rd sh mr"), None);
    }

    #[test]
    fn own_anonymous_mapping_is_found_with_its_flags() {
        let page = crate::sys::page_size();
        let map = memmap2::MmapOptions::new()
            .len(2 * page)
            .map_anon()
            .unwrap();
        let vmas = vmas_in(map.as_ptr() as usize, 2 * page).unwrap();
        assert_eq!(vmas.len(), 1);
        assert_eq!(vmas[0].perms, "rw-p");
        assert!(vmas[0].vm_flags.split_whitespace().any(|f| f == "mr"));
    }
}
