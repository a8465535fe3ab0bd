//! Records perf would synthesize from /proc for things that existed before the capture:
//! COMM for every thread, MMAP2 for every executable mapping, and the kernel's
//! `[kernel.kallsyms]_text` MMAP (`tools/perf/util/synthetic-events.c`).
//!
//! Non-sample records carry a `sample_id` trailer when `sample_id_all` is set; perf fills
//! it with zeros for synthesized records (time 0 sorts them first), and so do we.

use crate::perf_data::writer::append_record;
use crate::perf_data::{misc, record_type, FileAttr};

/// Builds synthesized records with the trailer layout of one attr.
#[derive(Debug, Clone)]
pub struct Synthesizer {
    trailer: usize,
}

fn pad8(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLine {
    /// Start address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// `PROT_*`.
    pub prot: u32,
    /// `MAP_SHARED` or `MAP_PRIVATE`.
    pub flags: u32,
    /// File offset.
    pub pgoff: u64,
    /// Device major.
    pub maj: u32,
    /// Device minor.
    pub min: u32,
    /// Inode.
    pub ino: u64,
    /// Path, `[vdso]`-style name, or `//anon`.
    pub name: String,
}

/// Parses one line of `/proc/PID/maps`; `None` for a malformed line.
pub fn parse_map_line(line: &str) -> Option<MapLine> {
    let mut it = line.splitn(6, ' ');
    let range = it.next()?;
    let perms = it.next()?.as_bytes();
    let off = it.next()?;
    let dev = it.next()?;
    let ino = it.next()?;
    let name = it.next().unwrap_or("").trim_start();
    let (s, e) = range.split_once('-')?;
    let (maj, min) = dev.split_once(':')?;
    if perms.len() < 4 {
        return None;
    }
    let mut prot = 0;
    for (i, p) in [libc::PROT_READ, libc::PROT_WRITE, libc::PROT_EXEC]
        .into_iter()
        .enumerate()
    {
        if perms[i] != b'-' {
            prot |= p as u32;
        }
    }
    Some(MapLine {
        start: u64::from_str_radix(s, 16).ok()?,
        end: u64::from_str_radix(e, 16).ok()?,
        prot,
        flags: if perms[3] == b's' {
            libc::MAP_SHARED as u32
        } else {
            libc::MAP_PRIVATE as u32
        },
        pgoff: u64::from_str_radix(off, 16).ok()?,
        maj: u32::from_str_radix(maj, 16).ok()?,
        min: u32::from_str_radix(min, 16).ok()?,
        ino: ino.parse().ok()?,
        name: if name.is_empty() {
            "//anon".to_owned()
        } else {
            name.to_owned()
        },
    })
}

impl Synthesizer {
    /// Records for a file whose first attr is `attr`.
    pub fn new(attr: &FileAttr) -> Self {
        Synthesizer {
            trailer: attr.sample_id_size(),
        }
    }

    fn frame(&self, out: &mut Vec<u8>, kind: u32, misc: u16, body: impl FnOnce(&mut Vec<u8>)) {
        let trailer = self.trailer;
        let framed = append_record(out, kind, misc, |o| {
            body(o);
            // The `sample_id` trailer, zero as perf writes it for synthesized records.
            o.resize(o.len() + trailer, 0);
        });
        // Bodies are bounded (names cut at 4096 bytes): far below 64 KiB.
        debug_assert!(framed.is_ok());
    }

    /// Appends a `PERF_RECORD_COMM`.
    pub fn comm(&self, out: &mut Vec<u8>, pid: u32, tid: u32, comm: &str) {
        let name = &comm.as_bytes()[..comm.len().min(15)];
        self.frame(out, record_type::COMM, 0, |o| {
            o.extend_from_slice(&pid.to_ne_bytes());
            o.extend_from_slice(&tid.to_ne_bytes());
            pad8(o, name);
        });
    }

    /// Appends a `PERF_RECORD_MMAP2` for one mapping of `pid`.
    pub fn mmap2(&self, out: &mut Vec<u8>, pid: u32, tid: u32, m: &MapLine) {
        let name = &m.name.as_bytes()[..m.name.len().min(4096)];
        self.frame(out, record_type::MMAP2, misc::USER, |o| {
            for v in [pid, tid] {
                o.extend_from_slice(&v.to_ne_bytes());
            }
            for v in [m.start, m.end.saturating_sub(m.start), m.pgoff] {
                o.extend_from_slice(&v.to_ne_bytes());
            }
            o.extend_from_slice(&m.maj.to_ne_bytes());
            o.extend_from_slice(&m.min.to_ne_bytes());
            o.extend_from_slice(&m.ino.to_ne_bytes());
            o.extend_from_slice(&0u64.to_ne_bytes()); // ino_generation
            o.extend_from_slice(&m.prot.to_ne_bytes());
            o.extend_from_slice(&m.flags.to_ne_bytes());
            pad8(o, name);
        });
    }

    /// Appends the kernel map `[kernel.kallsyms]_text` starting at `text` (perf's
    /// `perf_event__synthesize_kernel_mmap`: pid -1, pgoff = the reference symbol).
    pub fn kernel_mmap(&self, out: &mut Vec<u8>, text: u64, ref_symbol: &str) {
        self.frame(out, record_type::MMAP, misc::KERNEL, |o| {
            o.extend_from_slice(&u32::MAX.to_ne_bytes());
            o.extend_from_slice(&0u32.to_ne_bytes());
            for v in [text, u64::MAX - text, text] {
                o.extend_from_slice(&v.to_ne_bytes());
            }
            pad8(o, format!("[kernel.kallsyms]{ref_symbol}").as_bytes());
        });
    }

    /// Appends COMM records for every thread of `pid` and MMAP2 records for its
    /// executable mappings. A process that vanished meanwhile adds nothing.
    pub fn process(&self, out: &mut Vec<u8>, pid: u32) {
        let base = format!("/proc/{pid}");
        let Ok(tasks) = std::fs::read_dir(format!("{base}/task")) else {
            return;
        };
        let mut tids: Vec<u32> = tasks
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        tids.sort_unstable();
        for tid in tids {
            if let Ok(c) = std::fs::read_to_string(format!("{base}/task/{tid}/comm")) {
                self.comm(out, pid, tid, c.trim_end_matches('\n'));
            }
        }
        if let Ok(maps) = std::fs::read_to_string(format!("{base}/maps")) {
            for m in maps.lines().filter_map(parse_map_line) {
                if m.prot & libc::PROT_EXEC as u32 != 0 {
                    self.mmap2(out, pid, pid, &m);
                }
            }
        }
    }

    /// Appends COMM/MMAP2 for every process in /proc.
    pub fn all_processes(&self, out: &mut Vec<u8>) {
        for pid in all_pids() {
            self.process(out, pid);
        }
    }

    /// Appends the kernel map when `/proc/kallsyms` shows `_text` (or `_stext`) with a
    /// real address (not hidden by `kptr_restrict`). Returns whether it did.
    pub fn kernel(&self, out: &mut Vec<u8>) -> bool {
        match kernel_text() {
            Some((addr, sym)) => {
                self.kernel_mmap(out, addr, sym);
                true
            }
            None => false,
        }
    }
}

/// The pids in /proc.
pub fn all_pids() -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// The address of `_text` (or `_stext`) from `/proc/kallsyms`, and which one it is.
pub fn kernel_text() -> Option<(u64, &'static str)> {
    let ks = std::fs::read_to_string("/proc/kallsyms").ok()?;
    for want in ["_text", "_stext"] {
        for line in ks.lines() {
            let mut f = line.split_ascii_whitespace();
            let (Some(addr), Some(_), Some(name)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if name == want {
                let a = u64::from_str_radix(addr, 16).ok()?;
                return (a != 0).then_some((a, want));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_parse_with_prot_flags_and_anon_names() {
        let m = parse_map_line(
            "7f1c2a000000-7f1c2a022000 r-xp 00002000 fd:01 1234   /usr/lib/libc.so.6",
        )
        .unwrap();
        assert_eq!(m.start, 0x7f1c2a000000);
        assert_eq!(m.end - m.start, 0x22000);
        assert_eq!(m.prot, (libc::PROT_READ | libc::PROT_EXEC) as u32);
        assert_eq!(m.flags, libc::MAP_PRIVATE as u32);
        assert_eq!((m.maj, m.min, m.ino, m.pgoff), (0xfd, 1, 1234, 0x2000));
        assert_eq!(m.name, "/usr/lib/libc.so.6");
        let anon = parse_map_line("1000-2000 rwxs 00000000 00:00 0 ").unwrap();
        assert_eq!(anon.name, "//anon");
        assert_eq!(anon.flags, libc::MAP_SHARED as u32);
    }

    #[test]
    fn synthesized_records_are_aligned_and_carry_the_trailer() {
        let mut attr = FileAttr::zeroed();
        attr.set_flags(crate::perf_data::attr::flag::SAMPLE_ID_ALL);
        attr.set_sample_type(crate::perf_data::sample_type::TIME);
        let s = Synthesizer::new(&attr);
        let mut out = Vec::new();
        s.comm(&mut out, 1, 2, "a-very-long-command-name");
        assert_eq!(out.len(), 8 + 8 + 16 + 8);
        let h = perf_ringbuf::RecordHeader::parse(&out).unwrap();
        assert_eq!(
            (h.record_type, h.size as usize),
            (record_type::COMM, out.len())
        );
        s.process(&mut out, std::process::id());
        for r in perf_ringbuf::RecordIter::new(&out) {
            r.unwrap();
        }
    }
}
