//! What a recording reads from the live system for the file: host facts (HOSTNAME,
//! OSRELEASE, ARCH, NRCPUS), the running kernel's build id, the tracefs formats of the
//! TRACING_DATA feature, and who should own the output. The file format
//! ([`crate::perf_data`]) only encodes what it is given.

use std::fs::File;
use std::path::Path;

use crate::kernel::cpus::parse_cpu_list;
use crate::kernel::tracefs;
use crate::perf_data::features::gnu_build_id_from_notes;
use crate::perf_data::tracing_data::{self, TracefsFiles};
use crate::perf_data::{misc, BuildId, EventEntry, HostFeatures, PerfDataError};

impl HostFeatures {
    /// Reads this machine's facts from /proc and /sys; `cmdline` as given.
    pub fn of_this_host(cmdline: Vec<String>) -> Self {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        let present = parse_cpu_list(&read("/sys/devices/system/cpu/present"))
            .ok()
            .and_then(|l| l.last().copied());
        let online = parse_cpu_list(&read("/sys/devices/system/cpu/online"))
            .ok()
            .and_then(|l| u32::try_from(l.len()).ok());
        let fallback = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        HostFeatures {
            hostname: read("/proc/sys/kernel/hostname"),
            osrelease: read("/proc/sys/kernel/osrelease"),
            arch: std::env::consts::ARCH.to_owned(),
            nrcpus: (
                present.map_or(fallback, |m| m + 1),
                online.unwrap_or(fallback),
            ),
            cmdline,
        }
    }
}

impl BuildId {
    /// The running kernel's build id from `/sys/kernel/notes` (an ELF note list).
    pub fn running_kernel() -> Option<BuildId> {
        running_kernel_build_id()
    }
}

/// The running kernel's build id from `/sys/kernel/notes` (an ELF note list), as a
/// BUILD_ID entry for `[kernel.kallsyms]`.
pub fn running_kernel_build_id() -> Option<BuildId> {
    let notes = std::fs::read("/sys/kernel/notes").ok()?;
    Some(BuildId {
        cpumode: misc::KERNEL,
        pid: -1,
        id: gnu_build_id_from_notes(&notes)?,
        filename: "[kernel.kallsyms]".to_owned(),
    })
}

/// The TRACING_DATA payload for the tracepoint events among `events` (`None` without
/// any), read from the mounted tracefs.
///
/// # Errors
///
/// [`PerfDataError::Invalid`] for a tracepoint name that is not `system:name` or a tracefs
/// that cannot be found; [`PerfDataError::Io`] when a format file cannot be read.
pub fn tracing_data(events: &[EventEntry]) -> Result<Option<Vec<u8>>, PerfDataError> {
    let mut tracepoints = Vec::new();
    for e in events.iter().filter(|e| e.attr.is_tracepoint()) {
        let (sys, name) = tracefs::split_name(&e.name)
            .map_err(|err| PerfDataError::Invalid(format!("tracepoint {:?}: {err}", e.name)))?;
        tracepoints.push((sys.to_owned(), name.to_owned()));
    }
    if tracepoints.is_empty() {
        return Ok(None);
    }
    let events_dir = tracefs::events_dir().map_err(|e| PerfDataError::Invalid(e.to_string()))?;
    tracing_data_from(&events_dir, &tracepoints).map(Some)
}

/// The TRACING_DATA payload for `(system, name)` tracepoints, from the tracefs `events/`
/// directory `events_dir`.
fn tracing_data_from(
    events_dir: &Path,
    tracepoints: &[(String, String)],
) -> Result<Vec<u8>, PerfDataError> {
    let read = |p: std::path::PathBuf| read_tracefs_file(&p).map_err(|e| PerfDataError::io(p, e));
    let mut files = TracefsFiles {
        page_size: u32::try_from(crate::kernel::sys::page_size()).unwrap_or(u32::MAX),
        header_page: read(events_dir.join("header_page"))?,
        header_event: read(events_dir.join("header_event"))?,
        formats: Vec::with_capacity(tracepoints.len()),
        // For bprint events; none when the file is missing.
        printk_formats: events_dir
            .parent()
            .and_then(|root| read_tracefs_file(&root.join("printk_formats")).ok())
            .unwrap_or_default(),
    };
    for (sys, name) in tracepoints {
        let format = read(events_dir.join(sys).join(name).join("format"))?;
        files.formats.push((sys.clone(), name.clone(), format));
    }
    Ok(tracing_data::encode(&files))
}

