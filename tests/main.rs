//! The one integration-test binary: one module per area.

mod common;
mod emulation;
mod hardening;
mod kernel;
mod ring_protocol;
