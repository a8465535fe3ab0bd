//! Files written by `perf_client::record` from real kernel rings: `/usr/bin/perf` and
//! `linux-perf-data` read them with our counts.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use perf_client::kernel::capture::{CaptureError, Target};
use perf_client::kernel::event::OpenError;
use perf_client::perf_data::PerfData;
use perf_client::record::{record, RecordError, RecordOptions, RecordSummary};

use super::handmade::{linux_perf_data_counts, perf, perf_sample_count, temp_path};

fn cmd(args: &[&str]) -> Target {
    Target::Command(args.iter().map(OsString::from).collect())
}

/// Records, or skips when the kernel refuses (no privilege, no tracefs).
pub(crate) fn try_record(opts: &RecordOptions) -> Option<RecordSummary> {
    match record(opts, |_| {}) {
        Ok(s) => Some(s),
        // Only a missing privilege or a missing PMU/tracepoint may skip; any other
        // refusal (EINVAL for an attr the kernel should take) is a failure.
        Err(RecordError::Capture(CaptureError::Open(
            e @ (OpenError::NotPermitted { .. }
            | OpenError::NoHardware { .. }
            | OpenError::Tracepoint(_)),
        )))
        | Err(RecordError::Event(
            e @ (OpenError::NotPermitted { .. } | OpenError::Tracepoint(_)),
        )) => {
            crate::common::skip(&format!("the kernel refused the events: {e}"));
            None
        }
        Err(e) => panic!("recording failed: {e}"),
    }
}

/// perf reads the file without a warning and counts our samples; so does linux-perf-data.
fn assert_perf_agrees(path: &Path, summary: &RecordSummary) {
    let ours = PerfData::open(path).unwrap().count_by_type().unwrap();
    assert_eq!(ours.get(&9).copied().unwrap_or(0), summary.samples);
    super::streaming::assert_streamed_equals_mapped(path);
    let Some((n, err)) = perf_sample_count(path) else {
        return;
    };
    assert_eq!(n, summary.samples, "perf report --stats: {err}");
    assert!(err.trim().is_empty(), "perf report warned: {err}");
    let o = perf(&["script", "-i", path.to_str().unwrap()]).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "perf script failed: {err}");
    assert!(err.trim().is_empty(), "perf script warned: {err}");
    let o = perf(&["report", "--stdio", "-i", path.to_str().unwrap()]).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && err.trim().is_empty(),
        "perf report: {err}"
    );
    assert_eq!(linux_perf_data_counts(path).0, summary.samples);
}

#[test]
fn recorded_cpu_clock_with_callchains_is_read_by_perf_with_our_sample_count() {
    let mut opts = RecordOptions::new(
        vec!["cpu-clock".into()],
        cmd(&[
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=4k",
            "count=100000",
        ]),
    );
    opts.period = Some(50_000);
    opts.callchain = true;
    opts.output = temp_path("rec-cpu-clock.data");
    opts.cmdline = vec!["perf-client".into(), "record".into()];
    let Some(s) = try_record(&opts) else { return };
    assert!(s.samples > 0, "{s:?}");
    assert_eq!(s.lost, 0);
    assert_perf_agrees(&opts.output, &s);
    let f = PerfData::open(&opts.output).unwrap();
    assert_eq!(f.event_names().unwrap(), vec![Some("cpu-clock".to_owned())]);
    let rep = perf_client::analysis::report::build(&f).unwrap();
    assert_eq!(rep.events[0].samples, s.samples);
    assert!(
        rep.events[0].rows.iter().any(|r| r.comm == "dd"),
        "{:?}",
        rep.events[0].rows
    );
}

#[test]
fn recorded_tracepoint_and_software_event_give_exact_counts_in_perf() {
    let mut opts = RecordOptions::new(
        vec!["raw_syscalls:sys_enter".into(), "page-faults".into()],
        cmd(&["ls", "/"]),
    );
    opts.period = Some(1);
    opts.output = temp_path("rec-tracepoint.data");
    let Some(s) = try_record(&opts) else { return };
    assert_perf_agrees(&opts.output, &s);
    // Every event is a sample or counted lost: samples + lost == the kernel's count.
    let counted: u64 = s
        .capture
        .events
        .iter()
        .flat_map(|e| e.values.values.iter().map(|v| v.value))
        .sum();
    assert_eq!(s.samples + s.lost, counted, "{:?}", s.capture.events);
    let o = perf(&["script", "-i", opts.output.to_str().unwrap()]).unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("raw_syscalls:sys_enter: NR "));
}

