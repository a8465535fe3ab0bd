//! `export --format pprof|firefox|folded` against `report`'s totals.

use std::collections::BTreeSet;

use super::{capture, go_pprof, perf_client_ok, pprof_raw_totals, report_totals};
use crate::perf_data::handmade::temp_path;

#[test]
fn pprof_export_reads_in_go_tool_pprof_with_the_totals_of_report() {
    let Some(data) = capture() else { return };
    let data = data.to_str().unwrap();
    let report = String::from_utf8(perf_client_ok(&["report", "-i", data])).unwrap();
    let (period, samples) = report_totals(&report);
    let out = temp_path("export.pb.gz");
    let out = out.to_str().unwrap();
    perf_client_ok(&["export", "--format", "pprof", "-i", data, "-o", out]);
    let Some(raw) = go_pprof(&["-raw", out]) else {
        return;
    };
    let text = String::from_utf8_lossy(&raw.stdout);
    assert!(
        raw.status.success(),
        "go tool pprof -raw: {}",
        String::from_utf8_lossy(&raw.stderr)
    );
    assert!(
        text.contains("samples/count cpu/nanoseconds[dflt]"),
        "sample types: {text:.400}"
    );
    assert_eq!(
        pprof_raw_totals(&text),
        vec![samples as i64, period as i64],
        "pprof's totals against report's {samples} samples, period {period}"
    );
    for l in ["comm:[dd]", "pid:[", "tid:["] {
        assert!(text.contains(l), "no label {l} in pprof -raw");
    }
    // A cpu label exactly when the samples carry PERF_SAMPLE_CPU.
    let script = String::from_utf8(perf_client_ok(&["script", "--json", "-i", data])).unwrap();
    let first: serde_json::Value = serde_json::from_str(script.lines().next().unwrap()).unwrap();
    assert_eq!(
        text.contains("cpu:["),
        first.get("cpu").is_some_and(|c| !c.is_null())
    );
    // -top names the functions report names, with the same top entry.
    let top = go_pprof(&["-top", out]).unwrap();
    assert!(top.status.success());
    let top = String::from_utf8_lossy(&top.stdout);
    let first_report_symbol = report
        .lines()
        .find(|l| l.contains('%') && !l.starts_with('#'))
        .and_then(|l| l.split("] ").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    assert!(
        top.contains(&first_report_symbol),
        "report's top symbol {first_report_symbol} is not in pprof -top:\n{top}"
    );
    let traces = go_pprof(&["-traces", out]).unwrap();
    assert!(traces.status.success());
    let traces = String::from_utf8_lossy(&traces.stdout);
    assert!(traces.contains("Type: cpu"), "{traces:.300}");
    assert!(traces.contains("comm:  dd"), "{traces:.300}");
}

#[test]
fn firefox_export_has_a_thread_per_tid_and_every_sample() {
    let Some(data) = capture() else { return };
    let data = data.to_str().unwrap();
    let script = String::from_utf8(perf_client_ok(&["script", "--json", "-i", data])).unwrap();
    let mut tids = BTreeSet::new();
    let mut samples = 0u64;
    for l in script.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        if let Some(tid) = v.get("tid").and_then(|t| t.as_u64()) {
            tids.insert(tid);
            samples += 1;
        }
    }
    assert!(samples > 0);
    let out = temp_path("export.json");
    let out = out.to_str().unwrap();
    perf_client_ok(&["export", "--format", "firefox", "-i", data, "-o", out]);
    let profile: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    assert!(
        profile["meta"]["version"].as_u64().is_some(),
        "no meta.version"
    );
    let threads = profile["threads"].as_array().expect("threads");
    let ff_tids: BTreeSet<u64> = threads
        .iter()
        .map(|t| match &t["tid"] {
            serde_json::Value::String(s) => s.parse().unwrap(),
            v => v.as_u64().unwrap(),
        })
        .collect();
    assert_eq!(ff_tids, tids, "one thread per sampled tid");
    let ff_samples: u64 = threads
        .iter()
        .map(|t| {
            let s = &t["samples"];
            match s["weight"].as_array() {
                Some(w) => w.iter().map(|x| x.as_u64().unwrap()).sum(),
                None => s["length"].as_u64().unwrap(),
            }
        })
        .sum();
    assert_eq!(ff_samples, samples);
    // Stacks: callchains give frames, and every sample of dd has a stack.
    let dd = threads
        .iter()
        .find(|t| t["name"] == "dd")
        .expect("a thread named dd");
    assert!(dd["stackTable"]["length"].as_u64().unwrap() > 1);
    assert!(dd["samples"]["stack"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| !s.is_null()));
}

