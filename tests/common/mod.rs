//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod raw_ring;

/// Environment variable that turns every "skipped: not permitted" into a failure. CI sets it.
pub const NO_SKIP_ENV: &str = "PERF_RINGBUF_NO_SKIP";

/// Call when the kernel refuses what a test needs (EACCES, EPERM, ENOENT, ...). Prints the
/// reason and returns (so the test can `return`), unless `PERF_RINGBUF_NO_SKIP` is set, in
/// which case the test fails with the reason.
///
/// ```ignore
/// let fd = match open_event() {
///     Ok(fd) => fd,
///     Err(e) => return common::skip(&format!("perf_event_open refused: {e}")),
/// };
/// ```
#[track_caller]
pub fn skip(reason: &str) {
    if std::env::var_os(NO_SKIP_ENV).is_some_and(|v| !v.is_empty() && v != "0") {
        panic!("{NO_SKIP_ENV} is set, so this test may not skip: {reason}");
    }
    eprintln!("skipped: {reason}");
}

/// Number of open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Number of mappings of this process.
pub fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// The `perf-client` binary, built on first use. The integration tests live in the root
/// package, so `cargo test` does not build another package's binary by itself; this runs
/// `cargo build -p perf-client-cli --bin perf-client` (a no-op when it is up to date) once per
/// test process, with the cargo and profile of the running test.
pub fn perf_client_bin() -> std::path::PathBuf {
    static BIN: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        // target/<profile>/deps/integration-<hash>
        let profile_dir = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target/<profile>");
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "perf-client-cli",
            "--bin",
            "perf-client",
        ])
        .args(["--manifest-path", manifest]);
        if release {
            cmd.arg("--release");
        }
        if let Some(target_dir) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target_dir);
        }
        let status = cmd
            .status()
            .expect("run cargo build for the perf-client binary");
        assert!(
            status.success(),
            "cargo build -p perf-client-cli failed: {status}"
        );
        let bin = profile_dir.join("perf-client");
        assert!(bin.is_file(), "{} was not built", bin.display());
        bin
    })
    .clone()
}
