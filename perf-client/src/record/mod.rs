//! `perf record` as a library: open the events, synthesize what existed before, copy
//! every ring's bytes as they are into a staged perf.data file (at most two slices per
//! ring and drain, no per-record parsing; the ring is released before the file is
//! written), a FINISHED_ROUND after each drain pass, and at the end the kernel's exact
//! lost counts as LOST_SAMPLES records and the feature sections.

pub mod buildid_cache;
pub mod host;
pub mod rotate;
pub mod synth;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::kernel::capture::{
    Capture, CaptureError, CaptureOptions, RunHooks, RunOptions, Summary, Target,
};
use crate::kernel::child::ExitStatus;
use crate::kernel::event::{EventConfig, OpenError};
use crate::kernel::select::{EventSpec, Freq, SelectError};
use crate::perf_data::writer::{append_record, keep_previous, FinishInfo};
use crate::perf_data::{
    record_type, sample_type as st, BuildId, EventEntry, FileAttr, HostFeatures, PerfDataError,
    PerfDataWriter,
};
use crate::records::SampleId;
use synth::Synthesizer;

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Opening the events, mapping the rings, starting the command, reading the rings.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// An event name or attr.
    #[error(transparent)]
    Event(#[from] OpenError),
    /// An event choice (`-c`/`-F`) or name that cannot be used.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// Writing the perf.data file.
    #[error(transparent)]
    PerfData(#[from] PerfDataError),
    /// The scheduler refused `-r` (SCHED_FIFO).
    #[error(
        "could not run the recorder with SCHED_FIFO priority {priority}: {error} \
         (needs root, CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {priority})"
    )]
    Realtime {
        /// The priority asked for.
        priority: u8,
        /// `sched_setscheduler`'s error.
        error: std::io::Error,
    },
}

impl RecordError {
    /// True when the output was a pipe whose reader went away (`EPIPE`: `-o - | head`):
    /// the recording ended there, and the command was killed.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, RecordError::PerfData(PerfDataError::Io { error, .. })
            if error.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// What to record and where.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// `-e` arguments in perf's syntax (`cpu-clock:u`, `{cpu-clock,page-faults}:S`,
    /// `raw_syscalls:sys_enter`, `sched:*`; see [`crate::kernel::event_syntax`]).
    pub events: Vec<String>,
    /// `-c`: a sample every N events.
    pub period: Option<u64>,
    /// `-F`: about N samples a second. Neither: perf's defaults (4000 Hz; every event
    /// for tracepoints).
    pub freq: Option<u64>,
    /// `-g`: callchains.
    pub callchain: bool,
    /// `--call-graph dwarf[,SIZE]`: copy SIZE bytes of the user stack and the user
    /// registers with each sample (`sample_stack_user`, `sample_regs_user`) for DWARF
    /// unwinding, and take only the kernel part of the callchain
    /// (`exclude_callchain_user`), as perf does. Needs `callchain`.
    pub dwarf_stack_user: Option<u32>,
    /// What to trace.
    pub target: Target,
    /// A command to run meanwhile with a task target (`-p PID -- CMD`): the recording
    /// ends when it exits (see [`CaptureOptions::command`]).
    pub command: Option<Vec<std::ffi::OsString>>,
    /// `-m`: data pages per ring (power of two).
    pub data_pages: usize,
    /// `--overwrite`: flight recorder, dumped on request and at the end.
    pub overwrite: bool,
    /// `-o`.
    pub output: PathBuf,
    /// `-r`: run the recorder thread with this `SCHED_FIFO` priority
    /// (`sched_setscheduler(2)`, with `SCHED_RESET_ON_FORK`, so the command started by
    /// the recording keeps the default policy). Its wakeups then preempt the other work
    /// on its CPU; on a busy machine that decides how much a small ring loses.
    pub realtime: Option<u8>,
    /// The recorder's command line (CMDLINE feature).
    pub cmdline: Vec<String>,
    /// Stop when set (SIGINT/SIGTERM).
    pub stop: Arc<AtomicBool>,
    /// Dump the overwrite rings now (SIGUSR2); cleared when done.
    pub dump: Arc<AtomicBool>,
    /// `--switch-output`: close the file and start a new one when due ([`rotate`]).
    pub switch_output: Option<rotate::Rotation>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Wake the recorder when at most this many bytes wait in a ring
    /// (`attr.wakeup_watermark`, see [`wakeup_watermark`]); `None` keeps the kernel's
    /// default, half the ring.
    pub wakeup_bytes: Option<u64>,
    /// `-z`/`--compression-level`: zstd level of PERF_RECORD_COMPRESSED (1..=22), or none.
    pub compression: Option<i32>,
    /// `--switch-events`: `attr.context_switch` on the side-band (first) event, as perf
    /// sets it: a `PERF_RECORD_SWITCH` (task targets) or `PERF_RECORD_SWITCH_CPU_WIDE`
    /// (`-a`/`-C`) at every context switch in or out of a traced task.
    pub switch_events: bool,
}

