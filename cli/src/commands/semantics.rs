//! `perf-client semantics`: the mapping-semantics table, measured live.

use std::io::Write;

use perf_ringbuf::emulation::PageLayout;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Data pages per ring (a power of two): every ring maps 1 + N pages.
    #[arg(long, default_value_t = 1024)]
    pages: usize,
    /// Print the table as JSON.
    #[arg(long)]
    json: bool,
    /// Lay the emulated buffers' pages out contiguously instead of scattered like rb_alloc.
    #[arg(long)]
    contiguous: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let layout = if args.contiguous {
        PageLayout::Contiguous
    } else {
        PageLayout::Scattered { seed: 1 }
    };
    let report = perf_ringbuf_tools::semantics::measure_with(args.pages, layout)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        write!(out, "{}", report.to_text())?;
    }
    Ok(())
}
