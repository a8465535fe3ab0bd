//! `perf report`-style overhead tables (by command, DSO and symbol, or the `--sort`
//! keys, weighted by period), with perf's children/self columns and callchain trees
//! ([`super::callgraph`]), and flame graphs (inferno) from callchains.

use rustc_hash::FxHashMap as HashMap;
use std::io::Write;

use serde::Serialize;

use super::callgraph::{prune, ChainMode, ChainNode, ChainOptions, ChainOrder, ChainTree, Frames};
use super::event_names;
use super::inline::{self, Expand};
use super::machine::Machine;
use super::script::AnalysisError;
use super::symbols::Symbols;
use super::unwind::{ChainBuilder, UnwindStats};
use crate::perf_data::{sample_type as st, PerfData};
use crate::records::Record;

/// A `--sort` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SortKey {
    /// Command name (`Command`).
    Comm,
    /// Shared object (`Shared Object`).
    Dso,
    /// Function (`Symbol`).
    Sym,
    /// Thread, shown as perf's `Pid:Command` (perf keys it by thread id).
    Pid,
    /// Thread id (`Tid`).
    Tid,
    /// CPU (`CPU`).
    Cpu,
}

impl SortKey {
    /// Parses a comma-separated `--sort` list (`comm,dso,sym`; `symbol` and `thread`
    /// as perf's aliases).
    ///
    /// # Errors
    ///
    /// An unknown key, named.
    pub fn parse_list(s: &str) -> Result<Vec<SortKey>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| match k {
                "comm" => Ok(SortKey::Comm),
                "dso" => Ok(SortKey::Dso),
                "sym" | "symbol" => Ok(SortKey::Sym),
                "pid" | "thread" => Ok(SortKey::Pid),
                "tid" => Ok(SortKey::Tid),
                "cpu" => Ok(SortKey::Cpu),
                other => Err(format!(
                    "unknown --sort key {other:?} (comm, dso, sym, pid, tid, cpu)"
                )),
            })
            .collect()
    }
}

/// What [`build_with`] computes and how [`Report::print`] shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportOptions {
    /// `--children` / `--no-children`; `None`: children when the file has callchains
    /// (as perf).
    pub children: Option<bool>,
    /// `-g`.
    pub chain: ChainOptions,
    /// `--sort`; `None`: comm, dso, sym.
    pub sort: Option<Vec<SortKey>>,
    /// `--percent-limit`: entries under this percent are not shown.
    pub percent_limit: f64,
    /// perf's `--inline` (its default; `--no-inline` is `false`): the calls inlined at
    /// a frame unwound by `--call-graph dwarf` are frames of their own in the callchains
    /// and entries of their own in the Children table, `name (inlined)`.
    pub inline: bool,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            children: Some(false),
            chain: ChainOptions::default(),
            sort: None,
            percent_limit: 0.0,
            inline: true,
        }
    }
}

impl ReportOptions {
    /// perf report's defaults: children when the file has callchains, `-g
    /// graph,0.5,caller` with children and `callee` without, sorted by comm, dso, sym.
    pub fn perf_defaults() -> Self {
        ReportOptions {
            children: None,
            ..Default::default()
        }
    }
}

/// One line of the overhead table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Command.
    pub comm: String,
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// CPU, when the samples carry it.
    pub cpu: Option<u32>,
    /// Shared object.
    pub dso: String,
    /// Function, or `[unknown]`.
    pub symbol: String,
    /// For an unresolved function, the address perf shows: file-relative for the
    /// sampled address, as sampled for a caller's (perf does the same).
    pub addr: u64,
    /// True for a kernel address (`[k]`), else `[.]`.
    pub kernel: bool,
    /// A call inlined in another function (perf prints `name (inlined)`); such an entry
    /// has Children only.
    pub inlined: bool,
    /// Samples whose innermost frame is this entry.
    pub samples: u64,
    /// Sum of their periods ("Self").
    pub period: u64,
    /// Share of the event's total period, in percent ("Self" or "Overhead").
    pub percent: f64,
    /// Period of the samples with this entry anywhere in their chain ("Children").
    pub children_period: u64,
    /// Share of the event's total period, in percent ("Children").
    pub children_percent: f64,
    /// The callchain tree under this entry, unpruned (the printout drops branches
    /// under the threshold).
    pub callchain: Vec<ChainNode>,
    /// The longest chain added to the tree (perf puts callers above callees of equal
    /// Children by it).
    #[serde(skip)]
    max_depth: usize,
}

