//! `perf script`-style output: one line per sample with perf's fields and layout (comm,
//! tid, cpu, time, period, event, tracepoint fields, ip, symbol, DSO; chosen with
//! [`Fields`], perf's `-F`), the callchain below it, or one JSON object per line.

use std::io::Write;

use serde_json::json;

use super::event_names;
use super::inline::{self, ChainFrame, Expand};
use super::line::Line;
use super::machine::Machine;
use super::symbols::{FrameRef, SourceLine, Symbols};
use super::tracepoint_fields::TraceFormats;
use super::unwind::{ChainBuilder, UnwindStats};
use crate::perf_data::{attr::TYPE_TRACEPOINT, sample_type as st, PerfData, PerfDataError};
use crate::records::{Record, Sample, SampleId, Switch};

/// Errors of `script` and `report`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// The file is unreadable or corrupt.
    #[error(transparent)]
    PerfData(#[from] PerfDataError),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Io(#[from] std::io::Error),
}

/// Output format of [`script`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptFormat {
    /// Text like `perf script`.
    Text,
    /// One JSON object per line.
    Json,
}

/// Counts of what [`script`] printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptSummary {
    /// Samples printed.
    pub samples: u64,
    /// Records dropped in the ring, from LOST records.
    pub lost: u64,
    /// Samples lost, from LOST_SAMPLES records (the kernel's exact count).
    pub lost_samples: u64,
    /// `--call-graph dwarf` samples: how many unwound completely, partly, not at all.
    pub unwind: UnwindStats,
    /// What could not be verified by build id or interpreted.
    pub unread: super::trust::Unread,
    /// Context switches printed (`show_switch_events`).
    pub switches: u64,
}

/// perf script's output fields (`-F`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fields(u32);

impl Fields {
    /// Command name.
    pub const COMM: Fields = Fields(1);
    /// Thread id.
    pub const TID: Fields = Fields(1 << 1);
    /// Process id.
    pub const PID: Fields = Fields(1 << 2);
    /// Timestamp.
    pub const TIME: Fields = Fields(1 << 3);
    /// CPU.
    pub const CPU: Fields = Fields(1 << 4);
    /// Event name.
    pub const EVENT: Fields = Fields(1 << 5);
    /// Tracepoint fields.
    pub const TRACE: Fields = Fields(1 << 6);
    /// Sampled address (and the callchain, when recorded).
    pub const IP: Fields = Fields(1 << 7);
    /// Function name.
    pub const SYM: Fields = Fields(1 << 8);
    /// Offset in the function (`+0x..`).
    pub const SYMOFF: Fields = Fields(1 << 9);
    /// Shared object.
    pub const DSO: Fields = Fields(1 << 10);
    /// Sample period.
    pub const PERIOD: Fields = Fields(1 << 11);
    /// Source file and line of each shown address (perf's `srcline`: addr2line on the
    /// object's DWARF, `file:line` on a line of its own under the address; an inlined
    /// frame's own location, then ` (inlined)`).
    pub const SRCLINE: Fields = Fields(1 << 12);

    const NAMES: [(&'static str, Fields); 13] = [
        ("comm", Fields::COMM),
        ("tid", Fields::TID),
        ("pid", Fields::PID),
        ("time", Fields::TIME),
        ("cpu", Fields::CPU),
        ("event", Fields::EVENT),
        ("trace", Fields::TRACE),
        ("ip", Fields::IP),
        ("sym", Fields::SYM),
        ("symoff", Fields::SYMOFF),
        ("dso", Fields::DSO),
        ("period", Fields::PERIOD),
        ("srcline", Fields::SRCLINE),
    ];

    /// Whether all of `f` is selected.
    pub fn has(self, f: Fields) -> bool {
        self.0 & f.0 == f.0
    }

    fn with(self, f: Fields) -> Fields {
        Fields(self.0 | f.0)
    }

    fn without(self, f: Fields) -> Fields {
        Fields(self.0 & !f.0)
    }

    fn named(name: &str) -> Result<Fields, String> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
            .ok_or_else(|| {
                format!(
                    "unknown -F field {name:?} (comm, tid, pid, time, cpu, event, trace, ip, \
                     sym, symoff, dso, period, srcline)"
                )
            })
    }
}

