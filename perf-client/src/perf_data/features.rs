//! Feature-section payloads (`tools/perf/util/header.c`: `write_*` / `process_*`).
//!
//! Strings are `struct perf_header_string { u32 len; char s[len]; }` with `len` padded to
//! [`NAME_ALIGN`] and the string NUL-terminated inside it.

use super::attr::FileAttr;
use super::header::{read_u32, read_u64};
use super::{misc, PerfDataError, NAME_ALIGN};

/// Host facts written as HOSTNAME, OSRELEASE, ARCH, NRCPUS and CMDLINE (gathered by the
/// recorder: `HostFeatures::of_this_host` lives in `record::host`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFeatures {
    /// `uname -n`.
    pub hostname: String,
    /// `uname -r`.
    pub osrelease: String,
    /// `uname -m`.
    pub arch: String,
    /// `nr_cpus_avail` (highest present CPU + 1) and `nr_cpus_online`.
    pub nrcpus: (u32, u32),
    /// The command line of the recorder, program path first.
    pub cmdline: Vec<String>,
}

/// One build-id record of the BUILD_ID feature
/// (`struct perf_record_header_build_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildId {
    /// `PERF_RECORD_MISC_KERNEL` or `PERF_RECORD_MISC_USER`.
    pub cpumode: u16,
    /// The machine's pid (-1 for the host).
    pub pid: i32,
    /// The build id (at most 20 bytes).
    pub id: Vec<u8>,
    /// The DSO path, or `[kernel.kallsyms]`.
    pub filename: String,
}

/// Finds the `NT_GNU_BUILD_ID` (type 3, name "GNU") note in an ELF note list.
pub fn gnu_build_id_from_notes(notes: &[u8]) -> Option<Vec<u8>> {
    let align4 = |n: usize| n.checked_add(3).map(|v| v & !3);
    let mut at = 0usize;
    while at.checked_add(12)? <= notes.len() {
        let namesz = read_u32(notes, at) as usize;
        let descsz = read_u32(notes, at + 4) as usize;
        let kind = read_u32(notes, at + 8);
        let name_at = at + 12;
        let desc_at = name_at.checked_add(align4(namesz)?)?;
        let next = desc_at.checked_add(align4(descsz)?)?;
        if next > notes.len() {
            return None;
        }
        if kind == 3 && notes.get(name_at..name_at + namesz)? == b"GNU\0" && descsz <= 20 {
            return Some(notes[desc_at..desc_at + descsz].to_vec());
        }
        at = next;
    }
    None
}

/// One event of the EVENT_DESC feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventDesc {
    /// The attr.
    pub attr: FileAttr,
    /// The event's name as given on the command line (`cpu-clock`, `sched:sched_switch`).
    pub name: String,
    /// The ids of its instances (one per CPU or thread).
    pub ids: Vec<u64>,
}

/// Appends a `perf_header_string`.
pub(crate) fn put_string(out: &mut Vec<u8>, s: &str) {
    let olen = s.len() + 1;
    let len = olen.div_ceil(NAME_ALIGN) * NAME_ALIGN;
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
    out.resize(out.len() + (len - s.len()), 0);
}

/// Appends a string list: `u32 nr` then `nr` strings.
pub(crate) fn put_string_list(out: &mut Vec<u8>, list: &[String]) {
    out.extend_from_slice(&(list.len() as u32).to_ne_bytes());
    for s in list {
        put_string(out, s);
    }
}

/// Encodes EVENT_DESC: `u32 nr, u32 attr_size`, then per event the attr, `u32 nr_ids`,
/// the name, and the ids.
pub(crate) fn encode_event_desc(events: &[EventDesc]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(events.len() as u32).to_ne_bytes());
    out.extend_from_slice(&(super::ATTR_SIZE as u32).to_ne_bytes());
    for e in events {
        out.extend_from_slice(e.attr.as_bytes());
        out.extend_from_slice(&(e.ids.len() as u32).to_ne_bytes());
        put_string(&mut out, &e.name);
        for id in &e.ids {
            out.extend_from_slice(&id.to_ne_bytes());
        }
    }
    out
}

/// Encodes the BUILD_ID feature: build-id records back to back.
pub(crate) fn encode_build_ids(ids: &[BuildId]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in ids {
        let olen = b.filename.len() + 1;
        let name_len = olen.div_ceil(NAME_ALIGN) * NAME_ALIGN;
        let size = 36 + name_len;
        out.extend_from_slice(&0u32.to_ne_bytes()); // header.type: perf writes 0
        out.extend_from_slice(&(b.cpumode | misc::BUILD_ID_SIZE).to_ne_bytes());
        out.extend_from_slice(&(size as u16).to_ne_bytes());
        out.extend_from_slice(&b.pid.to_ne_bytes());
        let mut id = [0u8; 24];
        let n = b.id.len().min(20);
        id[..n].copy_from_slice(&b.id[..n]);
        id[20] = n as u8;
        out.extend_from_slice(&id);
        out.extend_from_slice(b.filename.as_bytes());
        out.resize(out.len() + (name_len - b.filename.len()), 0);
    }
    out
}

/// A cursor over one feature section that reports absolute file offsets.
pub(crate) struct SectionCursor<'a> {
    bytes: &'a [u8],
    at: usize,
    base: u64,
}

