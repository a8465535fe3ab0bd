//! The `perf-client` binary and the errors users see.

use super::*;

/// Without a PMU, `cycles` fails with an error that says so; with one, it opens and counts
/// (enabled time passes while it is on): true on both kinds of machine.
#[test]
fn hardware_events_give_a_clear_error_when_the_pmu_is_missing() {
    let cfg = event(EventKind::Hardware(
        perf_client::kernel::event::Hardware::CpuCycles,
    ));
    match cfg.open(0, -1, None) {
        Ok(fd) => {
            fd.enable().expect("enable cycles");
            let mut x = 0u64;
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
            fd.disable().expect("disable cycles");
            let v = fd.read_values().expect("read cycles");
            assert!(v.time_enabled.is_some_and(|t| t > 0), "{v:?}");
            let running = v.time_running.unwrap_or(0);
            let counted = v.values.first().map_or(0, |c| c.value);
            // Counted while on the PMU; never counted when it was not.
            assert_eq!(running > 0, counted > 0, "{v:?}");
        }
        Err(e @ OpenError::NoHardware { .. }) => {
            assert!(e
                .to_string()
                .contains("hardware events are not available on this machine"));
        }
        Err(e) => panic!("unexpected error for cycles: {e}"),
    }
}

#[test]
fn errors_name_what_to_change() {
    // Several events that records cannot tell apart.
    let no_id = || {
        sw(Software::Dummy)
            .sampling(Sampling::None)
            .sample_type(st::TID)
    };
    let e = Capture::start(CaptureOptions::new(
        vec![no_id(), no_id()],
        Target::CurrentThread,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("add PERF_SAMPLE_IDENTIFIER"), "{e}");
    // A ring that is not a power of two.
    let ev = sw(Software::Dummy).sampling(Sampling::None);
    let mut opts = CaptureOptions::new(vec![ev.clone()], Target::CurrentThread);
    opts.data_pages = 3;
    let e = Capture::start(opts).unwrap_err();
    assert!(e.to_string().contains("not a power of two"), "{e}");
    // A tracepoint that does not exist.
    let e = EventConfig::parse("sched:no_such_tracepoint").unwrap_err();
    assert!(
        e.to_string()
            .contains("no tracepoint sched:no_such_tracepoint"),
        "{e}"
    );
    // A name that is neither.
    let e = EventConfig::parse("no-such-event").unwrap_err();
    assert!(e.to_string().contains("unknown event"), "{e}");
    // A process that does not exist.
    let e = ev.open(i32::MAX - 7, -1, None).unwrap_err();
    assert!(e.to_string().contains("no process or thread"), "{e}");
    // A command that does not exist.
    let e = Capture::start(CaptureOptions::new(
        vec![ev],
        Target::Command(args(&["/nonexistent/perf-client-test"])),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("cannot execute"), "{e}");
}

/// Runs `perf-client stream --json` and returns its lines, parsed.
fn stream_json(bin: &std::path::Path, extra: &[&str], cmd: &[OsString]) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(bin)
        .arg("stream")
        .args(extra)
        .arg("--json")
        .arg("--")
        .args(cmd)
        .output()
        .expect("run perf-client");
    assert!(
        out.status.success(),
        "perf-client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// `stream -e page-faults -c 1 --json -- <N pages>` prints N
/// (± start-up) SAMPLE lines plus the program's COMM/MMAP2/EXIT, then a summary.
#[test]
fn stream_cli_prints_one_sample_line_per_fresh_page_plus_side_band_and_a_summary() {
    let bin = common::perf_client_bin();
    const N: usize = 500;
    let count =
        |lines: &[serde_json::Value], t: &str| lines.iter().filter(|l| l["type"] == t).count();
    let flags = ["-e", "page-faults", "-c", "1"];
    let base = stream_json(&bin, &flags, &dd_touching(1));
    let lines = stream_json(&bin, &flags, &dd_touching(1 + N));
    if lines.len() == 1 {
        return common::skip("no records: perf_event_open refused?");
    }
    let extra = count(&lines, "SAMPLE") as i64 - count(&base, "SAMPLE") as i64;
    eprintln!(
        "stream CLI: {} SAMPLE lines at start-up, {} with {N} more pages",
        count(&base, "SAMPLE"),
        count(&lines, "SAMPLE")
    );
    assert!(
        (extra - N as i64).abs() <= 8,
        "{extra} extra SAMPLE lines for {N} pages"
    );
    assert!(
        count(&lines, "COMM") >= 1 && count(&lines, "MMAP2") >= 1 && count(&lines, "EXIT") >= 1
    );
    assert_eq!(count(&lines, "PARSE_ERROR"), 0);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "SUMMARY");
    assert_eq!(summary["records"].as_u64(), Some(lines.len() as u64 - 1));
    assert_eq!(summary["lost"].as_u64(), Some(0));
    assert_eq!(summary["exit"], "exit code 0");
    let comm = lines.iter().find(|l| l["type"] == "COMM").unwrap();
    assert_eq!(comm["comm"], "dd");
    assert_eq!(comm["exec"], true);
}

/// Run as an unprivileged user (setpriv to nobody), the CLI explains the refusals: the
/// paranoid level for a CPU-wide event, the mlock budget for a ring too large.
#[test]
fn unprivileged_refusals_explain_paranoid_and_mlock_limits() {
    let bin = common::perf_client_bin();
    if euid() != 0 {
        return common::skip("needs root to switch to an unprivileged user");
    }
    // A copy nobody can reach (the build tree may sit under a private home directory).
    let copy = std::env::temp_dir().join(format!("perf-client-unpriv-{}", std::process::id()));
    std::fs::copy(&bin, &copy).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(copy.clone());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = |extra: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .arg("stream")
            .args(extra)
            .output()
    };
    let Ok(out) = as_nobody(&["-a", "-e", "cpu-clock", "--duration", "0.1"]) else {
        return common::skip("setpriv is not available");
    };
    let paranoid = perf_client::kernel::event::perf_event_paranoid().unwrap_or(2);
    let err = String::from_utf8_lossy(&out.stderr);
    if paranoid >= 1 {
        assert!(!out.status.success());
        assert!(
            err.contains(&format!("perf_event_paranoid is {paranoid}")),
            "{err}"
        );
        assert!(err.contains("CAP_PERFMON"), "{err}");
    } else {
        // perf_event_paranoid < 1 lets every user trace CPU-wide.
        assert!(out.status.success(), "paranoid {paranoid}: {err}");
    }
    // A tracepoint when tracefs is mounted but not searchable by nobody (0700 root by
    // default): a permission refusal that names the directory, never "not mounted".
    let out = as_nobody(&["-e", "sched:sched_switch", "--duration", "0.1"]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("not mounted"), "{err}");
    let tracing = std::path::Path::new("/sys/kernel/tracing");
    let searchable_by_others = std::fs::metadata(tracing)
        .map(|m| m.permissions().mode() & 0o001 != 0)
        .unwrap_or(true);
    if !searchable_by_others && tracing.join("events").is_dir() {
        assert!(!out.status.success());
        assert!(
            err.contains("/sys/kernel/tracing/events") && err.contains("root only"),
            "{err}"
        );
    }
    // 1 + 4096 pages per CPU is beyond perf_event_mlock_kb (516 KiB/CPU) + 8 MiB memlock.
    let out = as_nobody(&["--user-only", "-e", "cpu-clock", "-m", "4096", "--", "true"]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        return common::skip("the memlock budget here allows 16 MiB rings: no refusal to check");
    }
    assert!(err.contains("perf_event_mlock_kb"), "{err}");
    assert!(err.contains("RLIMIT_MEMLOCK"), "{err}");
    assert!(err.contains("16388 KiB ring"), "{err}");
}

/// `-c 100` on a software event samples about every 100th event. (With
/// `PERF_SAMPLE_PERIOD` and a fixed period the kernel would sample every one:
/// `perf_swevent_event`; perf sets that bit only in frequency mode.)
#[test]
fn a_count_on_a_software_event_samples_every_nth_event() {
    let bin = common::perf_client_bin();
    let lines = stream_json(
        &bin,
        &["-e", "page-faults", "-c", "100"],
        &dd_touching(4000),
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "SUMMARY");
    let faults = summary["counters"][0]["count"].as_u64().unwrap();
    if faults == 0 {
        return common::skip("no page faults counted: perf_event_open refused?");
    }
    assert!(faults >= 4000, "{faults} faults for 4000 pages");
    let samples = lines.iter().filter(|l| l["type"] == "SAMPLE").count() as u64;
    // About faults / 100 (each fd keeps its own remainder): far from `faults`.
    assert!(
        samples * 30 <= faults && samples * 300 >= faults,
        "{samples} samples for {faults} faults at -c 100"
    );
}

/// `-p PID -- CMD` runs CMD meanwhile and ends when CMD exits (as perf does), not when the
/// traced process does.
#[test]
fn a_command_given_with_a_pid_runs_and_its_exit_ends_the_capture() {
    let bin = common::perf_client_bin();
    let mut traced = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("start sleep");
    let pid = traced.id().to_string();
    let lines = stream_json(&bin, &["-p", &pid, "-e", "dummy"], &args(&["true"]));
    let still_running = traced.try_wait().unwrap().is_none();
    let _ = traced.kill();
    let _ = traced.wait();
    assert!(still_running, "the capture waited for the traced process");
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "SUMMARY");
    assert_eq!(summary["exit"], "exit code 0");
}