#[test]
fn folded_export_is_the_flame_graph_lines_with_reports_total() {
    let Some(data) = capture() else { return };
    let data = data.to_str().unwrap();
    let report = String::from_utf8(perf_client_ok(&["report", "-i", data])).unwrap();
    let (period, _) = report_totals(&report);
    let folded = String::from_utf8(perf_client_ok(&[
        "export", "--format", "folded", "-i", data,
    ]))
    .unwrap();
    let mut total = 0u64;
    for l in folded.lines() {
        let (stack, n) = l.rsplit_once(' ').expect("`stack N`");
        assert!(!stack.is_empty(), "{l}");
        total += n.parse::<u64>().expect("a count");
    }
    assert_eq!(total, period);
    assert!(
        folded.lines().any(|l| l.starts_with("dd;")),
        "{folded:.300}"
    );
}

/// A PERF_RECORD_LOST of [`cpu_clock_attr`]'s layout: `{id, lost}`, then the sample_id
/// trailer (tid, time, cpu, identifier).
///
/// [`cpu_clock_attr`]: crate::perf_data::handmade::cpu_clock_attr
fn lost_record(id: u64, lost: u64, pid: u32, time: u64) -> Vec<u8> {
    let h = perf_ringbuf::RecordHeader {
        record_type: 2,
        misc: 0,
        size: 8 + 16 + 32,
    };
    let mut r = h.to_u64().to_ne_bytes().to_vec();
    for v in [id, lost] {
        r.extend_from_slice(&v.to_ne_bytes());
    }
    r.extend_from_slice(&pid.to_ne_bytes());
    r.extend_from_slice(&pid.to_ne_bytes());
    r.extend_from_slice(&time.to_ne_bytes());
    r.extend_from_slice(&0u64.to_ne_bytes()); // cpu, res
    r.extend_from_slice(&id.to_ne_bytes());
    r
}

#[test]
fn firefox_export_marks_where_samples_were_lost() {
    use crate::perf_data::handmade::{cpu_clock_attr, sample};
    use perf_client::perf_data::writer::FinishInfo;
    use perf_client::perf_data::{EventEntry, HostFeatures, PerfDataWriter};
    let path = temp_path("export-lost.data");
    let attr = cpu_clock_attr();
    let mut w = PerfDataWriter::create(
        &path,
        vec![EventEntry {
            attr,
            name: "cpu-clock".into(),
            ids: vec![42],
        }],
        None,
    )
    .unwrap();
    let pid = std::process::id();
    for i in 0..10 {
        w.write_records(&sample(42, 0x1000, pid, 1_000 + i))
            .unwrap();
    }
    w.write_records(&lost_record(42, 7, pid, 1_010)).unwrap();
    w.write_records(&sample(42, 0x1000, pid, 1_020)).unwrap();
    w.finished_round().unwrap();
    w.finish(&FinishInfo {
        host: HostFeatures::of_this_host(vec!["test".into()]),
        build_ids: Vec::new(),
    })
    .unwrap();
    let out = temp_path("export-lost.json");
    let stderr = {
        let o = super::perf_client(
            &[
                "export",
                "--format",
                "firefox",
                "-i",
                path.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ],
            None,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(
        stderr.contains("11 samples") && stderr.contains("1 lost markers"),
        "{stderr}"
    );
    let profile: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let threads = profile["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 1);
    let markers = &threads[0]["markers"];
    let data = markers["data"].as_array().expect("markers.data");
    assert_eq!(data.len(), 1, "{markers}");
    assert_eq!(data[0]["type"], "PerfLost");
    assert_eq!(data[0]["count"].as_f64(), Some(7.0));
    // At the LOST record's time, relative to the first sample (10 ns later → 1e-5 ms).
    let t = markers["startTime"][0].as_f64().unwrap();
    assert!((t - 10e-6).abs() < 1e-9, "{t}");
}
