//! `perf-client record`: perf's flags, a perf.data that `perf report` reads.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::Context;
use perf_client::kernel::capture;
use perf_client::kernel::event::perf_event_max_sample_rate;
use perf_client::kernel::select::Freq;
use perf_client::record::{record, RecordOptions};

use super::args::{EventArgs, RingArgs, TargetArgs};

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    #[command(flatten)]
    events: EventArgs,
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    ring: RingArgs,
    /// Record callchains: `fp` (frame pointers, as -g) or `dwarf[,SIZE]` (copy SIZE bytes
    /// of the user stack, default 8192, and the user registers with each sample, for
    /// DWARF unwinding in report and script; needs no frame pointers).
    #[arg(long = "call-graph", value_name = "fp|dwarf[,SIZE]", value_parser = parse_call_graph)]
    call_graph: Option<CallGraph>,
    /// Output file (an existing one is kept as FILE.old); `-`: perf's pipe format on
    /// stdout, written as the capture runs (each drain pass as it ends), as `perf record
    /// -o -`; a reader that goes away (`| head`) ends the recording and the command.
    #[arg(short = 'o', long = "output", default_value = "perf.data")]
    output: PathBuf,
    /// Flight recorder: overwrite rings, written at the end and on SIGUSR2 (to FILE.MS,
    /// MS the Unix time in milliseconds).
    #[arg(long)]
    overwrite: bool,
    /// Run the recorder with this SCHED_FIFO priority (1-99), like perf's -r: its wakeups
    /// then preempt other work on its CPU, which on a busy machine is what decides how
    /// much a small ring loses. The command keeps its own policy.
    #[arg(short = 'r', long = "realtime", value_name = "PRIO", value_parser = clap::value_parser!(u8).range(1..=99))]
    realtime: Option<u8>,
    /// Record context switches (attr.context_switch): PERF_RECORD_SWITCH, or
    /// SWITCH_CPU_WIDE with -a/-C, as perf record --switch-events.
    #[arg(long = "switch-events")]
    switch_events: bool,
    /// No progress or summary.
    #[arg(short = 'q', long = "quiet")]
    quiet: bool,
    /// Compress the records with zstd (PERF_RECORD_COMPRESSED), as perf's -z: -z alone is
    /// level 1, --compression-level=N (or -z=N) levels 1-22.
    #[arg(short = 'z', long = "compression-level", value_name = "N", num_args = 0..=1,
          require_equals = true, default_missing_value = "1",
          value_parser = clap::value_parser!(i32).range(1..=22))]
    compression: Option<i32>,
    /// Do not add the recorded objects (and the kernel's kallsyms) to the build-id cache
    /// ($PERF_BUILDID_DIR, else ~/.debug), as perf's -N.
    #[arg(short = 'N', long = "no-buildid-cache")]
    no_buildid_cache: bool,
    #[command(flatten)]
    continuous: super::record_out::ContinuousArgs,
    /// The command to run and record (after --); with -p/-t it runs meanwhile, unrecorded,
    /// and the recording ends when it exits (as perf does).
    #[arg(value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// `--call-graph`'s record modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallGraph {
    /// Frame pointers: the kernel walks the user stack.
    Fp,
    /// A copy of this many bytes of the user stack, unwound afterwards.
    Dwarf(u32),
}