impl<'a> SectionCursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], base: u64) -> Self {
        SectionCursor { bytes, at: 0, base }
    }

    pub(crate) fn offset(&self) -> u64 {
        self.base + self.at as u64
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PerfDataError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(PerfDataError::corrupt(
                self.offset(),
                format!(
                    "{what} of {n} bytes runs past the end of its feature section ({} bytes left)",
                    self.bytes.len() - self.at
                ),
            )),
        }
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, PerfDataError> {
        Ok(read_u32(self.take(4, what)?, 0))
    }

    pub(crate) fn string(&mut self) -> Result<String, PerfDataError> {
        let len = self.u32("string length")? as usize;
        let s = self.take(len, "string")?;
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        Ok(String::from_utf8_lossy(&s[..end]).into_owned())
    }
}

/// Encodes GROUP_DESC as perf's `write_group_desc`: `u32 nr_groups`, then per group of
/// more than one event `{anon_group}` (a perf string), `u32 leader_idx`, `u32 nr_members`.
/// `groups` holds (leader index, members) pairs.
pub fn encode_group_desc(groups: &[(u32, u32)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(groups.len() as u32).to_ne_bytes());
    for &(leader, members) in groups {
        put_string(&mut out, "{anon_group}");
        out.extend_from_slice(&leader.to_ne_bytes());
        out.extend_from_slice(&members.to_ne_bytes());
    }
    out
}

/// Decodes a string-list section (CMDLINE).
pub(crate) fn decode_string_list(c: &mut SectionCursor<'_>) -> Result<Vec<String>, PerfDataError> {
    let at = c.offset();
    let n = c.u32("string count")? as usize;
    // Every string takes at least 4 bytes: a count beyond that is corrupt, not an OOM.
    if n > c.bytes.len() / 4 {
        return Err(PerfDataError::corrupt(
            at,
            format!("string count {n} is too large"),
        ));
    }
    (0..n).map(|_| c.string()).collect()
}

/// Decodes EVENT_DESC.
pub(crate) fn decode_event_desc(
    c: &mut SectionCursor<'_>,
) -> Result<Vec<EventDesc>, PerfDataError> {
    let at = c.offset();
    let nr = c.u32("event count")? as usize;
    let attr_at = c.offset();
    let attr_size = c.u32("attr size")? as usize;
    if attr_size < super::ATTR_SIZE_VER0 {
        return Err(PerfDataError::corrupt(
            attr_at,
            format!("attr size {attr_size}"),
        ));
    }
    if nr > c.bytes.len() / attr_size {
        return Err(PerfDataError::corrupt(
            at,
            format!("event count {nr} is too large"),
        ));
    }
    let mut out = Vec::with_capacity(nr);
    for _ in 0..nr {
        let attr = FileAttr::from_file_bytes(c.take(attr_size, "attr")?);
        let ids_at = c.offset();
        let nr_ids = c.u32("id count")? as usize;
        let name = c.string()?;
        let n_bytes = nr_ids
            .checked_mul(8)
            .ok_or_else(|| PerfDataError::corrupt(ids_at, "id count overflows"))?;
        let ids = c
            .take(n_bytes, "ids")?
            .chunks_exact(8)
            .map(|b| read_u64(b, 0))
            .collect();
        out.push(EventDesc { attr, name, ids });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_padded_to_name_align_and_read_back() {
        let mut out = Vec::new();
        put_string_list(&mut out, &["perf-client".into(), "x".repeat(64)]);
        assert_eq!(out.len(), 4 + (4 + 64) + (4 + 128));
        let mut c = SectionCursor::new(&out, 1000);
        assert_eq!(
            decode_string_list(&mut c).unwrap(),
            vec!["perf-client".to_owned(), "x".repeat(64)]
        );
    }

    #[test]
    fn group_desc_has_perfs_layout() {
        let out = encode_group_desc(&[(1, 2)]);
        assert_eq!(out.len(), 4 + (4 + 64) + 4 + 4);
        assert_eq!(&out[..4], &1u32.to_ne_bytes());
        assert_eq!(&out[4..8], &64u32.to_ne_bytes());
        assert_eq!(&out[8..21], b"{anon_group}\0");
        assert_eq!(&out[72..76], &1u32.to_ne_bytes());
        assert_eq!(&out[76..80], &2u32.to_ne_bytes());
    }

    #[test]
    fn event_desc_round_trips() {
        let mut attr = FileAttr::zeroed();
        attr.set_config(7);
        let ev = vec![EventDesc {
            attr,
            name: "cpu-clock".into(),
            ids: vec![11, 12],
        }];
        let bytes = encode_event_desc(&ev);
        assert_eq!(
            decode_event_desc(&mut SectionCursor::new(&bytes, 0)).unwrap(),
            ev
        );
    }

    #[test]
    fn truncated_event_desc_names_the_offset_inside_the_file() {
        let ev = vec![EventDesc {
            attr: FileAttr::zeroed(),
            name: "e".into(),
            ids: vec![1],
        }];
        let bytes = encode_event_desc(&ev);
        let e =
            decode_event_desc(&mut SectionCursor::new(&bytes[..bytes.len() - 4], 500)).unwrap_err();
        assert_eq!(e.offset(), Some(500 + bytes.len() as u64 - 8), "{e}");
    }

    #[test]
    fn gnu_build_id_is_found_among_other_notes() {
        let mut n = Vec::new();
        for (kind, name, desc) in [
            (1u32, &b"Xen\0"[..], &[9u8; 4][..]),
            (3, b"GNU\0", &[7; 20]),
        ] {
            n.extend_from_slice(&(name.len() as u32).to_ne_bytes());
            n.extend_from_slice(&(desc.len() as u32).to_ne_bytes());
            n.extend_from_slice(&kind.to_ne_bytes());
            n.extend_from_slice(name);
            n.extend_from_slice(desc);
        }
        assert_eq!(gnu_build_id_from_notes(&n), Some(vec![7; 20]));
        assert_eq!(gnu_build_id_from_notes(&n[..30]), None);
    }
}
