//! Kernel access: opening events ([`event`]), CPU lists ([`cpus`]), perf's command-line
//! choices as events and targets ([`select`], the `-e` syntax in [`event_syntax`]), the tracepoints of tracefs ([`tracefs`]), a
//! command started under the events ([`child`]), the kernel's rings ([`ring`]) and the
//! capture loop over them ([`capture`]). Unsafe code is allowed only in `sys` (the
//! syscalls), [`ring`] (the mapping), [`child`] (fork) and `io` (mapping a file).

pub mod capture;
#[allow(unsafe_code)] // fork, pipe, waitpid, kill
pub mod child;
pub mod cpus;
pub mod event;
pub mod event_syntax;
#[allow(unsafe_code)] // mapping a perf.data file (`PerfData::open_mapped`)
mod io;
#[allow(unsafe_code)] // the kernel's ring mapping handed to the ring reader
pub mod ring;
pub mod select;
#[allow(unsafe_code)] // the syscalls: perf_event_open, ioctls, epoll, signals, sched
pub(crate) mod sys;
pub mod tracefs;