impl Row {
    fn symbol_text(&self) -> String {
        let level = if self.kernel { 'k' } else { '.' };
        if self.symbol == "[unknown]" {
            // C's `%#.16llx`, which gives no `0x` for zero.
            if self.addr == 0 {
                format!("[{level}] {:016x}", 0)
            } else {
                format!("[{level}] {:#018x}", self.addr)
            }
        } else if self.inlined {
            format!("[{level}] {} (inlined)", self.symbol)
        } else {
            format!("[{level}] {}", self.symbol)
        }
    }
}

/// The overhead table of one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventReport {
    /// The event's name.
    pub event: String,
    /// Samples of the event.
    pub samples: u64,
    /// Sum of their periods.
    pub period: u64,
    /// Whether the event's samples have callchains.
    pub callchains: bool,
    /// Rows, highest overhead first (children first with `--children`).
    pub rows: Vec<Row>,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Report {
    /// One table per event that has samples.
    pub events: Vec<EventReport>,
    /// Lost samples (LOST_SAMPLES records: the kernel's exact count).
    pub lost_samples: u64,
    /// Records lost in the ring (LOST records).
    pub lost: u64,
    /// Folded stacks (`comm;outer;...;inner` → period), for flame graphs.
    #[serde(skip)]
    pub folded: Vec<(String, u64)>,
    /// `--call-graph dwarf` samples: how many unwound completely, partly, not at all.
    pub unwind: UnwindStats,
    /// Whether rows have children columns.
    pub children: bool,
    /// The options the report was built with.
    #[serde(skip)]
    pub options: Option<ReportOptions>,
    /// What could not be verified by build id or interpreted.
    pub unread: super::trust::Unread,
}

/// Entry identity: the `--sort` keys' values (unused keys stay 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
struct EntryKey {
    comm: u32,
    tid: u32,
    cpu: u32,
    dso: u32,
    /// 1: a frame id; 2: an unresolved address.
    sym_kind: u8,
    sym: u64,
}

/// One distinct stack of one thread: its frames innermost first as (frame id,
/// map-relative address, address).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StackKey {
    event: u32,
    comm: u32,
    pid: u32,
    tid: u32,
    cpu: Option<u32>,
    frames: Box<[(u32, u64, u64)]>,
}

#[derive(Debug, Default)]
struct Entry {
    comm: u32,
    pid: u32,
    tid: u32,
    cpu: Option<u32>,
    frame: u32,
    addr: u64,
    self_period: u64,
    self_samples: u64,
    acc_period: u64,
    max_depth: usize,
    tree: ChainTree,
}

#[derive(Debug, Default)]
struct EventTally {
    samples: u64,
    period: u64,
    entries: HashMap<EntryKey, Entry>,
}

/// Builds the flat (self-only) report of `file`, sorted by command, DSO and symbol.
///
/// # Errors
///
/// A corrupt record, with its file offset.
pub fn build(file: &PerfData) -> Result<Report, AnalysisError> {
    build_with(file, &ReportOptions::default())
}

