//! Reads perf.data files (file mode) written by this crate or by `perf record`.
//!
//! Every size in the file is checked against the file's length with checked arithmetic;
//! anything wrong is a [`PerfDataError`] carrying the file offset, never a panic.

use std::collections::BTreeMap;
use std::path::Path;

use perf_ringbuf::RecordHeader;

use crate::records::{ParseContext, ParsedRecord};

use super::features::{self, BuildId, EventDesc, SectionCursor};
use super::header::{read_u32, read_u64, FileHeader, FileSection, SECTION_SIZE};
use super::{feature, FileAttr, PerfDataError, ATTR_SIZE_VER0};

/// `PERF_RECORD_AUXTRACE`: followed by `size` bytes of AUX data not counted in
/// `header.size`.
const RECORD_AUXTRACE: u32 = 71;

/// One attrs-section entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrEntry {
    /// The attr.
    pub attr: FileAttr,
    /// The ids of its instances.
    pub ids: Vec<u64>,
}

/// Where a file's bytes live: read into memory, or mapped.
#[derive(Debug)]
enum Storage {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
}

impl std::ops::Deref for Storage {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
            Storage::Mapped(m) => m,
        }
    }
}

/// An opened perf.data file, its header, attrs and feature table checked.
#[derive(Debug)]
pub struct PerfData {
    bytes: Storage,
    header: FileHeader,
    attrs: Vec<AttrEntry>,
    features: BTreeMap<u32, FileSection>,
}

/// One record of the data section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// File offset of the record's header.
    pub offset: u64,
    /// The header.
    pub header: RecordHeader,
    /// The record's bytes, header included.
    pub bytes: &'a [u8],
}

fn slice_of<'a>(
    bytes: &'a [u8],
    s: FileSection,
    what: &'static str,
) -> Result<&'a [u8], PerfDataError> {
    let len = bytes.len() as u64;
    let end = s
        .end()
        .filter(|&e| e <= len)
        .ok_or(PerfDataError::Truncated {
            what,
            offset: s.offset,
            end: s.offset.saturating_add(s.size),
            len,
        })?;
    // Both bounds are <= len, which fits in usize.
    Ok(&bytes[s.offset as usize..end as usize])
}

impl PerfData {
    /// Reads and checks `path`.
    ///
    /// # Errors
    ///
    /// I/O errors, and the format errors of [`PerfData::from_bytes`].
    pub fn open(path: &Path) -> Result<Self, PerfDataError> {
        let bytes = std::fs::read(path).map_err(|e| PerfDataError::io(path, e))?;
        Self::from_bytes(bytes)
    }