/// Reads a tracefs file to its end. tracefs reports sizes that are not the content's
/// (`std::fs::read` trusts the size hint and stopped after 32 bytes of `header_page`
/// here), so read in large chunks until `read` returns 0.
fn read_tracefs_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = File::open(path)?;
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The user who asked for the file: `SUDO_UID`/`SUDO_GID` under sudo, else the real ids.
pub fn invoking_user() -> (u32, u32) {
    let env = |k: &str| std::env::var(k).ok();
    let (uid, gid) = crate::kernel::sys::real_ids();
    owner_for(
        uid,
        gid,
        env("SUDO_UID").as_deref(),
        env("SUDO_GID").as_deref(),
    )
}

/// The owner of the output: the sudo user when root runs under sudo, else `uid`/`gid`.
fn owner_for(uid: u32, gid: u32, sudo_uid: Option<&str>, sudo_gid: Option<&str>) -> (u32, u32) {
    let parse = |v: Option<&str>| v.and_then(|v| v.parse::<u32>().ok());
    match (parse(sudo_uid), parse(sudo_gid)) {
        (Some(u), Some(g)) if uid == 0 => (u, g),
        _ => (uid, gid),
    }
}

/// Creates (truncates) `path`, mode 0600, owned by [`invoking_user`]: perf refuses files owned by
/// someone else, and `sudo perf-client record` must leave a file its user can read.
///
/// # Errors
///
/// [`PerfDataError::Io`] when the file cannot be created or given away.
pub fn create_output(path: &Path) -> Result<File, PerfDataError> {
    use std::os::unix::fs::OpenOptionsExt;
    // 0600, as perf writes it: a recording holds kernel addresses and, system-wide, every
    // process's command and mapped files.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| PerfDataError::io(path, e))?;
    // A file that was there already keeps its mode through `open`.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| PerfDataError::io(path, e))?;
    let (uid, gid) = invoking_user();
    std::os::unix::fs::fchown(&file, Some(uid), Some(gid))
        .map_err(|e| PerfDataError::io(path, e))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_belongs_to_the_sudo_user_only_when_root_runs_under_sudo() {
        assert_eq!(owner_for(0, 0, Some("1000"), Some("1001")), (1000, 1001));
        assert_eq!(owner_for(0, 0, None, None), (0, 0));
        assert_eq!(owner_for(0, 0, Some("x"), Some("1")), (0, 0));
        assert_eq!(owner_for(500, 500, Some("1000"), Some("1000")), (500, 500));
    }

    #[test]
    fn tracing_data_from_a_fake_tracefs_has_perfs_layout() {
        let dir = std::env::temp_dir().join(format!("tracefs-fake-{}", std::process::id()));
        let fmt = dir.join("events/sched/sched_switch");
        std::fs::create_dir_all(&fmt).unwrap();
        std::fs::write(dir.join("events/header_page"), b"HP").unwrap();
        std::fs::write(dir.join("events/header_event"), b"HEV").unwrap();
        std::fs::write(fmt.join("format"), b"FORMAT").unwrap();
        let tps = vec![("sched".to_owned(), "sched_switch".to_owned())];
        let b = tracing_data_from(&dir.join("events"), &tps).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // The bytes are the format's encoding of what the files hold (the layout itself
        // is pinned by `perf_data::tracing_data`'s test).
        let expected = TracefsFiles {
            page_size: crate::kernel::sys::page_size() as u32,
            header_page: b"HP".to_vec(),
            header_event: b"HEV".to_vec(),
            formats: vec![("sched".into(), "sched_switch".into(), b"FORMAT".to_vec())],
            printk_formats: Vec::new(),
        };
        assert_eq!(b, tracing_data::encode(&expected));
    }
}
