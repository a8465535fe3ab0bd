//! Streams records into a perf.data file; the header and feature sections are written by
//! [`PerfDataWriter::finish`]. The same writer streams perf's pipe mode
//! ([`PerfDataWriter::to_pipe`], `perf record -o -`): what a file keeps in its header
//! goes ahead of the records as [`super::pipe::prelude`], and the build ids learnt
//! during the capture follow them as `HEADER_BUILD_ID` records.
//!
//! The hot path is [`PerfDataWriter::write_ring_bytes`]: the bytes of one ring drain (at
//! most two slices, from [`perf_ringbuf::Drain::take_remaining`]) go to the file as they
//! are, with no per-record parsing.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use perf_ringbuf::{RecordBytes, RecordHeader};

use super::features::{self, BuildId, EventDesc, HostFeatures};
use super::header::{FileHeader, FileSection, FILE_HEADER_SIZE, SECTION_SIZE};
use super::staged::{Output, StagedFile};
use super::{feature, record_type, FileAttr, PerfDataError, FILE_ATTR_SIZE};

/// One event of the file: its attr, the name it was asked for by, and the kernel ids of
/// its instances (`PERF_EVENT_IOC_ID`, one per CPU or thread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEntry {
    /// The attr as opened (converted to the file's attr size).
    pub attr: FileAttr,
    /// `cpu-clock`, `raw_syscalls:sys_enter`, ...
    pub name: String,
    /// Ids of the instances.
    pub ids: Vec<u64>,
}

/// What [`PerfDataWriter::finish`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteSummary {
    /// The file.
    pub path: PathBuf,
    /// Bytes of records in the data section.
    pub data_bytes: u64,
    /// Size of the whole file.
    pub file_bytes: u64,
    /// FINISHED_ROUND records written.
    pub rounds: u64,
}

/// Feature payloads known only at the end of a capture.
#[derive(Debug, Clone, Default)]
pub struct FinishInfo {
    /// HOSTNAME, OSRELEASE, ARCH, NRCPUS, CMDLINE.
    pub host: HostFeatures,
    /// BUILD_ID records (the running kernel, DSOs whose ids are known).
    pub build_ids: Vec<BuildId>,
}

/// A perf.data file being written.
#[derive(Debug)]
pub struct PerfDataWriter {
    path: PathBuf,
    out: StagedFile,
    events: Vec<EventEntry>,
    header: FileHeader,
    rounds: u64,
    /// Payload for TRACING_DATA, read when the file is created so that a missing format
    /// file fails before the capture.
    tracing: Option<Vec<u8>>,
    /// Event groups of more than one event, as (leader index, members), for GROUP_DESC.
    groups: Vec<(u32, u32)>,
    /// `-z`: ring bytes go through zstd into COMPRESSED records; with the ring's
    /// `mmap_len` for HEADER_COMPRESSED.
    compress: Option<(super::compressed::Deflate, u32, Vec<u8>)>,
    /// The file again, for the header's data size kept current while recording.
    size_fd: Option<File>,
    /// Data sizes at the end of each `put` still (partly) staged: whole-record points.
    put_ends: std::collections::VecDeque<u64>,
    /// The data size the header on disk says.
    synced: u64,
    /// Pipe mode: the bytes written before the records (the prelude), the BUILD_ID
    /// entries it carried, and a copy of the records written since
    /// [`PerfDataWriter::take_written`] last took it.
    pipe: Option<PipeState>,
}

/// What a pipe-mode writer keeps.
#[derive(Debug, Default)]
struct PipeState {
    prelude_bytes: u64,
    sent_build_ids: Vec<BuildId>,
    written: Vec<u8>,
}

/// Appends one record to `out` as the kernel and perf frame them: a header, what `body`
/// appends, zero padding to 8 bytes, and the header's `size` set last.
///
/// # Errors
///
/// [`PerfDataError::Invalid`] when the record would exceed `header.size`'s 64 KiB; `out`
/// is then left as it was.
pub fn append_record(
    out: &mut Vec<u8>,
    record_type: u32,
    misc: u16,
    body: impl FnOnce(&mut Vec<u8>),
) -> Result<(), PerfDataError> {
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    body(out);
    out.resize(start + (out.len() - start).next_multiple_of(8), 0);
    let Ok(size) = u16::try_from(out.len() - start) else {
        let len = out.len() - start;
        out.truncate(start);
        return Err(PerfDataError::Invalid(format!(
            "a record of {len} bytes does not fit header.size"
        )));
    };
    let h = RecordHeader {
        record_type,
        misc,
        size,
    };
    out[start..start + 8].copy_from_slice(&h.to_u64().to_ne_bytes());
    Ok(())
}

