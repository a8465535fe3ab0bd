//! `perf-client report [-i FILE] [--flamegraph OUT.svg]`: overhead by command, DSO and
//! symbol, like `perf report --stdio`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use perf_client::analysis::report;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input file (`-`: perf's pipe format on stdin).
    #[arg(short = 'i', long = "input", default_value = "perf.data")]
    input: PathBuf,
    /// Also write a flame graph (SVG) of the callchains (record with -g) to this file.
    #[arg(long, value_name = "OUT.svg")]
    flamegraph: Option<PathBuf>,
    /// Accepted for perf compatibility: the output is always text.
    #[arg(long)]
    stdio: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let file = super::open_input(&args.input)?;
    if let Some(r) = file.recovered() {
        eprintln!("perf-client report: {}: {r}", args.input.display());
    }
    let rep = report::build(&file)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    rep.print(&mut out)?;
    out.flush()?;
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
