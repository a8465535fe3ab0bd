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

/// The tracefs files TRACING_DATA carries, as the caller read them (the file format does
/// no I/O: `perf_client::record::host::tracing_data` reads a live tracefs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TracefsFiles {
    /// The page size of the machine (`sysconf(_SC_PAGESIZE)`).
    pub page_size: u32,
    /// `events/header_page`.
    pub header_page: Vec<u8>,
    /// `events/header_event`.
    pub header_event: Vec<u8>,
    /// `(system, name, events/system/name/format)` per tracepoint.
    pub formats: Vec<(String, String, Vec<u8>)>,
    /// `printk_formats` (for bprint events; empty when missing).
    pub printk_formats: Vec<u8>,
}

/// Encodes the TRACING_DATA payload of `files` (a tracepoint given twice is written
/// once; systems in name order).
pub fn encode(files: &TracefsFiles) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&[23, 8, 68]);
    out.extend_from_slice(b"tracing");
    out.extend_from_slice(b"0.6\0");
    out.push(u8::from(cfg!(target_endian = "big")));
    out.push(std::mem::size_of::<std::ffi::c_long>() as u8);
    out.extend_from_slice(&files.page_size.to_ne_bytes());
    for (tag, body) in [
        (&b"header_page\0"[..], &files.header_page),
        (&b"header_event\0"[..], &files.header_event),
    ] {
        out.extend_from_slice(tag);
        out.extend_from_slice(&(body.len() as u64).to_ne_bytes());
        out.extend_from_slice(body);
    }
    out.extend_from_slice(&0u32.to_ne_bytes()); // ftrace formats
    let mut systems: BTreeMap<&str, Vec<(&str, &[u8])>> = BTreeMap::new();
    for (sys, name, format) in &files.formats {
        let names = systems.entry(sys.as_str()).or_default();
        if !names.iter().any(|(n, _)| n == name) {
            names.push((name, format));
        }
    }
    out.extend_from_slice(&(systems.len() as u32).to_ne_bytes());
    for (sys, names) in systems {
        out.extend_from_slice(sys.as_bytes());
        out.push(0);
        out.extend_from_slice(&(names.len() as u32).to_ne_bytes());
        for (_, body) in names {
            out.extend_from_slice(&(body.len() as u64).to_ne_bytes());
            out.extend_from_slice(body);
        }
    }
    out.extend_from_slice(&0u32.to_ne_bytes()); // kallsyms: perf resolves symbols itself
                                                // printk formats (for bprint events); none when too large to be counted.
    let printk = &files.printk_formats;
    match u32::try_from(printk.len()) {
        Ok(n) => {
            out.extend_from_slice(&n.to_ne_bytes());
            out.extend_from_slice(printk);
        }
        Err(_) => out.extend_from_slice(&0u32.to_ne_bytes()),
    }
    out.extend_from_slice(&0u64.to_ne_bytes()); // saved cmdlines
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracing_data_has_perfs_layout() {
        let files = TracefsFiles {
            page_size: 4096,
            header_page: b"HP".to_vec(),
            header_event: b"HEV".to_vec(),
            formats: vec![
                ("sched".into(), "sched_switch".into(), b"FORMAT".to_vec()),
                ("sched".into(), "sched_switch".into(), b"FORMAT".to_vec()),
            ],
            printk_formats: Vec::new(),
        };
        let b = encode(&files);
        assert_eq!(&b[..14], b"\x17\x08\x44tracing0.6\0");
        let tail = 4 + 4 + 8;
        let sys = 4 + b"sched\0".len() + 4 + 8 + 6;
        let headers = 12 + 8 + 2 + 13 + 8 + 3;
        assert_eq!(b.len(), 14 + 1 + 1 + 4 + headers + 4 + sys + tail);
        assert!(b.windows(6).any(|w| w == b"FORMAT"));
    }
}