/// `-F`: perf's defaults per event type, an exact list, or the defaults changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FieldSpec {
    /// perf's defaults: `comm,tid,cpu,time,period,event,ip,sym,symoff,dso`, and for
    /// tracepoints `comm,tid,cpu,time,event,trace` (plus `ip,sym,symoff,dso` with
    /// callchains); fields the samples do not carry are left out.
    #[default]
    Default,
    /// Exactly these fields (`-F comm,tid,time`).
    Exact(Fields),
    /// The defaults plus and minus some (`-F +period,-cpu`).
    Modify {
        /// Added.
        add: Fields,
        /// Removed.
        remove: Fields,
    },
}

impl FieldSpec {
    /// Parses perf script's `-F` argument: `f1,f2,...` or `+f1,-f2,...`.
    ///
    /// # Errors
    ///
    /// An unknown field, or a list mixing plain and `+`/`-` fields.
    pub fn parse(s: &str) -> Result<FieldSpec, String> {
        let toks: Vec<&str> = s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if toks.is_empty() {
            return Err("-F needs at least one field".to_owned());
        }
        let signed = |t: &str| t.starts_with('+') || t.starts_with('-');
        if toks.iter().all(|t| signed(t)) {
            let (mut add, mut remove) = (Fields::default(), Fields::default());
            for t in toks {
                let f = Fields::named(&t[1..])?;
                if t.starts_with('+') {
                    add = add.with(f);
                    remove = remove.without(f);
                } else {
                    remove = remove.with(f);
                    add = add.without(f);
                }
            }
            return Ok(FieldSpec::Modify { add, remove });
        }
        if toks.iter().any(|t| signed(t)) {
            return Err(format!(
                "-F {s}: either a list of fields or +field/-field changes, not both"
            ));
        }
        let mut f = Fields::default();
        for t in toks {
            f = f.with(Fields::named(t)?);
        }
        Ok(FieldSpec::Exact(f))
    }

    /// The fields shown for an event with `sample_type`, tracepoint or not.
    fn resolve(&self, sample_type: u64, tracepoint: bool) -> Fields {
        let chain = sample_type & st::CALLCHAIN != 0;
        let defaults = || {
            let mut f = Fields::COMM
                .with(Fields::TID)
                .with(Fields::CPU)
                .with(Fields::TIME)
                .with(Fields::EVENT);
            if tracepoint {
                f = f.with(Fields::TRACE);
            } else {
                f = f.with(Fields::PERIOD);
            }
            if !tracepoint || chain {
                f = f
                    .with(Fields::IP)
                    .with(Fields::SYM)
                    .with(Fields::SYMOFF)
                    .with(Fields::DSO);
            }
            // As perf: a default field the samples do not carry is dropped silently.
            for (bit, field) in [
                (st::TID, Fields::TID),
                (st::CPU, Fields::CPU),
                (st::TIME, Fields::TIME),
                (st::IP, Fields::IP),
            ] {
                if sample_type & bit == 0 {
                    f = f.without(field);
                }
            }
            f
        };
        match *self {
            FieldSpec::Default => defaults(),
            FieldSpec::Exact(f) => f,
            FieldSpec::Modify { add, remove } => defaults().with(add).without(remove),
        }
    }
}

/// What [`script_with`] prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptOptions {
    /// Text or JSON.
    pub format: ScriptFormat,
    /// `-F`.
    pub fields: FieldSpec,
    /// `--show-switch-events`: a line for every `PERF_RECORD_SWITCH` and
    /// `PERF_RECORD_SWITCH_CPU_WIDE` (`record --switch-events`), as perf script prints
    /// them (text output only).
    pub show_switch_events: bool,
    /// perf's `--inline` (its default; `--no-inline` is `false`): the calls inlined at
    /// an unwound frame's address shown as frames of their own, marked ` (inlined)`.
    pub inline: bool,
}

impl Default for ScriptOptions {
    /// Text, perf's default fields, no switch events, inlined frames shown.
    fn default() -> Self {
        ScriptOptions {
            format: ScriptFormat::Text,
            fields: FieldSpec::Default,
            show_switch_events: false,
            inline: true,
        }
    }
}

/// Whether a sample is shown with its callchain (one frame a line) rather than its ip.
pub(crate) fn has_chain(sample: &Sample<'_>) -> bool {
    sample.callchain.is_some() || sample.stack_user.is_some()
}

/// Prints every sample of `file` to `out` with perf's default fields.
///
/// # Errors
///
/// A corrupt record (with its file offset) or a failed write.
pub fn script(
    file: &PerfData,
    out: &mut impl Write,
    format: ScriptFormat,
) -> Result<ScriptSummary, AnalysisError> {
    script_with(
        file,
        out,
        &ScriptOptions {
            format,
            ..ScriptOptions::default()
        },
    )
}

