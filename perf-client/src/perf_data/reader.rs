//! Reads perf.data files (file mode) written by this crate or by `perf record`.
//!
//! Every size in the file is checked against the file's length with checked arithmetic;
//! anything wrong is a [`PerfDataError`] carrying the file offset, never a panic.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use perf_ringbuf::RecordHeader;

use crate::records::{ParseContext, ParsedRecord};

use super::features::{self, BuildId, EventDesc, SectionCursor};
use super::header::{read_u32, read_u64, FileHeader, FileSection, FILE_HEADER_SIZE, SECTION_SIZE};
use super::source::ReadAt;
use super::stream::{self, DataChunk, RoundReader, Step, StreamOptions};
use super::{feature, FileAttr, PerfDataError, ATTR_SIZE_VER0};

/// One attrs-section entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrEntry {
    /// The attr.
    pub attr: FileAttr,
    /// The ids of its instances.
    pub ids: Vec<u64>,
}

/// Where a file's bytes live: read into memory, mapped, or read when walked.
#[derive(Debug)]
enum Storage {
    Owned(Vec<u8>),
    Mapped(memmap2::Mmap),
    Streamed(Streamed),
}

/// A file whose header, attrs and feature sections were read at open, and whose data
/// section is read round by round when walked.
#[derive(Debug)]
struct Streamed {
    src: Box<dyn ReadAt>,
    /// The path, for I/O errors.
    name: PathBuf,
    /// The file's length at open.
    len: u64,
    opts: StreamOptions,
    /// The feature sections' bytes.
    features: BTreeMap<u32, Vec<u8>>,
    /// The whole file, read on first use by the slice-returning accessors
    /// ([`PerfData::bytes`], [`PerfData::records`]); the error as kind and message.
    whole: OnceLock<Result<Vec<u8>, (std::io::ErrorKind, String)>>,
    /// A pipe-mode stream: the data section runs from `header.data.offset` to wherever
    /// the source ends, read once, in order, as it arrives.
    to_source_end: bool,
}

impl Streamed {
    fn whole(&self) -> Result<&[u8], PerfDataError> {
        let loaded = self.whole.get_or_init(|| {
            if self.to_source_end {
                return Err((
                    std::io::ErrorKind::Unsupported,
                    "a pipe is read once, in order: its records are walked, not held".to_owned(),
                ));
            }
            let n = usize::try_from(self.len).map_err(|_| {
                (
                    std::io::ErrorKind::OutOfMemory,
                    "the file does not fit in memory".to_owned(),
                )
            })?;
            let mut v = vec![0; n];
            self.src
                .read_exact_at(&mut v, 0)
                .map(|()| v)
                .map_err(|e| (e.kind(), e.to_string()))
        });
        match loaded {
            Ok(v) => Ok(v),
            Err((kind, msg)) => Err(PerfDataError::io(
                &self.name,
                std::io::Error::new(*kind, msg.clone()),
            )),
        }
    }
}

impl Storage {
    /// The whole file when it is in memory (read or mapped).
    fn in_memory(&self) -> Option<&[u8]> {
        match self {
            Storage::Owned(v) => Some(v),
            Storage::Mapped(m) => Some(m),
            Storage::Streamed(_) => None,
        }
    }
}

/// Reads sections of a file being opened: slices of a file in memory, or positioned
/// reads of a streamed one.
trait Sections {
    /// The file's length.
    fn len(&self) -> u64;
    /// The bytes of `s`.
    fn section(&self, s: FileSection, what: &'static str) -> Result<Cow<'_, [u8]>, PerfDataError>;
}

impl Sections for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn section(&self, s: FileSection, what: &'static str) -> Result<Cow<'_, [u8]>, PerfDataError> {
        slice_of(self, s, what).map(Cow::Borrowed)
    }
}

/// A file opened for streaming, its length taken at open.
struct StreamSections<'a> {
    src: &'a dyn ReadAt,
    name: &'a Path,
    len: u64,
}