/// Builds the report of `file` with `opts`.
///
/// # Errors
///
/// A corrupt record, with its file offset.
pub fn build_with(file: &PerfData, opts: &ReportOptions) -> Result<Report, AnalysisError> {
    let ctx = file.parse_context()?;
    let names = event_names(file);
    let has_chains: Vec<bool> = file
        .attrs()
        .iter()
        .map(|a| a.attr.sample_type() & st::CALLCHAIN != 0)
        .collect();
    let children = opts
        .children
        .unwrap_or_else(|| has_chains.iter().any(|&c| c));
    let order = opts.chain.order.unwrap_or(if children {
        ChainOrder::Caller
    } else {
        ChainOrder::Callee
    });
    let sort = opts
        .sort
        .clone()
        .unwrap_or_else(|| vec![SortKey::Comm, SortKey::Dso, SortKey::Sym]);
    let has = |k: SortKey| sort.contains(&k);
    let (by_comm, by_tid, by_cpu, by_dso, by_sym) = (
        has(SortKey::Comm),
        has(SortKey::Pid) || has(SortKey::Tid),
        has(SortKey::Cpu),
        has(SortKey::Dso),
        has(SortKey::Sym),
    );
    let want_tree = opts.chain.mode != ChainMode::None;

    let mut machine = Machine::new();
    let mut symbols = Symbols::for_file(file);
    let mut chains = ChainBuilder::new();
    let mut frames = Frames::default();
    let mut comms: HashMap<String, u32> = HashMap::default();
    let mut comm_names: Vec<String> = Vec::new();
    let mut per_event: Vec<EventTally> = (0..names.len()).map(|_| EventTally::default()).collect();
    let mut folded: HashMap<String, u64> = HashMap::default();
    let mut report = Report::default();
    let mut ips: Vec<u64> = Vec::new();
    // The current sample's frames, innermost first: (frame id, map-relative address).
    let mut resolved: Vec<(u32, u64)> = Vec::new();
    let mut seen: Vec<EntryKey> = Vec::new();
    // (pid, address, expanded) → its frames (inlined calls, then the function) in
    // `resolved_arena` as (frame id, map-relative address), until the next map change.
    let mut resolved_ips: HashMap<(u32, u64, bool), (usize, usize)> = HashMap::default();
    let mut resolved_arena: Vec<(u32, u64)> = Vec::new();
    let mut expanded = Vec::new();
    // Each frame's address, parallel to `resolved`.
    let mut resolved_raw: Vec<u64> = Vec::new();
    let mut stack = String::new();
    // Distinct stacks in the order first seen: (stack, period, samples, first CPU).
    let mut stacks: Vec<(StackKey, u64, u64, Option<u32>)> = Vec::new();
    let mut stack_index: HashMap<StackKey, usize> = HashMap::default();
    let mut reads = super::sample_read::SampleReads::new(file);
    let mut delivered = Vec::new();
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
                // A task or map change may change what an address resolves to.
                if matches!(
                    other,
                    Record::Mmap(_) | Record::Mmap2(_) | Record::Comm(_) | Record::Fork(_)
                ) {
                    resolved_ips.clear();
                    resolved_arena.clear();
                }
                report.unread.note_record(rec.header.record_type, other);
                machine.apply(rec.header.misc, other);
                return Ok(());
            }
        };
        if rec.event.unwrap_or(0) >= per_event.len() {
            return Ok(());
        }
        let pid = s.pid.unwrap_or(0);
        if let Some(ip) = s.ip {
            report.unread.note_sample(&mut symbols, &machine, pid, ip);
        }
        let tid = s.tid.unwrap_or(pid);
        let period = s
            .period
            .unwrap_or_else(|| super::fixed_period(file, rec.event));
        // A sample with counter values (`:S`) is one sample per counter that moved.
        reads.deliver(rec.event, s, period, &mut delivered);
        if delivered.is_empty() {
            return Ok(());
        }
        let unnamed;
        let comm_str = match machine.comm_ref(pid, tid) {
            Some(name) => name,
            None => {
                unnamed = format!(":{tid}");
                unnamed.as_str()
            }
        };
        let comm = match comms.get(comm_str) {
            Some(&c) => c,
            None => {
                let c = comm_names.len() as u32;
                comm_names.push(comm_str.to_owned());
                comms.insert(comm_str.to_owned(), c);
                c
            }
        };
        chains.frames(s, &machine, &mut symbols, &mut ips);
        let unwound_from = chains.unwound_from();
        resolved.clear();
        resolved_raw.clear();
        for (i, &ip) in ips.iter().enumerate() {
            let expand = opts.inline && i >= unwound_from;
            let range = match resolved_ips.get(&(pid, ip, expand)) {
                Some(&r) => r,
                None => {
                    let start = resolved_arena.len();
                    let how = Expand {
                        inline: expand,
                        all_lines: false,
                    };
                    inline::expand(&[ip], 0, how, pid, &machine, &mut symbols, &mut expanded);
                    for cf in &expanded {
                        let f = symbols.resolve_ref(&machine, pid, ip);
                        let start_of_sym = ip.wrapping_sub(f.offset);
                        // perf keys the sampled address of an unresolved function by
                        // its map-relative address.
                        let rel = match machine.find_map(pid, ip) {
                            Some(m) if !f.kernel => m.file_offset(ip),
                            _ => ip,
                        };
                        let id = match cf.inlined_name() {
                            Some(name) => frames.inlined_id(f.dso, name, start_of_sym, f.kernel),
                            None => frames.id(f.dso, f.symbol, ip, start_of_sym, f.kernel),
                        };
                        resolved_arena.push((id, rel));
                    }
                    let r = (start, resolved_arena.len() - start);
                    resolved_ips.insert((pid, ip, expand), r);
                    r
                }
            };
            resolved.extend_from_slice(&resolved_arena[range.0..range.0 + range.1]);
            resolved_raw.resize(resolved.len(), ip);
        }
        if resolved.is_empty() {
            let id = frames.id("[unknown]", None, 0, 0, false);
            resolved.push((id, 0));
            resolved_raw.push(0);
        }
        for &(event, period) in &delivered {
            let event = event.unwrap_or(0);
            let Some(ev) = per_event.get_mut(event) else {
                continue;
            };
            ev.samples += 1;
            ev.period += period;
            // Identical stacks of one thread are tallied once and turned into entries and
            // trees after the pass: a deep stack costs its square in children mode.
            let key = StackKey {
                event: event as u32,
                comm,
                pid,
                tid,
                cpu: if by_cpu { s.cpu } else { None },
                frames: resolved
                    .iter()
                    .enumerate()
                    .map(|(i, &(id, rel))| (id, rel, resolved_raw[i]))
                    .collect(),
            };
            match stack_index.get(&key) {
                Some(&i) => {
                    stacks[i].1 += period;
                    stacks[i].2 += 1;
                }
                None => {
                    stack_index.insert(key.clone(), stacks.len());
                    stacks.push((key, period, 1, s.cpu));
                }
            }
        }
        Ok(())
    })?;
    for (key, period, count, first_cpu) in &stacks {
        let (period, count) = (*period, *count);
        let (comm, pid, tid) = (key.comm, key.pid, key.tid);
        let event = key.event as usize;
        let Some(ev) = per_event.get_mut(event) else {
            continue;
        };
        let resolved = &key.frames;
        let key_of = |frames: &Frames, id: u32, addr: u64| {
            let info = &frames.infos[id as usize];
            let (sym_kind, sym) = match (by_sym, &info.symbol) {
                (false, _) => (0, 0),
                (true, Some(_)) => (1, u64::from(id)),
                (true, None) => (2, addr),
            };
            EntryKey {
                comm: if by_comm { comm } else { 0 },
                tid: if by_tid { tid } else { 0 },
                cpu: if by_cpu { key.cpu.unwrap_or(0) } else { 0 },
                dso: if by_dso { info.dso } else { 0 },
                sym_kind,
                sym,
            }
        };
        let new_entry = |id: u32, addr: u64| Entry {
            comm,
            pid,
            tid,
            cpu: *first_cpu,
            frame: id,
            addr,
            ..Entry::default()
        };
        let n = resolved.len();
        // The chain in cursor order: caller (outermost first) or callee.
        let at = |i: usize| match order {
            ChainOrder::Caller => resolved[n - 1 - i],
            ChainOrder::Callee => resolved[i],
        };
        let cursor = |i: usize| -> u32 { at(i).0 };
        // The entry of the sample is its address's function, not a call inlined there
        // (perf's hist entry is the sampled symbol; the inlined calls are in the chain).
        let (leaf, leaf_rel, _) = resolved
            .iter()
            .copied()
            .find(|&(id, _, _)| !frames.infos[id as usize].inlined)
            .unwrap_or(resolved[0]);
        let self_key = key_of(&frames, leaf, leaf_rel);
        let e = ev
            .entries
            .entry(self_key)
            .or_insert_with(|| new_entry(leaf, leaf_rel));
        e.self_period += period;
        e.self_samples += count;
        e.acc_period += period;
        let with_tree = want_tree && has_chains.get(event).copied().unwrap_or(false);
        if with_tree {
            e.tree.append((0..n).map(cursor), period, count);
            e.max_depth = e.max_depth.max(n);
        }
        if children {
            seen.clear();
            seen.push(self_key);
            for i in 0..n {
                let (id, _, raw) = at(i);
                let key = key_of(&frames, id, raw);
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                let e = ev.entries.entry(key).or_insert_with(|| new_entry(id, raw));
                e.acc_period += period;
                if with_tree {
                    e.tree.append((i..n).map(cursor), period, count);
                    e.max_depth = e.max_depth.max(n - i);
                }
            }
        }
        stack.clear();
        stack.push_str(&comm_names[comm as usize]);
        for &(id, _, _) in resolved.iter().rev() {
            let info = &frames.infos[id as usize];
            stack.push(';');
            stack.push_str(info.symbol.as_deref().unwrap_or("[unknown]"));
            // inferno's suffixes: `_[k]` kernel, `_[i]` inlined.
            if info.inlined {
                stack.push_str("_[i]");
            } else if info.kernel {
                stack.push_str("_[k]");
            }
        }
        match folded.get_mut(stack.as_str()) {
            Some(p) => *p += period,
            None => {
                folded.insert(stack.clone(), period);
            }
        }
    }
    for (i, tally) in per_event.into_iter().enumerate() {
        if tally.samples == 0 {
            continue;
        }
        let total = tally.period.max(1);
        let mut rows: Vec<Row> = tally
            .entries
            .into_values()
            .map(|e| {
                let info = &frames.infos[e.frame as usize];
                Row {
                    comm: comm_names[e.comm as usize].clone(),
                    pid: e.pid,
                    tid: e.tid,
                    cpu: e.cpu,
                    dso: frames.dsos[info.dso as usize].clone(),
                    symbol: info
                        .symbol
                        .clone()
                        .unwrap_or_else(|| "[unknown]".to_owned()),
                    addr: e.addr,
                    kernel: info.kernel,
                    inlined: info.inlined,
                    samples: e.self_samples,
                    period: e.self_period,
                    percent: 100.0 * e.self_period as f64 / total as f64,
                    children_period: e.acc_period,
                    children_percent: 100.0 * e.acc_period as f64 / total as f64,
                    callchain: e.tree.compress(&frames),
                    max_depth: e.max_depth,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            // perf's `__hpp__sort_acc`: of equal Children, the entry with the longest
            // chain first (caller order; the shortest with callee order).
            let first = if children {
                // (perf compares depths only within one thread; that is not a total
                // order, which a sort needs, so here depths decide for every thread.)
                b.children_period
                    .cmp(&a.children_period)
                    .then_with(|| match order {
                        ChainOrder::Caller => b.max_depth.cmp(&a.max_depth),
                        ChainOrder::Callee => a.max_depth.cmp(&b.max_depth),
                    })
            } else {
                std::cmp::Ordering::Equal
            };
            first.then_with(|| b.period.cmp(&a.period)).then_with(|| {
                sort.iter().fold(std::cmp::Ordering::Equal, |o, k| {
                    o.then_with(|| match k {
                        SortKey::Comm => a.comm.cmp(&b.comm),
                        SortKey::Dso => a.dso.cmp(&b.dso),
                        SortKey::Sym => {
                            let ua = a.symbol == "[unknown]";
                            let ub = b.symbol == "[unknown]";
                            ua.cmp(&ub)
                                .then_with(|| a.symbol.cmp(&b.symbol))
                                .then_with(|| a.addr.cmp(&b.addr))
                        }
                        SortKey::Pid | SortKey::Tid => a.tid.cmp(&b.tid),
                        SortKey::Cpu => a.cpu.cmp(&b.cpu),
                    })
                })
            })
        });
        report.events.push(EventReport {
            event: names[i].clone(),
            samples: tally.samples,
            period: tally.period,
            callchains: has_chains.get(i).copied().unwrap_or(false),
            rows,
        });
    }
    let mut folded: Vec<(String, u64)> = folded.into_iter().collect();
    folded.sort();
    report.folded = folded;
    report.unwind = chains.stats();
    report.children = children;
    report.options = Some(ReportOptions {
        children: Some(children),
        chain: ChainOptions {
            order: Some(order),
            ..opts.chain
        },
        sort: Some(sort),
        percent_limit: opts.percent_limit,
        inline: opts.inline,
    });
    report.unread.finish(&symbols);
    Ok(report)
}