/// Per event: its name, its fields, whether it is a tracepoint (and its id).
struct EventInfo {
    name: String,
    fields: Fields,
    tracepoint: Option<u64>,
}

/// Prints every sample of `file` to `out`.
///
/// # Errors
///
/// A corrupt record (with its file offset), a TRACING_DATA section that does not parse,
/// or a failed write.
pub fn script_with(
    file: &PerfData,
    out: &mut impl Write,
    opts: &ScriptOptions,
) -> Result<ScriptSummary, AnalysisError> {
    let ctx = file.parse_context()?;
    let names = event_names(file);
    let formats = TraceFormats::from_file(file)?;
    let events: Vec<EventInfo> = file
        .attrs()
        .iter()
        .zip(&names)
        .map(|(a, name)| {
            let tp = a.attr.type_() == TYPE_TRACEPOINT;
            EventInfo {
                name: name.clone(),
                fields: opts.fields.resolve(a.attr.sample_type(), tp),
                tracepoint: tp.then(|| a.attr.config()),
            }
        })
        .collect();
    // perf pads event names to the longest in the file.
    let name_width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let mut machine = Machine::new();
    let mut symbols = Symbols::for_file(file);
    let mut sum = ScriptSummary::default();
    let mut line = Vec::with_capacity(256);
    let mut chains = ChainBuilder::new();
    let mut ips = Vec::new();
    let mut frames = Vec::new();
    let mut trace = String::new();
    let mut reads = super::sample_read::SampleReads::new(file);
    let mut delivered = Vec::new();
    // A stream read as it arrives (`-i -`) is printed as it arrives: out is flushed at
    // the end of each round.
    let live = file.is_live_stream();
    let out = std::cell::RefCell::new(out);
    let round_end = || -> Result<(), AnalysisError> {
        if live {
            out.borrow_mut().flush()?;
        }
        Ok(())
    };
    super::for_each_ordered_by_round(
        file,
        &ctx,
        |rec| {
            let mut out = out.borrow_mut();
            let s = match &rec.record {
                Record::Sample(s) => s,
                Record::Lost(l) => {
                    sum.lost += l.lost;
                    return Ok(());
                }
                Record::LostSamples(l) => {
                    sum.lost_samples += l.lost;
                    return Ok(());
                }
                Record::Switch(sw) | Record::SwitchCpuWide(sw)
                    if opts.show_switch_events && opts.format == ScriptFormat::Text =>
                {
                    sum.switches += 1;
                    let fields = rec
                        .event
                        .and_then(|i| events.get(i))
                        .map_or(FieldSpec::Default.resolve(0, false), |e| e.fields);
                    let id = rec.sample_id.unwrap_or_default();
                    write_switch(&mut line, &machine, &id, sw, fields);
                    out.write_all(&line)?;
                    return Ok(());
                }
                other => {
                    sum.unread.note_record(rec.header.record_type, other);
                    machine.apply(rec.header.misc, other);
                    return Ok(());
                }
            };
            let period = s
                .period
                .unwrap_or_else(|| super::fixed_period(file, rec.event));
            // A sample with counter values (`:S`) is one sample per counter that moved.
            reads.deliver(rec.event, s, period, &mut delivered);
            for &(ev, period) in &delivered {
                sum.samples += 1;
                let pid = s.pid.unwrap_or(0);
                let tid = s.tid.unwrap_or(pid);
                let unverified =
                    s.ip.and_then(|ip| sum.unread.note_sample(&mut symbols, &machine, pid, ip));
                let info = ev.and_then(|i| events.get(i));
                let event = info.map_or("unknown", |e| e.name.as_str());
                trace.clear();
                let want_trace = opts.format == ScriptFormat::Json
                    || info.is_some_and(|e| e.fields.has(Fields::TRACE));
                if let (true, Some(id), Some(raw)) =
                    (want_trace, info.and_then(|e| e.tracepoint), s.raw)
                {
                    if let Some(f) = formats.get(id) {
                        f.render(raw, &mut trace);
                    }
                }
                chains.frames(s, &machine, &mut symbols, &mut ips);
                let fields = info.map_or(FieldSpec::Default.resolve(0, false), |e| e.fields);
                let how = Expand {
                    inline: opts.inline,
                    all_lines: fields.has(Fields::SRCLINE),
                };
                inline::expand(
                    &ips,
                    chains.unwound_from(),
                    how,
                    pid,
                    &machine,
                    &mut symbols,
                    &mut frames,
                );
                match opts.format {
                    ScriptFormat::Json => {
                        let comm = machine.comm(pid, tid);
                        let frames: Vec<_> = frames
                            .iter()
                            .map(|cf| {
                                let ip = cf.ip;
                                let f = symbols.resolve_ref(&machine, pid, ip);
                                let off = machine
                                    .find_map(pid, ip)
                                    .filter(|_| !f.kernel)
                                    .map(|m| m.file_offset(ip));
                                let mut v = json!({
                                    "ip": format!("{ip:#x}"), "symbol": cf.inlined_name().or(f.symbol),
                                    "dso": f.dso, "dso_offset": off.map(|o| format!("{o:#x}")),
                                });
                                if cf.inlined_name().is_some() {
                                    v["inlined"] = json!(true);
                                }
                                if how.all_lines {
                                    let mut t = Vec::new();
                                    if srcline_text(
                                        &mut Line::new(&mut t),
                                        cf.location(),
                                        &f,
                                        &machine,
                                        pid,
                                    ) {
                                        v["srcline"] = json!(String::from_utf8_lossy(&t));
                                    }
                                }
                                v
                            })
                            .collect();
                        let top = frames.first().cloned();
                        let v = json!({
                            "comm": comm, "pid": pid, "tid": tid, "cpu": s.cpu, "time": s.time.unwrap_or(0),
                            "event": event,
                            "period": period,
                            "ip": s.ip.map(|ip| format!("{ip:#x}")),
                            "symbol": top.as_ref().and_then(|f| f["symbol"].as_str().map(str::to_owned)),
                            "dso": top.as_ref().and_then(|f| f["dso"].as_str().map(str::to_owned)),
                            "trace": (info.is_some_and(|e| e.tracepoint.is_some())).then_some(trace.as_str()),
                            "callchain": if has_chain(s) { Some(frames) } else { None },
                            "unverified": unverified.map(super::symbols::Unverified::reason),
                        });
                        writeln!(out, "{v}")?;
                    }
                    ScriptFormat::Text => {
                        let shown = TextSample {
                            sample: s,
                            frames: &frames,
                            period,
                            event,
                            name_width,
                            trace: &trace,
                            fields,
                        };
                        shown.write(&mut line, &machine, &mut symbols);
                        out.write_all(&line)?;
                    }
                }
            }
            Ok(())
        },
        round_end,
    )?;
    sum.unwind = chains.stats();
    sum.unread.finish(&symbols);
    Ok(sum)
}