impl RecordOptions {
    /// Defaults as `perf record`: 128 pages, `perf.data`.
    pub fn new(events: Vec<String>, target: Target) -> Self {
        RecordOptions {
            events,
            period: None,
            freq: None,
            callchain: false,
            dwarf_stack_user: None,
            target,
            command: None,
            data_pages: 128,
            overwrite: false,
            output: PathBuf::from("perf.data"),
            realtime: None,
            cmdline: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
            dump: Arc::new(AtomicBool::new(false)),
            switch_output: None,
            duration: None,
            wakeup_bytes: Some(64 << 10),
            compression: None,
            switch_events: false,
        }
    }
}

/// Progress of a running recording, handed to the progress callback about once a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Bytes of records written.
    pub bytes: u64,
    /// Epoll wakeups with data.
    pub wakeups: u64,
}

/// What a recording did.
#[derive(Debug, Clone)]
pub struct RecordSummary {
    /// The file written (the final one; see also `dumps`).
    pub path: PathBuf,
    /// The previous file kept as `.old`, if any.
    pub previous: Option<PathBuf>,
    /// Bytes of records in the data section.
    pub data_bytes: u64,
    /// Size of the file.
    pub file_bytes: u64,
    /// Records in the data section (counted after the capture), and of them samples.
    pub records: u64,
    /// SAMPLE records.
    pub samples: u64,
    /// Records lost: the kernel's `PERF_FORMAT_LOST` counters, exact.
    pub lost: u64,
    /// The sum of the `lost` fields of the kernel's `PERF_RECORD_LOST` records in the file
    /// (the ring bytes are written unparsed, so these are counted in the file afterwards).
    pub lost_in_records: u64,
    /// The capture's totals (wakeups, per-ring and per-event counters).
    pub capture: Summary,
    /// Flight-recorder dumps written on request.
    pub dumps: Vec<PathBuf>,
    /// The command's exit status.
    pub exit_status: Option<ExitStatus>,
}

fn build_configs(opts: &RecordOptions) -> Result<Vec<EventConfig>, RecordError> {
    let user_only = crate::kernel::sys::euid() != 0
        && crate::kernel::event::perf_event_paranoid().is_some_and(|p| p >= 2);
    let spec = EventSpec {
        count: opts.period,
        freq: opts.freq.map(Freq::Hz),
        callchain: opts.callchain,
        exclude_kernel: user_only,
        ..EventSpec::new(opts.events.clone())
    };
    let events = spec
        .build()
        .map_err(|e| match e {
            SelectError::Event(e) => RecordError::Event(e),
            e => RecordError::Select(e),
        })?
        .events;
    let mut out = Vec::with_capacity(events.len());
    let single = events.len() == 1;
    for (i, mut c) in events.into_iter().enumerate() {
        if let (true, Some(size)) = (opts.callchain, opts.dwarf_stack_user) {
            c = c
                .regs_user(crate::analysis::unwind::X86_64_USER_REGS_MASK)
                .stack_user(size);
            c.attr_mut().set_exclude_callchain_user(1);
            // perf's unwinders read .eh_frame_hdr through the process's memory map: the
            // read-only segments that hold it must be in the file too (perf sets
            // `mmap_data` for dwarf as well).
            c = c.mmap_data(true);
        }
        if i == 0 {
            c = c.context_switch(opts.switch_events);
            // MMAP2 records carry the file's build id (Linux 5.12+): files mapped during
            // the capture get their BUILD_ID entry without being read.
            c = c.mmap_build_ids(true);
        }
        if let Some(bytes) = opts.wakeup_bytes {
            let ring = (opts.data_pages as u64).saturating_mul(page_size());
            let mark = wakeup_watermark(ring, bytes);
            c = c.wakeup_watermark(u32::try_from(mark).unwrap_or(u32::MAX));
        }
        // Smaller samples, more of them per ring: the id is only needed to tell events
        // apart.
        if single && c.attr().sample_type & st::READ == 0 {
            let t = c.attr().sample_type & !st::IDENTIFIER;
            c = c.sample_type(t);
        }
        out.push(c);
    }
    Ok(out)
}