impl Sections for StreamSections<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn section(&self, s: FileSection, what: &'static str) -> Result<Cow<'_, [u8]>, PerfDataError> {
        let (start, end) = within(s, self.len, what)?;
        // `end <= len`: the allocation is bounded by the file's length.
        let n = usize::try_from(end - start)
            .map_err(|_| PerfDataError::corrupt(start, format!("{what} does not fit in memory")))?;
        let mut v = vec![0; n];
        stream::read_exact(self.src, self.name, &mut v, start, what, end)?;
        Ok(Cow::Owned(v))
    }
}

/// An opened perf.data file, its header, attrs and feature table checked.
#[derive(Debug)]
pub struct PerfData {
    bytes: Storage,
    header: FileHeader,
    attrs: Vec<AttrEntry>,
    features: BTreeMap<u32, FileSection>,
    /// The file's mtime, when it was opened from a path: when the recording was last
    /// written (the symbolizer trusts an object unchanged since then).
    written: Option<std::time::SystemTime>,
    /// Set when the file was not finished and its records were walked to its end.
    recovered: Option<super::recover::Recovered>,
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

/// The bounds of `s` in a file of `len` bytes, or where it runs past the end.
fn within(s: FileSection, len: u64, what: &'static str) -> Result<(u64, u64), PerfDataError> {
    let end = s
        .end()
        .filter(|&e| e <= len)
        .ok_or(PerfDataError::Truncated {
            what,
            offset: s.offset,
            end: s.offset.saturating_add(s.size),
            len,
        })?;
    Ok((s.offset, end))
}

fn slice_of<'a>(
    bytes: &'a [u8],
    s: FileSection,
    what: &'static str,
) -> Result<&'a [u8], PerfDataError> {
    let (start, end) = within(s, bytes.len() as u64, what)?;
    // Both bounds are <= len, which fits in usize.
    Ok(&bytes[start as usize..end as usize])
}

impl PerfData {
    /// Opens and checks `path` for streaming, with [`StreamOptions::default`]: the
    /// header, attrs and feature sections are read now; the data section is read
    /// round by round into one reused buffer whenever it is walked
    /// ([`PerfData::for_each_chunk`], [`crate::analysis::for_each_ordered`],
    /// [`PerfData::count_by_type`]). No `mmap` and no copy of the whole file, so safe
    /// for any file, including one that changes afterwards (a walk then reports the
    /// truncation or the bad record it finds, with its offset).
    ///
    /// [`PerfData::bytes`] and [`PerfData::records`] hand out slices of the whole
    /// file: on a streamed file they read it into memory on first use.
    ///
    /// # Errors
    ///
    /// I/O errors, and the format errors of [`PerfData::from_bytes`].
    pub fn open(path: &Path) -> Result<Self, PerfDataError> {
        Self::open_with(path, StreamOptions::default())
    }

    /// As [`PerfData::open`], with the streaming buffer's sizes.
    ///
    /// # Errors
    ///
    /// As [`PerfData::open`].
    pub fn open_with(path: &Path, opts: StreamOptions) -> Result<Self, PerfDataError> {
        let f = std::fs::File::open(path).map_err(|e| PerfDataError::io(path, e))?;
        let meta = f.metadata().map_err(|e| PerfDataError::io(path, e))?;
        let mut file = Self::from_source(Box::new(f), meta.len(), path, opts)?;
        file.written = meta.modified().ok();
        Ok(file)
    }

    /// Reads the whole file into memory first (`std::fs::read`), then checks it as
    /// [`PerfData::from_bytes`] does.
    ///
    /// # Errors
    ///
    /// As [`PerfData::open`].
    pub fn read_whole(path: &Path) -> Result<Self, PerfDataError> {
        let bytes = std::fs::read(path).map_err(|e| PerfDataError::io(path, e))?;
        let mut file = Self::from_bytes(bytes)?;
        file.written = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Ok(file)
    }

