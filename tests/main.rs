//! The one integration-test binary: one module per area.

mod common;
mod ring_fast_path;