/// The wakeup watermark for a ring of `ring` bytes, at most `max`: an eighth of the
/// ring, but not less than 4 KiB, nor (on rings under 16 KiB) 3/8 of the ring.
///
/// What a ring loses is what arrives, beyond the free space left at the wakeup, before
/// the recorder runs: tens of microseconds on an idle virtual machine, milliseconds when
/// its host is busy. Waking at an eighth leaves 7/8 of the ring
/// for it (the kernel's default, half, leaves half). Each wakeup costs the recorder about
/// 10 µs of CPU, so none is taken for less than 4 KiB: on a syscall storm (80 MB/s of
/// 112-byte samples) that keeps the recorder's CPU below `perf record`'s at every ring
/// size. A one-page ring is woken at 1.5 KiB (2.5 KiB free): half lost 5–9% of the
/// storm, 3/8 about 2%, a quarter no less for more CPU (`scripts/capture-compare.sh`).
pub fn wakeup_watermark(ring: u64, max: u64) -> u64 {
    let floor = (4u64 << 10).min(ring / 8 * 3);
    ((ring / 8).max(floor).min(max) & !7).max(8)
}

fn tgid_of(tid: i32) -> Option<u32> {
    std::fs::read_to_string(format!("/proc/{tid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))?
        .trim()
        .parse()
        .ok()
}

/// COMM/MMAP2 for the tasks that exist before the capture, and the kernel map.
fn synthesize(attr: &FileAttr, target: &Target) -> Vec<u8> {
    let syn = Synthesizer::new(attr);
    let mut out = Vec::new();
    syn.kernel(&mut out);
    match target {
        Target::Process(p) => syn.process(&mut out, *p as u32),
        Target::Thread(t) => syn.process(&mut out, tgid_of(*t).unwrap_or(*t as u32)),
        Target::Cpus { .. } => syn.all_processes(&mut out),
        Target::CurrentThread => syn.process(&mut out, std::process::id()),
        // The kernel reports the command's exec (COMM) and its mappings (MMAP2).
        _ => {}
    }
    out
}

/// A LOST_SAMPLES record `{ u64 lost; sample_id }` for the fd with id `id` on `cpu`.
fn lost_samples_record(attr: &FileAttr, id: u64, cpu: i32, lost: u64, out: &mut Vec<u8>) {
    let trailer = SampleId {
        id: Some(id),
        stream_id: Some(id),
        cpu: Some(cpu.max(0) as u32),
        identifier: Some(id),
        ..SampleId::default()
    };
    let framed = append_record(out, record_type::LOST_SAMPLES, 0, |r| {
        r.extend_from_slice(&lost.to_ne_bytes());
        if attr.sample_id_all() {
            trailer.write(attr.sample_type(), r);
        }
    });
    // 8 bytes and a trailer of at most 48: it always fits.
    debug_assert!(framed.is_ok());
}

fn entries(capture: &Capture) -> Result<Vec<EventEntry>, RecordError> {
    capture
        .configs()
        .iter()
        .enumerate()
        .map(|(ci, c)| {
            Ok(EventEntry {
                attr: FileAttr::from_kernel_attr(c.attr())?,
                name: c.name(),
                ids: capture
                    .events()
                    .iter()
                    .filter(|e| e.config == ci)
                    .map(|e| e.fd.id())
                    .collect(),
            })
        })
        .collect()
}

/// A perf.data writer on a new `path` owned by the invoking user, with the TRACING_DATA
/// its tracepoints need.
fn create_writer(path: &Path, capture: &Capture) -> Result<PerfDataWriter, RecordError> {
    let events = entries(capture)?;
    let tracing = host::tracing_data(&events)?;
    let file = host::create_output(path)?;
    let mut w = PerfDataWriter::from_file(file, path, events, tracing)?;
    w.set_groups(&groups(capture));
    Ok(w)
}

/// (leader, members with the leader) of each `{...}` group: members follow their leader.
fn groups(capture: &Capture) -> Vec<(usize, usize)> {
    let configs = capture.configs();
    (0..configs.len())
        .filter(|&i| configs[i].group_leader().is_none())
        .map(|l| {
            let members = configs
                .iter()
                .filter(|c| c.group_leader() == Some(l))
                .count();
            (l, members + 1)
        })
        .collect()
}

/// `-o -`: perf's pipe mode on standard output, written while the capture runs
/// ([`PerfDataWriter::to_pipe`]). The host features and the build ids known before
/// the first record — the running kernel's, and those of the files the synthesized
/// records `pre` map — go ahead of the records (a reader walking the stream as it
/// arrives verifies objects by them); the build ids of the files mapped during the
/// capture follow the records at the end (the kernel also puts them in the MMAP2
/// records).
fn create_pipe_writer(
    capture: &Capture,
    cmdline: &[String],
    pre: &[u8],
) -> Result<PerfDataWriter, RecordError> {
    use std::os::fd::AsFd;
    let name = Path::new("-");
    let events = entries(capture)?;
    let tracing = host::tracing_data(&events)?;
    // A descriptor of its own, unbuffered: each write(2) reaches the reader at once.
    let fd = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| PerfDataError::io(name, e))?;
    let out = Box::new(std::fs::File::from(fd));
    let mut info = finish_info(cmdline);
    let mut known = DataScan::new(Some(capture.parse_context().clone()));
    known.feed(pre.to_vec());
    // Synthesized here: a record that does not walk is a bug, and costs only build ids.
    if let Ok((_, ids)) = known.finish() {
        info.build_ids.extend(ids);
    }
    let groups = groups(capture);
    Ok(PerfDataWriter::to_pipe(
        out, name, events, &groups, tracing, &info,
    )?)
}

/// True when `output` is `-`: perf's pipe mode on standard output.
pub fn is_stdout(output: &Path) -> bool {
    output == Path::new("-")
}

fn finish_info(cmdline: &[String]) -> FinishInfo {
    FinishInfo {
        host: HostFeatures::of_this_host(cmdline.to_vec()),
        build_ids: BuildId::running_kernel().into_iter().collect(),
    }
}

/// Writes the overwrite rings' current contents to a new file `path`.
fn dump_snapshot(
    capture: &mut Capture,
    path: &Path,
    pre: &[u8],
    cmdline: &[String],
) -> Result<(), RecordError> {
    let mut w = create_writer(path, capture)?;
    w.write_records(pre)?;
    w.finished_round()?;
    capture.snapshot(
        &mut |r: crate::kernel::capture::RecordRef<'_>| -> Result<(), RecordError> {
            w.write_records(r.bytes)?;
            Ok(())
        },
    )?;
    w.finished_round()?;
    w.finish(&finish_info(cmdline))?;
    Ok(())
}

