//! Reading a capture back: who ran where ([`machine`]), address → symbol
//! ([`symbols`]), per-event lines like `perf script` ([`script`]), and overhead tables and
//! flame graphs like `perf report` ([`report`]).

mod line;
pub mod machine;
pub mod report;
pub mod script;
pub mod symbols;

use crate::perf_data::{record_type, PerfData};
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
    // The records of the round in file order, and their (time, index) sort keys: only
    // the 16-byte keys move when a round needs sorting, and a round already in order
    // (one ring, or rings that did not interleave) is not sorted at all.
    let mut round: Vec<ParsedRecord<'a>> = Vec::new();
    let mut keys: Vec<(u64, usize)> = Vec::new();
    let mut flush = |round: &mut Vec<ParsedRecord<'a>>, keys: &mut Vec<(u64, usize)>| {
        if !keys.windows(2).all(|w| w[0].0 <= w[1].0) {
            // Indices are unique, so an unstable sort keeps ties in file order.
            keys.sort_unstable();
        }
        let out: Result<(), script::AnalysisError> =
            keys.iter().try_for_each(|&(_, i)| f(&round[i]));
        round.clear();
        keys.clear();
        out
    };
    for r in file.parsed_records(ctx) {
        let (_, rec): (u64, ParsedRecord<'a>) = r.map_err(script::AnalysisError::from)?;
        if rec.header.record_type == record_type::FINISHED_ROUND {
            flush(&mut round, &mut keys)?;
            continue;
        }
        keys.push((rec.time().unwrap_or(0), round.len()));
        round.push(rec);
    }
    flush(&mut round, &mut keys)
}
