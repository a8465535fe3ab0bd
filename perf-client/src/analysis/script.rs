//! `perf script`-style output: one line per sample (comm, pid/tid, cpu, time, period,
//! event, ip, symbol, DSO), the callchain below it, or one JSON object per line.

use std::io::Write;

use serde_json::json;

use super::machine::Machine;
use super::symbols::{Frame, Symbols};
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptSummary {
    /// Samples printed.
    pub samples: u64,
    /// Records dropped in the ring, from LOST records.
    pub lost: u64,
    /// Samples lost, from LOST_SAMPLES records (the kernel's exact count).
    pub lost_samples: u64,
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
    let mut symbols = Symbols::new();
    let mut sum = ScriptSummary::default();
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
                machine.apply(rec.header.misc, other);
                return Ok(());
            }
        };
        sum.samples += 1;
        let pid = s.pid.unwrap_or(0);
        let tid = s.tid.unwrap_or(pid);
        let comm = machine.comm(pid, tid);
        let event = rec
            .event
            .and_then(|i| names.get(i))
            .map_or("unknown", String::as_str);
        let frames = sample_frames(s, &machine, &mut symbols);
        let time = s.time.unwrap_or(0);
        match format {
            ScriptFormat::Json => {
                let chain: Vec<_> = frames
                    .iter()
                    .map(|f| json!({"ip": format!("{:#x}", f.addr), "symbol": f.symbol, "dso": f.dso}))
                    .collect();
                let top = frames.first();
                let v = json!({
                    "comm": comm, "pid": pid, "tid": tid, "cpu": s.cpu, "time": time,
                    "event": event, "period": s.period,
                    "ip": s.ip.map(|ip| format!("{ip:#x}")),
                    "symbol": top.and_then(|f| f.symbol.clone()),
                    "dso": top.map(|f| f.dso.clone()),
                    "callchain": if s.callchain.is_some() { Some(chain) } else { None },
                });
                writeln!(out, "{v}")?;
            }
            ScriptFormat::Text => {
                let cpu = s.cpu.map_or(String::new(), |c| format!("[{c:03}] "));
                let period = s.period.map_or(String::new(), |p| format!("{p:>10} "));
                write!(
                    out,
                    "{comm:>16} {pid:>7}/{tid:<7} {cpu}{:>6}.{:06}: {period}{event}: ",
                    time / 1_000_000_000,
                    time % 1_000_000_000 / 1000
                )?;
                if s.callchain.is_some() {
                    writeln!(out)?;
                    for f in &frames {
                        writeln!(
                            out,
                            "\t{:>16x} {} ({})",
                            f.addr,
                            f.symbol_or_unknown(),
                            f.dso
                        )?;
                    }
                    writeln!(out)?;
                } else if let Some(f) = frames.first() {
                    writeln!(out, "{:>16x} {} ({})", f.addr, f.symbol_or_unknown(), f.dso)?;
                } else {
                    writeln!(out)?;
                }
            }
        }
        Ok(())
    })?;
    Ok(sum)
}
