//! `perf-client semantics`: the mapping-semantics table, measured live.

use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data pages per ring (a power of two): every ring maps 1 + N pages.
    #[arg(long, default_value_t = 1024)]
    pages: usize,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let report = perf_client::semantics::measure(args.pages)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        write!(out, "{}", report.to_text())?;
    }
    Ok(())
}
