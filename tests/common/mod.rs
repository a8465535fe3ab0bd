//! Helpers shared by the integration tests.

#![allow(dead_code)]

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