/// Renames an existing non-empty `path` to `path.old`, as `perf record` does.
///
/// # Errors
///
/// [`PerfDataError::Io`] if the rename fails.
pub fn keep_previous(path: &Path) -> Result<Option<PathBuf>, PerfDataError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() && m.len() > 0 => {
            let mut old = path.as_os_str().to_owned();
            old.push(".old");
            let old = PathBuf::from(old);
            std::fs::rename(path, &old).map_err(|e| PerfDataError::io(path, e))?;
            Ok(Some(old))
        }
        _ => Ok(None),
    }
}

impl PerfDataWriter {
    /// Creates (truncates) `path` and writes the header, the ids and the attrs; records
    /// follow with [`write_records`](Self::write_records) and
    /// [`write_ring_bytes`](Self::write_ring_bytes). `tracing_data` is the TRACING_DATA
    /// payload (see [`tracing_data::encode`](super::tracing_data::encode)), needed when an
    /// event is a tracepoint. Who owns the file is the caller's business (see
    /// [`PerfDataWriter::from_file`]).
    ///
    /// # Errors
    ///
    /// [`PerfDataError::Invalid`] for no events; I/O errors.
    pub fn create(
        path: &Path,
        events: Vec<EventEntry>,
        tracing_data: Option<Vec<u8>>,
    ) -> Result<Self, PerfDataError> {
        let file = File::create(path).map_err(|e| PerfDataError::io(path, e))?;
        Self::from_file(file, path, events, tracing_data)
    }

    /// As [`PerfDataWriter::create`], into a file the caller created (and gave the owner
    /// it wants: perf refuses files owned by someone else). `path` names it in errors.
    ///
    /// # Errors
    ///
    /// As [`PerfDataWriter::create`].
    pub fn from_file(
        file: File,
        path: &Path,
        events: Vec<EventEntry>,
        tracing_data: Option<Vec<u8>>,
    ) -> Result<Self, PerfDataError> {
        if events.is_empty() {
            return Err(PerfDataError::Invalid("no events".into()));
        }
        let tracing = tracing_data;
        let mut head = vec![0u8; FILE_HEADER_SIZE];
        let mut id_sections = Vec::with_capacity(events.len());
        for e in &events {
            let offset = head.len() as u64;
            for id in &e.ids {
                head.extend_from_slice(&id.to_ne_bytes());
            }
            id_sections.push(FileSection {
                offset,
                size: e.ids.len() as u64 * 8,
            });
        }
        let attrs_offset = head.len() as u64;
        for (e, ids) in events.iter().zip(&id_sections) {
            head.extend_from_slice(e.attr.as_bytes());
            ids.encode(&mut head);
        }
        let header = FileHeader {
            attr_size: FILE_ATTR_SIZE as u64,
            attrs: FileSection {
                offset: attrs_offset,
                size: (events.len() * FILE_ATTR_SIZE) as u64,
            },
            data: FileSection {
                offset: head.len() as u64,
                size: 0,
            },
            features: [0; 4],
        };
        head[..FILE_HEADER_SIZE].copy_from_slice(&header.encode());
        // Records are gathered up to 128 KiB, then the oldest are written (a `BufWriter`'s
        // behaviour); `stage_up_to` lets a recorder stage more and write between drains.
        let size_fd = file.try_clone().ok();
        let mut out = StagedFile::new(Output::File(file), 128 << 10);
        out.write_all(&head)
            .map_err(|e| PerfDataError::io(path, e))?;
        Ok(PerfDataWriter {
            path: path.to_owned(),
            out,
            events,
            header,
            rounds: 0,
            tracing,
            groups: Vec::new(),
            compress: None,
            size_fd,
            put_ends: std::collections::VecDeque::new(),
            synced: 0,
            pipe: None,
        })
    }

