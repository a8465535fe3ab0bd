//! `perf-client record`: perf's flags, a perf.data that `perf report` reads.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context};
use perf_client::kernel::capture::Target;
use perf_client::perf_data::features::parse_cpu_list;
use perf_client::record::{record, RecordOptions};

#[derive(Debug, clap::Args)]
#[command(trailing_var_arg = true)]
pub struct Args {
    /// Event to record (repeat or comma-separate): cpu-clock, task-clock, page-faults,
    /// minor-faults, major-faults, context-switches, dummy, or a tracepoint subsystem:name.
    #[arg(
        short = 'e',
        long = "event",
        value_delimiter = ',',
        default_value = "cpu-clock"
    )]
    events: Vec<String>,
    /// Sample about FREQ times a second (default 4000; tracepoints: every event).
    #[arg(short = 'F', long = "freq", conflicts_with = "count")]
    freq: Option<u64>,
    /// Sample every COUNT events.
    #[arg(short = 'c', long = "count")]
    count: Option<u64>,
    /// Record callchains.
    #[arg(short = 'g')]
    callgraph: bool,
    /// Data pages per ring: a power of two, or a size with a B/K/M/G suffix (rounded up to
    /// a power of two of pages).
    #[arg(short = 'm', long = "mmap-pages", value_name = "PAGES", value_parser = parse_mmap_pages, default_value = "128")]
    pages: usize,
    /// System-wide: every task on every online CPU.
    #[arg(short = 'a', long = "all-cpus")]
    all_cpus: bool,
    /// Only these CPUs (e.g. 0-1,3).
    #[arg(short = 'C', long = "cpu", value_name = "CPUS")]
    cpu: Option<String>,
    /// Record an existing process (all its threads).
    #[arg(short = 'p', long = "pid", conflicts_with_all = ["tid", "all_cpus", "cpu"])]
    pid: Option<i32>,
    /// Record an existing thread.
    #[arg(short = 't', long = "tid", conflicts_with_all = ["all_cpus", "cpu"])]
    tid: Option<i32>,
    /// Output file (an existing one is kept as FILE.old).
    #[arg(short = 'o', long = "output", default_value = "perf.data")]
    output: PathBuf,
    /// Flight recorder: overwrite rings, written at the end and on SIGUSR2 (to
    /// FILE.<unix-ms>).
    #[arg(long)]
    overwrite: bool,
    /// Run the recorder with this SCHED_FIFO priority (1-99), like perf's -r: its wakeups
    /// then preempt other work on its CPU, which on a busy machine is what decides how
    /// much a small ring loses. The command keeps its own policy.
    #[arg(short = 'r', long = "realtime", value_name = "PRIO", value_parser = clap::value_parser!(u8).range(1..=99))]
    realtime: Option<u8>,
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
    /// The command to run and record (after --).
    #[arg(value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// perf's `-m` syntax: a page count, or a size with a suffix.
fn parse_mmap_pages(s: &str) -> Result<usize, String> {
    let page = 4096u64;
    let s = s.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('B') => (&s[..s.len() - 1], Some(1u64)),
        Some('K') => (&s[..s.len() - 1], Some(1 << 10)),
        Some('M') => (&s[..s.len() - 1], Some(1 << 20)),
        Some('G') => (&s[..s.len() - 1], Some(1 << 30)),
        _ => (s, None),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid mmap size {s:?}: expected pages or a size like 512K"))?;
    let pages = match mult {
        None => {
            if n == 0 || !n.is_power_of_two() {
                return Err(format!(
                    "the number of mmap pages must be a power of two, got {n}"
                ));
            }
            n
        }
        Some(m) => {
            let bytes = n.checked_mul(m).ok_or("mmap size overflows")?;
            let pages = bytes.div_ceil(page).max(1);
            pages
                .checked_next_power_of_two()
                .ok_or("mmap size too large")?
        }
    };
    usize::try_from(pages).map_err(|_| "mmap size too large".to_owned())
}

static DUMP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

extern "C" fn on_sigusr2(_sig: libc::c_int) {
    // Only an atomic load and store: async-signal-safe.
    if let Some(f) = DUMP.get() {
        f.store(true, Ordering::Relaxed);
    }
}

/// SIGUSR2 asks for a flight-recorder dump (SIGINT/SIGTERM stop: `capture::stop_on_interrupt`).
fn install_dump_handler() {
    for sig in [libc::SIGUSR2] {
        // SAFETY: `on_sigusr2` only performs an atomic store, which is async-signal-safe; the
        // sigaction struct is fully initialized.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_sigusr2 as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
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
    let command = (!args.command.is_empty()).then(|| args.command.clone());
    let target = if let Some(p) = args.pid {
        Target::Process(p)
    } else if let Some(t) = args.tid {
        Target::Thread(t)
    } else if args.all_cpus || args.cpu.is_some() {
        let cpus = match &args.cpu {
            Some(list) => {
                Some(parse_cpu_list(list).map_err(|e| anyhow::anyhow!("-C {list}: {e}"))?)
            }
            None => None,
        };
        Target::Cpus { cpus, command }
    } else if let Some(cmd) = command {
        Target::Command(cmd)
    } else {
        bail!(
            "nothing to record: give a command (perf-client record [OPTIONS] -- COMMAND), \
             -p PID, -t TID, -a or -C CPUS"
        );
    };
    let mut opts = RecordOptions::new(args.events.clone(), target);
    opts.period = args.count;
    opts.freq = args.freq;
    opts.callchain = args.callgraph;
    opts.data_pages = args.pages;
    opts.overwrite = args.overwrite;
    opts.realtime = args.realtime;
    opts.output = args.output.clone();
    opts.compression = args.compression;
    opts.cmdline = std::env::args().collect();
    opts.stop =
        perf_client::kernel::capture::stop_on_interrupt().context("installing SIGINT handler")?;
    let _ = DUMP.set(Arc::clone(&opts.dump));
    install_dump_handler();

    let tty = std::io::stderr().is_terminal() && !args.quiet;
    let s = record(&opts, |p| {
        if tty {
            eprint!(
                "\r[ perf-client record: {:>5.0} s, {} written, {} wakeups ]",
                p.elapsed.as_secs_f64(),
                human(p.bytes),
                p.wakeups
            );
        }
    })
    .context("recording failed")?;
    if tty {
        eprintln!();
    }
    if !args.no_buildid_cache {
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
        for d in &s.dumps {
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
        assert_eq!(parse(&["-m", "16", "--", "true"]).unwrap().pages, 16);
        assert_eq!(parse(&["-m", "512K", "--", "true"]).unwrap().pages, 128);
        assert_eq!(parse(&["-m", "5k", "--", "true"]).unwrap().pages, 2);
        assert!(parse(&["-m", "lots"]).is_err());
    }

    #[test]
    fn freq_and_count_are_exclusive_like_perf() {
        let e = parse(&["-F", "99", "-c", "1000", "--", "true"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn events_repeat_and_split_on_commas_and_the_command_follows() {
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
        assert_eq!(a.events, vec!["cpu-clock", "dummy", "sched:sched_switch"]);
        assert!(a.callgraph);
        assert_eq!(a.command, vec![OsString::from("ls"), OsString::from("-l")]);
        assert_eq!(a.output, PathBuf::from("perf.data"));
    }

    #[test]
    fn unknown_flags_are_usage_errors() {
        let e = parse(&["--bogus"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::UnknownArgument);
    }
}
