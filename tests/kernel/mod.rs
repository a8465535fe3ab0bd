//! perf-client against the live kernel: events opened on real tasks, kernel rings read with
//! the perf-ringbuf reader, records parsed. Refusals (EACCES/EPERM/ENOENT) skip through
//! `common::skip`.

use std::collections::BTreeSet;
use std::ffi::OsString;

use perf_client::kernel::capture::{
    Capture, CaptureError, CaptureOptions, RunOptions, Summary, Target,
};
use perf_client::kernel::event::{EventConfig, EventKind, OpenError, Sampling, Software};
use perf_client::records::bits::{read_format as rf, regs_abi, sample as st};
use perf_client::records::{ParseContext, ParsedRecord, Record, Weight};

use crate::common;

mod cli;
mod event_syntax;
mod rings;
mod sample_bits;
mod tasks;

/// A record as read: the CPU of its ring and its bytes.
struct Got {
    ring_cpu: i32,
    bytes: Vec<u8>,
}

struct Run {
    records: Vec<Got>,
    summary: Summary,
    ctx: ParseContext,
    child: Option<i32>,
    event_ids: Vec<u64>,
}

impl Run {
    fn parsed(&self) -> impl Iterator<Item = (i32, ParsedRecord<'_>)> {
        self.records.iter().map(|g| {
            let p = self
                .ctx
                .parse(&g.bytes)
                .unwrap_or_else(|e| panic!("kernel record does not parse: {e}"));
            (g.ring_cpu, p)
        })
    }

    fn count(&self, name: &str) -> usize {
        self.parsed()
            .filter(|(_, p)| p.record.kind_name() == name)
            .count()
    }

    fn samples(&self) -> Vec<perf_client::records::Sample<'_>> {
        self.parsed()
            .filter_map(|(_, p)| match p.record {
                Record::Sample(s) => Some(*s),
                _ => None,
            })
            .collect()
    }
}

fn is_refusal(e: &CaptureError) -> bool {
    let errno = |cause: &std::io::Error| {
        matches!(
            cause.raw_os_error(),
            Some(libc::EACCES | libc::EPERM | libc::ENOENT)
        )
    };
    match e {
        CaptureError::Open(OpenError::NotPermitted { .. } | OpenError::NoHardware { .. }) => true,
        CaptureError::Open(OpenError::Kernel { cause, .. }) => errno(cause),
        CaptureError::Open(OpenError::Tracepoint(_)) => true,
        CaptureError::Ring(perf_client::kernel::ring::KernelRingError::Mlock { .. }) => true,
        _ => false,
    }
}

fn args(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

/// Runs a capture to the end, keeping every record. `None` (after `common::skip`) when
/// the kernel refuses.
fn capture(opts: CaptureOptions) -> Option<Run> {
    let mut cap = match Capture::start(opts) {
        Ok(c) => c,
        Err(e) if is_refusal(&e) => {
            common::skip(&e.to_string());
            return None;
        }
        Err(e) => panic!("capture failed to start: {e}"),
    };
    let ctx = cap.parse_context().clone();
    let child = cap.child_pid();
    let event_ids = cap.events().iter().map(|e| e.fd.id()).collect();
    let mut records = Vec::new();
    let summary = cap
        .run(&RunOptions::default(), |r| -> Result<(), CaptureError> {
            records.push(Got {
                ring_cpu: r.cpu,
                bytes: r.bytes.to_vec(),
            });
            Ok(())
        })
        .expect("capture run");
    Some(Run {
        records,
        summary,
        ctx,
        child,
        event_ids,
    })
}

fn event(kind: EventKind) -> EventConfig {
    EventConfig::new(kind).expect("event config")
}

fn sw(s: Software) -> EventConfig {
    event(EventKind::Software(s))
}

/// `dd` that touches `pages` fresh pages of its buffer (reads /dev/zero into it once).
fn dd_touching(pages: usize) -> Vec<OsString> {
    args(&[
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        &format!("bs={}", pages * 4096),
        "count=1",
        "status=none",
    ])
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}
