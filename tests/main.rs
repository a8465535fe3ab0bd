//! The one integration-test binary: one module per area.

mod common;
mod emulation;
mod ring_protocol;
