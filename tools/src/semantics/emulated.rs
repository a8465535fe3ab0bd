//! The emulated buffer, mapped with each strategy.

use perf_ringbuf::emulation::{BufferConfig, KernelBuffer, MapOptions, PageLayout, Strategy};

use super::probe::{self, RowProbes, Subject};
use super::{ms, Cell, Row};

/// One emulated row: a buffer of `pages` data pages laid out as `layout`, mapped with
/// `strategy`.
pub(crate) fn row(strategy: Strategy, pages: usize, layout: PageLayout) -> Row {
    let name = format!("emulated {}", strategy.name());
    let failed = |why: String| Row {
        name: name.clone(),
        kind: "emulated",
        columns: None,
        notes: vec![why],
    };
    let buf = match KernelBuffer::new(BufferConfig {
        data_pages: pages,
        layout,
        huge_pages: false,
    }) {
        Ok(b) => b,
        Err(e) => return failed(format!("allocation: {e}")),
    };
    // Fill the ring through the producer, so every data page has contents to check.
    match buf.writer(Default::default()) {
        Ok(mut w) => {
            let payload = vec![0xa5u8; 4000];
            while w.write(9, 0, &payload).is_ok() {}
        }
        Err(e) => return failed(format!("writer: {e}")),
    }
    let mapping = match buf.map(MapOptions::new(strategy)) {
        Ok(m) => m,
        Err(e) => return failed(format!("map: {e}")),
    };
    let report = match mapping.report() {
        Ok(r) => r,
        Err(e) => return failed(format!("report: {e}")),
    };
    let watch = buf.watch();
    let subject = Subject {
        ranges: vec![(mapping.control_ptr() as usize, mapping.len())],
        data: mapping.data_ptr() as usize,
        data_len: mapping.data_len(),
    };
    let child_map = || -> Option<usize> {
        buf.map(MapOptions::new(strategy)).ok().map(|m| {
            let a = m.data_ptr() as usize;
            std::mem::forget(m);
            a
        })
    };
    let refs = || {
        let (_, mapcount) = watch.totals();
        Cell::number(
            format!(
                "+{} page refs (mapcount {mapcount}), buffer refs {}; kernel: {}",
                mapping.page_refs(),
                watch.scamem_refs(),
                probe::kpagecount_text(subject.data)
            ),
            mapping.page_refs() as f64,
        )
    };
    let columns = probe::columns(
        &subject,
        &RowProbes {
            map_time: ms(report.map_time),
            child_map: &child_map,
            page_refs: &refs,
            data_vma: (subject.data, subject.data_len),
            data_writable: false,
            refault_safe: true,
        },
    );
    let mut notes = vec![
        format!(
            "allocation {:.3} ms ({} {} pages in {} physically contiguous runs, {:?}); map: {} mmap calls, {} VMAs",
            buf.info().alloc_time.as_secs_f64() * 1e3,
            pages,
            match layout {
                PageLayout::Scattered { .. } => "scattered order-0",
                PageLayout::Contiguous => "contiguous",
            },
            buf.info().contiguous_runs,
            buf.info().source,
            report.map_calls,
            report.vmas,
        ),
        format!(
            "process VMAs after map {} of vm.max_map_count {}",
            report.process_vmas,
            report.max_map_count.map_or("?".into(), |m| m.to_string())
        ),
    ];
    if matches!(
        mapping.fault_mode(),
        Some(perf_ringbuf::emulation::FaultMode::Userfaultfd { .. })
    ) {
        notes.push(
            "VmFlags/Rss/mincore are read right after map: the userfaultfd placeholders (anonymous, `um` = registered for MISSING faults); touched pages become read-only memfd VMAs. mprotect is probed after the first pass; an untouched placeholder can be made RW but holds no data (the first access still inserts the sealed read-only page)".into(),
        );
    }
    if let Some(mode) = mapping.fault_mode() {
        notes.push(format!(
            "fault mode {mode:?}; faults counted by the handler after all probes: {}",
            mapping
                .faults()
                .map_or("not counted (kernel faults)".into(), |f| f.to_string())
        ));
    }
    if matches!(
        mapping.fault_mode(),
        Some(perf_ringbuf::emulation::FaultMode::KernelLazy { .. })
    ) {
        notes.push(
            "mincore of a file mapping reports page-cache residency, not PTEs: the lazy mapping shows all pages resident".into(),
        );
    }
    Row {
        name,
        kind: "emulated",
        columns: Some(columns),
        notes,
    }
}