    /// Opens a file of `len` bytes read through `src` for streaming, as
    /// [`PerfData::open`] does; `name` names it in I/O errors.
    ///
    /// # Errors
    ///
    /// As [`PerfData::open`].
    pub fn from_source(
        src: Box<dyn ReadAt>,
        len: u64,
        name: impl Into<PathBuf>,
        opts: StreamOptions,
    ) -> Result<Self, PerfDataError> {
        let name = name.into();
        let sections = StreamSections {
            src: &*src,
            name: &name,
            len,
        };
        let head_len = len.min(FILE_HEADER_SIZE as u64);
        let head = sections.section(
            FileSection {
                offset: 0,
                size: head_len,
            },
            "perf_file_header",
        )?;
        let mut header = FileHeader::decode_for_len(&head, len)?;
        let recovered =
            super::recover::recover(&mut header, len, |s| sections.section(s, "data section"))?;
        let attrs = Self::read_attrs(&sections, &header)?;
        let features = Self::read_feature_table(&sections, &header)?;
        let mut feature_bytes = BTreeMap::new();
        for (&bit, &s) in &features {
            let b = sections.section(s, "feature section")?.into_owned();
            feature_bytes.insert(bit, b);
        }
        Ok(PerfData {
            bytes: Storage::Streamed(Streamed {
                src,
                name,
                len,
                opts,
                features: feature_bytes,
                whole: OnceLock::new(),
                to_source_end: false,
            }),
            header,
            attrs,
            features,
            written: None,
            recovered,
        })
    }

    /// A pipe-mode stream whose start (attrs and features) is `head`, a file-mode image
    /// without records, and whose records are read from `src` at stream offset
    /// `data_offset` onwards, in order and once, as they arrive
    /// ([`super::pipe::open_stream`]).
    ///
    /// # Errors
    ///
    /// As [`PerfData::from_bytes`] for `head`.
    pub(crate) fn from_stream(
        head: Vec<u8>,
        src: Box<dyn ReadAt>,
        data_offset: u64,
        opts: StreamOptions,
    ) -> Result<Self, PerfDataError> {
        let mut file = Self::from_bytes(head)?;
        let mut feature_bytes = BTreeMap::new();
        for bit in file.feature_bits().collect::<Vec<_>>() {
            if let Some(b) = file.feature(bit)? {
                feature_bytes.insert(bit, b.to_vec());
            }
        }
        file.header.data = FileSection {
            offset: data_offset,
            size: 0,
        };
        file.bytes = Storage::Streamed(Streamed {
            src,
            name: PathBuf::from("-"),
            len: u64::MAX,
            opts,
            features: feature_bytes,
            whole: OnceLock::new(),
            to_source_end: true,
        });
        Ok(file)
    }

    /// True for a pipe-mode stream read as it arrives (`-i -`): its walk hands out
    /// each round as soon as the round has arrived.
    pub fn is_live_stream(&self) -> bool {
        matches!(&self.bytes, Storage::Streamed(s) if s.to_source_end)
    }

