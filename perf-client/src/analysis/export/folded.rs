//! Folded stacks (`comm;outer;...;inner PERIOD`, one per line), the input of inferno's
//! and FlameGraph's `flamegraph.pl`. The lines are `report`'s own (the ones its
//! `--flamegraph` draws): the command first, kernel frames suffixed `_[k]`, calls inlined
//! at a `--call-graph dwarf` frame as frames of their own suffixed `_[i]` (inferno's
//! convention; report's `--inline` default), weighted by period.

use std::io::Write;

use super::{ExportError, ExportOptions};
use crate::analysis::report;
use crate::perf_data::PerfData;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FoldedSummary {
    /// Distinct stacks (lines).
    pub stacks: usize,
    /// Sum of the weights.
    pub period: u64,
}

/// Writes the folded stacks of `file` to `out`, with `opts` (without
/// [`ExportOptions::inline`], no `_[i]` frames: report's `--no-inline`).
///
/// # Errors
///
/// A corrupt capture ([`ExportError::Analysis`]), [`ExportError::NoSamples`], or a failed
/// write.
pub fn write(
    file: &PerfData,
    opts: ExportOptions,
    mut out: impl Write,
) -> Result<FoldedSummary, ExportError> {
    let report_opts = report::ReportOptions {
        inline: opts.inline,
        ..Default::default()
    };
    let rep = report::build_with(file, &report_opts)?;
    if rep.folded.is_empty() {
        return Err(ExportError::NoSamples);
    }
    let mut sum = FoldedSummary::default();
    for (stack, n) in &rep.folded {
        writeln!(out, "{stack} {n}")?;
        sum.stacks += 1;
        sum.period = sum.period.saturating_add(*n);
    }
    out.flush()?;
    Ok(sum)
}
