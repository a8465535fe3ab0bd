//! `perf script`-style output: one line per sample (comm, pid/tid, cpu, time, period,
//! event, ip, symbol, DSO), the callchain below it, or one JSON object per line.

use std::io::Write;

use serde_json::json;

use super::line::Line;
use super::machine::Machine;
use super::symbols::{Frame, FrameRef, Symbols};
use super::{event_names, PERF_CONTEXT_MAX};
use crate::perf_data::{PerfData, PerfDataError};
use crate::records::{Record, Sample};

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
    /// What could not be verified by build id or interpreted.
    pub unread: super::trust::Unread,
}

/// The frames of a sample, innermost first: its callchain without context markers, or
/// its ip alone.
pub(crate) fn sample_frames(
    sample: &Sample<'_>,
    machine: &Machine,
    symbols: &mut Symbols,
) -> Vec<Frame> {
    let pid = sample.pid.unwrap_or(0);
    match &sample.callchain {
        Some(chain) if !chain.is_empty() => chain
            .iter()
            .filter(|&&ip| ip < PERF_CONTEXT_MAX)
            .map(|&ip| symbols.resolve(machine, pid, ip))
            .collect(),
        _ => sample
            .ip
            .map(|ip| vec![symbols.resolve(machine, pid, ip)])
            .unwrap_or_default(),
    }
}

/// Prints every sample of `file` to `out`.
///
/// # Errors
///
/// A corrupt record (with its file offset) or a failed write.
pub fn script(
    file: &PerfData,
    out: &mut impl Write,
    format: ScriptFormat,
) -> Result<ScriptSummary, AnalysisError> {
    let ctx = file.parse_context()?;
    let names = event_names(file);
    let mut machine = Machine::new();
    let mut symbols = Symbols::for_file(file);
    let mut sum = ScriptSummary::default();
    let mut line = Vec::with_capacity(256);
    super::for_each_ordered(file, &ctx, |rec| {
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
            other => {
                sum.unread.note_record(rec.header.record_type, other);
                machine.apply(rec.header.misc, other);
                return Ok(());
            }
        };
        sum.samples += 1;
        let pid = s.pid.unwrap_or(0);
        let tid = s.tid.unwrap_or(pid);
        let unverified = s.ip.and_then(|ip| symbols.unverified(&machine, pid, ip));
        if unverified.is_some() {
            sum.unread.unverified_samples += 1;
        }
        let event = rec
            .event
            .and_then(|i| names.get(i))
            .map_or("unknown", String::as_str);
        match format {
            ScriptFormat::Json => {
                let comm = machine.comm(pid, tid);
                let frames = sample_frames(s, &machine, &mut symbols);
                let time = s.time.unwrap_or(0);
                let chain: Vec<_> = frames
                    .iter()
                    .map(|f| json!({"ip": format!("{:#x}", f.addr), "symbol": f.symbol, "dso": f.dso}))
                    .collect();
                let top = frames.first();
                let v = json!({
                    "comm": comm, "pid": pid, "tid": tid, "cpu": s.cpu, "time": time,
                    "event": event,
                    "period": s.period.unwrap_or_else(|| super::fixed_period(file, rec.event)),
                    "ip": s.ip.map(|ip| format!("{ip:#x}")),
                    "symbol": top.and_then(|f| f.symbol.clone()),
                    "dso": top.map(|f| f.dso.clone()),
                    "callchain": if s.callchain.is_some() { Some(chain) } else { None },
                    "unverified": unverified.map(super::symbols::Unverified::reason),
                });
                writeln!(out, "{v}")?;
            }
            ScriptFormat::Text => {
                let period = s
                    .period
                    .unwrap_or_else(|| super::fixed_period(file, rec.event));
                text_line(&mut line, s, &machine, &mut symbols, period, event);
                out.write_all(&line)?;
            }
        }
        Ok(())
    })?;
    sum.unread.finish(&symbols);
    Ok(sum)
}

/// One frame as `perf script` prints it: `{addr:>16x} {symbol}+{offset:#x} ({dso})`.
fn frame_text(line: &mut Line, f: &FrameRef<'_>) {
    line.hex_right(f.addr, 16);
    line.byte(b' ');
    match f.symbol {
        Some(sym) => {
            line.str(sym);
            line.str("+0x");
            line.hex_right(f.offset, 0);
        }
        None => line.str("[unknown]"),
    }
    line.str(" (");
    line.str(f.dso);
    line.str(")\n");
}

/// One sample in `perf script`'s default text layout, into `buf` (cleared first):
/// `{comm:>16} {pid:>7}/{tid:<7} [{cpu:03}] {sec:>6}.{usec:06}: {period:>10} {event}: `
/// then the top frame, or the callchain one frame per line. `period` is the sample's, or
/// the attr's fixed period when the sample has none (as perf).
fn text_line(
    buf: &mut Vec<u8>,
    s: &Sample<'_>,
    machine: &Machine,
    symbols: &mut Symbols,
    period: u64,
    event: &str,
) {
    let pid = s.pid.unwrap_or(0);
    let tid = s.tid.unwrap_or(pid);
    buf.clear();
    let mut line = Line::new(buf);
    match machine.comm_ref(pid, tid) {
        Some(comm) => line.str_right(comm, 16),
        // perf shows `:tid` for an unknown thread (rare: allocating is fine).
        None => line.str_right(&format!(":{tid}"), 16),
    }
    line.byte(b' ');
    line.dec_right(u64::from(pid), 7);
    line.byte(b'/');
    line.dec_left(u64::from(tid), 7);
    line.byte(b' ');
    if let Some(c) = s.cpu {
        line.byte(b'[');
        line.dec_zero(u64::from(c), 3);
        line.str("] ");
    }
    let time = s.time.unwrap_or(0);
    line.dec_right(time / 1_000_000_000, 6);
    line.byte(b'.');
    line.dec_zero(time % 1_000_000_000 / 1000, 6);
    line.str(": ");
    line.dec_right(period, 10);
    line.byte(b' ');
    line.str(event);
    line.str(": ");
    if let Some(chain) = s.callchain.as_deref() {
        // As `sample_frames`: an empty callchain shows the ip alone.
        line.byte(b'\n');
        if chain.is_empty() {
            if let Some(ip) = s.ip {
                line.byte(b'\t');
                frame_text(&mut line, &symbols.resolve_ref(machine, pid, ip));
            }
        }
        for &ip in chain.iter().filter(|&&ip| ip < PERF_CONTEXT_MAX) {
            line.byte(b'\t');
            frame_text(&mut line, &symbols.resolve_ref(machine, pid, ip));
        }
        line.byte(b'\n');
    } else if let Some(ip) = s.ip {
        frame_text(&mut line, &symbols.resolve_ref(machine, pid, ip));
    } else {
        line.byte(b'\n');
    }
}
