//! Kernel access: opening events ([`event`]), the tracepoints of tracefs ([`tracefs`]), a
//! command started under the events ([`child`]), the kernel's rings ([`ring`]) and the
//! capture loop over them ([`capture`]). The unsafe syscalls live in `sys`.

pub mod capture;
pub mod child;
pub mod event;
pub mod ring;
pub(crate) mod sys;
pub mod tracefs;
