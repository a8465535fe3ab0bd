//! `perf report`-style overhead tables (by command, DSO and symbol, weighted by period)
//! and flame graphs (inferno) from callchains.

use std::collections::HashMap;
use std::io::Write;

use super::event_names;
use super::machine::Machine;
use super::script::{sample_frames, AnalysisError};
use super::symbols::Symbols;
use crate::perf_data::PerfData;
use crate::records::Record;

/// One line of the overhead table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Command.
    pub comm: String,
    /// Shared object.
    pub dso: String,
    /// Function, or `[unknown]`.
    pub symbol: String,
    /// True for a kernel address (`[k]`), else `[.]`.
    pub kernel: bool,
    /// Samples.
    pub samples: u64,
    /// Sum of the samples' periods.
    pub period: u64,
    /// Share of the event's total period, in percent.
    pub percent: f64,
}

/// The overhead table of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct EventReport {
    /// The event's name.
    pub event: String,
    /// Samples of the event.
    pub samples: u64,
    /// Sum of their periods.
    pub period: u64,
    /// Rows, highest overhead first.
    pub rows: Vec<Row>,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// One table per event that has samples.
    pub events: Vec<EventReport>,
    /// Lost samples (LOST_SAMPLES records: the kernel's exact count).
    pub lost_samples: u64,
    /// Records lost in the ring (LOST records).
    pub lost: u64,
    /// Folded stacks (`comm;outer;...;inner` → period), for flame graphs.
    pub folded: Vec<(String, u64)>,
    /// What could not be verified by build id or interpreted.
    pub unread: super::trust::Unread,
}

/// (comm, dso, symbol, kernel).
type Key = (String, String, String, bool);
/// Per event: samples, period, and (samples, period) per key.
type Tally = (u64, u64, HashMap<Key, (u64, u64)>);

/// Builds the report of `file`.
///
/// # Errors
///
/// A corrupt record, with its file offset.
pub fn build(file: &PerfData) -> Result<Report, AnalysisError> {
    let ctx = file.parse_context()?;
    let names = event_names(file);
    let mut machine = Machine::new();
    let mut symbols = Symbols::for_file(file);
    let mut per_event: Vec<Tally> = vec![(0, 0, HashMap::new()); names.len()];
    let mut folded: HashMap<String, u64> = HashMap::new();
    let mut report = Report::default();
    super::for_each_ordered(file, &ctx, |rec| {
        let s = match &rec.record {
            Record::Sample(s) => s,
            Record::Lost(l) => {
                report.lost += l.lost;
                return Ok(());
            }
            Record::LostSamples(l) => {
                report.lost_samples += l.lost;
                return Ok(());
            }
            other => {
                report.unread.note_record(rec.header.record_type, other);
                machine.apply(rec.header.misc, other);
                return Ok(());
            }
        };
        let pid = s.pid.unwrap_or(0);
        if let Some(ip) = s.ip {
            report.unread.note_sample(&mut symbols, &machine, pid, ip);
        }
        let comm = machine.comm(pid, s.tid.unwrap_or(pid));
        let period = s
            .period
            .unwrap_or_else(|| super::fixed_period(file, rec.event));
        let frames = sample_frames(s, &machine, &mut symbols);
        let Some(ev) = per_event.get_mut(rec.event.unwrap_or(0)) else {
            return Ok(());
        };
        ev.0 += 1;
        ev.1 += period;
        let top = frames.first();
        let key = (
            comm.clone(),
            top.map_or("[unknown]".to_owned(), |f| f.dso.clone()),
            top.map_or("[unknown]".to_owned(), |f| f.function().to_owned()),
            top.is_some_and(|f| f.kernel),
        );
        let e = ev.2.entry(key).or_default();
        e.0 += 1;
        e.1 += period;
        let mut stack = comm;
        for f in frames.iter().rev() {
            stack.push(';');
            stack.push_str(f.function());
            if f.kernel {
                stack.push_str("_[k]");
            }
        }
        *folded.entry(stack).or_default() += period;
        Ok(())
    })?;
    for (i, (samples, period, rows)) in per_event.into_iter().enumerate() {
        if samples == 0 {
            continue;
        }
        let mut rows: Vec<Row> = rows
            .into_iter()
            .map(|((comm, dso, symbol, kernel), (n, p))| Row {
                comm,
                dso,
                symbol,
                kernel,
                samples: n,
                period: p,
                percent: 100.0 * p as f64 / period.max(1) as f64,
            })
            .collect();
        rows.sort_by(|a, b| {
            b.period
                .cmp(&a.period)
                .then_with(|| (&a.comm, &a.dso, &a.symbol).cmp(&(&b.comm, &b.dso, &b.symbol)))
        });
        report.events.push(EventReport {
            event: names[i].clone(),
            samples,
            period,
            rows,
        });
    }
    let mut folded: Vec<(String, u64)> = folded.into_iter().collect();
    folded.sort();
    report.folded = folded;
    report.unread.finish(&symbols);
    Ok(report)
}

impl Report {
    /// Prints the tables like `perf report --stdio`.
    ///
    /// # Errors
    ///
    /// A failed write.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "# Total Lost Samples: {}", self.lost_samples)?;
        if self.lost > 0 {
            writeln!(out, "# Lost ring records (PERF_RECORD_LOST): {}", self.lost)?;
        }
        for ev in &self.events {
            let w_comm = ev
                .rows
                .iter()
                .map(|r| r.comm.len())
                .max()
                .unwrap_or(7)
                .max(7);
            let w_dso = ev
                .rows
                .iter()
                .map(|r| r.dso.len())
                .max()
                .unwrap_or(13)
                .max(13);
            writeln!(out, "#\n# Samples: {}  of event '{}'", ev.samples, ev.event)?;
            writeln!(out, "# Event count (approx.): {}\n#", ev.period)?;
            writeln!(
                out,
                "# Overhead  {:<w_comm$}  {:<w_dso$}  Symbol",
                "Command", "Shared Object"
            )?;
            writeln!(
                out,
                "# ........  {}  {}  ......\n#",
                ".".repeat(w_comm),
                ".".repeat(w_dso)
            )?;
            for r in &ev.rows {
                writeln!(
                    out,
                    "  {:>7.2}%  {:<w_comm$}  {:<w_dso$}  [{}] {}",
                    r.percent,
                    r.comm,
                    r.dso,
                    if r.kernel { 'k' } else { '.' },
                    r.symbol
                )?;
            }
        }
        Ok(())
    }

    /// Writes a flame graph (SVG) of the folded stacks.
    ///
    /// # Errors
    ///
    /// A failed write, or no samples to draw.
    pub fn flamegraph(&self, out: impl Write, title: &str) -> std::io::Result<()> {
        let lines: Vec<String> = self
            .folded
            .iter()
            .map(|(stack, n)| format!("{stack} {n}"))
            .collect();
        let mut opts = inferno::flamegraph::Options::default();
        opts.title = title.to_owned();
        opts.count_name = "period".to_owned();
        inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), out)
    }
}
