//! `perf-client soak`: the soak and fault test of the emulated kernel buffer across
//! processes (see `perf_ringbuf_tools::soak`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use perf_ringbuf_tools::soak::{self, consumer, producer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    /// Run the whole soak: start the producer and consumers, kill them, check.
    Orchestrator,
    /// Internal: the producer process.
    Producer,
    /// Internal: one consumer incarnation.
    Consumer,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Records to exchange.
    #[arg(short = 'n', long, default_value_t = 1_000_000_000)]
    records: u64,
    /// Times the consumer is killed with SIGKILL and restarted (one of them, when at
    /// least 2, lands between a state commit and the data_tail release).
    #[arg(short = 'k', long, default_value_t = 5)]
    kills: u32,
    /// Data pages of the emulated buffer (a power of two).
    #[arg(long, default_value_t = 64)]
    pages: usize,
    /// Seed of the kill timing (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Working directory for the socket and state files (default: a new one in /tmp).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "orchestrator", hide = true)]
    role: Role,
    #[arg(long, hide = true)]
    die_after_commit: Option<u64>,
    #[arg(long, hide = true)]
    gate_at: Option<u64>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("perf-ringbuf-soak-{}", std::process::id()))
    });
    match args.role {
        Role::Producer => {
            producer::run(&producer::ProducerConfig {
                socket: soak::socket_path(&dir),
                stats: soak::producer_stats_path(&dir),
                records: args.records,
                data_pages: args.pages,
                linger: Duration::from_secs(120),
                gate_at: args.gate_at,
                gate_file: soak::gate_path(&dir),
            })?;
            Ok(())
        }
        Role::Consumer => {
            let report = consumer::run(&consumer::ConsumerConfig {
                socket: soak::socket_path(&dir),
                state: soak::consumer_state_path(&dir),
                die_after_commit: args.die_after_commit,
            })?;
            println!("{}", soak::consumer_report_line(&report)?);
            Ok(())
        }
        Role::Orchestrator => {
            let seed = args.seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
            let config = soak::SoakConfig {
                exe: std::env::current_exe().context("path of perf-client")?,
                records: args.records,
                kills: args.kills,
                data_pages: args.pages,
                seed,
                dir,
                // SIGINT/SIGTERM end the soak through its cleanup, not in the middle.
                stop: Some(
                    perf_client::kernel::capture::stop_on_interrupt()
                        .context("install the SIGINT/SIGTERM handler")?,
                ),
            };
            let r = soak::run(&config)?;
            let mut out = std::io::stdout().lock();
            if args.json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                let c = &r.consumer;
                writeln!(out, "soak (seed {seed}): {:.1} s", r.seconds)?;
                writeln!(
                    out,
                    "  records attempted {}  written {}  read {}  lost {} (in {} LOST records)",
                    r.attempted, r.written, c.read, c.lost, c.lost_records
                )?;
                writeln!(
                    out,
                    "  consumer kills {}  sessions {}  redeliveries {}  duplicates {}  corrupt {}  gaps {}",
                    r.kills, c.sessions, c.redeliveries, c.duplicates, c.corrupt, c.gaps
                )?;
                writeln!(
                    out,
                    "  producer {} (SIGKILL); drained after its death {}",
                    r.producer_exit, c.drained_after_death
                )?;
                writeln!(
                    out,
                    "  producer after each handoff: fds {}..{} memfds {}..{} maps {}..{}",
                    r.producer_min.fds,
                    r.producer_max.fds,
                    r.producer_min.memfds,
                    r.producer_max.memfds,
                    r.producer_min.maps,
                    r.producer_max.maps
                )?;
                writeln!(
                    out,
                    "  last consumer before/after: fds {}/{} memfds {}/{} maps {}/{} memfd maps {}/{}",
                    r.consumer_before.fds,
                    r.consumer_after.fds,
                    r.consumer_before.memfds,
                    r.consumer_after.memfds,
                    r.consumer_before.maps,
                    r.consumer_after.maps,
                    r.consumer_before.memfd_maps,
                    r.consumer_after.memfd_maps
                )?;
                writeln!(
                    out,
                    "  accounting: {}",
                    if r.exact { "exact" } else { "WRONG" }
                )?;
                for f in &r.failures {
                    writeln!(out, "    {f}")?;
                }
            }
            if !r.exact {
                anyhow::bail!("soak accounting failed: {}", r.failures.join("; "));
            }
            Ok(())
        }
    }
}