    /// Checks the header, the attrs (and their ids) and the feature table of `bytes`.
    ///
    /// # Errors
    ///
    /// A format error with the file offset of the first bad field.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, PerfDataError> {
        Self::from_storage(Storage::Owned(bytes))
    }

    /// Maps `path` read-only instead of reading it: no copy and no zeroed memory, which
    /// is most of the cost of opening a large file (perf maps its input too).
    ///
    /// # Errors
    ///
    /// As [`PerfData::open`].
    ///
    /// # Safety
    ///
    /// Nothing may modify or truncate the file while the returned value lives: the
    /// records are borrowed straight from the mapping (a truncation would raise SIGBUS,
    /// a write would change bytes already checked). A finished perf.data that no
    /// recorder is writing meets this.
    pub unsafe fn open_mapped(path: &Path) -> Result<Self, PerfDataError> {
        let f = std::fs::File::open(path).map_err(|e| PerfDataError::io(path, e))?;
        // SAFETY: the caller promises that nothing modifies or truncates the file while
        // the mapping (owned by the returned value) lives.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| PerfDataError::io(path, e))?;
        // Sequential access: let the kernel read ahead and fault around generously.
        let _ = map.advise(memmap2::Advice::Sequential);
        Self::from_storage(Storage::Mapped(map))
    }

    fn from_storage(bytes: Storage) -> Result<Self, PerfDataError> {
        let header = FileHeader::decode(&bytes)?;
        let attrs = Self::read_attrs(&bytes, &header)?;
        let features = Self::read_feature_table(&bytes, &header)?;
        Ok(PerfData {
            bytes,
            header,
            attrs,
            features,
        })
    }

    fn read_attrs(bytes: &[u8], h: &FileHeader) -> Result<Vec<AttrEntry>, PerfDataError> {
        let section = slice_of(bytes, h.attrs, "attrs section")?;
        let entry = usize::try_from(h.attr_size)
            .ok()
            .filter(|&n| n >= ATTR_SIZE_VER0 + SECTION_SIZE)
            .ok_or_else(|| PerfDataError::corrupt(16, format!("attr_size {}", h.attr_size)))?;
        let mut out = Vec::new();
        for (i, chunk) in section.chunks(entry).enumerate() {
            let at = h.attrs.offset + (i * entry) as u64;
            if chunk.len() < entry {
                return Err(PerfDataError::corrupt(
                    at,
                    format!(
                        "attrs section ends inside an entry ({} of {entry} bytes)",
                        chunk.len()
                    ),
                ));
            }
            let mut size = read_u32(chunk, 4) as usize;
            if size == 0 {
                size = ATTR_SIZE_VER0;
            }
            if size + SECTION_SIZE != entry {
                return Err(PerfDataError::corrupt(
                    at + 4,
                    format!("attr.size {size} + 16 does not match attr_size {entry}"),
                ));
            }
            let attr = FileAttr::from_file_bytes(&chunk[..size]);
            let ids_section = FileSection::decode(&chunk[size..]);
            if !ids_section.size.is_multiple_of(8) {
                return Err(PerfDataError::corrupt(
                    at + size as u64 + 8,
                    format!(
                        "ids section size {} is not a multiple of 8",
                        ids_section.size
                    ),
                ));
            }
            let ids = slice_of(bytes, ids_section, "attr ids")?
                .chunks_exact(8)
                .map(|b| read_u64(b, 0))
                .collect();
            out.push(AttrEntry { attr, ids });
        }
        if out.is_empty() {
            return Err(PerfDataError::corrupt(24, "the file has no attrs"));
        }
        Ok(out)
    }

    fn read_feature_table(
        bytes: &[u8],
        h: &FileHeader,
    ) -> Result<BTreeMap<u32, FileSection>, PerfDataError> {
        let bits: Vec<u32> = h.feature_bits().collect();
        let mut out = BTreeMap::new();
        if bits.is_empty() {
            return Ok(out);
        }
        let table_at = h
            .data
            .end()
            .ok_or_else(|| PerfDataError::corrupt(40, "data section overflows"))?;
        let table = slice_of(
            bytes,
            FileSection {
                offset: table_at,
                size: (bits.len() * SECTION_SIZE) as u64,
            },
            "feature table",
        )?;
        for (bit, s) in bits.into_iter().zip(table.chunks_exact(SECTION_SIZE)) {
            let section = FileSection::decode(s);
            slice_of(bytes, section, "feature section")?;
            out.insert(bit, section);
        }
        Ok(out)
    }

    /// The header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The attrs section.
    pub fn attrs(&self) -> &[AttrEntry] {
        &self.attrs
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The attr whose ids include `id`; the first attr when `id` is 0 or there is one
    /// attr (perf's `evlist__id2evsel`).
    pub fn attr_index_for_id(&self, id: Option<u64>) -> Option<usize> {
        match id {
            _ if self.attrs.len() == 1 => Some(0),
            None | Some(0) => Some(0),
            Some(id) => self.attrs.iter().position(|a| a.ids.contains(&id)),
        }
    }

    /// The payload of feature `bit`, if the file has it.
    ///
    /// # Errors
    ///
    /// A truncation error when the section lies past the end of the file.
    pub fn feature(&self, bit: u32) -> Result<Option<&[u8]>, PerfDataError> {
        match self.features.get(&bit) {
            None => Ok(None),
            Some(&s) => slice_of(&self.bytes, s, "feature section").map(Some),
        }
    }

    fn cursor(&self, bit: u32) -> Result<Option<SectionCursor<'_>>, PerfDataError> {
        let base = self.features.get(&bit).map_or(0, |s| s.offset);
        Ok(self.feature(bit)?.map(|b| SectionCursor::new(b, base)))
    }

    /// The feature bits set in the header.
    pub fn feature_bits(&self) -> impl Iterator<Item = u32> + '_ {
        self.features.keys().copied()
    }

    fn string_feature(&self, bit: u32) -> Result<Option<String>, PerfDataError> {
        self.cursor(bit)?.map(|mut c| c.string()).transpose()
    }

    /// HOSTNAME.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn hostname(&self) -> Result<Option<String>, PerfDataError> {
        self.string_feature(feature::HOSTNAME)
    }

    /// OSRELEASE.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn osrelease(&self) -> Result<Option<String>, PerfDataError> {
        self.string_feature(feature::OSRELEASE)
    }

    /// ARCH.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn arch(&self) -> Result<Option<String>, PerfDataError> {
        self.string_feature(feature::ARCH)
    }

    /// NRCPUS: `(nr_cpus_avail, nr_cpus_online)`.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn nrcpus(&self) -> Result<Option<(u32, u32)>, PerfDataError> {
        self.cursor(feature::NRCPUS)?
            .map(|mut c| Ok((c.u32("nr_cpus_avail")?, c.u32("nr_cpus_online")?)))
            .transpose()
    }

    /// CMDLINE.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn cmdline(&self) -> Result<Option<Vec<String>>, PerfDataError> {
        self.cursor(feature::CMDLINE)?
            .map(|mut c| features::decode_string_list(&mut c))
            .transpose()
    }

    /// EVENT_DESC.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn event_desc(&self) -> Result<Option<Vec<EventDesc>>, PerfDataError> {
        self.cursor(feature::EVENT_DESC)?
            .map(|mut c| features::decode_event_desc(&mut c))
            .transpose()
    }

    /// BUILD_ID records.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn build_ids(&self) -> Result<Vec<BuildId>, PerfDataError> {
        let Some(mut c) = self.cursor(feature::BUILD_ID)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let total = self.feature(feature::BUILD_ID)?.map_or(0, <[u8]>::len);
        let mut used = 0usize;
        while used < total {
            let at = c.offset();
            let head = c.take(8, "build-id record header")?;
            let misc = u16::from_ne_bytes([head[4], head[5]]);
            let size = u16::from_ne_bytes([head[6], head[7]]) as usize;
            if size < 36 {
                return Err(PerfDataError::corrupt(
                    at,
                    format!("build-id record of {size} bytes"),
                ));
            }
            let body = c.take(size - 8, "build-id record")?;
            let pid = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
            let raw = &body[4..28];
            let n = if misc & super::misc::BUILD_ID_SIZE != 0 {
                (raw[20] as usize).min(20)
            } else {
                20
            };
            let name = &body[28..];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            out.push(BuildId {
                cpumode: misc & 7,
                pid,
                id: raw[..n].to_vec(),
                filename: String::from_utf8_lossy(&name[..end]).into_owned(),
            });
            used += size;
        }
        Ok(out)
    }

    /// The names of the events: from EVENT_DESC, in attrs order, else `None`.
    ///
    /// # Errors
    ///
    /// A format error with its offset.
    pub fn event_names(&self) -> Result<Vec<Option<String>>, PerfDataError> {
        let desc = self.event_desc()?.unwrap_or_default();
        Ok(self
            .attrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                desc.iter()
                    .find(|d| !a.ids.is_empty() && d.ids == a.ids)
                    .or_else(|| desc.get(i))
                    .map(|d| d.name.clone())
            })
            .collect())
    }

    /// Iterates over the records of the data section.
    pub fn records(&self) -> Records<'_> {
        let data = slice_of(&self.bytes, self.header.data, "data section").unwrap_or(&[]);
        Records {
            data,
            base: self.header.data.offset,
            at: 0,
            failed: false,
        }
    }

    /// The record parser's view of the attrs: each attr's layout and ids.
    ///
    /// # Errors
    ///
    /// A format error at the attrs section when the attrs disagree on where the sample
    /// id is, or share an id.
    pub fn parse_context(&self) -> Result<ParseContext, PerfDataError> {
        let mut ctx = ParseContext::new();
        for (i, a) in self.attrs.iter().enumerate() {
            let at = self.header.attrs.offset + (i as u64) * self.header.attr_size;
            ctx.add_event(a.attr.event_format(), &a.ids)
                .map_err(|e| PerfDataError::corrupt(at, format!("attr {i}: {e}")))?;
        }
        Ok(ctx)
    }

    /// Iterates over the records, parsed: `(file offset, record)`. A record that does not
    /// parse ends the walk with an error carrying its offset.
    ///
    /// # Errors
    ///
    /// As [`PerfData::parse_context`].
    pub fn parsed_records<'s>(
        &'s self,
        ctx: &'s ParseContext,
    ) -> impl Iterator<Item = Result<(u64, ParsedRecord<'s>), PerfDataError>> + 's {
        let mut failed = false;
        self.records().map_while(move |r| {
            if failed {
                return None;
            }
            let out = r.and_then(|r| {
                ctx.parse(r.bytes)
                    .map(|p| (r.offset, p))
                    .map_err(|e| PerfDataError::corrupt(r.offset, e.to_string()))
            });
            failed = out.is_err();
            Some(out)
        })
    }

    /// Number of records of each type.
    ///
    /// # Errors
    ///
    /// The first bad record.
    pub fn count_by_type(&self) -> Result<BTreeMap<u32, u64>, PerfDataError> {
        let mut m = BTreeMap::new();
        for r in self.records() {
            *m.entry(r?.header.record_type).or_insert(0) += 1;
        }
        Ok(m)
    }
}