/// The DSO as perf script prints it: the full path of a file, `[kernel.kallsyms]`,
/// `[vdso]`, `[unknown]`.
fn dso_path<'m>(machine: &'m Machine, pid: u32, addr: u64, short: &'m str) -> &'m str {
    match machine.find_map(pid, addr) {
        Some(m) if !m.path.starts_with('[') && !m.path.is_empty() => &m.path,
        _ => short,
    }
}

/// One frame: `{addr:>16x} {symbol}+{offset:#x} ({dso})`, each part as selected. An
/// inlined call (`inlined` its name) shows its function's address and offset and, as
/// perf, no DSO: ` (inlined)` instead, after the source line when that is shown.
fn frame_text(line: &mut Line, f: &FrameRef<'_>, dso: &str, fields: Fields, inlined: Option<&str>) {
    if fields.has(Fields::IP) {
        line.hex_right(f.addr, 16);
    }
    if fields.has(Fields::SYM) {
        line.byte(b' ');
        match inlined.or(f.symbol) {
            Some(sym) => {
                line.str(sym);
                if fields.has(Fields::SYMOFF) {
                    line.str("+0x");
                    line.hex_right(f.offset, 0);
                }
            }
            None => line.str("[unknown]"),
        }
    }
    if fields.has(Fields::DSO) && inlined.is_none() {
        line.str(" (");
        line.str(dso);
        line.byte(b')');
    }
}

