//! The `perf-client` binary and the errors users see.

use super::*;

#[test]
fn hardware_events_give_a_clear_error_when_the_pmu_is_missing() {
    let cfg = event(EventKind::Hardware(
        perf_client::kernel::event::Hardware::CpuCycles,
    ));
    match cfg.open(0, -1, None) {
        Ok(_) => eprintln!("this machine has a hardware PMU: nothing to check"),
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

/// The issue's "done when": `stream -e page-faults -c 1 --json -- <N pages>` prints N
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
    if unsafe_euid() != 0 {
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
    }
    // 1 + 4096 pages per CPU is beyond perf_event_mlock_kb (516 KiB/CPU) + 8 MiB memlock.
    let out = as_nobody(&["--user-only", "-e", "cpu-clock", "-m", "4096", "--", "true"]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(err.contains("perf_event_mlock_kb"), "{err}");
        assert!(err.contains("RLIMIT_MEMLOCK"), "{err}");
        assert!(err.contains("16388 KiB ring"), "{err}");
    } else {
        eprintln!("the memlock budget here allows 2 x 16 MiB rings: nothing to check");
    }
}

/// In a private mount namespace without tracefs, a tracepoint event mounts tracefs itself
/// (as root) and works.
#[test]
fn tracepoints_mount_tracefs_when_root_and_it_is_missing() {
    let bin = common::perf_client_bin();
    if unsafe_euid() != 0 {
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
