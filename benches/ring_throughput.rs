//! Criterion: ring throughput for 16-, 64-, 256- and 4096-byte records, `perf-ringbuf`
//! against rtrb, crossbeam, bbqueue, the disruptor crate, the commit-word variant of our
//! framing and the cross-core copy limits, producer and consumer pinned to different CPUs.
//! Every subject is verified byte for byte before it is timed.
//!
//! `cargo bench --bench ring_throughput [-- <filter>]`. The side-by-side table with
//! same-run ratios is `cargo bench --bench compare`.

mod common;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use common::subjects::{RingConsumer, RingProducer};
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
/// 256 records (per-record or batch commit), then drains and copies them out, with the
/// two-thread subjects' own producer and consumer steps (as `examples/ring_instructions.rs`,
/// which counts the instructions of the same loop).
fn single_core_cost(c: &mut Criterion) {
    const PER_PASS: u64 = 256;
    let mut g = c.benchmark_group("ring_single_core");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for record in [16usize, 64, 256, 4096] {
        for batch in [false, true] {
            let (mut writer, mut reader) = common::subjects::single_core_ring();
            let mut producer = RingProducer::new(record, batch);
            let mut consumer = RingConsumer::new(record, Check::Full);
            let mut pass = |how| {
                consumer.how = how;
                producer.produce(&mut writer, PER_PASS);
                consumer.drain_once(&mut reader);
                assert_eq!(
                    consumer.seq, producer.seq,
                    "drained every record of the pass"
                );
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
