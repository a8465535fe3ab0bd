//! Records per second reading one large perf.data (issue 6 §1 "parsing"): our reader
//! (`perf_client::perf_data`) against the `linux-perf-data` crate, on the same file.
//!
//! Both readers do the same work: open the file, walk the data section in perf's order
//! (records sorted by time within each FINISHED_ROUND round), and decode every record
//! (samples field by field). The record counts of both are compared before any timing.
//!
//! The file: `$PARSE_BENCH_FILE`, else `target/parse-bench/storm.data`, made on first use
//! by `perf record -e raw_syscalls:sys_enter -c 1 -m 1024` of `dd bs=1 count=1000000`
//! (about 2 million samples, 236 MB).
//!
//! Ours is measured three ways: streamed (`PerfData::open`, the safe default: the data
//! section read round by round into a reused buffer), mapped (`open_mapped`, what
//! `perf-client script` uses) and read whole (`read_whole`: `std::fs::read` first, the
//! old `open`, kept as a reference).
//!
//! Two modes:
//! - `cargo bench --bench parsing`: criterion, one group "parsing" (throughput in records).
//! - `PARSE_ROWS_JSON=target/parse-rows.json cargo bench --bench parsing`: no criterion;
//!   `PARSE_ROUNDS` (default 9) interleaved rounds of every subject, medians and the
//!   same-round ratio written as JSON rows `{group, subject, value, unit, peer, ratio}`.

use std::hint::black_box;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput};
use linux_perf_data::linux_perf_event_reader::EventRecord;
use linux_perf_data::{PerfFileReader, PerfFileRecord};
use perf_client::analysis::for_each_ordered;
use perf_client::perf_data::PerfData;
use perf_client::records::Record;

/// What a reader saw: counts and a checksum over decoded sample fields, so that no
/// decoding can be optimised away and both readers can be compared.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Seen {
    samples: u64,
    others: u64,
    /// Sum of sample timestamps, ips and tids.
    checksum: u64,
}

impl Seen {
    fn records(&self) -> u64 {
        self.samples + self.others
    }
}

