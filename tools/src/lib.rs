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

pub mod demo;
pub mod mm;
pub mod probe;
pub mod semantics;
pub mod soak;
pub mod storm;
