//! Exports (pprof, Firefox Profiler, folded), pipe mode and pushes, judged by the tools
//! that read them: `go tool pprof`, `perf report`/`perf script`, a JSON parser, and a
//! loopback HTTP listener.

mod formats;
mod pipe;
mod push;
mod rotate;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use perf_client::kernel::capture::Target;
use perf_client::record::RecordOptions;

use crate::common::perf_client_bin;
use crate::perf_data::handmade::temp_path;
use crate::perf_data::recorded::try_record;

/// One capture with callchains shared by the export tests (dd, cpu-clock every 50 µs),
/// or `None` when the kernel refused (the skip is counted once per test).
fn capture() -> Option<&'static Path> {
    static CAPTURE: OnceLock<Option<PathBuf>> = OnceLock::new();
    let path = CAPTURE.get_or_init(|| {
        let mut opts = RecordOptions::new(
            vec!["cpu-clock".into()],
            Target::Command(
                [
                    "dd",
                    "if=/dev/zero",
                    "of=/dev/null",
                    "bs=4k",
                    "count=200000",
                ]
                .iter()
                .map(OsString::from)
                .collect(),
            ),
        );
        opts.period = Some(50_000);
        opts.callchain = true;
        opts.output = temp_path("export-capture.data");
        opts.cmdline = vec!["perf-client".into(), "record".into()];
        let s = try_record(&opts)?;
        assert!(s.samples > 0, "{s:?}");
        Some(opts.output)
    });
    match path {
        Some(p) => Some(p.as_path()),
        None => {
            crate::common::skip("no capture: the kernel refused cpu-clock");
            None
        }
    }
}

/// Runs `perf-client ARGS`, feeding `stdin`; the output whatever the exit status.
fn perf_client(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(perf_client_bin());
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run perf-client");
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    child.wait_with_output().expect("wait for perf-client")
}

/// `perf-client ARGS`, which must succeed; its stdout.
fn perf_client_ok(args: &[&str]) -> Vec<u8> {
    let o = perf_client(args, None);
    assert!(
        o.status.success(),
        "perf-client {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

/// `report`'s "Event count (approx.)" and sample count (the first event).
fn report_totals(report: &str) -> (u64, u64) {
    let field = |prefix: &str| -> u64 {
        report
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix:?} in the report:\n{report}"))
    };
    (field("# Event count (approx.): "), field("# Samples: "))
}

/// `go tool pprof ARGS`, or `None` (a counted skip) when Go is not installed.
fn go_pprof(args: &[&str]) -> Option<Output> {
    match Command::new("go")
        .arg("tool")
        .arg("pprof")
        .args(args)
        .output()
    {
        Ok(o) => Some(o),
        Err(e) => {
            crate::common::skip(&format!(
                "cannot run `go tool pprof` (Debian golang-go): {e}"
            ));
            None
        }
    }
}

/// Sums of the values per column of `go tool pprof -raw` (its "Samples:" table).
fn pprof_raw_totals(raw: &str) -> Vec<i64> {
    let mut lines = raw.lines().skip_while(|l| !l.starts_with("Samples:"));
    lines.next();
    lines.next(); // the sample types
    let mut totals = Vec::new();
    for l in lines.take_while(|l| !l.starts_with("Locations")) {
        // Sample lines are `v1 v2: loc...`; label lines (`comm:[dd]`) do not parse.
        let Some((values, _)) = l.split_once(':') else {
            continue;
        };
        let Ok(vals) = values
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<Vec<i64>, _>>()
        else {
            continue;
        };
        totals.resize(vals.len().max(totals.len()), 0);
        for (t, v) in totals.iter_mut().zip(vals) {
            *t += v;
        }
    }
    totals
}
