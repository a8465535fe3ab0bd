//! `perf-client storm` (hidden): a tight `getppid` loop, the capture yardstick's workload.

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of getppid calls.
    #[arg(short = 'n', default_value_t = 5_000_000)]
    calls: u64,
    /// Pin to this CPU first.
    #[arg(long)]
    cpu: Option<usize>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let r = perf_ringbuf_tools::storm::syscall_storm(args.calls, args.cpu)?;
    eprintln!(
        "storm: {} getppid calls, cpu_time {:.6} s",
        r.calls,
        r.cpu_time.as_secs_f64()
    );
    Ok(())
}