/// perf's `srcline` of one frame: `file:line` (the file's base name, as perf without
/// `--full-source-path`; `??:0` where the object's DWARF does not cover the address); for
/// the kernel, whose lines are not read, perf's fallback `[kernel.kallsyms][{address:x}]`.
/// `false` (nothing written) for an object without line tables or not verified: perf
/// prints no source line there.
fn srcline_text(
    line: &mut Line,
    location: Option<(Option<&std::path::Path>, Option<u32>)>,
    f: &FrameRef<'_>,
    machine: &Machine,
    pid: u32,
) -> bool {
    match location {
        Some((file, no)) => {
            let name = file
                .and_then(|p| p.file_name())
                .map_or(std::borrow::Cow::Borrowed("??"), |n| n.to_string_lossy());
            line.str(&name);
            line.byte(b':');
            line.dec_right(u64::from(no.unwrap_or(0)), 0);
        }
        None if f.kernel && machine.find_map(pid, f.addr).is_some() => {
            line.str(f.dso);
            line.byte(b'[');
            line.hex_right(f.addr, 0);
            line.byte(b']');
        }
        None => return false,
    }
    true
}

/// One sample and what to show of it.
/// The start of a `perf script` line (perf's `perf_sample__fprintf_start`): `{comm:>16}
/// {tid:>5} [{cpu:03}] {sec:>5}.{usec:06}: `, as `-F` selects.
struct LineStart {
    pid: u32,
    tid: u32,
    cpu: Option<u32>,
    time: Option<u64>,
    comm_width: usize,
}

impl LineStart {
    fn write(&self, line: &mut Line<'_>, machine: &Machine, f: Fields) {
        let (pid, tid) = (self.pid, self.tid);
        if f.has(Fields::COMM) {
            match machine.comm_ref(pid, tid) {
                Some(comm) => line.str_right(comm, self.comm_width),
                // perf shows `:tid` for an unknown thread (rare: allocating is fine).
                None => line.str_right(&format!(":{tid}"), self.comm_width),
            }
            line.byte(b' ');
        }
        match (f.has(Fields::PID), f.has(Fields::TID)) {
            (true, true) => {
                line.dec_right(u64::from(pid), 5);
                line.byte(b'/');
                line.dec_left(u64::from(tid), 5);
                line.byte(b' ');
            }
            (true, false) => {
                line.dec_right(u64::from(pid), 5);
                line.byte(b' ');
            }
            (false, true) => {
                line.dec_right(u64::from(tid), 5);
                line.byte(b' ');
            }
            (false, false) => {}
        }
        if f.has(Fields::CPU) {
            line.byte(b'[');
            line.dec_zero(u64::from(self.cpu.unwrap_or(0)), 3);
            line.str("] ");
        }
        if f.has(Fields::TIME) {
            let time = self.time.unwrap_or(0);
            line.dec_right(time / 1_000_000_000, 5);
            line.byte(b'.');
            line.dec_zero(time % 1_000_000_000 / 1000, 6);
            line.str(": ");
        }
    }
}

/// A context switch as `perf script --show-switch-events` prints it
/// (`perf_event__fprintf_switch`): the line start from the record's `sample_id`, then
/// `PERF_RECORD_SWITCH IN|OUT|OUT preempt`, and for the CPU-wide record the task
/// switched to or from (`next|prev pid/tid: P/T`).
fn write_switch(buf: &mut Vec<u8>, machine: &Machine, id: &SampleId, sw: &Switch, f: Fields) {
    buf.clear();
    let mut line = Line::new(buf);
    let pid = id.pid.unwrap_or(0);
    LineStart {
        pid,
        tid: id.tid.unwrap_or(pid),
        cpu: id.cpu,
        time: id.time,
        comm_width: 16,
    }
    .write(&mut line, machine, f);
    let in_out = match (sw.out, sw.preempt) {
        (false, _) => "IN         ",
        (true, false) => "OUT        ",
        (true, true) => "OUT preempt",
    };
    match sw.next_prev {
        None => {
            line.str("PERF_RECORD_SWITCH ");
            line.str(in_out);
        }
        Some((p, t)) => {
            line.str("PERF_RECORD_SWITCH_CPU_WIDE ");
            line.str(in_out);
            line.str(if sw.out {
                "  next pid/tid: "
            } else {
                "  prev pid/tid: "
            });
            line.dec_right(u64::from(p), 5);
            line.byte(b'/');
            line.dec_left(u64::from(t), 5);
        }
    }
    line.byte(b'\n');
}

struct TextSample<'a> {
    sample: &'a Sample<'a>,
    frames: &'a [ChainFrame],
    period: u64,
    event: &'a str,
    name_width: usize,
    trace: &'a str,
    fields: Fields,
}

