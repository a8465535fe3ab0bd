//! Callchain trees as `perf report` builds and prints them (`tools/perf/util/callchain.c`,
//! `ui/stdio/hist.c`): a radix tree of frames per report entry, the branches sorted by
//! their cumulative period and cut at a threshold, drawn with `|`, `---` and `--N.NN%--`.

use rustc_hash::FxHashMap as HashMap;
use std::io::Write;

use serde::Serialize;

/// How the tree is drawn (`-g graph|fractal|none`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainMode {
    /// Percentages of the event's total (perf's default).
    Graph,
    /// Percentages of the parent branch.
    Fractal,
    /// No tree.
    None,
}

/// Which end of the chain is the root (`-g caller|callee`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainOrder {
    /// Outermost caller first: the tree shows what an entry calls.
    Caller,
    /// The sampled function first: the tree shows who called it.
    Callee,
}

/// What a branch shows (`-g ...,percent|period|count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainValue {
    /// Percent of the total (graph) or of the parent (fractal).
    Percent,
    /// The summed period.
    Period,
    /// The number of samples.
    Count,
}

/// perf report's `-g` option.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChainOptions {
    /// Drawing mode.
    pub mode: ChainMode,
    /// Branches under this percent are not drawn (perf's default 0.5).
    pub threshold: f64,
    /// At most this many branches per level (0: all).
    pub print_limit: u32,
    /// Root end; `None`: caller with `--children`, callee without (as perf).
    pub order: Option<ChainOrder>,
    /// Branch value.
    pub value: ChainValue,
}

impl Default for ChainOptions {
    fn default() -> Self {
        ChainOptions {
            mode: ChainMode::Graph,
            threshold: 0.5,
            print_limit: 0,
            order: None,
            value: ChainValue::Percent,
        }
    }
}

impl ChainOptions {
    /// Parses perf's `-g` report syntax: comma-separated `graph|fractal|none`, a
    /// threshold, a print limit, `caller|callee`, `function|address`, `percent|period|count`
    /// (`-g caller`, `-g graph,0.5,caller`, `-g fractal,1,callee,function,period`).
    ///
    /// # Errors
    ///
    /// An unknown or unsupported word (`flat`, `folded`, `branch`, `address` keys).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut o = ChainOptions::default();
        let mut numbers = 0;
        for tok in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match tok {
                "graph" => o.mode = ChainMode::Graph,
                "fractal" => o.mode = ChainMode::Fractal,
                "none" => o.mode = ChainMode::None,
                "caller" => o.order = Some(ChainOrder::Caller),
                "callee" => o.order = Some(ChainOrder::Callee),
                "function" => {}
                "percent" => o.value = ChainValue::Percent,
                "period" => o.value = ChainValue::Period,
                "count" => o.value = ChainValue::Count,
                "flat" | "folded" | "address" | "branch" | "srcline" => {
                    return Err(format!("-g {tok} is not supported (graph, fractal, none)"))
                }
                t => {
                    if numbers == 0 {
                        o.threshold = t
                            .parse::<f64>()
                            .ok()
                            .filter(|v| v.is_finite() && *v >= 0.0)
                            .ok_or_else(|| format!("-g: invalid word or threshold {t:?}"))?;
                    } else if numbers == 1 {
                        o.print_limit = t
                            .parse()
                            .map_err(|_| format!("-g: invalid print limit {t:?}"))?;
                    } else {
                        return Err(format!("-g: unexpected {t:?}"));
                    }
                    numbers += 1;
                }
            }
        }
        Ok(o)
    }
}

/// One frame as a tree shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameInfo {
    /// The function, or the address in hex as perf prints an unresolved one.
    pub name: String,
    /// The function's name, if resolved.
    pub symbol: Option<String>,
    /// The DSO (an index into [`Frames::dsos`]).
    pub dso: u32,
    /// A kernel address.
    pub kernel: bool,
    /// Tie-break order among branches of equal weight (perf: DSO, then address): the
    /// symbol's start, or the address.
    pub addr: u64,
    /// A call inlined in the function at `addr` (`name` then ends in ` (inlined)`, as
    /// perf prints it; `symbol` is the bare name).
    pub inlined: bool,
}

