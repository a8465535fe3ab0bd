//! Files made by the real `perf record` (tests/fixtures/README.md gives each command).

use std::path::PathBuf;

use perf_client::perf_data::{PerfData, PerfDataError};
use perf_client::records::Record;

use super::handmade::{linux_perf_data_counts, perf_sample_count};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const FIXTURES: [&str; 3] = ["cpu-clock.data", "cpu-clock-g.data", "sys-enter.data"];

#[test]
fn our_reader_counts_the_samples_perf_counts_in_real_perf_files() {
    let mut perf_missing = false;
    for name in FIXTURES {
        let path = fixture(name);
        let ours = PerfData::open(&path).unwrap().count_by_type().unwrap();
        let ours = ours.get(&9).copied().unwrap_or(0);
        assert!(ours > 0, "{name} has samples");
        // linux-perf-data is an independent reader: it checks ours without perf too.
        assert_eq!(linux_perf_data_counts(&path).0, ours, "{name}");
        match perf_sample_count(&path) {
            Some((perf_n, _)) => assert_eq!(ours, perf_n, "{name}"),
            None => perf_missing = true,
        }
    }
    if perf_missing {
        crate::common::skip("perf is not installed: perf's own counts were not compared");
    }
}

#[test]
fn every_record_of_real_perf_files_parses_with_the_attrs_of_the_file() {
    for name in FIXTURES {
        let f = PerfData::open(&fixture(name)).unwrap();
        let ctx = f.parse_context().unwrap();
        let mut samples = 0;
        for r in f.parsed_records(&ctx) {
            let (offset, rec) = r.unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Record::Sample(s) = &rec.record {
                samples += 1;
                assert!(s.ip.is_some() && s.time.is_some(), "{name} @ {offset:#x}");
                if name == "cpu-clock-g.data" {
                    assert!(s.callchain.as_ref().is_some_and(|c| !c.is_empty()));
                }
                if name == "sys-enter.data" {
                    assert!(s.raw.is_some_and(|r| r.len() >= 8 + 8 * 7));
                }
            }
        }
        assert!(samples > 0, "{name}");
    }
}

#[test]
fn real_perf_feature_sections_decode() {
    let f = PerfData::open(&fixture("sys-enter.data")).unwrap();
    assert_eq!(f.arch().unwrap().as_deref(), Some("x86_64"));
    assert!(f.osrelease().unwrap().is_some());
    let cmd = f.cmdline().unwrap().unwrap();
    assert!(cmd.iter().any(|a| a == "raw_syscalls:sys_enter"), "{cmd:?}");
    let names = f.event_names().unwrap();
    assert!(
        names.contains(&Some("raw_syscalls:sys_enter".into())),
        "{names:?}"
    );
    assert!(f.attrs().iter().any(|a| a.attr.is_tracepoint()));
    assert!(f
        .feature(perf_client::perf_data::feature::TRACING_DATA)
        .unwrap()
        .is_some());
    let (avail, online) = f.nrcpus().unwrap().unwrap();
    assert!(avail >= online && online >= 1);
    let ids = f.build_ids().unwrap();
    assert!(
        ids.iter().any(|b| b.filename.contains("kernel.kallsyms")),
        "{ids:?}"
    );
}

#[test]
fn every_truncation_of_a_real_file_is_an_error_with_an_offset_never_a_panic() {
    let bytes = std::fs::read(fixture("cpu-clock.data")).unwrap();
    let step = (bytes.len() / 97).max(1);
    for cut in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
        let e = PerfData::from_bytes(bytes[..cut].to_vec()).unwrap_err();
        assert!(e.offset().is_some(), "cut {cut}: {e}");
    }
}

#[test]
fn corrupt_record_size_in_the_data_section_reports_its_offset() {
    let mut bytes = std::fs::read(fixture("cpu-clock.data")).unwrap();
    let f = PerfData::from_bytes(bytes.clone()).unwrap();
    let victim = f.records().nth(5).unwrap().unwrap().offset;
    // size = 4: smaller than a header.
    bytes[victim as usize + 6..victim as usize + 8].copy_from_slice(&4u16.to_ne_bytes());
    let f = PerfData::from_bytes(bytes).unwrap();
    let err = f.records().find_map(Result::err).unwrap();
    assert!(
        matches!(err, PerfDataError::Corrupt { offset, .. } if offset == victim),
        "{err}"
    );
}

#[test]
fn attr_size_larger_than_the_entry_is_an_error_at_the_attr() {
    let mut bytes = std::fs::read(fixture("cpu-clock.data")).unwrap();
    let f = PerfData::from_bytes(bytes.clone()).unwrap();
    let at = f.header().attrs.offset as usize;
    bytes[at + 4..at + 8].copy_from_slice(&4000u32.to_ne_bytes());
    let e = PerfData::from_bytes(bytes).unwrap_err();
    assert_eq!(e.offset(), Some(at as u64 + 4), "{e}");
}