fn bench_file() -> PathBuf {
    if let Some(p) = std::env::var_os("PARSE_BENCH_FILE") {
        return PathBuf::from(p);
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/parse-bench");
    let file = dir.join("storm.data");
    if !file.exists() {
        std::fs::create_dir_all(&dir).expect("create target/parse-bench");
        let tmp = dir.join("storm.data.tmp");
        eprintln!("parsing: recording {} (about 20 s, once)", file.display());
        let status = Command::new("perf")
            .args(["record", "-q", "-e", "raw_syscalls:sys_enter", "-c", "1"])
            .args(["-m", "1024", "-o"])
            .arg(&tmp)
            .args([
                "--",
                "dd",
                "if=/dev/zero",
                "of=/dev/null",
                "bs=1",
                "count=1000000",
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .expect("run perf record");
        assert!(status.success(), "perf record failed: {status}");
        std::fs::rename(&tmp, &file).expect("rename the capture");
    }
    file
}

/// How our reader gets at the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `PerfData::open`: the data section read round by round into a reused buffer.
    Stream,
    /// `PerfData::open_mapped`.
    Mmap,
    /// `PerfData::read_whole`: `std::fs::read` of the whole file first (what `open`
    /// did before it streamed).
    ReadWhole,
}

/// Our reader: open, parse context, every record decoded in round order.
fn ours(path: &Path, mode: Mode) -> Seen {
    let file = match mode {
        Mode::Stream => PerfData::open(path),
        // SAFETY: the bench file is finished and nothing writes it while it is read.
        Mode::Mmap => unsafe { PerfData::open_mapped(path) },
        Mode::ReadWhole => PerfData::read_whole(path),
    }
    .expect("our reader opens the file");
    let ctx = file.parse_context().expect("parse context");
    let mut seen = Seen::default();
    for_each_ordered(&file, &ctx, |rec| {
        match &rec.record {
            Record::Sample(s) => {
                seen.samples += 1;
                seen.checksum = seen
                    .checksum
                    .wrapping_add(s.time.unwrap_or(0))
                    .wrapping_add(s.ip.unwrap_or(0))
                    .wrapping_add(u64::from(s.tid.unwrap_or(0)));
            }
            _ => seen.others += 1,
        }
        Ok(())
    })
    .expect("our reader walks the file");
    seen
}

/// `linux-perf-data`: open, records in its (sorted) order, event records decoded.
fn theirs(path: &Path) -> Seen {
    let f = std::fs::File::open(path).expect("open");
    let PerfFileReader {
        mut perf_file,
        mut record_iter,
    } = PerfFileReader::parse_file(BufReader::with_capacity(1 << 16, f))
        .expect("linux-perf-data opens the file");
    let mut seen = Seen::default();
    while let Some(rec) = record_iter
        .next_record(&mut perf_file)
        .expect("linux-perf-data walks the file")
    {
        match rec {
            PerfFileRecord::EventRecord { record, .. } => {
                match record.parse().expect("linux-perf-data parses the record") {
                    EventRecord::Sample(s) => {
                        seen.samples += 1;
                        seen.checksum = seen
                            .checksum
                            .wrapping_add(s.timestamp.unwrap_or(0))
                            .wrapping_add(s.ip.unwrap_or(0))
                            .wrapping_add(s.tid.unwrap_or(0) as u32 as u64);
                    }
                    _ => seen.others += 1,
                }
            }
            PerfFileRecord::UserRecord(_) => seen.others += 1,
        }
    }
    seen
}

/// Both readers must agree on the file before anything is timed.
fn check(path: &Path) -> Seen {
    let a = ours(path, Mode::Stream);
    let b = theirs(path);
    assert_eq!(
        ours(path, Mode::Mmap),
        a,
        "the mapped and the streamed file differ"
    );
    assert_eq!(
        ours(path, Mode::ReadWhole),
        a,
        "the read and the streamed file differ"
    );
    assert_eq!(
        a,
        b,
        "our reader and linux-perf-data disagree on {}",
        path.display()
    );
    assert!(a.samples > 0, "{} has no samples", path.display());
    eprintln!(
        "parsing: {}: {} records ({} samples), both readers agree",
        path.display(),
        a.records(),
        a.samples
    );
    a
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn timed(f: impl FnOnce() -> Seen) -> (Seen, Duration) {
    let t = Instant::now();
    let s = black_box(f());
    (s, t.elapsed())
}

/// Interleaved rounds, medians, same-round ratios, written as JSON rows.
fn rows_mode(path: &Path, out: &Path, expected: Seen) {
    let rounds: usize = std::env::var("PARSE_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(9);
    let n = expected.records() as f64;
    // Per subject: M rec/s per round, and ours' ratio to linux-perf-data in that round.
    // The whole-file read is a reference (the old `open`), without a target.
    let names = [
        "perf-client reader (stream)",
        "perf-client reader (mmap)",
        "perf-client reader (read whole file)",
        "linux-perf-data 0.13",
    ];
    let targets = ["2.0", "2.0", "null"];
    const N: usize = 4;
    let peer = N - 1;
    let mut rate = vec![Vec::new(); N];
    let mut ratio = vec![Vec::new(); peer];
    for round in 0..rounds {
        let mut t = [Duration::ZERO; N];
        // Rotate who goes first so drift hits all.
        for k in 0..N {
            let who = (round + k) % N;
            let (seen, d) = match who {
                0 => timed(|| ours(path, Mode::Stream)),
                1 => timed(|| ours(path, Mode::Mmap)),
                2 => timed(|| ours(path, Mode::ReadWhole)),
                _ => timed(|| theirs(path)),
            };
            assert_eq!(seen, expected, "{} changed its counts", names[who]);
            t[who] = d;
        }
        let r: Vec<f64> = t.iter().map(|d| n / d.as_secs_f64() / 1e6).collect();
        eprintln!(
            "round {round}: stream {:.2}, mmap {:.2}, read whole {:.2}, linux-perf-data {:.2} M rec/s",
            r[0], r[1], r[2], r[3]
        );
        for k in 0..N {
            rate[k].push(r[k]);
        }
        for k in 0..peer {
            ratio[k].push(r[k] / r[peer]);
        }
    }
    let mut rows = Vec::new();
    for k in 0..N {
        let v = median(&mut rate[k]);
        let (lo, hi) = (rate[k][0], rate[k][rounds - 1]);
        let (peer_name, rat, target) = if k < peer {
            let m = median(&mut ratio[k]);
            let verdict = match targets[k] {
                "null" => "reference, no target",
                _ if m >= 2.0 => "target 2.0: met",
                _ => "target 2.0: MISSED",
            };
            eprintln!(
                "parsing: {}: {v:.2} M rec/s, {m:.2}x linux-perf-data ({verdict})",
                names[k],
            );
            (
                format!("\"{}\"", names[peer]),
                format!("{m:.3}"),
                targets[k],
            )
        } else {
            eprintln!("parsing: {}: {v:.2} M rec/s", names[k]);
            ("null".to_owned(), "null".to_owned(), "null")
        };
        rows.push(format!(
            "  {{\"group\": \"parsing\", \"subject\": \"{}\", \"value\": {v:.3}, \"unit\": \"M rec/s\", \"peer\": {peer_name}, \"ratio\": {rat}, \"target\": {target}, \"min\": {lo:.3}, \"max\": {hi:.3}, \"rounds\": {rounds}, \"records\": {}}}",
            names[k],
            expected.records()
        ));
    }
    std::fs::write(out, format!("[\n{}\n]\n", rows.join(",\n"))).expect("write the rows");
    eprintln!("parsing: rows in {}", out.display());
}

fn main() {
    let path = bench_file();
    let expected = check(&path);
    if let Some(out) = std::env::var_os("PARSE_ROWS_JSON") {
        rows_mode(&path, Path::new(&out), expected);
        return;
    }
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    let mut g = c.benchmark_group("parsing");
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Elements(expected.records()));
    g.bench_function("perf-client perf_data (stream)", |b| {
        b.iter(|| ours(&path, Mode::Stream))
    });
    g.bench_function("perf-client perf_data (mmap)", |b| {
        b.iter(|| ours(&path, Mode::Mmap))
    });
    g.bench_function("perf-client perf_data (read whole file)", |b| {
        b.iter(|| ours(&path, Mode::ReadWhole))
    });
    g.bench_function("linux-perf-data", |b| b.iter(|| theirs(&path)));
    g.finish();
    c.final_summary();
}