/// Frames by identity: the same function of the same DSO is one frame (perf's
/// `CCKEY_FUNCTION`), an unresolved address is its own.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    ids: HashMap<String, u32>,
    pub infos: Vec<FrameInfo>,
    dso_ids: HashMap<String, u32>,
    pub dsos: Vec<String>,
    key: String,
}

impl Frames {
    /// The id of a DSO name.
    pub fn dso(&mut self, dso: &str) -> u32 {
        if let Some(&id) = self.dso_ids.get(dso) {
            return id;
        }
        let id = self.dsos.len() as u32;
        self.dsos.push(dso.to_owned());
        self.dso_ids.insert(dso.to_owned(), id);
        id
    }

    /// The id of a frame: `symbol` of `dso`, or `addr` when there is no symbol.
    pub fn id(
        &mut self,
        dso: &str,
        symbol: Option<&str>,
        addr: u64,
        sym_start: u64,
        kernel: bool,
    ) -> u32 {
        use std::fmt::Write as _;
        self.key.clear();
        self.key.push_str(dso);
        self.key.push('\0');
        match symbol {
            Some(s) => self.key.push_str(s),
            None => {
                let _ = write!(self.key, "\0{addr:x}");
            }
        }
        if let Some(&id) = self.ids.get(self.key.as_str()) {
            return id;
        }
        let dso = self.dso(dso);
        let id = self.infos.len() as u32;
        self.infos.push(FrameInfo {
            // C's `%#lx`, which prints zero as `0`.
            name: symbol.map_or_else(
                || {
                    if addr == 0 {
                        "0".to_owned()
                    } else {
                        format!("{addr:#x}")
                    }
                },
                str::to_owned,
            ),
            symbol: symbol.map(str::to_owned),
            dso,
            kernel,
            addr: if symbol.is_some() { sym_start } else { addr },
            inlined: false,
        });
        self.ids.insert(self.key.clone(), id);
        id
    }

    /// The id of a call to `name` inlined in a function of `dso` starting at
    /// `sym_start`: one frame per inlined function and DSO, as perf's inline symbols
    /// compare by name.
    pub fn inlined_id(&mut self, dso: &str, name: &str, sym_start: u64, kernel: bool) -> u32 {
        self.key.clear();
        self.key.push_str(dso);
        self.key.push('\0');
        self.key.push_str(name);
        self.key.push_str("\0\0inlined");
        if let Some(&id) = self.ids.get(self.key.as_str()) {
            return id;
        }
        let dso = self.dso(dso);
        let id = self.infos.len() as u32;
        self.infos.push(FrameInfo {
            name: format!("{name} (inlined)"),
            symbol: Some(name.to_owned()),
            dso,
            kernel,
            addr: sym_start,
            inlined: true,
        });
        self.ids.insert(self.key.clone(), id);
        id
    }
}

/// A callchain radix tree being filled (one per report entry).
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainTree {
    /// Node 0 is the root. (frame, hit period, hit samples).
    nodes: Vec<(u32, u64, u64)>,
    /// (parent, frame) → child.
    children: HashMap<(u32, u32), u32>,
    /// Children of each node in insertion order.
    kids: Vec<Vec<u32>>,
}

impl ChainTree {
    /// Adds `samples` samples of one chain (root end first) with their summed period.
    pub fn append(&mut self, chain: impl Iterator<Item = u32>, period: u64, samples: u64) {
        if self.nodes.is_empty() {
            self.nodes.push((u32::MAX, 0, 0));
            self.kids.push(Vec::new());
        }
        let mut at = 0u32;
        for frame in chain {
            // Most nodes have a few children: a scan is cheaper than hashing.
            let kids = &self.kids[at as usize];
            let found = if kids.len() <= 8 {
                kids.iter()
                    .copied()
                    .find(|&k| self.nodes[k as usize].0 == frame)
            } else {
                self.children.get(&(at, frame)).copied()
            };
            at = match found {
                Some(c) => c,
                None => {
                    let c = self.nodes.len() as u32;
                    self.nodes.push((frame, 0, 0));
                    self.kids.push(Vec::new());
                    self.kids[at as usize].push(c);
                    self.children.insert((at, frame), c);
                    c
                }
            };
        }
        let n = &mut self.nodes[at as usize];
        n.1 += period;
        n.2 += samples;
    }