/// Iterator over the data section's records; a bad size ends it with an error that has
/// the record's file offset.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    data: &'a [u8],
    base: u64,
    at: usize,
    failed: bool,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RawRecord<'a>, PerfDataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.at >= self.data.len() {
            return None;
        }
        let offset = self.base + self.at as u64;
        let rest = &self.data[self.at..];
        let mut fail = |e| {
            self.failed = true;
            Some(Err(e))
        };
        let Some(header) = RecordHeader::parse(rest) else {
            return fail(PerfDataError::corrupt(
                offset,
                format!(
                    "data section ends inside a record header ({} bytes left)",
                    rest.len()
                ),
            ));
        };
        let size = header.size as usize;
        if size < 8 {
            return fail(PerfDataError::corrupt(
                offset,
                format!("record of type {} has size {size}", header.record_type),
            ));
        }
        if size > rest.len() {
            return fail(PerfDataError::corrupt(
                offset,
                format!(
                    "record of type {} and size {size} runs past the data section ({} bytes left)",
                    header.record_type,
                    rest.len()
                ),
            ));
        }
        let mut step = size;
        if header.record_type == RECORD_AUXTRACE && size >= 16 {
            let aux = read_u64(rest, 8);
            match usize::try_from(aux)
                .ok()
                .and_then(|a| step.checked_add(a))
                .filter(|&s| s <= rest.len())
            {
                Some(s) => step = s,
                None => {
                    return fail(PerfDataError::corrupt(
                        offset,
                        format!("AUXTRACE data of {aux} bytes runs past the data section"),
                    ))
                }
            }
        }
        self.at += step;
        Some(Ok(RawRecord {
            offset,
            header,
            bytes: &rest[..size],
        }))
    }
}
