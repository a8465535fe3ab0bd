//! The Linux perf ring protocol — a `perf_event_mmap_page` control page and a power-of-two
//! data area of `perf_event_header` records — over any memory, and a userspace model of the
//! kernel's pre-mapped perf buffer.
//!
//! The protocol ([`RingRegion`], [`Writer`], [`Reader`]) knows nothing of where its memory
//! came from: an anonymous mapping ([`Ring`]), an emulated kernel buffer, or a real
//! `perf_event` mmap all go through the same code.
//!
//! ```
//! use perf_ringbuf::{Ring, WaitOutcome};
//! use std::time::Duration;
//!
//! let (mut writer, mut reader) = Ring::with_data_size(64 * 1024)?;
//! let producer = std::thread::spawn(move || {
//!     for i in 0u64..1000 {
//!         // Type 9 = PERF_RECORD_SAMPLE; any u32 is fine in rings we own.
//!         writer.write_deferred(9, 0, &i.to_ne_bytes()).ok();
//!         if i % 64 == 63 {
//!             writer.publish(); // one data_head store per batch
//!         }
//!     }
//! }); // dropping the writer publishes the rest and tells the reader
//!
//! let mut seen = 0u64;
//! loop {
//!     let outcome = reader.wait(Some(Duration::from_millis(100)))?;
//!     let mut drain = reader.drain()?; // one data_head load per drain
//!     while let Some(record) = drain.next() {
//!         let record = record?;
//!         if record.header.record_type == 9 {
//!             seen += 1;
//!         }
//!     }
//!     drop(drain); // one data_tail store per drain
//!     if outcome == WaitOutcome::ProducerGone {
//!         break;
//!     }
//! }
//! producer.join().unwrap();
//! assert_eq!(seen + reader.stats().lost, 1000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Orderings (see `kernel/events/ring_buffer.c`): the reader loads `data_head` with Acquire
//! and stores `data_tail` with Release; the writer loads `data_tail` with Acquire before
//! reusing space and stores `data_head` with Release after writing the records.

#![warn(missing_docs)]
// Unsafe code lives only in the modules marked `#[allow(unsafe_code)]` below: ring memory
// and the claims of its one writer and one reader (`region`), system calls (`sys`), and the
// emulation's buffer, mappings, userfaultfd and fd passing. The reader and the writer have
// none: they reach ring memory through `region`'s `Consumer` and `Producer`.
#![deny(unsafe_code)]

pub mod emulation;
mod error;
mod heap_ring;
pub mod layout;
mod overwrite;
mod position;
mod reader;
mod record;
#[allow(unsafe_code)] // ring memory: atomics, copies and record slices through raw pointers;
// the claims and public constructors of its one writer and one reader
mod region;
#[allow(unsafe_code)] // every system call of the crate
mod sys;
mod wakeup;
mod writer;

#[cfg(all(test, loom))]
#[allow(unsafe_code)] // the model's data area is loom `UnsafeCell`s
mod loom_model;

pub use error::{LayoutError, ReadError, RecordFault, WriteError};
pub use heap_ring::{Ring, RingError};
pub use overwrite::OverwriteSnapshot;
pub use reader::{Drain, ProducerStatus, Reader, ReaderStats, WaitOutcome};
pub use record::{Record, RecordBytes, RecordHeader, RecordIter};
pub use region::{RingMemory, RingRegion, RingView};
pub use wakeup::{WakeupFd, WakeupPolicy};
pub use writer::{
    Keepalive, PauseHandle, Reservation, WriteMode, Writer, WriterConfig, WriterStats,
};

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// This crate's README example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct CrateReadmeDoctests;
