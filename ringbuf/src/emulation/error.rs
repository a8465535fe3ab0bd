//! Errors of the emulated kernel buffer.

use std::io;

use crate::error::LayoutError;

/// Creating, mapping or handing over an emulated kernel buffer failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulationError {
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// The operation, named after the system call.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The number of data pages is not a power of two (or is 0, or too large).
    #[error("{0} data pages: need a power of two between 1 and 2^24")]
    BadPageCount(usize),
    /// Huge pages were asked for a layout that cannot have them.
    #[error("huge pages need contiguous pages (a scattered layout has only order-0 pages)")]
    HugeNeedsContiguous,
    /// The mapping would need more VMAs than `vm.max_map_count` allows.
    #[error(
        "mapping needs {needed} VMAs, the process has {current} and vm.max_map_count is {max}"
    )]
    MapCountLimit {
        /// VMAs the mapping would add.
        needed: usize,
        /// VMAs the process has.
        current: usize,
        /// `vm.max_map_count`.
        max: usize,
    },
    /// The ring layout written in the control page is invalid.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The control page declares a layout other than the buffer's own: a peer wrote
    /// `data_offset` or `data_size` (`perf_event_mmap_page`), which only the producer sets.
    #[error("the control page declares data_offset {data_offset} and data_size {data_size}; the buffer has {expected_offset} and {expected_size}")]
    LayoutMismatch {
        /// `data_offset` found in the control page.
        data_offset: u64,
        /// `data_size` found in the control page.
        data_size: u64,
        /// The buffer's data offset (one page).
        expected_offset: u64,
        /// The buffer's data size.
        expected_size: u64,
    },
    /// The buffer already has its writer (or, in this process, its reader).
    #[error("the buffer already has a {0}")]
    AlreadyTaken(&'static str),
    /// The buffer was released (its last reference dropped) before this operation.
    #[error("the buffer was released")]
    Released,
    /// A peer sent a buffer description that does not hold together.
    #[error("bad buffer handoff: {0}")]
    BadHandoff(String),
    /// The emulated GUP refused the mapping (`check_vma_flags`: VM_IO | VM_PFNMAP).
    #[error("GUP refused: a pfnmap has no struct pages to pin (EFAULT)")]
    GupRefused,
    /// A page index outside the mapping.
    #[error("page {index} is outside the mapping of {pages} pages")]
    PageOutOfRange {
        /// The index asked for.
        index: usize,
        /// Pages in the mapping.
        pages: usize,
    },
}

impl EmulationError {
    pub(crate) fn io(what: &'static str) -> impl FnOnce(io::Error) -> EmulationError {
        move |source| EmulationError::Io { what, source }
    }
}