    /// A writer of perf's pipe mode to `out` (`perf record -o -`): the [`super::pipe::prelude`]
    /// (attrs, the features known now from `info`, `tracing_data`, and `info`'s build ids)
    /// is staged at once, records follow as they are written, and
    /// [`finish`](Self::finish) appends the build ids learnt since as `HEADER_BUILD_ID`
    /// records. Nothing is ever rewritten, so `out` may be a pipe; `name` names it in
    /// errors.
    ///
    /// # Errors
    ///
    /// [`PerfDataError::Invalid`] for no events or a prelude record too large.
    pub fn to_pipe(
        out: Box<dyn Write + Send>,
        name: &Path,
        events: Vec<EventEntry>,
        groups: &[(usize, usize)],
        tracing_data: Option<Vec<u8>>,
        info: &FinishInfo,
    ) -> Result<Self, PerfDataError> {
        if events.is_empty() {
            return Err(PerfDataError::Invalid("no events".into()));
        }
        let groups = group_desc(groups);
        let payloads = feature_payloads(&events, &groups, tracing_data.as_deref(), info, None);
        let features: Vec<(u32, &[u8])> =
            payloads.iter().map(|(b, p)| (*b, p.as_slice())).collect();
        let head = super::pipe::prelude(
            events
                .iter()
                .map(|e| (&e.attr.as_bytes()[..], e.ids.as_slice())),
            &features,
        )?;
        let mut staged = StagedFile::new(Output::Pipe(out), 128 << 10);
        staged
            .write_all(&head)
            .map_err(|e| PerfDataError::io(name, e))?;
        Ok(PerfDataWriter {
            path: name.to_owned(),
            out: staged,
            events,
            header: FileHeader::default(),
            rounds: 0,
            tracing: None,
            groups,
            compress: None,
            size_fd: None,
            put_ends: std::collections::VecDeque::new(),
            synced: 0,
            pipe: Some(PipeState {
                prelude_bytes: head.len() as u64,
                sent_build_ids: info.build_ids.clone(),
                written: Vec::new(),
            }),
        })
    }

    /// True for a pipe-mode writer ([`PerfDataWriter::to_pipe`]).
    pub fn is_pipe(&self) -> bool {
        self.pipe.is_some()
    }

    /// Pipe mode: the records written since the last call (whole records, unless the
    /// last write was a ring's first slice), for a caller that looks at them since it
    /// cannot read the output back; empty for a file.
    pub fn take_written(&mut self) -> Vec<u8> {
        self.pipe
            .as_mut()
            .map(|p| std::mem::take(&mut p.written))
            .unwrap_or_default()
    }

    /// Declares event groups (perf's `{a,b}`): (index of the leader in the events,
    /// number of members with the leader), written as GROUP_DESC so that `perf report
    /// --group` and `perf evlist -g` show them. Groups of one are left out, as perf does.
    pub fn set_groups(&mut self, groups: &[(usize, usize)]) {
        self.groups = group_desc(groups);
    }

    /// The events of the file.
    pub fn events(&self) -> &[EventEntry] {
        &self.events
    }

    /// The attr whose `sample_id` layout synthesized records must follow (the first).
    pub fn first_attr(&self) -> &FileAttr {
        &self.events[0].attr
    }

    /// File offset of the data section.
    pub fn data_offset(&self) -> u64 {
        self.header.data.offset
    }

    /// Bytes of records written so far.
    pub fn data_bytes(&self) -> u64 {
        self.header.data.size
    }

