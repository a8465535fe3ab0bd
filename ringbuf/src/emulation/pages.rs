//! "Physical memory" and its page table: a memfd whose pages play the part of page frames,
//! and one `struct page`-like record (refcount, mapcount) per frame.
//!
//! Frame numbers: frame 0 is the control page (its own memfd, which stays writable for
//! consumers), frame `1 + k` is page `k` of the data memfd (which is sealed against new
//! writable mappings once the producer has mapped it).

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// A page frame number in an emulated physical memory.
pub type Pfn = u32;

/// The frame of the control page.
pub const CONTROL_PFN: Pfn = 0;

/// One page's `struct page` counters (`include/linux/mm_types.h`: `_refcount`,
/// `_mapcount`).
#[derive(Debug, Default)]
pub(crate) struct PageRecord {
    /// References: the buffer's own (1 while the buffer is live), plus one per
    /// inserted-page PTE and one per pin.
    refcount: AtomicU32,
    /// Page-table entries that map the page with a struct-page reference (inserted pages,
    /// faulted pages). Pfnmap entries are not counted, as in the kernel.
    mapcount: AtomicU32,
}

/// A snapshot of one page's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageCounts {
    /// `page_ref_count()`.
    pub refcount: u32,
    /// `page_mapcount()`.
    pub mapcount: u32,
}

/// The memfds that stand for physical memory, and their page table.
#[derive(Debug)]
pub(crate) struct PhysMemory {
    pub(crate) ctrl_fd: OwnedFd,
    pub(crate) data_fd: OwnedFd,
    /// Index = frame number; `pages.len() == 1 + data memfd pages`.
    pages: Box<[PageRecord]>,
}

impl PhysMemory {
    pub(crate) fn new(ctrl_fd: OwnedFd, data_fd: OwnedFd, data_frames: usize) -> Self {
        let pages = (0..=data_frames).map(|_| PageRecord::default()).collect();
        PhysMemory {
            ctrl_fd,
            data_fd,
            pages,
        }
    }

    /// Number of frames, control page included.
    pub(crate) fn frames(&self) -> usize {
        self.pages.len()
    }

    fn record(&self, pfn: Pfn) -> Option<&PageRecord> {
        self.pages.get(pfn as usize)
    }

    /// `get_page()`.
    pub(crate) fn get_page(&self, pfn: Pfn) {
        if let Some(r) = self.record(pfn) {
            // ATOMICS: a counter; Relaxed like the kernel's `page_ref_inc`. Decrements that
            // may free use AcqRel (see `put_page`).
            r.refcount.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// `put_page()`; returns true when this dropped the last reference (the frame is free).
    pub(crate) fn put_page(&self, pfn: Pfn) -> bool {
        match self.record(pfn) {
            // ATOMICS: AcqRel so that whoever frees the frame sees every use that happened
            // before the other references were dropped (as `folio_put_testzero`).
            Some(r) => r.refcount.fetch_sub(1, Ordering::AcqRel) == 1,
            None => false,
        }
    }

    /// A PTE with a struct-page reference now maps the frame (`folio_add_file_rmap_pte`).
    pub(crate) fn map_page(&self, pfn: Pfn) {
        if let Some(r) = self.record(pfn) {
            // ATOMICS: a statistic counter, no ordering needed.
            r.mapcount.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The PTE is gone (`folio_remove_rmap_pte`).
    pub(crate) fn unmap_page(&self, pfn: Pfn) {
        if let Some(r) = self.record(pfn) {
            // ATOMICS: a statistic counter, no ordering needed.
            r.mapcount.fetch_sub(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn counts(&self, pfn: Pfn) -> Option<PageCounts> {
        self.record(pfn).map(|r| PageCounts {
            // ATOMICS: snapshots for reports and tests; no ordering with other data.
            refcount: r.refcount.load(Ordering::Relaxed),
            mapcount: r.mapcount.load(Ordering::Relaxed),
        })
    }

    /// Sums over every frame: `(refcounts, mapcounts)`.
    pub(crate) fn totals(&self) -> (u64, u64) {
        self.pages.iter().fold((0, 0), |(r, m), p| {
            // ATOMICS: snapshots, as in `counts`.
            (
                r + u64::from(p.refcount.load(Ordering::Relaxed)),
                m + u64::from(p.mapcount.load(Ordering::Relaxed)),
            )
        })
    }
}

/// A cheap deterministic generator (splitmix64) for scattering pages reproducibly.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Data page `i` -> data memfd page, as `rb_alloc` would leave them: a deterministic
/// shuffle, with neighbours that the shuffle left physically adjacent mostly broken up
/// (the number of contiguous runs is reported, not promised).
pub(crate) fn scattered_order(n: usize, seed: u64) -> Vec<u32> {
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut rng = SplitMix(seed);
    for i in (1..n).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    if n >= 4 {
        // Break up the few neighbours the shuffle left adjacent: swap with a far page.
        for i in 0..n - 1 {
            if order[i + 1] == order[i] + 1 {
                let k = (i + n / 2) % n;
                order.swap(i + 1, k);
            }
        }
    }
    order
}

/// Splits data pages (by frame) into maximal runs of consecutive frames:
/// `(first data page index, frames in the run)`.
pub(crate) fn contiguous_runs(pfns: &[Pfn]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < pfns.len() {
        let mut len = 1;
        while i + len < pfns.len() && pfns[i + len] == pfns[i + len - 1].wrapping_add(1) {
            len += 1;
        }
        runs.push((i, len));
        i += len;
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scattered_order_is_a_permutation_with_few_contiguous_neighbours() {
        for n in [1usize, 2, 4, 64, 4096] {
            let order = scattered_order(n, 7);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..n as u32).collect::<Vec<_>>());
            if n >= 64 {
                let pfns: Vec<Pfn> = order.iter().map(|k| k + 1).collect();
                assert!(contiguous_runs(&pfns).len() > n * 9 / 10, "n = {n}");
            }
        }
        assert_eq!(
            scattered_order(64, 7),
            scattered_order(64, 7),
            "deterministic"
        );
    }

    #[test]
    fn contiguous_runs_split_exactly_at_gaps() {
        assert_eq!(
            contiguous_runs(&[1, 2, 3, 7, 8, 4]),
            vec![(0, 3), (3, 2), (5, 1)]
        );
        assert_eq!(contiguous_runs(&[]), Vec::<(usize, usize)>::new());
    }

    #[test]
    fn page_counters_free_on_the_last_put() {
        let dummy = || crate::sys::memfd(c"t", 0).expect("memfd");
        let phys = PhysMemory::new(dummy(), dummy(), 2);
        phys.get_page(1);
        phys.get_page(1);
        phys.map_page(1);
        assert_eq!(
            phys.counts(1),
            Some(PageCounts {
                refcount: 2,
                mapcount: 1
            })
        );
        assert!(!phys.put_page(1));
        phys.unmap_page(1);
        assert!(phys.put_page(1), "last reference frees the frame");
        assert_eq!(phys.totals(), (0, 0));
        assert_eq!(phys.counts(3), None, "out-of-range frames have no record");
    }
}