    /// Checks the header, the attrs (and their ids) and the feature table of `bytes`.
    ///
    /// # Errors
    ///
    /// A format error with the file offset of the first bad field.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, PerfDataError> {
        Self::from_storage(Storage::Owned(bytes))
    }

    /// A file mapped by the caller (`PerfData::open_mapped`, in `kernel::io`, holds the
    /// one unsafe step: the promise that nothing changes the file); `written` is its mtime.
    pub(crate) fn from_map(
        map: memmap2::Mmap,
        written: Option<std::time::SystemTime>,
    ) -> Result<Self, PerfDataError> {
        let mut file = Self::from_storage(Storage::Mapped(map))?;
        file.written = written;
        Ok(file)
    }

    fn from_storage(bytes: Storage) -> Result<Self, PerfDataError> {
        let whole = bytes.in_memory().unwrap_or(&[]);
        let mut header = FileHeader::decode(whole)?;
        let recovered = super::recover::recover(&mut header, whole.len() as u64, |s| {
            slice_of(whole, s, "data section").map(Cow::Borrowed)
        })?;
        let attrs = Self::read_attrs(whole, &header)?;
        let features = Self::read_feature_table(whole, &header)?;
        Ok(PerfData {
            bytes,
            header,
            attrs,
            features,
            written: None,
            recovered,
        })
    }

    fn read_attrs(
        file: &(impl Sections + ?Sized),
        h: &FileHeader,
    ) -> Result<Vec<AttrEntry>, PerfDataError> {
        let section = file.section(h.attrs, "attrs section")?;
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
            let ids = file
                .section(ids_section, "attr ids")?
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
        file: &(impl Sections + ?Sized),
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
        let table = file.section(
            FileSection {
                offset: table_at,
                size: (bits.len() * SECTION_SIZE) as u64,
            },
            "feature table",
        )?;
        let mut total = 0u64;
        for (i, (bit, s)) in bits
            .into_iter()
            .zip(table.chunks_exact(SECTION_SIZE))
            .enumerate()
        {
            let section = FileSection::decode(s);
            within(section, file.len(), "feature section")?;
            // Sections of a real file do not overlap, so together they fit in it; a
            // crafted table pointing every section at the whole file must not make a
            // streamed open copy the file 256 times.
            total = total
                .checked_add(section.size)
                .filter(|&t| t <= file.len())
                .ok_or_else(|| {
                    PerfDataError::corrupt(
                        table_at + (i * SECTION_SIZE) as u64,
                        "feature sections add up to more than the file",
                    )
                })?;
            out.insert(bit, section);
        }
        Ok(out)
    }

    /// Set when the file was not finished (no feature section, records past the data
    /// size its header gives: a killed recorder) and its data section was taken to be
    /// the whole records up to the end of the file.
    pub fn recovered(&self) -> Option<super::recover::Recovered> {
        self.recovered
    }

    /// When the file was last written (its mtime), if it was opened from a path.
    pub fn written(&self) -> Option<std::time::SystemTime> {
        self.written
    }

    /// The header.
    pub fn header(&self) -> &FileHeader {
        &self.header
    }

    /// The attrs section.
    pub fn attrs(&self) -> &[AttrEntry] {
        &self.attrs
    }

    /// The whole file. A streamed file ([`PerfData::open`]) is read into memory on the
    /// first call.
    ///
    /// # Errors
    ///
    /// Reading a streamed file failed (or it is shorter than when it was opened).
    pub fn bytes(&self) -> Result<&[u8], PerfDataError> {
        match &self.bytes {
            Storage::Owned(v) => Ok(v),
            Storage::Mapped(m) => Ok(m),
            Storage::Streamed(s) => s.whole(),
        }
    }

    /// True when the data section is read round by round when walked (a file from
    /// [`PerfData::open`] or [`PerfData::from_source`]), false when the whole file is
    /// in memory or mapped.
    pub fn is_streamed(&self) -> bool {
        matches!(self.bytes, Storage::Streamed(_))
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
        let Some(&s) = self.features.get(&bit) else {
            return Ok(None);
        };
        match &self.bytes {
            Storage::Streamed(st) => Ok(st.features.get(&bit).map(Vec::as_slice)),
            other => slice_of(other.in_memory().unwrap_or(&[]), s, "feature section").map(Some),
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

    /// Iterates over the records of the data section, in file order. A streamed file
    /// is read into memory on the first call (the walks of
    /// [`PerfData::for_each_chunk`] are what avoid that); a failed read is the first
    /// item.
    pub fn records(&self) -> Records<'_> {
        let whole = match &self.bytes {
            Storage::Streamed(s) => match s.whole() {
                Ok(w) => w,
                Err(_) => {
                    let mut r = Records::new(&[], self.header.data.offset);
                    r.pending = s
                        .whole
                        .get()
                        .and_then(|w| w.as_ref().err())
                        .map(|(kind, msg)| (s.name.clone(), *kind, msg.clone()));
                    return r;
                }
            },
            other => other.in_memory().unwrap_or(&[]),
        };
        let data = slice_of(whole, self.header.data, "data section").unwrap_or(&[]);
        Records::new(data, self.header.data.offset)
    }

    /// Hands the data section to `f` in pieces of whole records, in file order, with
    /// `PERF_RECORD_COMPRESSED` records replaced by the records they carry
    /// ([`super::compressed`]; in a file with HEADER_COMPRESSED or without features): a
    /// file in memory or mapped as one piece, a streamed file one round at a time
    /// (each piece then ends with its FINISHED_ROUND record, or at the end of the
    /// section), read into one reused buffer that grows to the largest round.
    ///
    /// # Errors
    ///
    /// The first error of `f`; a bad record, with its file offset (after the piece of
    /// the good records before it; in memory, [`DataChunk::records`] yields it); a
    /// round larger than [`StreamOptions::max_buffer`]; a failed read, or the file
    /// ending before its data section (a file truncated after it was opened).
    pub fn for_each_chunk<E: From<PerfDataError>>(
        &self,
        mut f: impl FnMut(DataChunk<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        // COMPRESSED records (`perf record -z`) are inflated into the records they carry:
        // in a file that says so (HEADER_COMPRESSED), or an unfinished one (no features
        // yet); other files are handed out as they are, without a look at each record.
        let compressed = self.features.is_empty()
            || self
                .features
                .contains_key(&super::compressed::FEATURE_COMPRESSED);
        let mut inflate = super::compressed::Inflate::new();
        let mut hand = |chunk: DataChunk<'_>| {
            if compressed {
                inflate.chunk(chunk, &mut f)
            } else {
                f(chunk)
            }
        };
        match &self.bytes {
            // A pipe walked as it arrives is handed out round by round, never batched.
            Storage::Streamed(s) if s.opts.read_ahead && !s.to_source_end => {
                stream::read_ahead(&*s.src, &s.name, self.header.data, s.opts, hand)
            }
            Storage::Streamed(s) => {
                let mut rounds = if s.to_source_end {
                    RoundReader::to_end_of(&*s.src, &s.name, self.header.data.offset, s.opts)
                } else {
                    RoundReader::new(&*s.src, &s.name, self.header.data, s.opts)
                };
                while let Some(chunk) = rounds.next_chunk()? {
                    hand(chunk)?;
                }
                Ok(())
            }
            other => {
                let whole = other.in_memory().unwrap_or(&[]);
                let data = slice_of(whole, self.header.data, "data section")?;
                hand(DataChunk {
                    offset: self.header.data.offset,
                    bytes: data,
                    last: true,
                })
            }
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
        self.for_each_chunk(|chunk| {
            for r in chunk.records() {
                *m.entry(r?.header.record_type).or_insert(0) += 1;
            }
            Ok::<(), PerfDataError>(())
        })?;
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
    /// A failed read of a streamed file (path, kind, message), yielded first.
    pending: Option<(PathBuf, std::io::ErrorKind, String)>,
}

impl<'a> Records<'a> {
    /// The records of `data`, whose first byte is at file offset `base`.
    pub(crate) fn new(data: &'a [u8], base: u64) -> Self {
        Records {
            data,
            base,
            at: 0,
            failed: false,
            pending: None,
        }
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RawRecord<'a>, PerfDataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((path, kind, msg)) = self.pending.take() {
            self.failed = true;
            return Some(Err(PerfDataError::io(path, std::io::Error::new(kind, msg))));
        }
        if self.failed || self.at >= self.data.len() {
            return None;
        }
        let offset = self.base + self.at as u64;
        let rest = &self.data[self.at..];
        match stream::step(rest, offset, true) {
            Step::Record { header, size, step } => {
                self.at += step;
                Some(Ok(RawRecord {
                    offset,
                    header,
                    bytes: &rest[..size],
                }))
            }
            Step::Bad(e) => {
                self.failed = true;
                Some(Err(e))
            }
            // `rest` is not empty and complete.
            Step::End | Step::NeedMore(_) => None,
        }
    }
}
