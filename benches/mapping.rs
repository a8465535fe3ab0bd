//! Cost of pre-mapping an emulated kernel buffer with each strategy, for scattered
//! (`rb_alloc`-like) and contiguous pages. The `Fault` strategy is measured as map plus a
//! first read of every page (the cost it defers). Each iteration checks that the mapping
//! reads back the producer's marker before it is timed again.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use perf_ringbuf::emulation::{sys, BufferConfig, KernelBuffer, MapOptions, PageLayout, Strategy};

const PAGES: usize = 1024;

fn mapping(c: &mut Criterion) {
    let mut group = c.benchmark_group("map 1+1024 pages");
    group.sample_size(20);
    for (layout_name, layout) in [
        ("scattered", PageLayout::Scattered { seed: 1 }),
        ("contiguous", PageLayout::Contiguous),
    ] {
        let buffer = KernelBuffer::new(BufferConfig {
            data_pages: PAGES,
            layout,
            huge_pages: false,
        })
        .expect("allocate");
        let mut writer = buffer.writer(Default::default()).expect("writer");
        writer.write(9, 0, b"marker!!").expect("write");
        for strategy in Strategy::ALL {
            let id = BenchmarkId::new(strategy.name(), layout_name);
            group.bench_function(id, |b| {
                b.iter(|| {
                    let m = buffer.map(MapOptions::new(strategy)).expect("map");
                    if strategy == Strategy::Fault {
                        // SAFETY: the data is mapped readable.
                        unsafe { sys::touch_pages(m.data_ptr(), m.data_len()) };
                    }
                    // SAFETY: the first record's payload is in the first data page.
                    let marker = unsafe { std::slice::from_raw_parts(m.data_ptr().add(8), 8) };
                    assert_eq!(marker, b"marker!!");
                    m
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, mapping);
criterion_main!(benches);