#[test]
fn recording_a_running_process_synthesizes_its_comm_and_maps() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    let mut opts = RecordOptions::new(vec!["cpu-clock".into()], Target::Process(child.id() as i32));
    opts.freq = Some(1000);
    opts.duration = Some(Duration::from_millis(300));
    opts.output = temp_path("rec-pid.data");
    let s = try_record(&opts);
    child.kill().unwrap();
    child.wait().unwrap();
    let Some(s) = s else { return };
    assert!(s.samples > 0);
    assert_perf_agrees(&opts.output, &s);
    let o = perf(&[
        "report",
        "--stdio",
        "--sort",
        "comm,dso",
        "-i",
        opts.output.to_str().unwrap(),
    ])
    .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(" sh "),
        "perf attributes the samples to sh: {out}"
    );
    // The shell was mapped before the capture: its build id comes from the file.
    let ids = PerfData::open(&opts.output).unwrap().build_ids().unwrap();
    let exe = exe.to_str().unwrap();
    let sh = ids
        .iter()
        .find(|b| b.filename == exe)
        .unwrap_or_else(|| panic!("no build id for {exe}: {ids:?}"));
    let on_disk = blazesym::helper::read_elf_build_id(&exe).unwrap().unwrap();
    assert_eq!(sh.id, on_disk.to_vec());
}

#[test]
fn overwrite_recording_writes_the_flight_recorder_at_the_end() {
    let mut opts = RecordOptions::new(
        vec!["cpu-clock".into()],
        cmd(&[
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=4k",
            "count=100000",
        ]),
    );
    opts.period = Some(20_000);
    opts.overwrite = true;
    opts.data_pages = 4;
    opts.output = temp_path("rec-overwrite.data");
    let Some(s) = try_record(&opts) else { return };
    assert!(s.samples > 0, "{s:?}");
    assert_perf_agrees(&opts.output, &s);
}

#[test]
fn an_existing_output_is_kept_as_old() {
    let path = temp_path("rec-rotate.data");
    std::fs::write(&path, b"previous").unwrap();
    let mut opts = RecordOptions::new(vec!["dummy".into()], cmd(&["true"]));
    opts.output = path.clone();
    let Some(s) = try_record(&opts) else { return };
    let old = s.previous.expect("kept");
    assert_eq!(std::fs::read(&old).unwrap(), b"previous");
    PerfData::open(&path).unwrap();
}

#[test]
fn a_dump_request_writes_the_flight_recorder_to_its_own_readable_file() {
    let mut opts = RecordOptions::new(
        vec!["cpu-clock".into()],
        cmd(&[
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=4k",
            "count=300000",
        ]),
    );
    opts.period = Some(20_000);
    opts.overwrite = true;
    opts.data_pages = 8;
    opts.output = temp_path("rec-dump.data");
    // As SIGUSR2 would: the recorder sees it at its next check.
    opts.dump.store(true, std::sync::atomic::Ordering::Relaxed);
    let Some(s) = try_record(&opts) else { return };
    assert_eq!(s.dumps.len(), 1, "{s:?}");
    let dump = &s.dumps[0];
    let f = PerfData::open(dump).unwrap();
    let n = f.count_by_type().unwrap().get(&9).copied().unwrap_or(0);
    if let Some((perf_n, err)) = perf_sample_count(dump) {
        assert_eq!(perf_n, n, "{err}");
        assert!(err.trim().is_empty(), "{err}");
    }
    assert_perf_agrees(&opts.output, &s);
}

