//! `record --switch-output`: rotated files, each complete and read by perf; retention;
//! and `--push` of each closed file, with nothing lost when the server refuses.

use std::path::{Path, PathBuf};

use super::push::{query, serve};
use super::{capture, go_pprof, perf_client};
use crate::perf_data::handmade::{perf_sample_count, temp_path};

/// A busy shell for 2 to 3 seconds (the flight recorder needs a capture still running
/// when the signal comes).
const BUSY: [&str; 3] = [
    "sh",
    "-c",
    "end=$(($(date +%s)+3)); while [ $(date +%s) -lt $end ]; do :; done",
];

/// A fresh directory for one test's files.
fn dir(name: &str) -> PathBuf {
    let d = temp_path(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The `perf.data.<timestamp>` files in `dir`, sorted.
fn rotated(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("perf.data.") && !n.ends_with(".old"))
        })
        .collect();
    v.sort();
    v
}

/// `(path, samples)` of the "Dump" lines `record` printed.
fn dumps(stderr: &str) -> Vec<(PathBuf, u64)> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("[ perf-client record: Dump "))
        .map(|l| {
            let (path, rest) = l.split_once(" (").unwrap();
            let n = rest.split_whitespace().next().unwrap().parse().unwrap();
            (PathBuf::from(path), n)
        })
        .collect()
}

/// A fixed amount of work (1.6 GB through dd): its samples, and so the data and the
/// number of files, follow the CPU time it takes, not how long a loaded machine makes it
/// wait.
const DD: [&str; 5] = [
    "dd",
    "if=/dev/zero",
    "of=/dev/null",
    "bs=4k",
    "count=400000",
];

/// `record -g -c 50000 --switch-output=64K EXTRA -- dd ...` in `dir`: at least 0.1 s of
/// CPU at 20 kHz with callchains is several hundred KiB, so several files.
fn record_rotating(dir: &Path, extra: &[&str]) -> std::process::Output {
    let out = dir.join("perf.data");
    let mut args = vec![
        "record",
        "-g",
        "-c",
        "50000",
        "-o",
        out.to_str().unwrap(),
        "--switch-output=64K",
    ];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend(DD);
    perf_client(&args, None)
}

#[test]
fn switch_output_by_size_writes_complete_files_that_perf_reads() {
    if capture().is_none() {
        return;
    }
    let d = dir("rotate-size");
    let o = record_rotating(&d, &[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let files = rotated(&d);
    let announced = dumps(&err);
    assert!(files.len() >= 2, "several files: {files:?}\n{err}");
    assert_eq!(
        files,
        {
            let mut a: Vec<PathBuf> = announced.iter().map(|(p, _)| p.clone()).collect();
            a.sort();
            a
        },
        "every file announced, none left as perf.data"
    );
    assert!(!d.join("perf.data").exists());
    for (path, samples) in &announced {
        let Some((n, warn)) = perf_sample_count(path) else {
            return;
        };
        assert_eq!(n, *samples, "{}: {warn}", path.display());
        assert!(
            warn.trim().is_empty(),
            "perf warned on {}: {warn}",
            path.display()
        );
        let stamp = path.extension().unwrap().to_str().unwrap();
        assert!(
            stamp.len() == 16 && stamp.chars().all(|c| c.is_ascii_digit()),
            "{stamp}"
        );
    }
    // Each file with samples names its process: the tasks are synthesized again in every
    // new file, so the command's COMM is there too.
    for (path, _) in announced.iter().filter(|(_, n)| *n > 0) {
        let o = perf_client(&["report", "-i", path.to_str().unwrap()], None);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(" dd "),
            "{}",
            path.display()
        );
    }
}

#[test]
fn switch_max_files_keeps_the_newest() {
    if capture().is_none() {
        return;
    }
    let d = dir("rotate-max");
    let o = record_rotating(&d, &["--switch-max-files", "2"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let announced = dumps(&err);
    assert!(announced.len() > 2, "{err}");
    let kept: Vec<PathBuf> = announced[announced.len() - 2..]
        .iter()
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(rotated(&d), kept);
}

#[test]
fn record_push_uploads_each_closed_file() {
    if capture().is_none() {
        return;
    }
    let d = dir("rotate-push");
    let server = serve(vec![200]);
    let o = record_rotating(&d, &["--push", &server.url.clone(), "--app", "dd.cpu"]);
    let err = String::from_utf8_lossy(&o.stderr);
    let reqs = server.stop();
    assert!(o.status.success(), "{err}");
    let with_samples = dumps(&err).iter().filter(|(_, n)| *n > 0).count();
    assert!(with_samples >= 2, "{err}");
    assert_eq!(reqs.len(), with_samples, "one upload per file with samples");
    for r in &reqs {
        let q = query(&r.line);
        assert!(
            q.iter().any(|(k, v)| k == "name" && v == "dd.cpu"),
            "{}",
            r.line
        );
    }
    let body = d.join("first.pb.gz");
    std::fs::write(&body, &reqs[0].body).unwrap();
    let Some(top) = go_pprof(&["-top", body.to_str().unwrap()]) else {
        return;
    };
    assert!(
        top.status.success(),
        "{}",
        String::from_utf8_lossy(&top.stderr)
    );
}

#[test]
fn record_push_to_a_refusing_server_fails_and_keeps_every_file() {
    if capture().is_none() {
        return;
    }
    let d = dir("rotate-refused");
    let server = serve(vec![500]);
    // --switch-max-files 1 would delete older files; files that were not uploaded stay.
    let o = record_rotating(
        &d,
        &[
            "--push",
            &server.url.clone(),
            "--push-retries",
            "0",
            "--switch-max-files",
            "1",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    server.stop();
    assert!(
        !o.status.success(),
        "a refused upload must fail the recording: {err}"
    );
    assert!(err.contains("HTTP 500"), "{err}");
    assert!(err.contains("kept on disk"), "{err}");
    let announced: Vec<PathBuf> = dumps(&err)
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(p, _)| p)
        .collect();
    for p in &announced {
        assert!(p.exists(), "{} was deleted", p.display());
    }
}

#[test]
fn overwrite_with_switch_output_dumps_the_flight_recorder_on_sigusr2() {
    if capture().is_none() {
        return;
    }
    let d = dir("rotate-flight");
    let out = d.join("perf.data");
    let child = std::process::Command::new(crate::common::perf_client_bin())
        .args([
            "record",
            "-c",
            "100000",
            "--overwrite",
            "--switch-output",
            "-o",
        ])
        .arg(&out)
        .arg("--")
        .args(BUSY)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // perf.data exists once the recorder runs with its SIGUSR2 handler installed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !out.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(out.exists(), "the recording did not start");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR2) }, 0);
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let announced = dumps(&err);
    assert_eq!(announced.len(), 2, "the dump and the final file: {err}");
    assert_eq!(rotated(&d).len(), 2);
    for (path, samples) in &announced {
        let Some((n, warn)) = perf_sample_count(path) else {
            return;
        };
        assert_eq!(n, *samples, "{}: {warn}", path.display());
    }
}