fn page_size() -> u64 {
    crate::kernel::sys::page_size() as u64
}

/// How long the second half of a ring must take to fill, at the current rate, before the
/// recorder dares to sleep until the kernel's half-ring wakeup (the wakeup's latency
/// must fit in it, with margin for a busy machine).
const SLEEP_HEADROOM: Duration = Duration::from_millis(1);

/// After a pass that drained `n` bytes `since` the previous one: true when, at that rate,
/// filling half the ring (the kernel's default wakeup point) takes over
/// [`SLEEP_HEADROOM`] and the
/// pass found under a quarter of the ring. Sleeping in epoll then costs no records and
/// saves the CPU that spinning would burn; small or fast-filling rings keep spinning.
fn can_sleep(n: u64, since: Duration, ring_bytes: u64) -> bool {
    if n >= ring_bytes / 4 {
        return false;
    }
    let rate = n as f64 / since.as_secs_f64().max(1e-9); // bytes per second
    rate * SLEEP_HEADROOM.as_secs_f64() < (ring_bytes / 2) as f64
}

/// What [`count_records`] found in a file's data section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Records of every type.
    pub records: u64,
    /// SAMPLE records.
    pub samples: u64,
    /// Sum of the `lost` fields of `PERF_RECORD_LOST` records.
    pub lost_in_records: u64,
}

/// Counts records and samples in a written file's data section by walking the record
/// headers (after the capture, off the hot path), and adds up the `PERF_RECORD_LOST`
/// reports.
///
/// # Errors
///
/// [`PerfDataError`]: the file cannot be read, or a record header is impossible.
pub fn count_records(path: &Path) -> Result<RecordCounts, PerfDataError> {
    use std::io::Read;
    let io = |e| PerfDataError::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut head = [0u8; crate::perf_data::header::FILE_HEADER_SIZE];
    f.read_exact(&mut head).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    let h = crate::perf_data::FileHeader::decode_for_len(&head, len)?;
    Ok(scan_data(path, h.data.offset, h.data.size, None)?.0)
}

