//! Reading a capture back: who ran where ([`machine`]), address → symbol
//! ([`symbols`]), per-event lines like `perf script` ([`script`]), and overhead tables and
//! flame graphs like `perf report` ([`report`]), and exports for other tools ([`export`]).

pub mod callgraph;
pub mod debuginfo;
pub mod export;
mod inline;
mod line;
pub mod machine;
pub mod render;
pub mod report;
mod sample_read;
pub mod script;
pub mod symbols;
pub mod tracepoint_fields;
pub mod trust;
pub mod unwind;

use crate::perf_data::{record_type, DataChunk, PerfData, PerfDataError};
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
/// A streamed file ([`PerfData::open`]) is read one round at a time, so a record handed
/// to `f` lives only until `f` returns.
///
/// # Errors
///
/// The first corrupt record, with its file offset; a failed read of a streamed file.
pub fn for_each_ordered(
    file: &PerfData,
    ctx: &ParseContext,
    f: impl FnMut(&ParsedRecord<'_>) -> Result<(), script::AnalysisError>,
) -> Result<(), script::AnalysisError> {
    for_each_ordered_by_round(file, ctx, f, || Ok(()))
}

/// As [`for_each_ordered`], calling `round_end` after each round's records were handed
/// to `f`: where `script` flushes its output when it reads a stream as it arrives.
///
/// # Errors
///
/// As [`for_each_ordered`], and the first error of `round_end`.
pub fn for_each_ordered_by_round(
    file: &PerfData,
    ctx: &ParseContext,
    mut f: impl FnMut(&ParsedRecord<'_>) -> Result<(), script::AnalysisError>,
    mut round_end: impl FnMut() -> Result<(), script::AnalysisError>,
) -> Result<(), script::AnalysisError> {
    // The round's records unparsed, as 16-byte sort keys (time, position << 16 | size):
    // a record is parsed only when it is handed to `f`, so no parsed round is kept, and
    // a round already in order (one ring, or rings that did not interleave) is not
    // sorted. Positions are unique, so ties stay in file order.
    let mut round: Vec<(u64, u64)> = Vec::new();
    file.for_each_chunk(|chunk: DataChunk<'_>| {
        let bytes = chunk.bytes;
        let corrupt = |pos: usize, e: crate::records::ParseError| {
            script::AnalysisError::from(PerfDataError::corrupt(
                chunk.offset + pos as u64,
                e.to_string(),
            ))
        };
        let mut flush = |round: &mut Vec<(u64, u64)>| {
            if !round.windows(2).all(|w| w[0] <= w[1]) {
                round.sort_unstable();
            }
            let out = round.iter().try_for_each(|&(_, key)| {
                let (pos, size) = ((key >> 16) as usize, (key & 0xffff) as usize);
                // Positions and sizes come from records of this chunk.
                let rec = ctx
                    .parse(&bytes[pos..pos + size])
                    .map_err(|e| corrupt(pos, e))?;
                f(&rec)
            });
            round.clear();
            out?;
            round_end()
        };
        for r in chunk.records() {
            let r = r?;
            if r.header.record_type == record_type::FINISHED_ROUND {
                flush(&mut round)?;
                continue;
            }
            // Offsets within a chunk are below its length (a usize).
            let pos = (r.offset - chunk.offset) as usize;
            let t = ctx.record_time(r.bytes).map_err(|e| corrupt(pos, e))?;
            round.push((t.unwrap_or(0), ((pos as u64) << 16) | r.bytes.len() as u64));
        }
        if chunk.last {
            flush(&mut round)?;
        }
        // A chunk that is neither last nor ends a round stops before a bad record:
        // its error comes next, and the partial round is not handed out.
        round.clear();
        Ok(())
    })
}

/// The period of samples without PERF_SAMPLE_PERIOD: the attr's `sample_period` when it
/// is not a frequency (perf does the same), else 1.
pub(crate) fn fixed_period(file: &PerfData, event: Option<usize>) -> u64 {
    file.attrs()
        .get(event.unwrap_or(0))
        .filter(|a| a.attr.flags() & crate::perf_data::attr::flag::FREQ == 0)
        .map_or(1, |a| a.attr.sample_period().max(1))
}