/// `-C 0,0` names CPU 0 once: one fd per event on it, not two (which doubled samples).
#[test]
fn a_repeated_cpu_is_opened_once() {
    use perf_client::kernel::select::TargetSpec;
    let target = TargetSpec {
        cpus: Some("0,0".into()),
        ..Default::default()
    }
    .target()
    .unwrap();
    assert_eq!(
        target,
        Target::Cpus {
            cpus: Some(vec![0]),
            command: None
        }
    );
    let ev = sw(Software::Dummy).sampling(Sampling::None);
    let cap = match Capture::start(CaptureOptions::new(vec![ev], target)) {
        Ok(c) => c,
        Err(e) if is_refusal(&e) => return common::skip(&e.to_string()),
        Err(e) => panic!("{e}"),
    };
    assert_eq!(cap.events().len(), 1);
    assert_eq!(cap.ring_count(), 1);
}

/// A CPU list that names no CPU is refused with a message, not an internal dump.
#[test]
fn an_empty_cpu_list_is_refused_with_a_message() {
    let bin = common::perf_client_bin();
    let out = std::process::Command::new(&bin)
        .args(["stream", "-C", ",,,", "--", "true"])
        .output()
        .expect("run perf-client");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        r#"perf-client: error: empty CPU list ",,,": give CPUs such as 0-3,5"#
    );
}

/// In a private mount namespace without tracefs, a tracepoint event mounts tracefs itself
/// (as root) and works.
#[test]
fn tracepoints_mount_tracefs_when_root_and_it_is_missing() {
    let bin = common::perf_client_bin();
    if euid() != 0 {
        return common::skip("needs root to unmount tracefs in a private namespace");
    }
    let script = format!(
        "echo NS-OK; umount /sys/kernel/tracing 2>/dev/null; \
         umount /sys/kernel/debug/tracing 2>/dev/null; \
         test -e /sys/kernel/tracing/events && echo STILL-MOUNTED; \
         {} stream -e sched:sched_process_exec -c 1 --json -- /usr/bin/true",
        bin.display()
    );
    let out = match std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
    {
        Ok(o) => o,
        Err(e) => return common::skip(&format!("unshare: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.contains("NS-OK") {
        return common::skip(&format!(
            "cannot make a private mount namespace: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    assert!(
        !stdout.contains("STILL-MOUNTED"),
        "tracefs could not be unmounted here"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(r#""type":"SAMPLE""#), "{stdout}");
}
