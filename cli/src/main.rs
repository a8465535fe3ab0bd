//! The `perf-client` command line: a thin layer over the `perf_client` library.

#![deny(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;

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
    Demo(commands::demo::Args),
    /// Records events into a perf.data file that `perf report` reads (like `perf record`).
    Record(commands::record::Args),
    /// Prints the samples of a perf.data file, one per line (like `perf script`).
    Script(commands::script::Args),
    /// Overhead by command, shared object and symbol of a perf.data file (like `perf report`).
    Report(commands::report::Args),
    /// Writes a perf.data as pprof, Firefox Profiler JSON or folded stacks; pushes pprof to Pyroscope.
    Export(commands::export::Args),
    /// A tight getppid loop (the capture yardstick's workload).
    #[command(hide = true)]
    Storm(commands::storm::Args),
    /// Capture perf events live and print one line per record as it is read.
    Stream(commands::stream::Args),
    /// Measures ring mapping semantics live: real perf and BPF rings next to the emulation.
    Semantics(commands::semantics::Args),
    /// Soak and faults: producer and consumer processes, consumer SIGKILLed and restarted, exact accounting.
    Soak(commands::soak::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(args),
        Command::Record(args) => commands::record::run(args),
        Command::Script(args) => commands::script::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Storm(args) => commands::storm::run(args),
        Command::Stream(args) => commands::stream::run(args),
        Command::Semantics(args) => commands::semantics::run(args),
        Command::Soak(args) => commands::soak::run(args),
    };
    commands::finish(result)
}
