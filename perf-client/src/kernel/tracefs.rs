//! Tracepoint ids from tracefs (`/sys/kernel/tracing/events/<subsystem>/<name>/id`).

use std::io;
use std::path::{Path, PathBuf};

/// Where tracefs is normally mounted, and the legacy debugfs location.
const TRACEFS_DIRS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Why a tracepoint id could not be found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TracepointError {
    /// The name is not `subsystem:name` with plain components.
    #[error("tracepoint {0:?} is not of the form subsystem:name (e.g. sched:sched_switch)")]
    BadName(String),
    /// tracefs is not mounted and we may not mount it.
    #[error(
        "tracefs is not mounted (no /sys/kernel/tracing/events): as root run \
         `mount -t tracefs tracefs /sys/kernel/tracing`"
    )]
    NotMounted,
    /// Mounting tracefs (as root) failed.
    #[error("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: {0}")]
    MountFailed(io::Error),
    /// No such tracepoint.
    #[error(
        "no tracepoint {subsystem}:{name} ({path} does not exist); list them with \
         `ls /sys/kernel/tracing/events/{subsystem}` or `perf list tracepoint`"
    )]
    Unknown {
        /// Subsystem.
        subsystem: String,
        /// Event name.
        name: String,
        /// The id file looked for.
        path: String,
    },
    /// The id file exists but is not readable.
    #[error(
        "cannot read {path}: {cause}; tracepoint ids are readable by root only unless \
         tracefs is mounted with a gid/mode that lets you read them"
    )]
    Unreadable {
        /// The id file.
        path: String,
        /// The error.
        cause: io::Error,
    },
    /// A pattern (`sched:*`) that names no tracepoint.
    #[error(
        "no tracepoint matches {0:?}; list them with `ls /sys/kernel/tracing/events` or \
         `perf list tracepoint`"
    )]
    NoMatch(String),
    /// A directory of tracefs could not be listed.
    #[error("cannot list {path}: {cause}")]
    Unlistable {
        /// The directory.
        path: String,
        /// The error.
        cause: io::Error,
    },
    /// The id file does not hold a number.
    #[error("{path} does not hold a tracepoint id: {content:?}")]
    BadId {
        /// The id file.
        path: String,
        /// Its content.
        content: String,
    },
}

/// Splits `subsystem:name`, refusing path tricks.
pub fn split_name(spec: &str) -> Result<(&str, &str), TracepointError> {
    let bad = || TracepointError::BadName(spec.to_string());
    let (sub, name) = spec.split_once(':').ok_or_else(bad)?;
    let plain =
        |s: &str| !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\0');
    if !plain(sub) || !plain(name) || name.contains(':') {
        return Err(bad());
    }
    Ok((sub, name))
}

/// True when `spec` is a pattern (`*` or `?` in it) for [`matching_tracepoints`].
pub fn is_pattern(spec: &str) -> bool {
    spec.contains(['*', '?'])
}

/// Shell-style match of `name` against `pattern`: `*` any run, `?` one character (perf's
/// `strglobmatch` without classes).
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The entries of directory `dir` that are directories and match `pattern`, in the
/// directory's own order (perf's `readdir` order).
fn matching_dirs(dir: &Path, pattern: &str) -> Result<Vec<String>, TracepointError> {
    let unlistable = |cause| TracepointError::Unlistable {
        path: dir.display().to_string(),
        cause,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unlistable)? {
        let entry = entry.map_err(unlistable)?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if entry.file_type().is_ok_and(|t| t.is_dir())
            && glob_match(pattern.as_bytes(), name.as_bytes())
        {
            out.push(name);
        }
    }
    Ok(out)
}

/// The tracepoints `subsystem:name` that `pattern` matches (`sched:*`,
/// `syscalls:sys_enter_*`, `*:sched_switch`), as perf expands them: in tracefs's
/// directory order, subsystem by subsystem.
///
/// # Errors
/// [`TracepointError::NoMatch`] when nothing matches, or tracefs cannot be read.
pub fn matching_tracepoints(pattern: &str) -> Result<Vec<String>, TracepointError> {
    let (sub, name) = split_name(pattern)?;
    let events = events_dir()?;
    let mut out = Vec::new();
    for s in matching_dirs(&events, sub)? {
        for n in matching_dirs(&events.join(&s), name)? {
            out.push(format!("{s}:{n}"));
        }
    }
    if out.is_empty() {
        return Err(TracepointError::NoMatch(pattern.to_owned()));
    }
    Ok(out)
}

/// The events directory of a mounted tracefs; mounts tracefs at /sys/kernel/tracing when
/// running as root and none is mounted.
///
/// # Errors
/// [`TracepointError::NotMounted`] (not root) or [`TracepointError::MountFailed`].
pub fn events_dir() -> Result<PathBuf, TracepointError> {
    for dir in TRACEFS_DIRS {
        let events = Path::new(dir).join("events");
        match std::fs::metadata(&events) {
            Ok(m) if m.is_dir() => return Ok(events),
            // Mounted, but not searchable by this user (tracefs is 0700 root by default):
            // saying "not mounted" would send the user the wrong way.
            Err(cause) if cause.kind() == io::ErrorKind::PermissionDenied => {
                return Err(TracepointError::Unreadable {
                    path: events.display().to_string(),
                    cause,
                })
            }
            _ => {}
        }
    }
    if crate::kernel::sys::euid() != 0 {
        return Err(TracepointError::NotMounted);
    }
    let target = Path::new(TRACEFS_DIRS[0]);
    crate::kernel::sys::mount_tracefs(target).map_err(TracepointError::MountFailed)?;
    Ok(target.join("events"))
}

/// The id of tracepoint `subsystem:name`, for `perf_event_attr.config` with
/// `type = PERF_TYPE_TRACEPOINT`.
///
/// # Errors
/// See [`TracepointError`].
pub fn tracepoint_id(spec: &str) -> Result<u64, TracepointError> {
    let (sub, name) = split_name(spec)?;
    let path = events_dir()?.join(sub).join(name).join("id");
    let shown = path.display().to_string();
    let content = match std::fs::read_to_string(&path) {
        Ok(c) => c,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(TracepointError::Unknown {
                subsystem: sub.to_string(),
                name: name.to_string(),
                path: shown,
            })
        }
        Err(cause) => return Err(TracepointError::Unreadable { path: shown, cause }),
    };
    content.trim().parse().map_err(|_| TracepointError::BadId {
        path: shown,
        content,
    })
}

#[cfg(test)]
mod tests {
    use super::{glob_match, split_name};

    #[test]
    fn globs_match_as_the_shell_does() {
        let m = |p: &str, n: &str| glob_match(p.as_bytes(), n.as_bytes());
        assert!(m("*", "sched_switch"));
        assert!(m("sys_enter_*", "sys_enter_read"));
        assert!(!m("sys_enter_*", "sys_exit_read"));
        assert!(m("sched_w*ing", "sched_waking"));
        assert!(m("s?hed", "sched"));
        assert!(!m("s?hed", "shed"));
        assert!(m("*_*_*", "a_b_c"));
        assert!(!m("a*b", "acbd"));
    }

    #[test]
    fn tracepoint_names_are_subsystem_colon_name_without_path_tricks() {
        assert_eq!(
            split_name("sched:sched_switch").unwrap(),
            ("sched", "sched_switch")
        );
        for bad in [
            "sched", ":x", "x:", "../x:y", "a/b:c", "a:b:c", "..:x", "a:..", "a:b/c",
        ] {
            assert!(split_name(bad).is_err(), "{bad}");
        }
    }
}