    /// The path being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), PerfDataError> {
        if let Some(p) = self.pipe.as_mut() {
            p.written.extend_from_slice(bytes);
        }
        self.out
            .write_all(bytes)
            .map_err(|e| PerfDataError::io(&self.path, e))?;
        self.header.data.size += bytes.len() as u64;
        self.put_ends.push_back(self.header.data.size);
        self.sync_data_size()
    }

    /// Keeps the header's `data.size` current: at the last whole record that reached the
    /// file, one 8-byte `pwrite` when it moved (so per write batch, not per record). A
    /// recorder killed with SIGKILL then leaves a file that perf and our reader read up
    /// to there; ours also walks any records after it ([`super::recover`]).
    fn sync_data_size(&mut self) -> Result<(), PerfDataError> {
        use std::os::unix::fs::FileExt;
        // The header is staged first: no data byte is on disk before all of it is.
        let on_disk = self
            .header
            .data
            .size
            .saturating_sub(self.out.pending() as u64);
        let mut whole = None;
        while self.put_ends.front().is_some_and(|&e| e <= on_disk) {
            whole = self.put_ends.pop_front();
        }
        let (Some(whole), Some(fd)) = (whole, self.size_fd.as_ref()) else {
            return Ok(());
        };
        if whole != self.synced {
            fd.write_at(&whole.to_ne_bytes(), 48)
                .map_err(|e| PerfDataError::io(&self.path, e))?;
            self.synced = whole;
        }
        Ok(())
    }

    /// Appends whole records (each 8-byte aligned with a correct `header.size`).
    ///
    /// # Errors
    ///
    /// [`PerfDataError::Invalid`] for a length that is not a multiple of 8; I/O errors.
    pub fn write_records(&mut self, bytes: &[u8]) -> Result<(), PerfDataError> {
        if !bytes.len().is_multiple_of(8) {
            return Err(PerfDataError::Invalid(format!(
                "{} bytes of records is not a multiple of 8",
                bytes.len()
            )));
        }
        self.put(bytes)
    }

    /// Appends the bytes of one ring drain as they are (records framed by the kernel).
    ///
    /// # Errors
    ///
    /// As [`write_records`](Self::write_records).
    pub fn write_ring_bytes(&mut self, bytes: RecordBytes<'_>) -> Result<(), PerfDataError> {
        let (a, b) = bytes.parts();
        if let Some((deflate, _, scratch)) = self.compress.as_mut() {
            // One drain, whole records, compressed as one piece (perf's
            // `record__pushfn`); a reader's buffer of `mmap_len` bytes holds its output.
            let mut input = std::mem::take(scratch);
            input.clear();
            input.extend_from_slice(a);
            input.extend_from_slice(b);
            let mut out = Vec::with_capacity(input.len() / 4 + 64);
            let done = deflate.compress(&input, &mut out);
            if let Some((_, _, scratch)) = self.compress.as_mut() {
                *scratch = input;
            }
            done?;
            return self.put(&out);
        }
        self.write_records(a)?;
        self.write_records(b)
    }

    /// Compresses the ring bytes from now on (`perf record -z`, `--compression-level`):
    /// each drain becomes PERF_RECORD_COMPRESSED records of one zstd stream at `level`,
    /// and the file gets HEADER_COMPRESSED with `mmap_len` (the ring's size with its
    /// control page, what perf's reader allocates to decompress a record into).
    ///
    /// # Errors
    ///
    /// zstd refuses the level; a pipe-mode writer.
    pub fn compress(&mut self, level: i32, mmap_len: u32) -> Result<(), PerfDataError> {
        if self.pipe.is_some() {
            // HEADER_COMPRESSED would have had to go ahead of the records.
            return Err(PerfDataError::Invalid(
                "compression is not supported in pipe mode".into(),
            ));
        }
        let d = super::compressed::Deflate::new(level)?;
        self.compress = Some((d, mmap_len, Vec::new()));
        Ok(())
    }

    /// Keeps up to `bytes` of records in memory instead of writing them as they come, for
    /// a caller that writes them with [`write_pending`](Self::write_pending) between ring
    /// drains: a drain then costs a copy, and the ring is released before any `write(2)`.
    /// Past `bytes`, records are written at once, as with the default 128 KiB buffer.
    pub fn stage_up_to(&mut self, bytes: usize) {
        self.out.set_limit(bytes.max(self.out.limit()));
    }

    /// Writes up to `max` bytes of staged records to the file (one `write(2)`, unless it
    /// is short); returns how many.
    ///
    /// # Errors
    ///
    /// I/O errors (the unwritten bytes stay staged).
    pub fn write_pending(&mut self, max: usize) -> Result<usize, PerfDataError> {
        let n = self
            .out
            .write_some(max)
            .map_err(|e| PerfDataError::io(&self.path, e))?;
        self.sync_data_size()?;
        Ok(n)
    }

    /// Bytes of records staged and not yet written to the file.
    pub fn pending_bytes(&self) -> usize {
        self.out.pending()
    }

    /// Appends a `PERF_RECORD_FINISHED_ROUND`: every record before it may be sorted
    /// and processed (perf's ordered-events queue flushes at it).
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn finished_round(&mut self) -> Result<(), PerfDataError> {
        let h = RecordHeader {
            record_type: record_type::FINISHED_ROUND,
            misc: 0,
            size: 8,
        };
        self.rounds += 1;
        self.put(&h.to_u64().to_ne_bytes())
    }

    /// Makes a valid file of a recording that failed half-way (a full disk, a dead
    /// ring): staged records are written if the file takes them, the rest is dropped,
    /// the data section is cut back to the last whole record on disk — and further, by
    /// room for the feature sections — and the header and features are written there. If
    /// even that does not fit, the header is written alone (no features) over the whole
    /// records.
    ///
    /// # Errors
    ///
    /// I/O errors of the read-back, truncation or header write.
    pub fn salvage(self, info: &FinishInfo) -> Result<WriteSummary, PerfDataError> {
        if self.pipe.is_some() {
            // Nothing to cut back on a stream: what reached it stays, the rest goes.
            let mut out = self.out;
            let _ = out.flush();
            return Ok(WriteSummary {
                path: self.path,
                data_bytes: self.header.data.size,
                file_bytes: 0,
                rounds: self.rounds,
            });
        }
        let PerfDataWriter {
            path,
            out,
            events,
            mut header,
            rounds,
            tracing,
            groups,
            compress,
            ..
        } = self;
        let io = |e| PerfDataError::io(&path, e);
        // Staged records go out first if they can (after a dead ring, they can).
        let mut out = out;
        let _ = out.flush();
        let (Output::File(mut file), _unflushed) = out.into_parts() else {
            return Err(PerfDataError::Invalid("salvaging a pipe".into()));
        };
        let len = file.metadata().map_err(io)?.len();
        let start = header.data.offset;
        // Room for the features: generous for everything but tracing data.
        let room = 64 * 1024 + tracing.as_ref().map_or(0, |t| t.len() as u64);
        // The writer's descriptor is write-only: read back through another.
        let reader = File::open(&path).map_err(io)?;
        let (whole, roomy) =
            whole_records(&reader, start, len, len.saturating_sub(room)).map_err(io)?;
        header.data.size = roomy - start;
        file.set_len(roomy).map_err(io)?;
        file.seek(SeekFrom::Start(roomy)).map_err(io)?;
        let fallback = header.clone();
        let w = PerfDataWriter {
            path: path.clone(),
            out: StagedFile::new(Output::File(file), 128 << 10),
            events,
            header,
            rounds,
            tracing,
            groups,
            compress,
            size_fd: None,
            put_ends: std::collections::VecDeque::new(),
            synced: 0,
            pipe: None,
        };
        match w.finish(info) {
            Ok(s) => Ok(s),
            Err(_) => {
                // No room even for the features: the header alone over the whole records.
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io)?;
                let mut h = fallback;
                h.features = [0; 4];
                h.data.size = whole - start;
                file.set_len(whole).map_err(io)?;
                file.write_all(&h.encode()).map_err(io)?;
                Ok(WriteSummary {
                    path: path.clone(),
                    data_bytes: h.data.size,
                    file_bytes: whole,
                    rounds,
                })
            }
        }
    }

    /// Writes the feature sections and the final header, and closes the file.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn finish(mut self, info: &FinishInfo) -> Result<WriteSummary, PerfDataError> {
        if let Some(p) = self.pipe.take() {
            return self.finish_pipe(p, info);
        }
        let tracing = self.tracing.take();
        let compress = self
            .compress
            .as_ref()
            .map(|(d, mmap_len, _)| d.info(*mmap_len).encode());
        let payloads = feature_payloads(
            &self.events,
            &self.groups,
            tracing.as_deref(),
            info,
            compress,
        );

        let table_at = self.header.data.offset + self.header.data.size;
        let mut at = table_at + (payloads.len() * SECTION_SIZE) as u64;
        let mut table = Vec::with_capacity(payloads.len() * SECTION_SIZE);
        for (bit, p) in &payloads {
            self.header.set_feature(*bit);
            FileSection {
                offset: at,
                size: p.len() as u64,
            }
            .encode(&mut table);
            at += p.len() as u64;
        }
        let io = |e| PerfDataError::io(&self.path, e);
        self.out.write_all(&table).map_err(io)?;
        for (_, p) in &payloads {
            self.out.write_all(p).map_err(io)?;
        }
        let Output::File(file) = self.out.file_flushed().map_err(io)? else {
            return Err(PerfDataError::Invalid("a file header on a pipe".into()));
        };
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&self.header.encode()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(WriteSummary {
            path: self.path.clone(),
            data_bytes: self.header.data.size,
            file_bytes: at,
            rounds: self.rounds,
        })
    }
}

