//! `perf-client demo`: the protocol end to end, no kernel involved.

use std::io::Write;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Record sizes in bytes, header included (multiples of 8, 16..=65528).
    #[arg(short = 's', long = "size", value_delimiter = ',', default_values_t = [16usize, 64, 256, 4096])]
    sizes: Vec<usize>,
    /// Records per size.
    #[arg(short = 'n', long, default_value_t = 2_000_000)]
    count: u64,
    /// Data area size in bytes (power of two).
    #[arg(long, default_value_t = 1 << 20)]
    data_size: u64,
    /// Records per data_head store.
    #[arg(long, default_value_t = 64)]
    batch: u32,
    /// Drop records when the ring is full (counted as lost) instead of waiting.
    #[arg(long)]
    lossy: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>8} {:>10} {:>10} {:>8} {:>8} {:>12} {:>10}",
        "size", "written", "read", "lost", "corrupt", "Mrec/s", "MB/s"
    )?;
    for &size in &args.sizes {
        let r = perf_ringbuf_tools::demo::run(
            size,
            args.count,
            args.data_size,
            args.batch,
            args.lossy,
        )?;
        writeln!(
            out,
            "{:>8} {:>10} {:>10} {:>8} {:>8} {:>12.2} {:>10.0}",
            r.record_size,
            r.written,
            r.read,
            r.lost,
            r.corrupt,
            r.records_per_sec() / 1e6,
            r.bytes_per_sec() / 1e6
        )?;
        if r.corrupt > 0 || r.read + r.lost != r.written + if args.lossy { r.lost } else { 0 } {
            anyhow::bail!("transfer of {size}-byte records was not exact: {r:?}");
        }
    }
    Ok(())
}
