//! A userspace model of the kernel's pre-mapped perf buffer.
//!
//! A memfd plays physical memory; a [`KernelBuffer`] is one control page and 2^n data
//! pages taken from it — scattered order-0 pages like `rb_alloc`, or contiguous, or huge —
//! with a page table of `struct page` counters and one buffer-wide reference count
//! ("scamem"). A buffer is mapped into consumers ([`KernelBuffer::map`]) the way perf maps
//! its ring since v6.14: control page read-write, data read-only and present before the
//! first access, never writable (`F_SEAL_FUTURE_WRITE`), not inherited, not dumped — with
//! one of three [`Strategy`]s modelling `remap_pfn_range`, `vm_insert_pages` and the old
//! fault path. [`handoff`] passes a buffer to another process over a Unix socket.
//!
//! This module knows nothing of records: it hands the ring protocol ([`crate::Reader`],
//! [`crate::Writer`]) memory, as a real perf mmap would.

#[allow(unsafe_code)] // memfd views, the ring region and writer of a buffer
mod buffer;
mod error;
#[allow(unsafe_code)] // SCM_RIGHTS messages and the remote mapping
pub mod handoff;
#[allow(unsafe_code)] // fixed mappings into a reservation, the ring region
mod mapping;
mod pages;
mod smaps;
#[allow(unsafe_code)] // userfaultfd ioctls and fault resolution
mod uffd;

/// The crate's one system-call module, under the name the emulation's modules use.
use crate::sys;

pub use buffer::{BackingSource, BufferConfig, BufferInfo, BufferWatch, KernelBuffer, PageLayout};
pub use error::EmulationError;
pub use mapping::{MapOptions, MapReport, Mapping, Pin, Strategy};
pub use pages::{PageCounts, Pfn};
pub use smaps::BackingPages;
pub use uffd::FaultMode;
