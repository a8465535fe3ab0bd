//! Files built from hand-made records (no kernel involved): the writer's structure is
//! what perf accepts.

use std::path::{Path, PathBuf};
use std::process::Command;

use perf_client::perf_data::attr::flag;
use perf_client::perf_data::sample_type as st;
use perf_client::perf_data::writer::FinishInfo;
use perf_client::perf_data::{EventEntry, FileAttr, HostFeatures, PerfData, PerfDataWriter};
use perf_client::record::synth::Synthesizer;

pub fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("perf-data-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

pub fn cpu_clock_attr() -> FileAttr {
    let mut a = FileAttr::zeroed();
    a.set_type(1)
        .set_config(0)
        .set_sample_period(100_000)
        .set_sample_type(st::IDENTIFIER | st::IP | st::TID | st::TIME | st::CPU | st::PERIOD)
        .set_flags(flag::SAMPLE_ID_ALL | flag::MMAP | flag::COMM | flag::MMAP2 | flag::EXCLUDE_HV);
    a
}

/// A SAMPLE of [`cpu_clock_attr`]: identifier, ip, pid/tid, time, cpu, period.
pub fn sample(id: u64, ip: u64, pid: u32, time: u64) -> Vec<u8> {
    let mut r = Vec::new();
    let h = perf_ringbuf::RecordHeader {
        record_type: 9,
        misc: perf_client::perf_data::misc::USER,
        size: 8 + 6 * 8,
    };
    r.extend_from_slice(&h.to_u64().to_ne_bytes());
    r.extend_from_slice(&id.to_ne_bytes());
    r.extend_from_slice(&ip.to_ne_bytes());
    r.extend_from_slice(&pid.to_ne_bytes());
    r.extend_from_slice(&pid.to_ne_bytes());
    r.extend_from_slice(&time.to_ne_bytes());
    r.extend_from_slice(&0u64.to_ne_bytes());
    r.extend_from_slice(&100_000u64.to_ne_bytes());
    r
}

/// Writes a file with `n` samples of this process, split into rounds of 10.
pub fn write_handmade(path: &Path, n: u64) -> perf_client::perf_data::WriteSummary {
    let attr = cpu_clock_attr();
    let ev = vec![EventEntry {
        attr: attr.clone(),
        name: "cpu-clock".into(),
        ids: vec![42],
    }];
    let mut w = PerfDataWriter::create(path, ev, None).unwrap();
    let syn = Synthesizer::new(&attr);
    let mut pre = Vec::new();
    syn.kernel(&mut pre);
    syn.process(&mut pre, std::process::id());
    w.write_records(&pre).unwrap();
    w.finished_round().unwrap();
    let ip = write_handmade as *const () as u64;
    for i in 0..n {
        w.write_records(&sample(42, ip, std::process::id(), 1_000 + i))
            .unwrap();
        if i % 10 == 9 {
            w.finished_round().unwrap();
        }
    }
    w.finished_round().unwrap();
    let info = FinishInfo {
        host: HostFeatures::of_this_host(vec!["perf-client".into(), "test".into()]),
        build_ids: perf_client::perf_data::BuildId::running_kernel()
            .into_iter()
            .collect(),
    };
    w.finish(&info).unwrap()
}

/// Runs `/usr/bin/perf` with `args`; `None` (and a skip) when perf is not installed.
pub fn perf(args: &[&str]) -> Option<std::process::Output> {
    match Command::new("perf").args(args).output() {
        Ok(o) => Some(o),
        Err(e) => {
            crate::common::skip(&format!("cannot run perf: {e}"));
            None
        }
    }
}

/// perf's own count of SAMPLE records (`perf report --stats`), and its stderr.
pub fn perf_sample_count(path: &Path) -> Option<(u64, String)> {
    let o = perf(&["report", "--stats", "-i", path.to_str().unwrap()])?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        o.status.success(),
        "perf report --stats failed: {err}\n{out}"
    );
    let n = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("SAMPLE events:"))
        .map_or(0, |v| v.split_whitespace().next().unwrap().parse().unwrap());
    Some((n, err))
}

#[test]
fn handmade_file_reads_back_with_its_features() {
    let path = temp_path("handmade-own.data");
    let s = write_handmade(&path, 25);
    let f = PerfData::open(&path).unwrap();
    assert_eq!(f.count_by_type().unwrap().get(&9), Some(&25));
    assert_eq!(f.count_by_type().unwrap().get(&68), Some(&(s.rounds)));
    assert_eq!(f.attrs()[0].ids, vec![42]);
    assert_eq!(f.event_names().unwrap(), vec![Some("cpu-clock".to_owned())]);
    assert_eq!(f.arch().unwrap().as_deref(), Some(std::env::consts::ARCH));
    assert_eq!(f.cmdline().unwrap().unwrap(), vec!["perf-client", "test"]);
    assert!(f.hostname().unwrap().is_some());
    assert!(f.nrcpus().unwrap().unwrap().1 >= 1);
}

#[test]
fn handmade_file_is_read_by_perf_with_the_same_sample_count_and_no_warning() {
    let path = temp_path("handmade-perf.data");
    write_handmade(&path, 37);
    let Some((n, err)) = perf_sample_count(&path) else {
        return;
    };
    assert_eq!(n, 37, "perf stderr: {err}");
    assert!(err.trim().is_empty(), "perf warned: {err}");
    let o = perf(&["script", "-i", path.to_str().unwrap()]).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.trim().is_empty(),
        "perf script: {err}"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 37);
}

/// Counts of SAMPLE records and of all records seen by the `linux-perf-data` crate.
pub fn linux_perf_data_counts(path: &Path) -> (u64, u64) {
    use linux_perf_data::linux_perf_event_reader::RecordType;
    use linux_perf_data::{PerfFileReader, PerfFileRecord};
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let PerfFileReader {
        mut perf_file,
        mut record_iter,
    } = PerfFileReader::parse_file(file).unwrap();
    let (mut samples, mut all) = (0, 0);
    while let Some(r) = record_iter.next_record(&mut perf_file).unwrap() {
        all += 1;
        if let PerfFileRecord::EventRecord { record, .. } = r {
            if record.record_type == RecordType::SAMPLE {
                samples += 1;
            }
        }
    }
    (samples, all)
}

#[test]
fn handmade_file_is_read_by_linux_perf_data_with_the_same_counts() {
    let path = temp_path("handmade-lpd.data");
    write_handmade(&path, 19);
    let ours = PerfData::open(&path).unwrap().count_by_type().unwrap();
    let (samples, all) = linux_perf_data_counts(&path);
    assert_eq!(samples, 19);
    // linux-perf-data consumes FINISHED_ROUND records itself.
    let without_rounds: u64 = ours.iter().filter(|(t, _)| **t != 68).map(|(_, n)| n).sum();
    assert_eq!(all, without_rounds);
}
