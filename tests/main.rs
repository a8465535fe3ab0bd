//! The one integration-test binary: one module per area.

mod callgraph;
mod common;
mod emulation;
mod export;
mod hardening;
mod kernel;
mod oracle;
mod perf_data;
mod ring_batch_api;
mod ring_fast_path;
mod ring_protocol;
