//! Pipe mode both ways: `perf-client record -o -` read by `perf report/script -i -`, and
//! `perf record -o -` read by `perf-client report/script/export -i -`.

use std::io::Read;
use std::process::{Command, Stdio};

use super::{capture, perf_client, report_totals};
use crate::common::perf_client_bin;
use crate::perf_data::handmade::temp_path;

const DD: [&str; 5] = [
    "dd",
    "if=/dev/zero",
    "of=/dev/null",
    "bs=4k",
    "count=100000",
];

/// `perf ARGS` with `stdin`, or `None` (a counted skip) when perf is missing.
fn perf_with_stdin(args: &[&str], stdin: &[u8]) -> Option<std::process::Output> {
    let mut child = match Command::new("perf")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            crate::common::skip(&format!("cannot run perf: {e}"));
            return None;
        }
    };
    let mut pipe = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        use std::io::Write;
        let _ = pipe.write_all(&bytes);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    Some(out)
}

/// Lines of `perf script` / `perf-client script` output (one per sample without -g).
fn lines(out: &[u8]) -> usize {
    String::from_utf8_lossy(out).lines().count()
}

#[test]
fn record_to_stdout_writes_pipe_mode_that_perf_report_and_script_read() {
    if capture().is_none() {
        return;
    }
    let mut args = vec!["record", "-q", "-c", "50000", "-o", "-", "--"];
    args.extend(DD);
    let o = perf_client(&args, None);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stream = o.stdout;
    assert_eq!(&stream[..8], b"PERFILE2");
    assert_eq!(u64::from_ne_bytes(stream[8..16].try_into().unwrap()), 16);
    assert!(!std::path::Path::new("-").exists(), "no file named -");
    // Our own reading of the stream gives the sample count perf must find.
    let ours = perf_client(&["script", "-i", "-"], Some(&stream));
    assert!(
        ours.status.success(),
        "{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let samples = lines(&ours.stdout);
    assert!(samples > 0);
    let Some(script) = perf_with_stdin(&["script", "-i", "-"], &stream) else {
        return;
    };
    let err = String::from_utf8_lossy(&script.stderr);
    assert!(script.status.success(), "perf script -i -: {err}");
    assert_eq!(lines(&script.stdout), samples, "perf script -i -: {err}");
    let report = perf_with_stdin(&["report", "--stats", "-i", "-"], &stream).unwrap();
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let n: usize = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("SAMPLE events:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("perf report --stats -i -:\n{text}"));
    assert_eq!(n, samples);
    let stdio = perf_with_stdin(&["report", "--stdio", "-i", "-"], &stream).unwrap();
    assert!(stdio.status.success());
    assert!(String::from_utf8_lossy(&stdio.stdout).contains("dd"));
}

#[test]
fn perf_pipe_output_is_read_by_report_script_and_export() {
    if capture().is_none() {
        return;
    }
    let mut args = vec!["record", "-q", "-c", "50000", "-o", "-", "--"];
    args.extend(DD);
    let Some(rec) = perf_with_stdin(&args, &[]) else {
        return;
    };
    assert!(
        rec.status.success(),
        "perf record -o -: {}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let stream = rec.stdout;
    let perf_script = perf_with_stdin(&["script", "-i", "-"], &stream).unwrap();
    let perf_samples = lines(&perf_script.stdout);
    assert!(perf_samples > 0);

    let script = perf_client(&["script", "-i", "-"], Some(&stream));
    assert!(
        script.status.success(),
        "{}",
        String::from_utf8_lossy(&script.stderr)
    );
    assert_eq!(lines(&script.stdout), perf_samples);

    let report = perf_client(&["report", "--json", "-i", "-"], Some(&stream));
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let (period, samples) = report_totals(&String::from_utf8_lossy(&report.stdout));
    assert_eq!(samples as usize, perf_samples);
    assert_eq!(period, samples * 50_000);

    let out = temp_path("from-perf-pipe.folded");
    let export = perf_client(
        &[
            "export",
            "--format",
            "folded",
            "-i",
            "-",
            "-o",
            out.to_str().unwrap(),
        ],
        Some(&stream),
    );
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let folded = std::fs::read_to_string(&out).unwrap();
    let total: u64 = folded
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, period);
}

#[test]
fn a_reader_that_goes_away_ends_record_to_stdout_quietly() {
    if capture().is_none() {
        return;
    }
    let child = Command::new(perf_client_bin())
        .args(["record", "-q", "-c", "50000", "-o", "-", "--"])
        .args(DD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    hang_up_after_the_header(child);
}

/// Reads the pipe header of `child` (a `record -o -`), then closes the pipe, as `| head -c
/// 16` would: the recorder must end quietly, with exit 0 and no error.
fn hang_up_after_the_header(mut child: std::process::Child) {
    let mut head = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(&head[..8], b"PERFILE2");
    assert!(out.status.success(), "exit {:?}: {err}", out.status);
    assert!(!err.contains("error"), "{err}");
}

#[test]
fn empty_or_file_mode_stdin_is_read_or_refused_clearly() {
    let Some(data) = capture() else { return };
    // A whole file-mode perf.data on stdin (`cat perf.data |`) is read as it is.
    let bytes = std::fs::read(data).unwrap();
    let o = perf_client(&["report", "-i", "-"], Some(&bytes));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = perf_client(&["report", "-i", "-"], Some(&[]));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("empty"));
}

/// A shell command that spins until `stop` exists, after writing its pid to `pid`.
fn spin_until(stop: &std::path::Path, pid: &std::path::Path) -> String {
    format!(
        "echo $$ > {}; while [ ! -e {} ]; do :; done",
        pid.display(),
        stop.display()
    )
}

/// `perf-client record -e cpu-clock -o - -- sh -c SPIN`, SPIN the [`spin_until`] loop,
/// with stdout and stderr piped.
fn record_spin_to_stdout(stop: &std::path::Path, pid: &std::path::Path) -> std::process::Child {
    Command::new(perf_client_bin())
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-o",
            "-",
            "--",
            "sh",
            "-c",
        ])
        .arg(spin_until(stop, pid))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `perf-client record -o - -- <spin until a file appears> | READER -i -`: the reader
/// prints a sample line while the command still runs (the file that ends it does not
/// exist yet), then the file is created and both end cleanly. A watchdog creates the
/// file after a minute so that a stream that is not live fails instead of hanging.
fn samples_arrive_while_the_command_runs(reader: &mut Command, name: &str) {
    use std::io::BufRead;
    let stop = temp_path(&format!("live-{name}.stop"));
    let pid = temp_path(&format!("live-{name}.pid"));
    let _ = std::fs::remove_file(&stop);
    let mut rec = record_spin_to_stdout(&stop, &pid);
    let mut rd = reader
        .stdin(rec.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watchdog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            for _ in 0..600 {
                if stop.exists() {
                    return false;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            std::fs::write(&stop, b"").unwrap();
            true
        })
    };
    let mut lines = std::io::BufReader::new(rd.stdout.take().unwrap()).lines();
    let first = lines.next().map(Result::unwrap);
    // The command is still running: only this test (or the watchdog) creates `stop`.
    let command_was_running = !stop.exists();
    std::fs::write(&stop, b"").unwrap();
    let rest = lines.count();
    let fired = watchdog.join().unwrap();
    let rec_out = rec.wait_with_output().unwrap();
    let rd_out = rd.wait_with_output().unwrap();
    let rec_err = String::from_utf8_lossy(&rec_out.stderr);
    let rd_err = String::from_utf8_lossy(&rd_out.stderr);
    if rec_err.contains("refused") || rec_err.contains("Permission") {
        return crate::common::skip(&format!("record refused: {rec_err}"));
    }
    assert!(
        !fired,
        "{name}: no sample line within a minute: {rec_err} {rd_err}"
    );
    assert!(command_was_running);
    let first = first.unwrap_or_else(|| panic!("{name} printed nothing: {rec_err} {rd_err}"));
    assert!(first.contains("cpu-clock"), "{name}: {first}");
    assert!(rec_out.status.success(), "record: {rec_err}");
    assert!(rd_out.status.success(), "{name}: {rd_err}");
    assert!(rest > 0, "{name}: more samples follow the first");
    let _ = std::fs::remove_file(&stop);
    let _ = std::fs::remove_file(&pid);
}

#[test]
fn perf_script_prints_samples_of_record_to_stdout_while_the_command_runs() {
    if capture().is_none() {
        return;
    }
    if Command::new("perf").arg("--version").output().is_err() {
        return crate::common::skip("perf is not installed");
    }
    samples_arrive_while_the_command_runs(
        Command::new("perf").args(["script", "-i", "-"]),
        "perf-script",
    );
}

#[test]
fn our_script_prints_samples_of_a_pipe_as_they_arrive() {
    if capture().is_none() {
        return;
    }
    samples_arrive_while_the_command_runs(
        Command::new(perf_client_bin()).args(["script", "-i", "-"]),
        "perf-client-script",
    );
}

#[test]
fn a_reader_that_goes_away_stops_the_recorded_command() {
    if capture().is_none() {
        return;
    }
    let stop = temp_path("gone-reader.stop");
    let pid = temp_path("gone-reader.pid");
    let _ = std::fs::remove_file(&stop);
    let _ = std::fs::remove_file(&pid);
    hang_up_after_the_header(record_spin_to_stdout(&stop, &pid));
    // The command never saw its stop file: it was stopped, and reaped (if it got as far
    // as writing its pid: the first samples may come from its start-up).
    assert!(!stop.exists());
    if let Ok(pid) = std::fs::read_to_string(&pid) {
        assert!(
            !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists(),
            "the command {} still runs",
            pid.trim()
        );
    }
    let _ = std::fs::remove_file(temp_path("gone-reader.pid"));
}

/// The types of a pipe stream's records, in order (tracing data skipped).
fn stream_types(stream: &[u8]) -> Vec<u32> {
    let mut at = 16;
    let mut types = Vec::new();
    while at + 8 <= stream.len() {
        let t = u32::from_ne_bytes(stream[at..at + 4].try_into().unwrap());
        let size = u16::from_ne_bytes(stream[at + 6..at + 8].try_into().unwrap()) as usize;
        let extra = if t == 66 {
            u32::from_ne_bytes(stream[at + 8..at + 12].try_into().unwrap()) as usize
        } else {
            0
        };
        assert!(size >= 8, "record of size {size} at {at}");
        types.push(t);
        at += size + extra;
    }
    assert_eq!(at, stream.len(), "the stream ends with a whole record");
    types
}

#[test]
fn record_to_stdout_of_a_running_process_sends_its_build_ids_before_the_samples() {
    if capture().is_none() {
        return;
    }
    let mut spinner = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let pid = spinner.id().to_string();
    let o = perf_client(
        &[
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-o",
            "-",
            "-p",
            &pid,
            "--",
            "sleep",
            "1",
        ],
        None,
    );
    spinner.kill().unwrap();
    spinner.wait().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let types = stream_types(&o.stdout);
    let first_sample = types.iter().position(|&t| t == 9).expect("samples");
    // HEADER_BUILD_ID: the running kernel's and the spinning shell's objects (its
    // mappings were synthesized, so no MMAP2 carries a kernel build id).
    let early = types[..first_sample].iter().filter(|&&t| t == 67).count();
    assert!(
        early >= 2,
        "{early} build ids before the first sample: {types:?}"
    );
    // HEADER_ATTR first, as perf 6.1 writes it; the records end with a FINISHED_ROUND
    // before any build ids learnt at the end.
    assert_eq!(types[0], 64);
    let last_data = types.iter().rposition(|&t| t != 67).unwrap();
    assert_eq!(types[last_data], 68);
}