#[test]
fn script_prints_one_line_per_sample_of_a_real_perf_file() {
    use perf_client::analysis::script::{script, ScriptFormat};
    let f = PerfData::open(&fixture("cpu-clock.data")).unwrap();
    let mut out = Vec::new();
    let sum = script(&f, &mut out, ScriptFormat::Text).unwrap();
    let text = String::from_utf8(out).unwrap();
    let samples = f.count_by_type().unwrap()[&9];
    assert_eq!(sum.samples, samples);
    assert_eq!(text.lines().count() as u64, samples);
    assert!(
        text.lines().all(|l| l.contains("cpu-clock:")),
        "{}",
        &text[..200]
    );
    assert!(
        text.contains(" dd "),
        "comm resolved from the file's COMM records"
    );
    let mut json = Vec::new();
    script(&f, &mut json, ScriptFormat::Json).unwrap();
    let json = String::from_utf8(json).unwrap();
    assert_eq!(json.lines().count() as u64, samples);
    assert!(json
        .lines()
        .all(|l| l.starts_with('{') && l.contains("\"comm\":\"dd\"")));
}

#[test]
fn report_of_a_real_perf_file_adds_up_and_draws_a_flame_graph() {
    use perf_client::analysis::report;
    let f = PerfData::open(&fixture("cpu-clock-g.data")).unwrap();
    let rep = report::build(&f).unwrap();
    let ev = &rep.events[0];
    assert_eq!(ev.event, "cpu-clock");
    assert_eq!(ev.samples, f.count_by_type().unwrap()[&9]);
    let total: f64 = ev.rows.iter().map(|r| r.percent).sum();
    assert!((total - 100.0).abs() < 1e-6, "{total}");
    assert!(
        ev.rows.windows(2).all(|w| w[0].period >= w[1].period),
        "sorted"
    );
    assert!(ev
        .rows
        .iter()
        .any(|r| r.kernel && r.dso == "[kernel.kallsyms]"));
    assert!(
        ev.rows.iter().any(|r| !r.kernel && r.symbol != "[unknown]"),
        "user symbols"
    );
    let mut svg = Vec::new();
    rep.flamegraph(&mut svg, "test").unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(
        svg.contains("<svg") && svg.contains("dd"),
        "{}",
        &svg[..200]
    );
}

#[test]
fn a_mapped_file_has_the_bytes_and_the_script_output_of_a_read_one() {
    use perf_client::analysis::script::{script, ScriptFormat};
    for name in FIXTURES {
        let path = fixture(name);
        let read = PerfData::open(&path).unwrap();
        // SAFETY: the fixture is a finished file that nothing writes during the test.
        let mapped = unsafe { PerfData::open_mapped(&path) }.unwrap();
        assert_eq!(read.bytes().unwrap(), mapped.bytes().unwrap(), "{name}");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        script(&read, &mut a, ScriptFormat::Text).unwrap();
        script(&mapped, &mut b, ScriptFormat::Text).unwrap();
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn script_text_equals_perf_script_with_the_same_fields_on_kernel_frames() {
    use perf_client::analysis::script::{script_with, FieldSpec, ScriptFormat, ScriptOptions};
    // The fields our text line carries, in perf's -F syntax; runs of spaces are squeezed
    // (perf pads some columns differently).
    let fields = "comm,pid,tid,cpu,time,period,event,ip,sym,symoff,dso";
    let squeeze = |s: &str| {
        s.split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    // sys-enter.data: kernel frames only. (User frames differ: perf also reads .symtab
    // and debug links, and prints DSO paths in full; not equal yet.)
    let name = "sys-enter.data";
    let path = fixture(name);
    let Some(o) = super::handmade::perf(&["script", "-F", fields, "-i", path.to_str().unwrap()])
    else {
        return;
    };
    assert!(o.status.success(), "perf script failed on {name}");
    let f = PerfData::open(&path).unwrap();
    let mut ours = Vec::new();
    let opts = ScriptOptions {
        format: ScriptFormat::Text,
        fields: FieldSpec::parse(fields).unwrap(),
        ..ScriptOptions::default()
    };
    script_with(&f, &mut ours, &opts).unwrap();
    let ours: Vec<String> = String::from_utf8(ours)
        .unwrap()
        .lines()
        .map(squeeze)
        .collect();
    let perf: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(squeeze)
        .collect();
    assert_eq!(ours.len(), perf.len(), "{name}: line counts");
    let differ = ours.iter().zip(&perf).filter(|(a, b)| a != b).count();
    assert_eq!(
        differ,
        0,
        "{name}: first difference: {:?}",
        ours.iter().zip(&perf).find(|(a, b)| a != b)
    );
}
