//! The TRACING_DATA feature: the tracefs format files a reader needs to decode tracepoint
//! samples (`tools/perf/util/trace-event-info.c` writes it, `trace-event-read.c` reads it).
//!
//! ```text
//! "\x17\x08\x44tracing"  "0.6\0"  u8 big_endian  u8 sizeof(long)  u32 page_size
//! "header_page\0"  u64 size  events/header_page
//! "header_event\0" u64 size  events/header_event
//! u32 nr_ftrace_formats { u64 size, format }        (none written here)
//! u32 nr_systems { "system\0", u32 nr_events { u64 size, format } }
//! u32 kallsyms_size (0: none)   u32 printk_formats_size, printk_formats   u64 saved_cmdlines (0)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::PerfDataError;

/// Where tracefs is mounted: `/sys/kernel/tracing`, else the debugfs copy.
///
/// # Errors
///
/// [`PerfDataError::Invalid`] saying how to mount tracefs when neither has `events/`.
pub fn tracefs_root() -> Result<PathBuf, PerfDataError> {
    for p in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if Path::new(p).join("events").is_dir() {
            return Ok(PathBuf::from(p));
        }
    }
    Err(PerfDataError::Invalid(
        "tracefs is not mounted (run `mount -t tracefs nodev /sys/kernel/tracing` as root)"
            .to_owned(),
    ))
}

/// Builds the TRACING_DATA payload for the tracepoints `(system, name)` read from the
/// tracefs mounted at `root`.
///
/// # Errors
///
/// [`PerfDataError::Io`] when a format file cannot be read (an unknown tracepoint).
pub fn build(root: &Path, tracepoints: &[(String, String)]) -> Result<Vec<u8>, PerfDataError> {
    let read = |p: PathBuf| read_tracefs_file(&p).map_err(|e| PerfDataError::io(p, e));
    let mut out = Vec::new();
    out.extend_from_slice(&[23, 8, 68]);
    out.extend_from_slice(b"tracing");
    out.extend_from_slice(b"0.6\0");
    out.push(u8::from(cfg!(target_endian = "big")));
    out.push(std::mem::size_of::<std::ffi::c_long>() as u8);
    out.extend_from_slice(&page_size().to_ne_bytes());
    for (tag, file) in [
        (&b"header_page\0"[..], "events/header_page"),
        (&b"header_event\0"[..], "events/header_event"),
    ] {
        let body = read(root.join(file))?;
        out.extend_from_slice(tag);
        out.extend_from_slice(&(body.len() as u64).to_ne_bytes());
        out.extend_from_slice(&body);
    }
    out.extend_from_slice(&0u32.to_ne_bytes()); // ftrace formats
    let mut systems: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (sys, name) in tracepoints {
        let names = systems.entry(sys.as_str()).or_default();
        if !names.contains(&name.as_str()) {
            names.push(name);
        }
    }
    out.extend_from_slice(&(systems.len() as u32).to_ne_bytes());
    for (sys, names) in systems {
        out.extend_from_slice(sys.as_bytes());
        out.push(0);
        out.extend_from_slice(&(names.len() as u32).to_ne_bytes());
        for name in names {
            let body = read(root.join("events").join(sys).join(name).join("format"))?;
            out.extend_from_slice(&(body.len() as u64).to_ne_bytes());
            out.extend_from_slice(&body);
        }
    }
    out.extend_from_slice(&0u32.to_ne_bytes()); // kallsyms: perf resolves symbols itself
                                                // printk formats (for bprint events); none when the file is missing.
    let printk = read_tracefs_file(&root.join("printk_formats")).unwrap_or_default();
    out.extend_from_slice(&u32::try_from(printk.len()).unwrap_or(0).to_ne_bytes());
    if u32::try_from(printk.len()).is_ok() {
        out.extend_from_slice(&printk);
    }
    out.extend_from_slice(&0u64.to_ne_bytes()); // saved cmdlines
    Ok(out)
}

/// Reads a tracefs file to its end. tracefs reports sizes that are not the content's
/// (`std::fs::read` trusts the size hint and stopped after 32 bytes of `header_page`
/// here), so read in large chunks until `read` returns 0.
fn read_tracefs_file(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
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

/// Splits `system:name`, the perf spelling of a tracepoint.
pub fn split_tracepoint(event: &str) -> Option<(String, String)> {
    let (sys, name) = event.split_once(':')?;
    if sys.is_empty() || name.is_empty() || name.contains(':') {
        return None;
    }
    Some((sys.to_owned(), name.to_owned()))
}

fn page_size() -> u32 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u32::try_from(p).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracing_data_from_a_fake_tracefs_has_perfs_layout() {
        let dir = std::env::temp_dir().join(format!("tracefs-fake-{}", std::process::id()));
        let fmt = dir.join("events/sched/sched_switch");
        std::fs::create_dir_all(&fmt).unwrap();
        std::fs::write(dir.join("events/header_page"), b"HP").unwrap();
        std::fs::write(dir.join("events/header_event"), b"HEV").unwrap();
        std::fs::write(fmt.join("format"), b"FORMAT").unwrap();
        let tps = vec![("sched".to_owned(), "sched_switch".to_owned())];
        let b = build(&dir, &tps).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(&b[..14], b"\x17\x08\x44tracing0.6\0");
        let tail = 4 + 4 + 8;
        let sys = 4 + b"sched\0".len() + 4 + 8 + 6;
        let headers = 12 + 8 + 2 + 13 + 8 + 3;
        assert_eq!(b.len(), 14 + 1 + 1 + 4 + headers + 4 + sys + tail);
        assert!(b.windows(6).any(|w| w == b"FORMAT"));
    }

    #[test]
    fn tracepoint_names_split_at_the_colon() {
        assert_eq!(
            split_tracepoint("raw_syscalls:sys_enter"),
            Some(("raw_syscalls".into(), "sys_enter".into()))
        );
        assert_eq!(split_tracepoint("cpu-clock"), None);
    }
}