/// Walks the records of the data section `[offset, offset + size)` of `path` with the
/// perf.data reader's round walker (after the capture, off the hot path) and hands them
/// to a [`DataScan`].
fn scan_data(
    path: &Path,
    offset: u64,
    size: u64,
    ctx: Option<&crate::records::ParseContext>,
) -> Result<(RecordCounts, Vec<BuildId>), PerfDataError> {
    use crate::perf_data::stream::RoundReader;
    use crate::perf_data::{FileSection, StreamOptions};
    let file = std::fs::File::open(path).map_err(|e| PerfDataError::io(path, e))?;
    let mut rounds = RoundReader::new(
        &file,
        path,
        FileSection { offset, size },
        StreamOptions::default(),
    );
    let mut scan = DataScan::new(ctx.cloned());
    // `-z`: the records inside PERF_RECORD_COMPRESSED are what is counted and scanned.
    let mut inflate = crate::perf_data::compressed::Inflate::new();
    while let Some(chunk) = rounds.next_chunk()? {
        inflate.chunk(chunk, &mut |chunk: crate::perf_data::DataChunk<'_>| {
            for r in chunk.records() {
                scan.record(&r?);
            }
            Ok::<(), PerfDataError>(())
        })?;
    }
    scan.finish()
}

/// What the recorder learns from the records it wrote: counts them, adds up
/// `PERF_RECORD_LOST`, and — with a parse context — collects a build id per mapped file
/// for the BUILD_ID feature: the one the kernel put in `PERF_RECORD_MMAP2`
/// (`attr.build_id`), or for an executable mapping without one (synthesized, or an old
/// kernel) the file's own `NT_GNU_BUILD_ID` note, read with blazesym. A file is read
/// back after the capture ([`scan_data`]); a pipe is looked at as it is written
/// ([`DataScan::feed`]).
struct DataScan {
    ctx: Option<crate::records::ParseContext>,
    counts: RecordCounts,
    ids: Vec<BuildId>,
    seen: std::collections::HashSet<String>,
    /// Fed bytes that do not yet make a whole record.
    carry: Vec<u8>,
    /// How many bytes fed before `carry` (the offset of its first byte).
    carried_at: u64,
    /// A record that could not be walked: the scan stops there, the recording goes on,
    /// and [`DataScan::finish`] reports it (as a file's read-back does).
    bad: Option<PerfDataError>,
}

impl DataScan {
    fn new(ctx: Option<crate::records::ParseContext>) -> Self {
        DataScan {
            ctx,
            counts: RecordCounts::default(),
            ids: Vec::new(),
            seen: std::collections::HashSet::new(),
            carry: Vec::new(),
            carried_at: 0,
            bad: None,
        }
    }

    /// Scans the whole records of `bytes`, the next bytes written; a record cut at the
    /// end waits for the rest. After a bad record nothing more is scanned.
    fn feed(&mut self, bytes: Vec<u8>) {
        use crate::perf_data::stream::{step, Step};
        if self.bad.is_some() {
            return;
        }
        let mut buf = if self.carry.is_empty() {
            bytes
        } else {
            let mut c = std::mem::take(&mut self.carry);
            c.extend_from_slice(&bytes);
            c
        };
        let mut at = 0usize;
        loop {
            let offset = self.carried_at + at as u64;
            match step(&buf[at..], offset, false) {
                Step::Record { header, size, step } => {
                    let r = crate::perf_data::RawRecord {
                        offset,
                        header,
                        bytes: &buf[at..at + size],
                    };
                    self.record(&r);
                    at += step;
                }
                Step::NeedMore(_) | Step::End => break,
                Step::Bad(e) => {
                    self.bad = Some(e);
                    return;
                }
            }
        }
        buf.drain(..at);
        self.carry = buf;
        self.carried_at += at as u64;
    }

    fn record(&mut self, r: &crate::perf_data::RawRecord<'_>) {
        use crate::records::{FileId, Record};
        let counts = &mut self.counts;
        counts.records += 1;
        match r.header.record_type {
            record_type::SAMPLE => counts.samples += 1,
            record_type::LOST if r.bytes.len() >= 24 => {
                let lost = u64::from_ne_bytes(r.bytes[16..24].try_into().unwrap_or_default());
                counts.lost_in_records = counts.lost_in_records.saturating_add(lost);
            }
            record_type::MMAP2 => {
                let Some(Ok(p)) = self.ctx.as_ref().map(|c| c.parse(r.bytes)) else {
                    return;
                };
                let Record::Mmap2(m) = p.record else {
                    return;
                };
                let filename = String::from_utf8_lossy(m.filename).into_owned();
                // The kernel's build id; else (a mapping synthesized for a task that
                // existed before the capture, or a kernel before 5.12) the file's own,
                // for executable mappings of files that are still there.
                let id = match m.file_id {
                    FileId::BuildId(id) => Some(id.as_bytes().to_vec()),
                    FileId::Inode { .. }
                        if m.prot & libc::PROT_EXEC as u32 != 0
                            && filename.starts_with('/')
                            && !self.seen.contains(&filename) =>
                    {
                        blazesym::helper::read_elf_build_id(&filename)
                            .ok()
                            .flatten()
                            .map(|b| b.to_vec())
                    }
                    FileId::Inode { .. } => None,
                };
                if let Some(id) = id.filter(|id| !id.is_empty() && id.len() <= 20) {
                    if self.seen.insert(filename.clone()) {
                        self.ids.push(BuildId {
                            cpumode: r.header.misc & crate::records::misc::CPUMODE_MASK,
                            pid: -1,
                            id,
                            filename,
                        });
                    }
                }
            }
            _ => {}
        }
    }