impl PerfDataWriter {
    /// Pipe mode's end: the build ids not in the prelude as `HEADER_BUILD_ID` records
    /// (perf 6.1 sends none in pipe mode; its reader takes them anywhere), then
    /// everything staged is written.
    fn finish_pipe(
        mut self,
        p: PipeState,
        info: &FinishInfo,
    ) -> Result<WriteSummary, PerfDataError> {
        let late: Vec<BuildId> = info
            .build_ids
            .iter()
            .filter(|b| !p.sent_build_ids.contains(b))
            .cloned()
            .collect();
        let mut tail = Vec::new();
        super::pipe::encode_build_ids(&features::encode_build_ids(&late), &mut tail)?;
        let io = |e| PerfDataError::io(&self.path, e);
        self.out.write_all(&tail).map_err(io)?;
        self.out.flush().map_err(io)?;
        Ok(WriteSummary {
            path: self.path.clone(),
            data_bytes: self.header.data.size,
            file_bytes: p.prelude_bytes + self.header.data.size + tail.len() as u64,
            rounds: self.rounds,
        })
    }
}

/// The feature sections of a file of `events` (ascending by bit): TRACING_DATA, BUILD_ID,
/// the host's, EVENT_DESC, and `compressed` (HEADER_COMPRESSED's payload) when given.
/// GROUP_DESC's (leader, members) pairs of `groups`, groups of one left out as perf does.
fn group_desc(groups: &[(usize, usize)]) -> Vec<(u32, u32)> {
    groups
        .iter()
        .filter(|&&(_, n)| n > 1)
        .filter_map(|&(l, n)| Some((u32::try_from(l).ok()?, u32::try_from(n).ok()?)))
        .collect()
}

