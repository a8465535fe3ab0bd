//! Exports of a capture for the tools people read profiles with: pprof ([`pprof`], for
//! `go tool pprof`, Pyroscope, Parca), the Firefox Profiler ([`firefox`], samply's
//! format) and folded stacks ([`folded`], for inferno and FlameGraph), and the upload of
//! a pprof profile to a Pyroscope server ([`push`]).
//!
//! Every export walks the samples the way `report` does ([`super::for_each_ordered`],
//! the machine rebuilt from COMM/MMAP records, [`Symbols`] naming the frames), so their
//! totals are `report`'s.
//!
//! [`ExportOptions::inline`] is perf's `--inline` / `--no-inline` (on by default, as
//! `report` and `script`): the calls the DWARF of a verified object shows inlined at an
//! address become frames of their own (folded `_[i]`, pprof Lines, Firefox frames).

pub mod firefox;
pub mod folded;
pub mod pprof;
mod proto;
pub mod push;

use super::inline::{self, ChainFrame, Expand};
use super::machine::Machine;
use super::script::AnalysisError;
use std::sync::Arc;

use super::symbols::{Frame, SourceLine, Symbols};
use crate::perf_data::PerfData;
use crate::records::Record;

/// Errors of the exports.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the capture failed (corrupt record, I/O).
    #[error(transparent)]
    Analysis(#[from] AnalysisError),
    /// Writing the output failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// The Firefox profile did not serialize.
    #[error("serializing the Firefox profile: {0}")]
    Json(#[from] serde_json::Error),
    /// The upload of the profile failed.
    #[error(transparent)]
    Push(#[from] push::PushError),
    /// The capture has no samples: an empty profile would be a silent nothing.
    #[error("the capture has no samples to export")]
    NoSamples,
}

impl From<crate::perf_data::PerfDataError> for ExportError {
    fn from(e: crate::perf_data::PerfDataError) -> Self {
        ExportError::Analysis(e.into())
    }
}

/// What every export shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportOptions {
    /// perf's `--inline` (its default; `--no-inline` is `false`): calls inlined at an
    /// address are frames of their own, from the verified object's DWARF
    /// ([`Symbols::source_line`]).
    pub inline: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { inline: true }
    }
}

/// One sample as the exports see it.
#[derive(Debug)]
pub(crate) struct SampleInfo<'a> {
    /// Index of the event in the file's attrs.
    pub event: usize,
    /// Process id (0 when the sample has no TID).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// CPU, when sampled.
    pub cpu: Option<u32>,
    /// Timestamp (the event's clock), when sampled.
    pub time: Option<u64>,
    /// The period (`report`'s weight): PERF_SAMPLE_PERIOD, else the attr's fixed period.
    pub period: u64,
    /// The thread's command at the time of the sample.
    pub comm: &'a str,
    /// Frames, innermost first (the callchain, or the ip alone).
    pub frames: &'a [Frame],
    /// Each frame's source line and the calls inlined there, from a verified object's
    /// DWARF ([`Symbols::source_line`]), parallel to `frames`.
    pub lines: &'a [Option<Arc<SourceLine>>],
    /// The frames as `report` shows them ([`inline::expand`]): with
    /// [`ExportOptions::inline`], each frame unwound from the user stack (`--call-graph
    /// dwarf`) preceded by the calls inlined there, innermost first; each names its
    /// entry of `frames` by [`ChainFrame::index`].
    pub chain: &'a [ChainFrame],
}

/// What the walk hands to an exporter.
#[derive(Debug)]
pub(crate) enum Item<'a> {
    /// A sample, with the machine as it was then (for maps).
    Sample(SampleInfo<'a>, &'a Machine),
    /// Samples lost: a LOST record (`ring` true, records dropped in the ring) or a
    /// LOST_SAMPLES record (the kernel's count).
    Lost {
        /// Time of the loss, when the record carries a sample_id.
        time: Option<u64>,
        /// Thread the record names, when it carries one.
        pid_tid: Option<(u32, u32)>,
        /// How many.
        count: u64,
        /// True for PERF_RECORD_LOST (ring records), false for LOST_SAMPLES.
        ring: bool,
    },
}

/// Walks the samples and losses of `file` in time order, as `report` does.
pub(crate) fn walk(
    file: &PerfData,
    opts: ExportOptions,
    mut f: impl FnMut(Item<'_>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let ctx = file.parse_context()?;
    let mut machine = Machine::new();
    let mut symbols = Symbols::for_file(file);
    let mut chains = super::unwind::ChainBuilder::new();
    // The walk's closure returns AnalysisError; an exporter's own error waits here.
    let mut failed: Option<ExportError> = None;
    let mut reads = super::sample_read::SampleReads::new(file);
    let mut delivered = Vec::new();
    let (mut ips, mut chain) = (Vec::new(), Vec::new());
    let walked = super::for_each_ordered(file, &ctx, |rec| {
        if failed.is_some() {
            return Ok(());
        }
        let item_result = match &rec.record {
            Record::Sample(s) => {
                let pid = s.pid.unwrap_or(0);
                let tid = s.tid.unwrap_or(pid);
                let comm = machine.comm(pid, tid);
                chains.frames(s, &machine, &mut symbols, &mut ips);
                let frames: Vec<Frame> = ips
                    .iter()
                    .map(|&ip| symbols.resolve(&machine, pid, ip))
                    .collect();
                let how = Expand {
                    inline: opts.inline,
                    all_lines: false,
                };
                let from = chains.unwound_from();
                inline::expand(&ips, from, how, pid, &machine, &mut symbols, &mut chain);
                let lines: Vec<_> = frames
                    .iter()
                    .map(|f| symbols.source_line(&machine, pid, f.addr))
                    .collect();
                let period = s
                    .period
                    .unwrap_or_else(|| super::fixed_period(file, rec.event));
                // A sample with counter values (`:S`) is one sample per counter that moved.
                reads.deliver(rec.event, s, period, &mut delivered);
                delivered.iter().try_for_each(|&(event, period)| {
                    let info = SampleInfo {
                        event: event.unwrap_or(0),
                        pid,
                        tid,
                        cpu: s.cpu,
                        time: s.time,
                        period,
                        comm: &comm,
                        frames: &frames,
                        lines: &lines,
                        chain: &chain,
                    };
                    f(Item::Sample(info, &machine))
                })
            }
            Record::Lost(l) => f(Item::Lost {
                time: rec.sample_id.and_then(|s| s.time),
                pid_tid: rec.sample_id.and_then(|s| s.pid.zip(s.tid)),
                count: l.lost,
                ring: true,
            }),
            Record::LostSamples(l) => f(Item::Lost {
                time: rec.sample_id.and_then(|s| s.time),
                pid_tid: rec.sample_id.and_then(|s| s.pid.zip(s.tid)),
                count: l.lost,
                ring: false,
            }),
            other => {
                machine.apply(rec.header.misc, other);
                Ok(())
            }
        };
        if let Err(e) = item_result {
            failed = Some(e);
        }
        Ok(())
    });
    walked?;
    failed.map_or(Ok(()), Err)
}

/// Whether attr `index` of `file` is `cpu-clock` or `task-clock` (software events 0 and
/// 1), whose period is nanoseconds of CPU time.
pub(crate) fn is_clock_event(file: &PerfData, index: usize) -> bool {
    const PERF_TYPE_SOFTWARE: u32 = 1;
    file.attrs()
        .get(index)
        .is_some_and(|a| a.attr.type_() == PERF_TYPE_SOFTWARE && matches!(a.attr.config(), 0 | 1))
}
