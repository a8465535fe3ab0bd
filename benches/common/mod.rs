//! Bench bodies shared by the criterion benches and the `compare` table, so that both
//! measure exactly the same code.
//!
//! Every two-thread subject runs its producer on one CPU and its consumer on another
//! (`sched_setaffinity`), busy-spins when full or empty, moves one record per operation
//! (or one chunk, for the cross-core copy limit), and checks every record's sequence number
//! in the consumer: a run that loses, duplicates or reorders a record panics. The producer
//! copies its payload in and the consumer copies it out, one `memcpy` per side (sizes known
//! only at run time), for every subject alike.
//!
//! [`Subject::verify`] additionally compares every payload byte; benches call it before
//! timing.

// Each bench binary uses a different part of this module.
#![allow(dead_code)]

pub mod affinity;
pub mod commit_word;
pub mod latency;
pub mod limits;
pub mod mapping;
pub mod peers;
pub mod subjects;

use std::time::Duration;

#[allow(unused_imports)] // not every bench binary uses them
pub use subjects::{catalogue, Subject};

/// One timed run.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Consumer time from the start signal to the last record.
    pub elapsed: Duration,
    /// Records (or chunks, or copies) moved.
    pub records: u64,
    /// Bytes moved (record bytes, header included, for the perf ring).
    pub bytes: u64,
    /// The larger of the two threads' run-queue delays during the run
    /// (`/proc/thread-self/schedstat` field 2): time runnable but not running.
    pub run_delay: Duration,
}

impl Sample {
    /// Records per second.
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }

    /// Bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64()
    }

    /// Fraction of the run a thread spent waiting for a CPU.
    pub fn delay_fraction(&self) -> f64 {
        self.run_delay.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How much of each record the consumer checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The sequence number in the first word and its complement in the last word.
    Sequence,
    /// Every payload byte against the pattern the producer wrote.
    Full,
}

/// The payload a producer sends as record `seq`: the sequence number in the first 8 bytes,
/// its complement in the last 8 (when there are 16 or more), a fixed pattern between.
#[inline(always)]
pub fn stamp(buf: &mut [u8], seq: u64) {
    let n = buf.len();
    buf[..8].copy_from_slice(&seq.to_ne_bytes());
    if n >= 16 {
        buf[n - 8..].copy_from_slice(&(!seq).to_ne_bytes());
    }
}

/// A buffer of `len` bytes holding the fixed pattern (what [`stamp`] leaves untouched).
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ 0x5a)
        .collect()
}

/// Checks the payload of record `seq`; panics with the difference otherwise.
#[inline(always)]
pub fn check(buf: &[u8], seq: u64, how: Check, expected: &mut [u8]) {
    let n = buf.len();
    let first = u64::from_ne_bytes(buf[..8].try_into().unwrap());
    let last = if n >= 16 {
        !u64::from_ne_bytes(buf[n - 8..].try_into().unwrap())
    } else {
        first
    };
    if first != seq || last != seq {
        panic!("record {seq}: found sequence numbers {first}/{last}");
    }
    if how == Check::Full {
        stamp(expected, seq);
        assert!(buf == &expected[..], "record {seq}: payload bytes differ");
    }
}

/// The default length of one timed run in the comparison table.
pub const TARGET_RUN: Duration = Duration::from_millis(120);
