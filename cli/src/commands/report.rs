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
    let rep = report::build(&file)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    rep.print(&mut out)?;
    out.flush()?;
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