fn feature_payloads(
    events: &[EventEntry],
    groups: &[(u32, u32)],
    tracing: Option<&[u8]>,
    info: &FinishInfo,
    compressed: Option<Vec<u8>>,
) -> Vec<(u32, Vec<u8>)> {
    let mut payloads: Vec<(u32, Vec<u8>)> = Vec::new();
    if let Some(t) = tracing {
        payloads.push((feature::TRACING_DATA, t.to_vec()));
    }
    if !info.build_ids.is_empty() {
        payloads.push((
            feature::BUILD_ID,
            features::encode_build_ids(&info.build_ids),
        ));
    }
    let h = &info.host;
    for (bit, s) in [
        (feature::HOSTNAME, &h.hostname),
        (feature::OSRELEASE, &h.osrelease),
        (feature::ARCH, &h.arch),
    ] {
        let mut p = Vec::new();
        features::put_string(&mut p, s);
        payloads.push((bit, p));
    }
    let mut nr = Vec::new();
    nr.extend_from_slice(&h.nrcpus.0.to_ne_bytes());
    nr.extend_from_slice(&h.nrcpus.1.to_ne_bytes());
    payloads.push((feature::NRCPUS, nr));
    let mut cmd = Vec::new();
    features::put_string_list(&mut cmd, &h.cmdline);
    payloads.push((feature::CMDLINE, cmd));
    let desc: Vec<EventDesc> = events
        .iter()
        .map(|e| EventDesc {
            attr: e.attr.clone(),
            name: e.name.clone(),
            ids: e.ids.clone(),
        })
        .collect();
    payloads.push((feature::EVENT_DESC, features::encode_event_desc(&desc)));
    if !groups.is_empty() {
        payloads.push((feature::GROUP_DESC, features::encode_group_desc(groups)));
    }
    if let Some(c) = compressed {
        payloads.push((super::compressed::FEATURE_COMPRESSED, c));
    }
    payloads.sort_by_key(|(bit, _)| *bit);
    payloads
}

/// Walks the records of `[start, len)` in `file`; returns the end of the last whole
/// record, and the end of the last whole record at or below `limit`.
fn whole_records(file: &File, start: u64, len: u64, limit: u64) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::FileExt;
    let (mut at, mut below) = (start, start);
    let mut h = [0u8; 8];
    while at.checked_add(8).is_some_and(|e| e <= len) {
        file.read_exact_at(&mut h, at)?;
        let size = u64::from(u16::from_ne_bytes([h[6], h[7]]));
        match at.checked_add(size) {
            Some(end) if size >= 8 && end <= len => {
                at = end;
                if at <= limit {
                    below = at;
                }
            }
            _ => break,
        }
    }
    Ok((at, below))
}
