//! Flags shared by `record` and `stream` (`#[command(flatten)]`): what to sample and what
//! to trace. They only hold strings and numbers; `perf_client::kernel::select` turns them
//! into events and a target, with perf's defaults.

use std::ffi::OsString;

use perf_client::kernel::select::{self, EventSpec, Freq, TargetSpec};

/// `-e`, `-c`, `-F`, `-g`.
#[derive(Debug, Clone, clap::Args)]
pub struct EventArgs {
    /// Events to sample, in perf's syntax (repeat or comma-separate): cpu-clock,
    /// task-clock, page-faults, minor-faults, major-faults, context-switches, dummy,
    /// cycles, ..., a tracepoint subsystem:name or pattern (sched:*); modifiers
    /// :u :k :h (levels) :G :H (guest/host) :p/:pp/:ppp (precise_ip) :S (leader sampling)
    /// :D (pinned); terms NAME/period=N/ or /freq=N/; groups {a,b} (one group_fd), with
    /// modifiers after the brace ({cpu-clock,page-faults}:S).
    #[arg(short = 'e', long = "event", default_value = "cpu-clock")]
    pub events: Vec<String>,
    /// Sample every COUNT events (attr.sample_period).
    #[arg(short = 'c', long = "count")]
    pub count: Option<u64>,
    /// Sample about FREQ times a second (attr.sample_freq), or `max`
    /// (kernel.perf_event_max_sample_rate, which also caps higher values). Default 4000;
    /// tracepoints: every event.
    #[arg(short = 'F', long = "freq", conflicts_with = "count")]
    pub freq: Option<Freq>,
    /// Record callchains (PERF_SAMPLE_CALLCHAIN).
    #[arg(short = 'g')]
    pub callgraph: bool,
}

impl EventArgs {
    /// The library's event choice for these flags.
    pub fn spec(&self) -> EventSpec {
        EventSpec {
            count: self.count,
            freq: self.freq,
            callchain: self.callgraph,
            ..EventSpec::new(self.events.clone())
        }
    }
}

/// `-p`, `-t`, `-a`, `-C`.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Every thread of this running process.
    #[arg(short = 'p', long = "pid", conflicts_with_all = ["tid", "all_cpus", "cpu"])]
    pub pid: Option<i32>,
    /// This running thread.
    #[arg(short = 't', long = "tid", conflicts_with_all = ["all_cpus", "cpu"])]
    pub tid: Option<i32>,
    /// System-wide: every task on every online CPU.
    #[arg(short = 'a', long = "all-cpus")]
    pub all_cpus: bool,
    /// Only these CPUs (e.g. 0-1,3), every task on them.
    #[arg(short = 'C', long = "cpu", value_name = "CPUS")]
    pub cpu: Option<String>,
}

impl TargetArgs {
    /// The library's target choice for these flags and the command after `--`.
    pub fn spec(&self, command: &[OsString]) -> TargetSpec {
        TargetSpec {
            pid: self.pid,
            tid: self.tid,
            all_cpus: self.all_cpus,
            cpus: self.cpu.clone(),
            command: command.to_vec(),
        }
    }
}

/// `-m`.
#[derive(Debug, Clone, clap::Args)]
pub struct RingArgs {
    /// Data pages per ring (one control page is added): a power of two, or a size with a
    /// B/K/M/G suffix, rounded up to a power of two of pages.
    #[arg(short = 'm', long = "mmap-pages", value_name = "PAGES", value_parser = mmap_pages, default_value = "128")]
    pub pages: usize,
}

/// perf's `-m` syntax (a power-of-two page count, or a size such as 512K), for clap.
fn mmap_pages(s: &str) -> Result<usize, String> {
    select::parse_mmap_pages(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        events: EventArgs,
        #[command(flatten)]
        target: TargetArgs,
    }

    fn parse(argv: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("x").chain(argv.iter().copied()))
    }

    #[test]
    fn freq_and_count_are_exclusive_like_perf() {
        let e = parse(&["-F", "99", "-c", "1000"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn freq_takes_a_number_or_max() {
        assert_eq!(parse(&["-F", "max"]).unwrap().events.freq, Some(Freq::Max));
        assert_eq!(
            parse(&["-F", "99"]).unwrap().events.freq,
            Some(Freq::Hz(99))
        );
        assert!(parse(&["-F", "often"]).is_err());
    }

    #[test]
    fn event_lists_reach_the_library_whole_so_groups_keep_their_commas() {
        let a = parse(&["-e", "{cpu-clock,page-faults}:S", "-e", "dummy"]).unwrap();
        assert_eq!(
            a.events.spec().names,
            vec!["{cpu-clock,page-faults}:S", "dummy"]
        );
    }

    #[test]
    fn pid_excludes_the_other_targets() {
        for other in [["-t", "1"], ["-C", "0"]] {
            let mut argv = vec!["-p", "1"];
            argv.extend(other);
            let e = parse(&argv).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ArgumentConflict);
        }
        let a = parse(&["-p", "1", "-e", "page-faults,dummy"]).unwrap();
        assert_eq!(a.events.spec().names, vec!["page-faults,dummy"]);
        assert_eq!(a.target.spec(&[]).pid, Some(1));
    }
}