impl TextSample<'_> {
    /// The sample in `perf script`'s text layout, into `buf` (cleared first): `{comm:>16}
    /// {tid:>5} [{cpu:03}] {sec:>5}.{usec:06}: {period:>10} {event:>w}: {trace} ` then
    /// the sampled address, or a newline and the callchain one frame a line and a blank
    /// line (the comm then unpadded, as perf).
    fn write(&self, buf: &mut Vec<u8>, machine: &Machine, symbols: &mut Symbols) {
        let (s, f) = (self.sample, self.fields);
        let pid = s.pid.unwrap_or(0);
        let tid = s.tid.unwrap_or(pid);
        let chain = f.has(Fields::IP) && has_chain(s);
        buf.clear();
        let mut line = Line::new(buf);
        let start = LineStart {
            pid,
            tid,
            cpu: s.cpu,
            time: s.time,
            comm_width: if chain { 0 } else { 16 },
        };
        start.write(&mut line, machine, f);
        if f.has(Fields::PERIOD) {
            line.dec_right(self.period, 10);
            line.byte(b' ');
        }
        if f.has(Fields::EVENT) {
            line.str_right(self.event, self.name_width);
            line.str(": ");
        }
        if f.has(Fields::TRACE) {
            line.str(self.trace);
        }
        let frame_fields = f.has(Fields::IP) || f.has(Fields::SYM) || f.has(Fields::DSO);
        if chain {
            line.byte(b'\n');
            for cf in self.frames {
                line.byte(b'\t');
                let ip = cf.ip;
                let inlined = cf.inlined_name();
                let fr = symbols.resolve_ref(machine, pid, ip);
                let dso = dso_path(machine, pid, ip, fr.dso);
                frame_text(&mut line, &fr, dso, f, inlined);
                if f.has(Fields::SRCLINE) {
                    let mut text = Vec::new();
                    if srcline_text(&mut Line::new(&mut text), cf.location(), &fr, machine, pid) {
                        line.str("\n  ");
                        line.bytes(&text);
                    }
                }
                if inlined.is_some() {
                    line.str(" (inlined)");
                }
                line.byte(b'\n');
            }
        } else if frame_fields || f.has(Fields::SRCLINE) {
            if let Some(ip) = s.ip {
                let source = f
                    .has(Fields::SRCLINE)
                    .then(|| symbols.source_line(machine, pid, ip))
                    .flatten();
                let fr = symbols.resolve_ref(machine, pid, ip);
                if frame_fields {
                    line.byte(b' ');
                    let dso = dso_path(machine, pid, ip, fr.dso);
                    frame_text(&mut line, &fr, dso, f, None);
                }
                if f.has(Fields::SRCLINE) {
                    let at = source.as_deref().map(SourceLine::innermost);
                    let mut text = Vec::new();
                    if srcline_text(&mut Line::new(&mut text), at, &fr, machine, pid) {
                        line.str("\n  ");
                        line.bytes(&text);
                    }
                }
            }
        }
        // perf ends every sample with a newline (a blank line after a callchain).
        line.byte(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_f_parses_lists_and_changes_like_perf() {
        let f = FieldSpec::parse("comm,tid,time,event,trace").unwrap();
        let FieldSpec::Exact(f) = f else {
            panic!("exact")
        };
        assert!(f.has(Fields::COMM) && f.has(Fields::TRACE) && !f.has(Fields::IP));
        let m = FieldSpec::parse("+period,-cpu").unwrap();
        let r = m.resolve(st::TID | st::TIME | st::CPU | st::IP, true);
        assert!(r.has(Fields::PERIOD) && !r.has(Fields::CPU) && r.has(Fields::TRACE));
        assert!(FieldSpec::parse("comm,+period").is_err());
        assert!(FieldSpec::parse("bogus").is_err());
        assert!(FieldSpec::parse("").is_err());
    }

    #[test]
    fn defaults_follow_perf_per_event_type_and_drop_unsampled_fields() {
        let d = FieldSpec::Default;
        let sw = d.resolve(st::IP | st::TID | st::TIME, false);
        assert!(sw.has(Fields::PERIOD) && sw.has(Fields::SYM) && !sw.has(Fields::CPU));
        let tp = d.resolve(st::IP | st::TID | st::TIME | st::CPU | st::RAW, true);
        assert!(tp.has(Fields::TRACE) && tp.has(Fields::CPU) && !tp.has(Fields::IP));
        let tpg = d.resolve(st::IP | st::TID | st::CALLCHAIN | st::RAW, true);
        assert!(tpg.has(Fields::IP) && tpg.has(Fields::DSO));
    }
}
