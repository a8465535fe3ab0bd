//! Cost of mapping a ring of 1 + 1024 pages: each emulation strategy for scattered
//! (`rb_alloc`-like) and contiguous pages, the real perf ring and BPF ringbuf, and one
//! `MAP_POPULATE` mmap of the emulated buffer's own data memfd. The `Fault` strategy is measured as map
//! plus a first read of every page (the cost it defers).
//!
//! The subjects and what each sample times are those of the `mapping` group of the
//! comparison table (`benches/common/mapping.rs`); every subject is mapped once and
//! checked (marker record, control page, contents) before it is timed, and the bench runs
//! pinned to one CPU like that group. Subjects the kernel
//! refuses (perf_event_open, bpf without privileges) are reported and left out.

mod common;

use std::time::Duration;

use common::mapping::{map_catalogue, MapSubject};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// 2^10 data pages.
const ORDER: u32 = 10;

fn mapping(c: &mut Criterion) {
    // As the compare group: one CPU, shared by the `Fault` strategy's handler thread.
    common::affinity::pin_current_thread(common::affinity::cpu_pair().1);
    let mut group = c.benchmark_group(format!("map 1+{} pages", 1u32 << ORDER));
    group.sample_size(20);
    for (spec, prepared) in MapSubject::prepare(&map_catalogue(), ORDER) {
        let mut subject = match prepared.and_then(|mut s| s.verify().map(|_| s)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("skipped {}: {e}", spec.name);
                continue;
            }
        };
        group.bench_function(BenchmarkId::from_parameter(spec.name), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| subject.sample().expect("map").time)
                    .sum::<Duration>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, mapping);
criterion_main!(benches);