#[test]
fn a_one_page_ring_under_a_syscall_storm_loses_only_what_the_kernel_counts() {
    // 400,000 syscalls into one page: most are lost, and every one is accounted for.
    let mut opts = RecordOptions::new(
        vec!["raw_syscalls:sys_enter".into()],
        cmd(&["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=200000"]),
    );
    opts.period = Some(1);
    opts.data_pages = 1;
    opts.output = temp_path("rec-storm-m1.data");
    let Some(s) = try_record(&opts) else { return };
    let counted: u64 = s
        .capture
        .events
        .iter()
        .flat_map(|e| e.values.values.iter().map(|v| v.value))
        .sum();
    assert!(counted >= 400_000, "{counted}");
    // The kernel's lost counter also counts dropped side-band records (dd's COMM, MMAP2
    // and EXIT share the ring), so it may exceed the lost samples by those few.
    assert!(s.samples <= counted, "{s:?}");
    let over = (s.samples + s.lost).checked_sub(counted);
    assert!(
        over.is_some_and(|o| o <= 16),
        "samples {} + lost {} against {counted} events",
        s.samples,
        s.lost
    );
    // LOST records are written when room appears, so the last drops may only be counted.
    assert!(s.lost_in_records <= s.lost, "{s:?}");
    if s.lost > 10_000 {
        assert!(
            s.lost_in_records > 0,
            "drops mid-storm are reported in the ring: {s:?}"
        );
    }
    // Staged drains reach the file whole and in order: every reader counts the same.
    let ours = PerfData::open(&opts.output)
        .unwrap()
        .count_by_type()
        .unwrap();
    assert_eq!(ours.get(&9).copied().unwrap_or(0), s.samples);
    assert_eq!(linux_perf_data_counts(&opts.output).0, s.samples);
    if let Some((n, _)) = perf_sample_count(&opts.output) {
        assert_eq!(n, s.samples, "perf report --stats");
    }
}

#[test]
fn a_realtime_recorder_leaves_its_command_on_the_default_policy() {
    // `policy : 0` is SCHED_OTHER in /proc/PID/sched; grep fails otherwise.
    let mut opts = RecordOptions::new(
        vec!["dummy".into()],
        cmd(&["grep", "-Eq", "^policy +: +0$", "/proc/self/sched"]),
    );
    opts.realtime = Some(1);
    opts.output = temp_path("rec-realtime.data");
    let s = match record(&opts, |_| {}) {
        Ok(s) => s,
        Err(e @ RecordError::Realtime { .. }) => {
            crate::common::skip(&format!("no SCHED_FIFO for this user: {e}"));
            return;
        }
        Err(e) => panic!("recording failed: {e}"),
    };
    assert!(
        matches!(
            s.exit_status,
            Some(perf_client::kernel::child::ExitStatus::Exited(0))
        ),
        "the command ran under another policy: {:?}",
        s.exit_status
    );
    // And the caller's thread is back on its own policy once `record` returns.
    let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
    let policy = sched
        .lines()
        .find(|l| l.starts_with("policy"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim);
    assert_eq!(policy, Some("0"), "{sched}");
}

#[test]
fn recorded_files_carry_the_build_ids_of_the_mapped_files() {
    let mut opts = RecordOptions::new(
        vec!["cpu-clock".into()],
        cmd(&["dd", "if=/dev/zero", "of=/dev/null", "bs=4k", "count=20000"]),
    );
    opts.output = temp_path("rec-build-ids.data");
    let Some(_) = try_record(&opts) else { return };
    let ids = PerfData::open(&opts.output).unwrap().build_ids().unwrap();
    assert!(
        ids.iter().any(|b| b.filename == "[kernel.kallsyms]"),
        "{ids:?}"
    );
    let dd = ids
        .iter()
        .find(|b| b.filename.ends_with("/dd"))
        .unwrap_or_else(|| panic!("no build id for dd: {ids:?}"));
    let on_disk = blazesym::helper::read_elf_build_id(&dd.filename)
        .unwrap()
        .expect("dd has a build id");
    assert_eq!(dd.id, on_disk.to_vec(), "{}", dd.filename);
    // perf reads the same table.
    if let Some(o) = perf(&["buildid-list", "-i", opts.output.to_str().unwrap()]) {
        let out = String::from_utf8_lossy(&o.stdout);
        let hex: String = dd.id.iter().map(|b| format!("{b:02x}")).collect();
        assert!(out.contains(&format!("{hex} {}", dd.filename)), "{out}");
    }
}
