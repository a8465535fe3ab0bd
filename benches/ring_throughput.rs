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

/// The instruction cost of the protocol without cross-core traffic: one thread writes
/// 256 records (per-record or batch commit), then drains and copies them out.
fn single_core_cost(c: &mut Criterion) {
    const PER_PASS: u64 = 256;
    let mut g = c.benchmark_group("ring_single_core");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for record in [16usize, 64, 256, 4096] {
        for batch in [false, true] {
            let (mut writer, mut reader) = common::subjects::single_core_ring();
            let payload = record - 8;
            let mut src = common::pattern(payload);
            let mut dst = vec![0u8; payload];
            let mut seq = 0u64;
            let mut expected = common::pattern(payload);
            let mut pass = |how| {
                let start = seq;
                for _ in 0..PER_PASS {
                    common::stamp(&mut src, seq);
                    let r = if batch {
                        writer.write_deferred(9, 0, &src)
                    } else {
                        writer.write(9, 0, &src)
                    };
                    r.expect("room for one pass");
                    seq += 1;
                }
                writer.publish();
                let mut next = start;
                let mut drain = reader.drain().expect("drain");
                while let Some(rec) = drain.next() {
                    let (a, b) = rec.expect("record").payload().parts();
                    dst[..a.len()].copy_from_slice(a);
                    if !b.is_empty() {
                        dst[a.len()..].copy_from_slice(b);
                    }
                    common::check(&dst, next, how, &mut expected);
                    next += 1;
                }
                assert_eq!(next, seq, "drained every record of the pass");
            };
            for _ in 0..64 {
                pass(Check::Full); // wraps the 1 MiB ring at every size
            }
            g.throughput(Throughput::Elements(PER_PASS));
            let name = if batch { "batch" } else { "write" };
            g.bench_function(format!("{record}B {name}"), |b| {
                b.iter(|| pass(Check::Sequence))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, ring_throughput, single_core_cost);
criterion_main!(benches);