    /// The tree as perf keeps it: runs of frames without a branch or an end merged into
    /// one node, each level sorted by cumulative period (highest first).
    pub fn compress(&self, frames: &Frames) -> Vec<ChainNode> {
        if self.nodes.is_empty() {
            return Vec::new();
        }
        // Cumulative (period, samples) per node, children before parents: a child's
        // index is always above its parent's.
        let mut cum: Vec<(u64, u64)> = self.nodes.iter().map(|n| (n.1, n.2)).collect();
        for i in (1..self.nodes.len()).rev() {
            for &k in &self.kids[i] {
                let (p, s) = cum[k as usize];
                cum[i].0 += p;
                cum[i].1 += s;
            }
        }
        self.level(0, &cum, frames)
    }

    fn level(&self, node: u32, cum: &[(u64, u64)], frames: &Frames) -> Vec<ChainNode> {
        let mut out: Vec<ChainNode> = self.kids[node as usize]
            .iter()
            .map(|&start| {
                let mut at = start;
                let mut names = vec![self.nodes[at as usize].0];
                while self.nodes[at as usize].1 == 0 && self.kids[at as usize].len() == 1 {
                    at = self.kids[at as usize][0];
                    names.push(self.nodes[at as usize].0);
                }
                let first = &frames.infos[names[0] as usize];
                let dso = frames.dsos[first.dso as usize].clone();
                ChainNode {
                    frames: names
                        .iter()
                        .map(|&f| frames.infos[f as usize].name.clone())
                        .collect(),
                    dso: dso.clone(),
                    period: cum[start as usize].0,
                    samples: cum[start as usize].1,
                    self_period: self.nodes[at as usize].1,
                    children: self.level(at, cum, frames),
                    order: (dso, first.addr),
                }
            })
            .collect();
        // Equal weights keep perf's insertion order: its children tree is ordered by
        // (DSO, address) with the larger first.
        out.sort_by(|a, b| b.period.cmp(&a.period).then_with(|| b.order.cmp(&a.order)));
        out
    }
}

/// One node of a callchain tree: a run of frames without a branch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChainNode {
    /// The frames of the run, in tree order (function names, or hex addresses).
    pub frames: Vec<String>,
    /// The first frame's DSO.
    pub dso: String,
    /// Period of the samples through this node (its branch's weight).
    pub period: u64,
    /// Samples through this node.
    pub samples: u64,
    /// Period of the samples whose chain ends here.
    pub self_period: u64,
    /// Branches, heaviest first.
    pub children: Vec<ChainNode>,
    #[serde(skip)]
    order: (String, u64),
}

/// Drops the branches under `min_percent`, as perf's `sort_chain_graph_abs` (graph: a
/// share of the event's `total`) or, with `relative`, `sort_chain_graph_rel` (fractal: a
/// share of the period that goes on below the parent).
pub fn prune(nodes: &mut Vec<ChainNode>, min_percent: f64, total: u64, relative: bool) {
    let min = if relative {
        let below: u64 = nodes.iter().map(|n| n.period).sum();
        (below as f64 * min_percent / 100.0).ceil() as u64
    } else {
        (total as f64 * (min_percent / 100.0)) as u64
    };
    nodes.retain(|n| n.period >= min);
    for n in nodes.iter_mut() {
        prune(&mut n.children, min_percent, total, relative);
    }
}

/// Draws `nodes` (the tree of one entry) like `perf report --stdio`.
pub(crate) struct Drawer<'a> {
    pub opts: &'a ChainOptions,
    /// The event's total period (graph percentages).
    pub total: u64,
    /// Skip the first frame of a lone root (perf does when `--sort` starts with sym).
    pub skip_first: bool,
}

const MARGIN: &str = "            ";

/// Bit `i` of a depth mask; levels past 64 draw no `|` (perf's mask is narrower still).
fn bit(i: usize) -> u64 {
    u32::try_from(i)
        .ok()
        .and_then(|i| 1u64.checked_shl(i))
        .unwrap_or(0)
}

