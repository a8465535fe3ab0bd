//! Criterion: ring throughput for 16-, 64-, 256- and 4096-byte records, `perf-ringbuf`
//! against rtrb, crossbeam and the cross-core copy limit, producer and consumer pinned to
//! different CPUs. Every subject is verified byte for byte before it is timed.
//!
//! `cargo bench --bench ring_throughput [-- <filter>]`. The side-by-side table with
//! same-run ratios is `cargo bench --bench compare`.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use common::{catalogue, Check, Subject};

fn ring_throughput(c: &mut Criterion) {
    let mut specs = catalogue();
    specs.sort_by_key(|s| s.group);
    let mut groups: Vec<usize> = specs.iter().map(|s| s.group).collect();
    groups.dedup();
    for group in groups {
        let mut g = c.benchmark_group(format!("ring_throughput/{group}B"));
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        for spec in specs.iter().filter(|s| s.group == group) {
            let mut subject = Subject::new(spec.clone());
            subject.verify(); // correctness first, and pages faulted in
                              // Small records are judged by records per second, large ones by bytes.
            g.throughput(if group <= 64 {
                Throughput::Elements(1)
            } else {
                Throughput::Bytes(spec.unit_bytes as u64)
            });
            g.bench_function(spec.name, |b| {
                b.iter_custom(|iters| subject.run(iters, Check::Sequence).elapsed)
            });
        }
        g.finish();
    }
}

criterion_group!(benches, ring_throughput);
criterion_main!(benches);
