//! The `perf-client` command line: a thin layer over the `perf_client` library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli;

/// perf-style memory-mapped record rings: capture, inspect and measure.
#[derive(Debug, Parser)]
#[command(name = "perf-client", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Two threads exchange checksummed records through an in-process ring; prints throughput.
    Demo(cli::demo::Args),
    /// Records events into a perf.data file that `perf report` reads (like `perf record`).
    Record(cli::record::Args),
    /// Prints the samples of a perf.data file, one per line (like `perf script`).
    Script(cli::script::Args),
    /// Overhead by command, shared object and symbol of a perf.data file (like `perf report`).
    Report(cli::report::Args),
    /// A tight getppid loop (the capture yardstick's workload).
    #[command(hide = true)]
    Storm(cli::storm::Args),
    /// Capture perf events live and print one line per record as it is read.
    Stream(cli::stream::Args),
    /// Measures ring mapping semantics live: real perf and BPF rings next to the emulation.
    Semantics(cli::semantics::Args),
    /// Soak and faults: producer and consumer processes, consumer SIGKILLed and restarted, exact accounting.
    Soak(cli::soak::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => cli::demo::run(args),
        Command::Record(args) => cli::record::run(args),
        Command::Script(args) => cli::script::run(args),
        Command::Report(args) => cli::report::run(args),
        Command::Storm(args) => cli::storm::run(args),
        Command::Stream(args) => cli::stream::run(args),
        Command::Semantics(args) => cli::semantics::run(args),
        Command::Soak(args) => cli::soak::run(args),
    };
    cli::finish(result)
}