impl Drawer<'_> {
    fn value(&self, out: &mut impl Write, n: &ChainNode, total: u64) -> std::io::Result<()> {
        match self.opts.value {
            ChainValue::Period => write!(out, "{}", n.period),
            ChainValue::Count => write!(out, "{}", n.samples),
            ChainValue::Percent => {
                let p = if total > 0 {
                    n.period as f64 * 100.0 / total as f64
                } else {
                    0.0
                };
                write!(out, "{p:.2}%")
            }
        }
    }

    fn margin(out: &mut impl Write, left: usize) -> std::io::Result<()> {
        write!(out, "{MARGIN}{:left$}", "")
    }

    /// `callchain__fprintf_graph`: the tree of an entry whose period is `parent`.
    pub fn entry(
        &self,
        out: &mut impl Write,
        nodes: &[ChainNode],
        parent: u64,
    ) -> std::io::Result<()> {
        let mut left = 0;
        let mut printed_any = false;
        let mut root = nodes;
        if let [only] = nodes {
            if only.period == parent {
                let mut printed = false;
                for (i, f) in only.frames.iter().enumerate() {
                    if i == 0 && self.skip_first {
                        continue;
                    }
                    if !printed {
                        Self::margin(out, left)?;
                        writeln!(out, "|")?;
                        Self::margin(out, left)?;
                        write!(out, "---")?;
                        left += 3;
                        printed = true;
                    } else {
                        Self::margin(out, left)?;
                    }
                    writeln!(out, "{f}")?;
                    printed_any = true;
                    if self.opts.print_limit > 0 && i + 1 == self.opts.print_limit as usize {
                        break;
                    }
                }
                root = &only.children;
            }
        }
        let total = if self.opts.mode == ChainMode::Fractal {
            parent
        } else {
            self.total
        };
        printed_any |= self.level(out, root, total, 1, 1, left)?;
        if printed_any {
            writeln!(out)?;
        }
        Ok(())
    }

    /// `__callchain__fprintf_graph`. Returns whether it printed anything.
    fn level(
        &self,
        out: &mut impl Write,
        nodes: &[ChainNode],
        total: u64,
        depth: usize,
        depth_mask: u64,
        left: usize,
    ) -> std::io::Result<bool> {
        let fractal = self.opts.mode == ChainMode::Fractal;
        let mut remaining = total;
        let mut new_mask = depth_mask;
        let mut printed = 0u32;
        let shown = if self.opts.print_limit > 0 {
            nodes.len().min(self.opts.print_limit as usize)
        } else {
            nodes.len()
        };
        for (k, child) in nodes.iter().enumerate().take(shown) {
            remaining = remaining.saturating_sub(child.period);
            let last = k + 1 == nodes.len();
            if last && (!fractal || remaining == 0) {
                new_mask &= !bit(depth - 1);
            }
            // The separator line keeps the old mask (the link to the next sibling).
            Self::margin(out, left)?;
            for i in 0..depth {
                write!(
                    out,
                    "{}",
                    if depth_mask & bit(i) != 0 {
                        "|          "
                    } else {
                        "           "
                    }
                )?;
            }
            writeln!(out)?;
            for (j, f) in child.frames.iter().enumerate() {
                self.line(out, child, f, depth, new_mask, j, total, left)?;
            }
            let child_total = if fractal {
                child.period - child.self_period
            } else {
                total
            };
            self.level(
                out,
                &child.children,
                child_total,
                depth + 1,
                new_mask | bit(depth),
                left,
            )?;
            printed += 1;
        }
        if fractal && remaining > 0 && remaining != total {
            new_mask &= !bit(depth - 1);
            let rem = ChainNode {
                frames: vec!["[...]".to_owned()],
                dso: String::new(),
                period: remaining,
                samples: 0,
                self_period: remaining,
                children: Vec::new(),
                order: (String::new(), 0),
            };
            self.line(out, &rem, "[...]", depth, new_mask, 0, total, left)?;
        }
        Ok(printed > 0)
    }

    /// `ipchain__fprintf_graph`: one frame of a node; the first shows the value.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &self,
        out: &mut impl Write,
        node: &ChainNode,
        name: &str,
        depth: usize,
        mask: u64,
        index: usize,
        total: u64,
        left: usize,
    ) -> std::io::Result<()> {
        Self::margin(out, left)?;
        for i in 0..depth {
            write!(out, "{}", if mask & bit(i) != 0 { "|" } else { " " })?;
            if index == 0 && i == depth - 1 {
                write!(out, "--")?;
                self.value(out, node, total)?;
                write!(out, "--")?;
            } else {
                write!(out, "          ")?;
            }
        }
        writeln!(out, "{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(chains: &[(&[&str], u64)]) -> (Vec<ChainNode>, Frames) {
        let mut frames = Frames::default();
        let mut t = ChainTree::default();
        for (chain, period) in chains {
            let ids: Vec<u32> = chain
                .iter()
                .map(|n| frames.id("x", Some(n), 0, 0, false))
                .collect();
            t.append(ids.into_iter(), *period, 1);
        }
        (t.compress(&frames), frames)
    }

    #[test]
    fn g_option_parses_perfs_common_forms() {
        let o = ChainOptions::parse("graph,0.5,caller").unwrap();
        assert_eq!(o.mode, ChainMode::Graph);
        assert_eq!(o.threshold, 0.5);
        assert_eq!(o.order, Some(ChainOrder::Caller));
        let o = ChainOptions::parse("callee").unwrap();
        assert_eq!(o.order, Some(ChainOrder::Callee));
        assert_eq!(o.threshold, 0.5);
        let o = ChainOptions::parse("fractal,2,10,callee,function,count").unwrap();
        assert_eq!(
            (o.mode, o.threshold, o.print_limit, o.value),
            (ChainMode::Fractal, 2.0, 10, ChainValue::Count)
        );
        assert_eq!(ChainOptions::parse("none").unwrap().mode, ChainMode::None);
        assert!(ChainOptions::parse("folded").is_err());
        assert!(ChainOptions::parse("sideways").is_err());
    }

    #[test]
    fn runs_merge_until_a_branch_or_an_end_like_perfs_radix_tree() {
        // a→b→c (3), a→b (2), a→d (1): [a] branches into [b] (which ends and goes on to
        // [c]) and [d]; order of insertion does not matter.
        for order in [[0, 1, 2], [2, 1, 0]] {
            let all: [(&[&str], u64); 3] =
                [(&["a", "b", "c"], 3), (&["a", "b"], 2), (&["a", "d"], 1)];
            let chains: Vec<(&[&str], u64)> = order.iter().map(|&i| all[i]).collect();
            let (nodes, _) = tree(&chains);
            assert_eq!(nodes.len(), 1);
            assert_eq!(nodes[0].frames, ["a"]);
            assert_eq!(nodes[0].period, 6);
            let kids = &nodes[0].children;
            assert_eq!(kids[0].frames, ["b"]);
            assert_eq!((kids[0].period, kids[0].self_period), (5, 2));
            assert_eq!(kids[0].children[0].frames, ["c"]);
            assert_eq!(kids[1].frames, ["d"]);
        }
        let (nodes, _) = tree(&[(&["a", "b", "c"], 1)]);
        assert_eq!(nodes[0].frames, ["a", "b", "c"]);
    }

    #[test]
    fn graph_drawing_matches_perfs_stdio_layout() {
        let (mut nodes, _) = tree(&[
            (&["main", "a", "leaf"], 60),
            (&["main", "b", "leaf"], 30),
            (&["main", "b"], 9),
            (&["main", "c"], 1),
        ]);
        prune(&mut nodes, 0.5, 100, false);
        let opts = ChainOptions::default();
        let d = Drawer {
            opts: &opts,
            total: 100,
            skip_first: false,
        };
        let mut out = Vec::new();
        d.entry(&mut out, &nodes, 100).unwrap();
        let text = String::from_utf8(out).unwrap();
        let want = "            |
            ---main
               |          
               |--60.00%--a
               |          leaf
               |          
               |--39.00%--b
               |          |          
               |           --30.00%--leaf
               |          
                --1.00%--c

";
        assert_eq!(text, want);
    }
}
