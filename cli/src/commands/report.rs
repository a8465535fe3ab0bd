//! `perf-client report [-i FILE] [--children|--no-children] [-g ...] [--sort KEYS]
//! [--percent-limit P] [--inline|--no-inline] [--json] [--flamegraph OUT.svg]`: overhead by command, DSO and
//! symbol with callchain trees, like `perf report --stdio`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use perf_client::analysis::callgraph::ChainOptions;
use perf_client::analysis::report::{self, ReportOptions, SortKey};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file (`-`: perf's pipe format on stdin).
    #[arg(short = 'i', long = "input", default_value = "perf.data")]
    input: PathBuf,
    /// Also write a flame graph (SVG) of the callchains (record with -g) to this file.
    #[arg(long, value_name = "OUT.svg")]
    flamegraph: Option<PathBuf>,
    /// Accepted for perf compatibility: the output is text unless --json.
    #[arg(long)]
    stdio: bool,
    /// The report, with its callchain trees, as one JSON document.
    #[arg(long)]
    json: bool,
    /// Add a Children column (period of the samples with the entry anywhere in their
    /// chain) and sort by it; the default when the file has callchains, as perf.
    #[arg(long, overrides_with = "no_children")]
    children: bool,
    /// Only the Self (Overhead) column.
    #[arg(long = "no-children", overrides_with = "children")]
    no_children: bool,
    /// Callchain display, perf's syntax: graph|fractal|none, a percent threshold, a print
    /// limit, caller|callee, function, percent|period|count (e.g. `-g caller`,
    /// `-g graph,0.5,callee`). Default graph,0.5 (caller with children, else callee).
    #[arg(short = 'g', long = "call-graph", value_name = "MODE", num_args = 0..=1,
          default_missing_value = "graph", value_parser = ChainOptions::parse)]
    call_graph: Option<ChainOptions>,
    /// Sort and group by these keys: comm, dso, sym, pid, tid, cpu (default comm,dso,sym).
    #[arg(short = 's', long = "sort", value_name = "KEYS", value_delimiter = ',',
          value_parser = parse_sort_key)]
    sort: Option<Vec<SortKey>>,
    /// Do not show entries under this percent (nor callchain branches, as perf).
    #[arg(long = "percent-limit", value_name = "PERCENT")]
    percent_limit: Option<f64>,
    /// Show the calls inlined at each frame unwound by `--call-graph dwarf` as frames
    /// (and Children entries) of their own, `name (inlined)`, from the object's DWARF
    /// (perf's `--inline`, the default).
    #[arg(long, overrides_with = "no_inline")]
    inline: bool,
    /// Do not show inlined calls (perf's `--no-inline`).
    #[arg(long, overrides_with = "inline")]
    no_inline: bool,
}

fn parse_sort_key(s: &str) -> Result<SortKey, String> {
    SortKey::parse_list(s)?
        .pop()
        .ok_or_else(|| "empty --sort key".to_owned())
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = super::open_input(&args.input)?;
    if let Some(r) = file.recovered() {
        eprintln!("perf-client report: {}: {r}", args.input.display());
    }
    let mut opts = ReportOptions::perf_defaults();
    if args.children {
        opts.children = Some(true);
    } else if args.no_children {
        opts.children = Some(false);
    }
    if let Some(g) = args.call_graph {
        opts.chain = g;
    }
    opts.sort = args.sort;
    opts.inline = !args.no_inline;
    if let Some(p) = args.percent_limit {
        opts.percent_limit = p;
        // perf's --percent-limit also sets the callchain threshold.
        opts.chain.threshold = p;
    }
    let rep = report::build_with(&file, &opts)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer(&mut out, &rep.to_json())?;
        writeln!(out)?;
    } else {
        rep.print(&mut out)?;
    }
    out.flush()?;
    if let Some(line) = rep.unwind.describe() {
        eprintln!("perf-client report: {line}");
    }
    let samples: u64 = rep.events.iter().map(|e| e.samples).sum();
    for line in rep.unread.describe(samples) {
        eprintln!("perf-client report: {line}");
    }
    if samples == 0 && !rep.unread.uninterpreted.is_empty() {
        anyhow::bail!(
            "{}: no sample could be read: its records are of types this reader does not interpret",
            args.input.display()
        );
    }
    if let Some(svg) = &args.flamegraph {
        if rep.folded.is_empty() {
            anyhow::bail!("no samples to draw in {}", args.input.display());
        }
        let f =
            std::fs::File::create(svg).with_context(|| format!("creating {}", svg.display()))?;
        rep.flamegraph(
            std::io::BufWriter::new(f),
            &format!("{}", args.input.display()),
        )
        .with_context(|| format!("writing {}", svg.display()))?;
        eprintln!("flame graph written to {}", svg.display());
    }
    Ok(())
}