    /// The counts and build ids.
    ///
    /// # Errors
    ///
    /// The bad record the scan stopped at (its offset counts from the first byte fed).
    fn finish(self) -> Result<(RecordCounts, Vec<BuildId>), PerfDataError> {
        match self.bad {
            Some(e) => Err(e),
            None => Ok((self.counts, self.ids)),
        }
    }
}

/// Runs a recording to the end.
///
/// # Errors
///
/// [`RecordError`]: events that cannot be opened (saying what to change), a ring or file
/// failure. The command is killed when the recording fails after starting it.
pub fn record(
    opts: &RecordOptions,
    mut progress: impl FnMut(&Progress),
) -> Result<RecordSummary, RecordError> {
    let configs = build_configs(opts)?;
    let first = FileAttr::from_kernel_attr(configs[0].attr())?;
    let pre = synthesize(&first, &opts.target);
    let mut copts = CaptureOptions::new(configs, opts.target.clone());
    copts.data_pages = opts.data_pages;
    copts.overwrite = opts.overwrite;
    copts.command = opts.command.clone();
    // The recorder thread runs real-time until `record` returns (the guard restores it).
    let _fifo = match opts.realtime {
        Some(priority) => Some(
            crate::kernel::sys::set_fifo_priority(priority)
                .map_err(|error| RecordError::Realtime { priority, error })?,
        ),
        None => None,
    };
    let previous = if is_stdout(&opts.output) {
        None
    } else {
        keep_previous(&opts.output)?
    };
    let mut capture = Capture::start(copts)?;
    let result = run(&mut capture, opts, &pre, &mut progress);
    if result.is_err() {
        capture.signal_child(libc::SIGKILL);
        capture.wait_child();
    }
    let out = result?;
    Ok(RecordSummary {
        path: out.written.path,
        previous,
        data_bytes: out.written.data_bytes,
        file_bytes: out.written.file_bytes,
        records: out.counts.records,
        samples: out.counts.samples,
        lost: out.summary.lost(),
        lost_in_records: out.counts.lost_in_records,
        capture: out.summary,
        dumps: out.dumps,
        exit_status: out.exit_status,
    })
}

/// What [`run`] hands back to [`record`].
struct RunOut {
    /// What the writer wrote.
    written: crate::perf_data::WriteSummary,
    /// Flight-recorder dumps written on request.
    dumps: Vec<PathBuf>,
    /// The capture's totals.
    summary: Summary,
    /// The command's exit status.
    exit_status: Option<ExitStatus>,
    /// Records counted in the written file.
    counts: RecordCounts,
}

/// The recorder's side of the capture loop ([`Capture::run_loop`]): each pass copies the
/// rings' bytes as they are into the staged file (rings released before any write(2)),
/// sleeps only when the rings fill slowly, writes the stage out when idle, and every
/// 10 ms serves dump requests and progress.
struct Recorder<'a, P> {
    w: &'a mut PerfDataWriter,
    opts: &'a RecordOptions,
    pre: &'a [u8],
    progress: &'a mut P,
    dumps: Vec<PathBuf>,
    started: Instant,
    next_progress: Instant,
    ring_bytes: u64,
    /// Bytes written to the file per write(2), see [`Recorder::write_stage`].
    piece: usize,
    /// `--switch-output` state.
    rotator: rotate::Rotator,
    /// `-o -`: the records written so far, looked at as they go (a pipe cannot be
    /// read back).
    scan: Option<DataScan>,
}

impl<P: FnMut(&Progress)> Recorder<'_, P> {
    /// Drains are staged and the rings released before the file is written, in pieces
    /// of `piece` bytes: about what one pass over the rings can hold, so the file keeps
    /// pace; few enough write(2)s that a wakeup rarely pays one; and small enough that a
    /// write returns well before a small ring fills (16 KiB at -m 1). A backlog (the file
    /// slower than the rings for a while) is written down to one piece at once, still
    /// after the rings were released.
    fn write_stage(&mut self) -> Result<(), RecordError> {
        let pending = self.w.pending_bytes();
        if pending >= self.piece {
            let chunk = if pending >= 4 * self.piece {
                pending - self.piece
            } else {
                self.piece
            };
            self.w.write_pending(chunk)?;
        }
        Ok(())
    }
}

