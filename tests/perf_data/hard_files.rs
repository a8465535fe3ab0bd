//! Files that are hard to read right: `perf record -z` files (PERF_RECORD_COMPRESSED, zstd)
//! read as the records they carry, and what cannot be decoded an error, never an empty
//! table; unfinished files (a killed recorder) read to their end, saying so; records of
//! types the reader does not interpret counted.

use perf_client::analysis::{report, script};
use perf_client::perf_data::compressed::COMPRESSED;
use perf_client::perf_data::PerfData;

use super::fixtures::fixture;
use super::handmade::perf_sample_count;

/// SAMPLE records in `cpu-clock-z.data`, as `perf report --stats` counts them.
const Z_SAMPLES: u64 = 1711;

#[test]
fn perf_record_z_files_read_as_the_records_they_carry() {
    let path = fixture("cpu-clock-z.data");
    let f = PerfData::open(&path).unwrap();
    let raw = f
        .records()
        .filter(|r| r.as_ref().unwrap().header.record_type == COMPRESSED);
    assert!(
        raw.count() > 1,
        "the fixture spreads its records over several COMPRESSED records"
    );
    let counts = f.count_by_type().unwrap();
    assert_eq!(counts.get(&9).copied(), Some(Z_SAMPLES), "{counts:?}");
    assert_eq!(
        counts.get(&COMPRESSED),
        None,
        "no COMPRESSED record is left: {counts:?}"
    );
    if let Some((perf_n, _)) = perf_sample_count(&path) {
        assert_eq!(perf_n, Z_SAMPLES);
    }
    let mut out = Vec::new();
    let sum = script::script(&f, &mut out, script::ScriptFormat::Text).unwrap();
    assert_eq!(sum.samples, Z_SAMPLES);
    let rep = report::build(&f).unwrap();
    assert_eq!(rep.events.iter().map(|e| e.samples).sum::<u64>(), Z_SAMPLES);
    assert!(rep.events[0].rows.iter().any(|r| r.comm == "dd"));
}

#[test]
fn a_compressed_record_that_cannot_be_decoded_is_an_error_not_an_empty_table() {
    let path = fixture("cpu-clock-z.data");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = {
        let f = PerfData::from_bytes(bytes.clone()).unwrap();
        let r = f
            .records()
            .map(Result::unwrap)
            .find(|r| r.header.record_type == COMPRESSED)
            .unwrap();
        r.offset
    };
    // Garble the zstd payload of the first COMPRESSED record.
    let start = usize::try_from(at).unwrap() + 8;
    for b in &mut bytes[start..start + 16] {
        *b ^= 0x5a;
    }
    let f = PerfData::from_bytes(bytes).unwrap();
    let err = script::script(&f, &mut Vec::new(), script::ScriptFormat::Text).unwrap_err();
    assert!(err.to_string().contains("COMPRESSED"), "{err}");
    assert!(report::build(&f).is_err());
}

/// A finished perf file made to look like one whose recorder was killed: data size 0 in
/// the header, no feature sections, optionally half a record at the end.
fn unfinished(name: &str, tail: &[u8]) -> (Vec<u8>, u64) {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let f = PerfData::from_bytes(bytes.clone()).unwrap();
    let samples = f.count_by_type().unwrap()[&9];
    let data = f.header().data;
    let mut cut = bytes[..usize::try_from(data.offset + data.size).unwrap()].to_vec();
    cut[48..56].copy_from_slice(&0u64.to_ne_bytes());
    cut[72..104].fill(0);
    cut.extend_from_slice(tail);
    (cut, samples)
}

#[test]
fn an_unfinished_file_is_read_to_its_end_and_says_so() {
    let (bytes, samples) = unfinished("cpu-clock.data", &[]);
    let f = PerfData::from_bytes(bytes).unwrap();
    let r = f.recovered().expect("the walk to the end is reported");
    assert_eq!((r.declared, r.ignored), (0, 0));
    assert_eq!(f.count_by_type().unwrap()[&9], samples);
    assert!(r.to_string().contains("not finished"), "{r}");
    // A record cut by the kill is left out, and counted.
    let (bytes, samples) = unfinished("cpu-clock.data", &[9, 0, 0, 0, 0, 0, 48, 0, 1, 2, 3]);
    let f = PerfData::from_bytes(bytes).unwrap();
    assert_eq!(f.recovered().unwrap().ignored, 11);
    assert_eq!(f.count_by_type().unwrap()[&9], samples);
    // A finished file is not "recovered".
    let f = PerfData::open(&fixture("cpu-clock.data")).unwrap();
    assert!(f.recovered().is_none());
}

