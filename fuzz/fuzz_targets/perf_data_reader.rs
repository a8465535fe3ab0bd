//! Arbitrary bytes as a perf.data file: the reader must return errors, never panic, hang
//! or allocate without bound. Seeds: tests/fixtures/*.data (real `perf record` files).

#![no_main]

use libfuzzer_sys::fuzz_target;
use perf_client::perf_data::PerfData;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = PerfData::from_bytes(data.to_vec()) else {
        return;
    };
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
    if let Ok(ctx) = file.parse_context() {
        for r in file.parsed_records(&ctx) {
            if r.is_err() {
                break;
            }
        }
    }
});