impl<P: FnMut(&Progress)> RunHooks for Recorder<'_, P> {
    type Error = RecordError;

    fn pass(&mut self, c: &mut Capture) -> Result<u64, RecordError> {
        let w = &mut *self.w;
        let n = c.drain_raw(&mut |_, _, bytes| -> Result<(), RecordError> {
            w.write_ring_bytes(bytes)?;
            Ok(())
        })?;
        if n > 0 {
            self.w.finished_round()?;
        }
        if let Some(scan) = self.scan.as_mut() {
            // A reader of the pipe sees each pass as it ends (`perf script -i -`).
            self.w.write_pending(usize::MAX)?;
            scan.feed(self.w.take_written());
        } else {
            self.write_stage()?;
        }
        Ok(n)
    }

    /// Sleep when the ring fills slowly enough that the kernel's wakeup comes long
    /// before it is full ([`can_sleep`]); spin otherwise.
    fn may_sleep(&mut self, n: u64, since: Duration) -> bool {
        can_sleep(n, since, self.ring_bytes)
    }

    /// Idle for a while: the file catches up with everything staged.
    fn idle(&mut self) -> Result<(), RecordError> {
        self.w.write_pending(usize::MAX)?;
        Ok(())
    }

    fn check_interval(&self) -> Duration {
        Duration::from_millis(10)
    }

    fn check(&mut self, capture: &mut Capture) -> Result<(), RecordError> {
        let opts = self.opts;
        // Polled flag: Relaxed (set by the SIGUSR2 handler).
        if let Some(r) = &opts.switch_output {
            if self.rotator.due(r, opts, self.w.data_bytes()) {
                let stage = self.piece.saturating_mul(16);
                self.rotator.switch(self.w, capture, opts, r, stage)?;
            }
        }
        if opts.dump.swap(false, Ordering::Relaxed) && opts.overwrite {
            let p = rotate::dump_path(opts);
            dump_snapshot(capture, &p, self.pre, &opts.cmdline)?;
            rotate::announce(opts, &p)?;
            self.dumps.push(p);
        }
        let now = Instant::now();
        if now >= self.next_progress {
            self.next_progress = now + Duration::from_secs(1);
            (self.progress)(&Progress {
                elapsed: now - self.started,
                bytes: self.w.data_bytes(),
                wakeups: capture.wakeups(),
            });
        }
        Ok(())
    }
}