#[test]
fn the_header_says_how_much_is_written_while_recording() {
    use perf_client::perf_data::{EventEntry, PerfDataWriter};
    let path = super::handmade::temp_path("unfinished-writer.data");
    let attr = super::handmade::cpu_clock_attr();
    let ev = vec![EventEntry {
        attr,
        name: "cpu-clock".into(),
        ids: vec![42],
    }];
    let mut w = PerfDataWriter::create(&path, ev, None).unwrap();
    let ip = 0x1234;
    for i in 0..200u64 {
        w.write_records(&super::handmade::sample(42, ip, 7, 1_000 + i))
            .unwrap();
    }
    w.finished_round().unwrap();
    w.write_pending(usize::MAX).unwrap();
    let written = w.data_bytes();
    // As a SIGKILL would leave it: no finish, no features.
    let bytes = std::fs::read(&path).unwrap();
    let size = u64::from_ne_bytes(bytes[48..56].try_into().unwrap());
    assert_eq!(size, written, "the header's data.size is current");
    drop(w);
    let f = PerfData::open(&path).unwrap();
    let r = f
        .recovered()
        .expect("a file without features says it was not finished");
    assert_eq!((r.declared, r.walked, r.ignored), (written, written, 0));
    assert_eq!(f.count_by_type().unwrap()[&9], 200);
    let _ = std::fs::remove_file(&path);
}

/// A file of `samples` samples followed by `unknown` records of kernel type 30, which the
/// parser does not know.
fn with_unknown_records(name: &str, samples: u64, unknown: u64) -> std::path::PathBuf {
    use perf_client::perf_data::writer::FinishInfo;
    use perf_client::perf_data::{EventEntry, HostFeatures, PerfDataWriter};
    let path = super::handmade::temp_path(name);
    let ev = vec![EventEntry {
        attr: super::handmade::cpu_clock_attr(),
        name: "cpu-clock".into(),
        ids: vec![42],
    }];
    let mut w = PerfDataWriter::create(&path, ev, None).unwrap();
    for i in 0..samples {
        w.write_records(&super::handmade::sample(42, 0x1234, 7, 1_000 + i))
            .unwrap();
    }
    let mut rec = Vec::new();
    rec.extend_from_slice(&30u32.to_ne_bytes());
    rec.extend_from_slice(&0u16.to_ne_bytes());
    rec.extend_from_slice(&16u16.to_ne_bytes());
    rec.extend_from_slice(&[0; 8]);
    for _ in 0..unknown {
        w.write_records(&rec).unwrap();
    }
    w.finished_round().unwrap();
    let info = FinishInfo {
        host: HostFeatures::of_this_host(vec!["test".into()]),
        build_ids: Vec::new(),
    };
    w.finish(&info).unwrap();
    path
}

#[test]
fn records_the_reader_cannot_interpret_are_counted_and_a_file_of_only_them_is_an_error() {
    let path = with_unknown_records("unknown-types.data", 5, 3);
    let f = PerfData::open(&path).unwrap();
    let sum = script::script(&f, &mut Vec::new(), script::ScriptFormat::Text).unwrap();
    assert_eq!(sum.samples, 5);
    assert_eq!(sum.unread.uninterpreted.get(&30), Some(&3));
    assert!(sum.unread.describe(5)[0].contains("3 of type 30"));
    let rep = report::build(&f).unwrap();
    assert_eq!(rep.unread.uninterpreted.get(&30), Some(&3));
    // No sample at all, only records we cannot read: the command fails, loudly.
    let path = with_unknown_records("only-unknown.data", 0, 4);
    for cmd in ["script", "report"] {
        let o = std::process::Command::new(crate::common::perf_client_bin())
            .args([cmd, "-i"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{cmd} exits non-zero: {err}");
        assert!(err.contains("no sample could be read"), "{cmd}: {err}");
    }
}