/// perf's `--call-graph` syntax: `fp`, `dwarf`, `dwarf,SIZE` (SIZE rounded up to a
/// multiple of 8, at most 65528: a sample is at most 64 KiB).
fn parse_call_graph(s: &str) -> Result<CallGraph, String> {
    let mut parts = s.split(',');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("fp"), None, None) => Ok(CallGraph::Fp),
        (Some("dwarf"), ..) if !cfg!(target_arch = "x86_64") => {
            Err("--call-graph dwarf is implemented for x86-64 only (its register set)".to_owned())
        }
        (Some("dwarf"), None, None) => Ok(CallGraph::Dwarf(
            perf_client::analysis::unwind::DEFAULT_STACK_DUMP,
        )),
        (Some("dwarf"), Some(size), None) => {
            const MAX: u64 = 65528;
            let n: u64 = size
                .trim()
                .parse()
                .map_err(|_| format!("invalid stack dump size {size:?}"))?;
            let n = n.div_ceil(8).saturating_mul(8);
            if n == 0 || n > MAX {
                return Err(format!(
                    "incorrect stack dump size {size} (1 to {MAX} bytes)"
                ));
            }
            Ok(CallGraph::Dwarf(n as u32))
        }
        _ => Err(format!(
            "unknown call graph mode {s:?}: expected fp, dwarf or dwarf,SIZE (lbr is not supported)"
        )),
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.3} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.3} MB", b / 1e6)
    } else {
        format!("{:.3} kB", b / 1e3)
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let targets = args.target.spec(&args.command);
    let target = targets.target()?;
    let (spec, warning) = args.events.spec().resolved(perf_event_max_sample_rate())?;
    if let Some(w) = warning {
        eprintln!("{w}");
    }
    let mut opts = RecordOptions::new(spec.names.clone(), target);
    opts.command = targets.side_command();
    opts.period = spec.count;
    opts.freq = match spec.freq {
        Some(Freq::Hz(hz)) => Some(hz),
        _ => None,
    };
    opts.callchain = spec.callchain || args.call_graph.is_some();
    if let Some(CallGraph::Dwarf(size)) = args.call_graph {
        opts.dwarf_stack_user = Some(size);
    }
    opts.data_pages = args.ring.pages;
    opts.overwrite = args.overwrite;
    opts.realtime = args.realtime;
    opts.output = args.output.clone();
    opts.compression = args.compression;
    opts.switch_events = args.switch_events;
    opts.cmdline = std::env::args().collect();
    opts.stop = capture::stop_on_interrupt().context("installing the SIGINT handler")?;
    opts.dump = capture::dump_on_sigusr2().context("installing the SIGUSR2 handler")?;
    let consumer = args.continuous.start(&mut opts, args.quiet)?;
    let pipe = perf_client::record::is_stdout(&args.output);
    if pipe && args.compression.is_some() {
        anyhow::bail!("-z is not supported with -o - (pipe mode is written uncompressed)");
    }

    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let s = match record(&opts, |p| {
        if tty {
            eprint!(
                "\r[ perf-client record: {:>5.0} s, {} written, {} wakeups ]",
                p.elapsed.as_secs_f64(),
                human(p.bytes),
                p.wakeups
            );
        }
    }) {
        // `-o - | head`: the reader has what it wanted; the command was stopped.
        Err(e) if pipe && e.is_broken_pipe() => return Ok(()),
        r => r.context("recording failed")?,
    };
    if tty {
        eprintln!();
    }
    // Pipe mode keeps no file to take the objects from (nor does perf's).
    if !args.no_buildid_cache && !pipe {
        // As perf record: keep the recorded objects so that a rebuild does not orphan
        // the file's addresses. A failure costs names later, not the recording.
        match perf_client::record::buildid_cache::add_from_file(&s.path) {
            Ok(Some(c)) if !args.quiet && !c.skipped.is_empty() => {
                for (obj, why) in &c.skipped {
                    eprintln!("perf-client record: not in the build-id cache: {obj}: {why}");
                }
            }
            Ok(_) => {}
            Err(e) => eprintln!("perf-client record: build-id cache not updated: {e}"),
        }
    }
    if !args.quiet {
        eprintln!(
            "[ perf-client record: Woken up {} times to write data ]",
            s.capture.wakeups
        );
        // With --switch-output the consumer announces dumps with the rotated files.
        for d in s.dumps.iter().filter(|_| consumer.is_none()) {
            eprintln!("[ perf-client record: Dump {} ]", d.display());
        }
        eprintln!(
            "[ perf-client record: Captured and wrote {} {} ({} records, {} samples) ]",
            human(s.file_bytes),
            s.path.display(),
            s.records,
            s.samples
        );
        let reported = s.lost_in_records;
        if s.lost > 0 || reported > 0 {
            eprintln!(
                "[ perf-client record: Lost {} samples (kernel PERF_FORMAT_LOST count; {} in PERF_RECORD_LOST records) ]",
                s.lost, reported
            );
        } else {
            eprintln!("[ perf-client record: Lost 0 samples ]");
        }
    }
    let unreadable = s.capture.snapshot_unreadable_bytes();
    if unreadable > 0 {
        eprintln!(
            "perf-client record: warning: {unreadable} bytes of overwrite snapshots followed a corrupt record and were not written"
        );
    }
    if let Some(c) = consumer {
        c.finish(opts, s.samples)?;
    }
    match s.exit_status {
        Some(perf_client::kernel::child::ExitStatus::Exited(0)) | None => Ok(()),
        Some(st) => {
            if !args.quiet {
                eprintln!("perf-client record: the command ended with {st:?}");
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        Cli::try_parse_from(std::iter::once("record").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn mmap_pages_must_be_a_power_of_two_or_a_size() {
        let e = parse(&["-m", "3", "--", "true"]).unwrap_err().to_string();
        assert!(e.contains("power of two"), "{e}");
        assert_eq!(parse(&["-m", "16", "--", "true"]).unwrap().ring.pages, 16);
        // Sizes convert with this system's page size (the library's tests pin 4 KiB and
        // 64 KiB pages).
        let k512 = parse(&["-m", "512K", "--", "true"]).unwrap().ring.pages;
        assert_eq!(
            k512,
            perf_client::kernel::select::parse_mmap_pages("512K").unwrap()
        );
        assert!(parse(&["-m", "lots"]).is_err());
    }

    #[test]
    fn freq_and_count_are_exclusive_like_perf() {
        let e = parse(&["-F", "99", "-c", "1000", "--", "true"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn events_repeat_and_reach_the_library_whole_and_the_command_follows() {
        let a = parse(&[
            "-e",
            "cpu-clock,dummy",
            "-e",
            "sched:sched_switch",
            "-g",
            "--",
            "ls",
            "-l",
        ])
        .unwrap();
        // The comma list is split by the library's brace-aware parser, not by clap.
        assert_eq!(
            a.events.events,
            vec!["cpu-clock,dummy", "sched:sched_switch"]
        );
        assert!(a.events.callgraph);
        assert_eq!(a.command, vec![OsString::from("ls"), OsString::from("-l")]);
        assert_eq!(a.output, PathBuf::from("perf.data"));
    }

    #[test]
    fn call_graph_takes_fp_or_dwarf_with_perfs_stack_sizes() {
        let a = parse(&["--call-graph", "dwarf", "--", "true"]).unwrap();
        assert_eq!(a.call_graph, Some(CallGraph::Dwarf(8192)));
        let a = parse(&["--call-graph", "dwarf,4093", "--", "true"]).unwrap();
        assert_eq!(a.call_graph, Some(CallGraph::Dwarf(4096)));
        let a = parse(&["--call-graph=fp", "--", "true"]).unwrap();
        assert_eq!(a.call_graph, Some(CallGraph::Fp));
        assert!(parse(&["--call-graph", "dwarf,0", "--", "true"]).is_err());
        assert!(parse(&["--call-graph", "dwarf,70000", "--", "true"]).is_err());
        assert!(parse(&["--call-graph", "lbr", "--", "true"]).is_err());
        assert!(parse(&["-g", "--", "true"]).unwrap().call_graph.is_none());
    }

    #[test]
    fn unknown_flags_are_usage_errors() {
        let e = parse(&["--bogus"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