/// perf's `convert_unit`: `1899` → (1, 'K'), `500` → (500, ' ').
fn convert_unit(mut v: u64) -> (u64, char) {
    let mut unit = ' ';
    for u in ['K', 'M', 'G'] {
        if v > 1000 {
            v /= 1000;
            unit = u;
        }
    }
    (v, unit)
}

/// One column of the printed table.
struct Column {
    header: &'static str,
    width: usize,
    key: Option<SortKey>,
}

impl Report {
    /// Prints the tables like `perf report --stdio` (from its `# Total Lost Samples`
    /// line on; perf's random tip at the end is left out).
    ///
    /// # Errors
    ///
    /// A failed write.
    pub fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let opts = self.options.clone().unwrap_or_default();
        let sort = opts
            .sort
            .clone()
            .unwrap_or_else(|| vec![SortKey::Comm, SortKey::Dso, SortKey::Sym]);
        writeln!(out, "#\n#\n# Total Lost Samples: {}", self.lost_samples)?;
        if self.lost > 0 {
            writeln!(out, "# Lost ring records (PERF_RECORD_LOST): {}", self.lost)?;
        }
        for ev in &self.events {
            let (n, unit) = convert_unit(ev.samples);
            writeln!(out, "#\n# Samples: {n}{unit} of event '{}'", ev.event)?;
            writeln!(out, "# Event count (approx.): {}\n#", ev.period)?;
            self.print_event(out, ev, &opts, &sort)?;
            writeln!(out, "\n")?;
        }
        Ok(())
    }

    fn print_event(
        &self,
        out: &mut impl Write,
        ev: &EventReport,
        opts: &ReportOptions,
        sort: &[SortKey],
    ) -> std::io::Result<()> {
        let unresolved = ev.rows.iter().any(|r| r.symbol == "[unknown]");
        let mut cols: Vec<Column> = Vec::new();
        if self.children {
            cols.push(Column {
                header: "Children",
                width: 8,
                key: None,
            });
            cols.push(Column {
                header: "Self",
                width: 8,
                key: None,
            });
        } else {
            cols.push(Column {
                header: "Overhead",
                width: 8,
                key: None,
            });
        }
        let max = |f: &dyn Fn(&Row) -> usize| ev.rows.iter().map(f).max().unwrap_or(0);
        for &k in sort {
            let (header, width) = match k {
                SortKey::Comm => ("Command", max(&|r| r.comm.chars().count())),
                SortKey::Dso => (
                    "Shared Object",
                    max(&|r| r.dso.chars().count()).max(if unresolved { 16 } else { 0 }),
                ),
                SortKey::Sym => ("Symbol", max(&|r| r.symbol_text().chars().count())),
                SortKey::Pid => ("    Pid:Command", max(&|r| r.comm.chars().count() + 8)),
                SortKey::Tid => ("    Tid", 7),
                SortKey::Cpu => ("CPU", 3),
            };
            cols.push(Column {
                header,
                width: width.max(header.len()),
                key: Some(k),
            });
        }
        let last = cols.len() - 1;
        let mut line = String::from("#");
        let mut dots = String::from("#");
        for (i, c) in cols.iter().enumerate() {
            let sep = if i == 0 { " " } else { "  " };
            if c.key.is_none() || c.key == Some(SortKey::Cpu) {
                line.push_str(&format!("{sep}{:>w$}", c.header, w = c.width));
            } else {
                line.push_str(&format!("{sep}{:<w$}", c.header, w = c.width));
            }
            dots.push_str(sep);
            dots.push_str(&".".repeat(c.width));
        }
        writeln!(out, "{line}\n{dots}\n#")?;
        let draw = ev.callchains && opts.chain.mode != ChainMode::None;
        let drawer = super::callgraph::Drawer {
            opts: &opts.chain,
            total: ev.period,
            skip_first: sort.first() == Some(&SortKey::Sym) && opts.sort.is_some(),
        };
        for r in &ev.rows {
            let shown = if self.children {
                r.children_percent
            } else {
                r.percent
            };
            if shown < opts.percent_limit {
                continue;
            }
            let mut line = String::from(" ");
            for (i, c) in cols.iter().enumerate() {
                line.push_str("  ");
                let w = c.width;
                let pad = i != last || c.key != Some(SortKey::Sym);
                let text = match (i, c.key) {
                    (0, None) if self.children => {
                        format!("{:>w$.2}%", r.children_percent, w = w - 1)
                    }
                    (_, None) => format!("{:>w$.2}%", r.percent, w = w - 1),
                    (_, Some(SortKey::Comm)) => r.comm.clone(),
                    (_, Some(SortKey::Dso)) => r.dso.clone(),
                    (_, Some(SortKey::Sym)) => r.symbol_text(),
                    (_, Some(SortKey::Pid)) => {
                        format!("{:>7}:{:<cw$}", r.tid, r.comm, cw = w.saturating_sub(8))
                    }
                    (_, Some(SortKey::Tid)) => format!("{:>7}", r.tid),
                    (_, Some(SortKey::Cpu)) => format!("{:03}", r.cpu.unwrap_or(0)),
                };
                if pad {
                    line.push_str(&format!("{text:<w$}"));
                } else {
                    line.push_str(&text);
                }
            }
            // The first separator is one space narrower ("# " in the header).
            writeln!(out, "{}", &line[1..])?;
            if draw {
                let mut tree = r.callchain.clone();
                let fractal = opts.chain.mode == ChainMode::Fractal;
                prune(&mut tree, opts.chain.threshold, ev.period, fractal);
                let parent = if self.children {
                    r.children_period
                } else {
                    r.period
                };
                drawer.entry(out, &tree, parent)?;
            }
        }
        Ok(())
    }

    /// The report as one JSON document: per event its rows with their callchain trees
    /// (branches under the `-g` threshold dropped, as printed), and the unwinding counts.
    pub fn to_json(&self) -> serde_json::Value {
        let opts = self.options.clone().unwrap_or_default();
        let mut rep = self.clone();
        for ev in &mut rep.events {
            let total = ev.period;
            ev.rows.retain(|r| {
                let shown = if self.children {
                    r.children_percent
                } else {
                    r.percent
                };
                shown >= opts.percent_limit
            });
            for r in &mut ev.rows {
                if opts.chain.mode == ChainMode::None {
                    r.callchain.clear();
                } else {
                    let fractal = opts.chain.mode == ChainMode::Fractal;
                    prune(&mut r.callchain, opts.chain.threshold, total, fractal);
                }
            }
        }
        let mut v = serde_json::to_value(&rep).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "options".into(),
                serde_json::to_value(&opts).unwrap_or_default(),
            );
        }
        v
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