fn run(
    capture: &mut Capture,
    opts: &RecordOptions,
    pre: &[u8],
    progress: &mut impl FnMut(&Progress),
) -> Result<RunOut, RecordError> {
    let pipe = is_stdout(&opts.output);
    let mut w = if pipe {
        create_pipe_writer(capture, &opts.cmdline, pre)?
    } else {
        create_writer(&opts.output, capture)?
    };
    if let Some(level) = opts.compression {
        let mmap_len = (opts.data_pages.saturating_add(1)).saturating_mul(page_size() as usize);
        w.compress(level, u32::try_from(mmap_len).unwrap_or(u32::MAX))?;
    }
    w.write_records(pre)?;
    w.finished_round()?;
    let ring_bytes = (opts.data_pages as u64).saturating_mul(page_size());
    let all_rings = ring_bytes.saturating_mul(capture.ring_count().max(1) as u64);
    let piece = usize::try_from(all_rings.clamp(16 << 10, 4 << 20)).unwrap_or(4 << 20);
    w.stage_up_to(piece.saturating_mul(16));
    let started = Instant::now();
    let mut rec = Recorder {
        w: &mut w,
        opts,
        pre,
        progress,
        dumps: Vec::new(),
        started,
        next_progress: started + Duration::from_secs(1),
        ring_bytes,
        piece,
        rotator: rotate::Rotator::new(),
        scan: pipe.then(|| DataScan::new(Some(capture.parse_context().clone()))),
    };
    if pipe {
        // The prelude and the synthesized records, before the first sample.
        rec.w.write_pending(usize::MAX)?;
    }
    let run_opts = RunOptions {
        duration: opts.duration,
        stop: Some(Arc::clone(&opts.stop)),
        ..RunOptions::default()
    };
    let body = (|| -> Result<(Summary, Option<ExitStatus>), RecordError> {
        capture.run_loop(&run_opts, &mut rec)?;
        capture.disable()?;
        rec.pass(capture)?;
        let w = &mut *rec.w;
        capture.snapshot(
            &mut |r: crate::kernel::capture::RecordRef<'_>| -> Result<(), RecordError> {
                w.write_records(r.bytes)?;
                Ok(())
            },
        )?;
        // Stopped (SIGINT/SIGTERM or the duration) while the command still runs: end it like
        // perf does (SIGTERM), or the file would only be finished when the command ends.
        if !capture.target_gone() {
            capture.signal_child(libc::SIGTERM);
        }
        let exit_status = capture.wait_child();
        let summary = capture.summary(exit_status);
        let attr = w.first_attr().clone();
        let mut tail = Vec::new();
        for t in &summary.events {
            for v in &t.values.values {
                if let (Some(id), Some(lost)) = (v.id, v.lost.filter(|&l| l > 0)) {
                    lost_samples_record(&attr, id, t.cpu, lost, &mut tail);
                }
            }
        }
        if !tail.is_empty() {
            w.write_records(&tail)?;
        }
        w.finished_round()?;
        w.write_pending(usize::MAX)?;
        Ok((summary, exit_status))
    })();
    let dumps = std::mem::take(&mut rec.dumps);
    let scan = rec.scan.take();
    let (summary, exit_status) = match body {
        Ok(v) => v,
        Err(e) => {
            // A full disk or a failed ring: leave a valid, truncated file behind.
            if let Err(s) = w.salvage(&finish_info(&opts.cmdline)) {
                eprintln!(
                    "perf-client: could not finish {}: {s}",
                    opts.output.display()
                );
            }
            return Err(e);
        }
    };
    // One walk over what was written: the counts for the summary, and the build ids
    // of the mapped files for the BUILD_ID feature. If it fails, the file is still
    // finished (without those build ids) before the error is returned.
    let scanned = match scan {
        Some(mut scan) => {
            scan.feed(w.take_written());
            scan.finish()
        }
        None => scan_data(
            &opts.output,
            w.data_offset(),
            w.data_bytes(),
            Some(capture.parse_context()),
        ),
    };
    let mut info = finish_info(&opts.cmdline);
    if let Ok((_, ids)) = &scanned {
        info.build_ids.extend(ids.iter().cloned());
    }
    let written = w.finish(&info)?;
    let (counts, _) = scanned?;
    Ok(RunOut {
        written,
        dumps,
        summary,
        exit_status,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use super::{wakeup_watermark, DataScan};

    fn rec(kind: u32, size: u16) -> Vec<u8> {
        let mut v = vec![0u8; usize::from(size).max(8)];
        v[..4].copy_from_slice(&kind.to_ne_bytes());
        v[6..8].copy_from_slice(&size.to_ne_bytes());
        v
    }

    #[test]
    fn records_fed_in_pieces_are_counted_once_whatever_the_cuts() {
        let mut all = Vec::new();
        for i in 0..40u16 {
            all.extend(rec(9, 16 + 8 * (i % 5)));
            all.extend(rec(68, 8));
        }
        let mut lost = rec(2, 32);
        lost[16..24].copy_from_slice(&7u64.to_ne_bytes());
        all.extend(lost);
        for cut in [1, 5, 8, 13, 64, all.len()] {
            let mut scan = DataScan::new(None);
            for piece in all.chunks(cut) {
                scan.feed(piece.to_vec());
            }
            let (counts, ids) = scan.finish().unwrap();
            assert_eq!((counts.records, counts.samples), (81, 40), "cut {cut}");
            assert_eq!(counts.lost_in_records, 7);
            assert!(ids.is_empty());
        }
    }

    #[test]
    fn a_bad_record_stops_the_scan_and_is_reported_with_its_offset() {
        let mut scan = DataScan::new(None);
        scan.feed(rec(9, 16));
        scan.feed(rec(9, 4)); // size below 8
        scan.feed(rec(9, 16));
        let e = scan.finish().unwrap_err().to_string();
        assert!(e.contains("0x10"), "{e}");
    }

    #[test]
    fn small_rings_wake_early_enough_to_leave_room_for_the_wakeup_delay() {
        let page = 4096;
        assert_eq!(wakeup_watermark(page, 64 << 10), 1536); // 2.5 KiB free
        assert_eq!(wakeup_watermark(2 * page, 64 << 10), 3072);
        assert_eq!(wakeup_watermark(4 * page, 64 << 10), 4096); // 12 KiB free
        assert_eq!(wakeup_watermark(16 * page, 64 << 10), 8 << 10); // an eighth
        assert_eq!(wakeup_watermark(128 * page, 64 << 10), 64 << 10);
        assert_eq!(wakeup_watermark(1024 * page, 64 << 10), 64 << 10);
        assert_eq!(wakeup_watermark(128 * page, 1000), 1000 & !7);
        assert_eq!(wakeup_watermark(8, 64 << 10), 8);
    }
}
