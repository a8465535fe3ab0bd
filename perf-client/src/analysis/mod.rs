//! Reading a capture back: who ran where ([`machine`]), address → symbol
//! ([`symbols`]), per-event lines like `perf script` ([`script`]), and overhead tables and
//! flame graphs like `perf report` ([`report`]).

mod line;
pub mod machine;
pub mod report;
pub mod script;
pub mod symbols;

use crate::perf_data::{record_type, PerfData, PerfDataError, RawRecord};
use crate::records::{ParseContext, ParsedRecord};

/// `PERF_CONTEXT_MAX` (`-4095` as u64): callchain entries at or above it are context
/// markers (`PERF_CONTEXT_KERNEL`, `PERF_CONTEXT_USER`, ...), not addresses.
pub const PERF_CONTEXT_MAX: u64 = (-4095i64) as u64;
/// `PERF_CONTEXT_KERNEL`.
pub const PERF_CONTEXT_KERNEL: u64 = (-128i64) as u64;
/// `PERF_CONTEXT_USER`.
pub const PERF_CONTEXT_USER: u64 = (-512i64) as u64;

/// Event names by attr index: EVENT_DESC names, else `type:config`.
pub fn event_names(file: &PerfData) -> Vec<String> {
    let names = file.event_names().unwrap_or_default();
    file.attrs()
        .iter()
        .enumerate()
        .map(|(i, a)| {
            names
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("type{}:config{:#x}", a.attr.type_(), a.attr.config()))
        })
        .collect()
}

/// The records of `file` in time order within each round (perf's ordered events): the
/// records between two FINISHED_ROUNDs are sorted by timestamp, records without one
/// (synthesized) first, ties in file order. Rings are written one after the other, so
/// without this a process's first samples could come before its MMAP from another CPU.
///
/// # Errors
///
/// The first corrupt record, with its file offset.
pub fn for_each_ordered<'a>(
    file: &'a PerfData,
    ctx: &'a ParseContext,
    mut f: impl FnMut(&ParsedRecord<'a>) -> Result<(), script::AnalysisError>,
) -> Result<(), script::AnalysisError> {
    // The round's records unparsed, with their (time, index) sort keys: a record is
    // parsed only when it is handed to `f`, so no parsed round is kept, and a round
    // already in order (one ring, or rings that did not interleave) is not sorted.
    let mut round: Vec<(u64, usize, RawRecord<'a>)> = Vec::new();
    let corrupt = |r: &RawRecord<'_>, e: crate::records::ParseError| {
        script::AnalysisError::from(PerfDataError::corrupt(r.offset, e.to_string()))
    };
    let mut flush = |round: &mut Vec<(u64, usize, RawRecord<'a>)>| {
        if !round.windows(2).all(|w| w[0].0 <= w[1].0) {
            // Indices are unique, so an unstable sort keeps ties in file order.
            round.sort_unstable_by_key(|&(t, i, _)| (t, i));
        }
        let out = round.iter().try_for_each(|(_, _, r)| {
            let rec = ctx.parse(r.bytes).map_err(|e| corrupt(r, e))?;
            f(&rec)
        });
        round.clear();
        out
    };
    for r in file.records() {
        let r = r.map_err(script::AnalysisError::from)?;
        if r.header.record_type == record_type::FINISHED_ROUND {
            flush(&mut round)?;
            continue;
        }
        let t = ctx.record_time(r.bytes).map_err(|e| corrupt(&r, e))?;
        round.push((t.unwrap_or(0), round.len(), r));
    }
    flush(&mut round)
}

/// The period of samples without PERF_SAMPLE_PERIOD: the attr's `sample_period` when it
/// is not a frequency (perf does the same), else 1.
pub(crate) fn fixed_period(file: &PerfData, event: Option<usize>) -> u64 {
    file.attrs()
        .get(event.unwrap_or(0))
        .filter(|a| a.attr.flags() & crate::perf_data::attr::flag::FREQ == 0)
        .map_or(1, |a| a.attr.sample_period().max(1))
}
