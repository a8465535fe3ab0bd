//! perf-ringbuf-tools: the experiments around the two libraries, kept out of them. The
//! `perf-client` command line offers each as a subcommand.
//!
//! | module | what |
//! |---|---|
//! | [`semantics`] | measures mapping semantics live: real perf and BPF rings next to the emulation |
//! | [`soak`] | producer and consumer processes, the consumer SIGKILLed and restarted, exact accounting |
//! | [`demo`] | two threads exchange checksummed records through an in-process ring |
//! | [`storm`] | a tight `getppid` loop, the capture yardstick's workload |
//! | [`mm`] | memory probes: resident pages, minor faults, touching pages, the VMA budget |
//! | [`probe`] | runs a closure in a forked child and reports how it ended (signal, exit) |

#![warn(missing_docs)]
// Unsafe code only in the modules that allow it by name.
#![deny(unsafe_code)]

pub mod demo;
#[allow(unsafe_code)] // memory probes: mmap, madvise, mincore, getrusage
pub mod mm;
#[allow(unsafe_code)] // fork
pub mod probe;
pub mod semantics;
#[allow(unsafe_code)] // fork, kill, shared mappings
pub mod soak;
#[allow(unsafe_code)] // raw getppid syscalls
pub mod storm;
