//! perf-client: rings the kernel owns, read with the same [`perf_ringbuf`] reader as the
//! rings we own; typed records; perf.data files; and the `perf-client` command line.

#![warn(missing_docs)]

pub mod analysis;
pub mod capture;
pub mod child;
pub mod demo;
pub mod event;
pub mod perf_data;
pub mod recorder;
pub mod records;
pub mod render;
pub mod ring;
pub mod semantics;
pub mod soak;
mod sys;
pub mod tracefs;
pub mod workload;
