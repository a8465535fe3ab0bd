//! perf-client: rings the kernel owns, read with the same [`perf_ringbuf`] reader as the
//! rings we own; typed records; perf.data files; recording and analysis.
//!
//! The modules are layers, each using only those above it in this list:
//!
//! | module | layer |
//! |---|---|
//! | [`records`] | the `PERF_RECORD_*` format: bytes in, typed values out (no I/O, no unsafe) |
//! | [`perf_data`] | the perf.data file format: reader and writer over bytes (no host I/O, no unsafe) |
//! | [`kernel`] | kernel access: `perf_event_open`, tracefs, the traced child, rings, the capture loop |
//! | [`record`] | `perf record` as a library: a capture into a perf.data file, and what it reads from the host |
//! | [`analysis`] | reading a capture back: machine state, symbols, script, report, rendering |

#![warn(missing_docs)]
// Unsafe code only in the named kernel modules (`kernel::{sys, ring, child, io}`).
#![deny(unsafe_code)]

pub mod analysis;
pub mod kernel;
pub mod perf_data;
pub mod record;
pub mod records;

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
