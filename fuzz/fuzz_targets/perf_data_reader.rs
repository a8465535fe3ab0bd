//! Arbitrary bytes as a perf.data file: the reader must return errors, never panic, hang
//! or allocate without bound. Seeds: tests/fixtures/*.data (real `perf record` files).
//!
//! The bytes are read both in memory and streamed (the data section read round by
//! round into a small, growing buffer, in small reads); both walks must hand out the
//! same records and end the same way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use perf_client::analysis::for_each_ordered;
use perf_client::perf_data::{PerfData, PerfDataError, StreamOptions};

/// Every record of the ordered walk (its debug form) and how the walk ended.
fn ordered(file: &PerfData) -> (Vec<String>, Result<(), String>) {
    let mut out = Vec::new();
    let end = file
        .parse_context()
        .map_err(|e| e.to_string())
        .and_then(|ctx| {
            for_each_ordered(file, &ctx, |rec| {
                out.push(format!("{rec:?}"));
                Ok(())
            })
            .map_err(|e| e.to_string())
        });
    (out, end)
}

fuzz_target!(|data: &[u8]| {
    // A small first buffer and small reads exercise growth and records split across
    // reads; the cap bounds the memory a hostile size could ask for.
    let opts = StreamOptions {
        buffer: 64,
        max_buffer: 1 << 20,
        read_size: 96,
        read_ahead: true,
    };
    let streamed = PerfData::from_source(Box::new(data.to_vec()), data.len() as u64, "fuzz", opts);
    let Ok(file) = PerfData::from_bytes(data.to_vec()) else {
        let (Err(a), Err(b)) = (&streamed, PerfData::from_bytes(data.to_vec())) else {
            panic!("streamed open succeeded where the in-memory one failed");
        };
        assert_eq!(a.to_string(), b.to_string());
        return;
    };
    let streamed = streamed.expect("in-memory open succeeded, streamed failed");
    for r in file.records() {
        if r.is_err() {
            break;
        }
    }
    let _ = file.hostname();
    let _ = file.osrelease();
    let _ = file.arch();
    let _ = file.nrcpus();
    let _ = file.cmdline();
    let _ = file.event_desc();
    let _ = file.build_ids();
    let _ = file.event_names();
    assert_eq!(streamed.build_ids().ok(), file.build_ids().ok());
    let capped = |e: &PerfDataError| matches!(e, PerfDataError::RoundTooLarge { .. });
    match (streamed.count_by_type(), file.count_by_type()) {
        (Err(e), _) if capped(&e) => {}
        (a, b) => assert_eq!(a.map_err(|e| e.to_string()), b.map_err(|e| e.to_string())),
    }
    if let Ok(ctx) = file.parse_context() {
        for r in file.parsed_records(&ctx) {
            if r.is_err() {
                break;
            }
        }
    }
    let expected = ordered(&file);
    let got = ordered(&streamed);
    // The streamed walk may stop at the buffer cap where the in-memory one went on,
    // after handing out the same first records.
    if got
        .1
        .as_ref()
        .is_err_and(|e| e.contains("more than the limit"))
    {
        assert!(got.0.len() <= expected.0.len());
        assert_eq!(got.0[..], expected.0[..got.0.len()]);
    } else {
        assert_eq!(got, expected);
    }
});
