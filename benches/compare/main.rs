//! The comparison table: every subject of `benches/common` in interleaved rounds, medians,
//! spread, and each ratio to its peer measured in the same round.
//!
//! ```text
//! cargo bench --bench compare                  # print the table (a few minutes)
//! cargo bench --bench compare -- --json        # rows {group, subject, value, unit, peer, ratio}
//! cargo bench --bench compare -- --write       # also write BENCHMARKS.md and the SVG plots
//! cargo bench --bench compare -- --only mapping  # one group: `throughput`, `latency` or `mapping`
//! cargo bench --bench compare -- --only mapping --mapping-svg /tmp/m.svg --markdown-to /tmp/m.md
//!                                               # its plot and a Markdown preview, BENCHMARKS.md untouched
//! ```
//!
//! Other options: `--rounds N` (default 11, at least 9 for the targets), `--run-ms MS`
//! (length of one timed run, default 120), `--filter TEXT` (subjects whose group/name
//! contains TEXT, in both groups; a group with no match is not run), `--quiet-wait-ms MS` (how long to wait for an idle machine before each
//! round, default 500), `--nice` (run at nice -20; needs root or CAP_SYS_NICE), `--fifo`
//! (run as SCHED_FIFO priority 10; needs root; other work on the two CPUs then gets only
//! the kernel's RT-throttling window, 5%, while the table runs).
//!
//! Method (after `shared/research/throughput-anchors.md` §1): producer and consumer pinned
//! to two CPUs; every subject verified byte for byte, then calibrated so that one run takes
//! `--run-ms`; each round runs every subject once, starting at a rotating position; before
//! a round the harness waits (bounded) for the machine to be idle; a run in which either
//! thread spent 0.5% or more of its time runnable but not running is rejected and re-run
//! (up to 3 times; the least-disturbed attempt is kept and counted as noisy). Per group,
//! two rows are derived per round: the fastest limit (`cross-core limit (best handoff)`)
//! and the fastest peer. A moving subject whose median same-round ratio to that limit is
//! above 1.05 is a measurement error: the command then exits with status 2 and leaves
//! BENCHMARKS.md alone (the run's report goes to `target/compare-failed.md`).
//!
//! The `latency` group (round trip and one-way, see `latency.rs`) and the `mapping` group
//! (time to map 1 + 2^n pages, see `mapping.rs`) run after the throughput rounds, each in
//! its own interleaved rounds, in a few minutes together.

#[path = "../common/mod.rs"]
mod common;
// Parsing and capture rows measured by their own commands, from benches/results/.
mod external;
// Round-trip and one-way latency: perf-ringbuf (heap, across processes), rtrb, ArrayQueue.
mod latency;
// Time to map 1 + 2^n pages: emulation strategies, perf ring, BPF ringbuf, MAP_POPULATE.
mod mapping;
mod report;
mod stats;

use std::time::{Duration, Instant};

use common::subjects::{Role, BEST_LIMIT, FASTEST_PEER};
use common::{catalogue, Check, Sample, Subject};

use report::{Measured, RatioRow};
use stats::Summary;

/// Options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    pub json: bool,
    pub write: bool,
    pub rounds: usize,
    pub run: Duration,
    pub filter: Option<String>,
    /// Run one group only: `throughput`, `latency` or `mapping`.
    pub only: Option<String>,
    /// Also write the mapping plot here (without touching BENCHMARKS.md).
    pub mapping_svg: Option<String>,
    /// Write the Markdown report here instead of BENCHMARKS.md (a preview of any run).
    pub markdown_to: Option<String>,
    pub quiet_wait: Duration,
    /// Run the bench threads at nice -20 (root), so that other work on a shared machine
    /// preempts them less.
    pub nice: bool,
    /// Run the bench threads as SCHED_FIFO (root): nothing else in the guest runs on
    /// the two CPUs during a run except in the kernel's 5% RT-throttling window.
    pub fifo: bool,
    pub args: Vec<String>,
}

fn parse_args() -> Options {
    let mut o = Options {
        json: false,
        write: false,
        rounds: 11,
        run: common::TARGET_RUN,
        filter: None,
        only: None,
        mapping_svg: None,
        markdown_to: None,
        quiet_wait: Duration::from_millis(500),
        nice: false,
        fifo: false,
        args: Vec::new(),
    };
    o.args = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .unwrap_or_else(|| panic!("{name} needs a value"))
        };
        match a.as_str() {
            "--bench" => continue, // added by `cargo bench`
            "--json" => o.json = true,
            "--write" => o.write = true,
            "--nice" => o.nice = true,
            "--fifo" => o.fifo = true,
            "--rounds" => o.rounds = value("--rounds").parse().expect("--rounds N"),
            "--run-ms" => {
                o.run = Duration::from_millis(value("--run-ms").parse().expect("--run-ms MS"))
            }
            "--filter" => o.filter = Some(value("--filter")),
            "--only" => {
                let g = value("--only");
                assert!(
                    g == "throughput" || g == "latency" || g == "mapping",
                    "--only throughput|latency|mapping, not {g:?}"
                );
                o.only = Some(g);
            }
            "--mapping-svg" => o.mapping_svg = Some(value("--mapping-svg")),
            "--markdown-to" => o.markdown_to = Some(value("--markdown-to")),
            "--quiet-wait-ms" => {
                o.quiet_wait = Duration::from_millis(value("--quiet-wait-ms").parse().expect("MS"))
            }
            other => panic!("unknown argument {other:?}; see benches/compare/main.rs"),
        }
    }
    o.rounds = o.rounds.max(1);
    assert!(
        !(o.write && o.only.is_some()),
        "--write regenerates BENCHMARKS.md from every group: no --only (--markdown-to previews)"
    );
    o
}

/// CPU time counters of the whole machine from `/proc/stat`: (busy, total) jiffies.
fn cpu_times() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Waits until the machine was less than 10% busy over 100 ms, for at most `limit`.
/// Returns the last busy fraction seen.
fn wait_for_quiet(limit: Duration) -> f64 {
    let t0 = Instant::now();
    loop {
        let (b0, t0j) = cpu_times();
        std::thread::sleep(Duration::from_millis(100));
        let (b1, t1j) = cpu_times();
        let busy = (b1 - b0) as f64 / ((t1j - t0j).max(1)) as f64;
        if busy < 0.10 || t0.elapsed() >= limit {
            return busy;
        }
    }
}

/// Picks a record count so that one run takes about `target`.
fn calibrate(subject: &mut Subject, target: Duration) -> u64 {
    let mut n: u64 = 1 << 12;
    loop {
        let s = subject.run(n, Check::Sequence);
        if s.elapsed >= Duration::from_millis(20) || n >= 1 << 34 {
            let per = s.elapsed.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per) as u64).max(1);
        }
        n *= 4;
    }
}

/// Adds, for each group with rows of `role`, a row named `name` holding the per-round
/// maximum over them: the fastest limit (the fastest these bytes crossed between the cores
/// in that round), or the fastest peer.
fn add_max_rows(
    measured: &mut Vec<Measured>,
    role: Role,
    name: &'static str,
    family: &'static str,
) {
    let mut groups: Vec<usize> = measured.iter().map(|m| m.spec.group).collect();
    groups.dedup();
    for g in groups {
        let rows: Vec<&Measured> = measured
            .iter()
            .filter(|m| m.spec.group == g && m.spec.role == role)
            .collect();
        let Some(first) = rows.first() else {
            continue;
        };
        let rounds = first.per_round.len();
        let best = |f: &dyn Fn(&Measured) -> &[f64]| -> Vec<f64> {
            (0..rounds)
                .map(|r| rows.iter().map(|m| f(m)[r]).fold(f64::MIN, f64::max))
                .collect()
        };
        let per_round = best(&|m| &m.per_round);
        let rec = best(&|m| &m.per_round_mrec);
        let gbs = best(&|m| &m.per_round_gbs);
        // Which row was the fastest, per round.
        let winners: Vec<&'static str> = (0..rounds)
            .map(|r| {
                rows.iter()
                    .max_by(|a, b| a.per_round[r].total_cmp(&b.per_round[r]))
                    .map_or("", |m| m.spec.name)
            })
            .collect();
        let mut spec = first.spec.clone();
        spec.name = name;
        spec.family = family;
        spec.peers = Vec::new();
        let row = Measured {
            spec,
            unit: first.unit,
            value: Summary::of(&per_round).expect("rounds"),
            mrec: Summary::of(&rec).expect("rounds").median,
            gbs: Summary::of(&gbs).expect("rounds").median,
            per_round,
            per_round_mrec: rec,
            per_round_gbs: gbs,
            records_per_run: 0,
            noisy: rows.iter().map(|m| m.noisy).max().unwrap_or(0),
            retries: 0,
            derived_from: winners,
        };
        let at = measured
            .iter()
            .rposition(|m| m.spec.group == g && m.spec.role == role)
            .expect("a row of the role");
        measured.insert(at + 1, row);
    }
}

/// Median same-round ratio above which a subject "beats" the limit: a measurement error.
const LIMIT_TOLERANCE: f64 = 1.05;

/// Every moving subject (ours, peers, the variant) against the best limit of its group:
/// `(group, subject, median ratio)` for those above [`LIMIT_TOLERANCE`].
fn beaten_limits(measured: &[Measured]) -> Vec<(usize, &'static str, f64)> {
    let mut out = Vec::new();
    for m in measured {
        if !matches!(m.spec.role, Role::Ours | Role::Peer | Role::Variant)
            || !m.derived_from.is_empty()
        {
            continue;
        }
        let Some(limit) = measured
            .iter()
            .find(|o| o.spec.group == m.spec.group && o.spec.name == BEST_LIMIT)
        else {
            continue;
        };
        let ratios: Vec<f64> = m
            .per_round
            .iter()
            .zip(&limit.per_round)
            .map(|(a, b)| a / b)
            .collect();
        let median = Summary::of(&ratios).expect("ratios").median;
        if median > LIMIT_TOLERANCE {
            out.push((m.spec.group, m.spec.name, median));
        }
    }
    out
}

const MAX_ATTEMPTS: usize = 3;
const MAX_DELAY_FRACTION: f64 = 0.005;

fn main() {
    if let Ok(fds) = std::env::var(common::latency::ECHO_ENV) {
        // This process is the responder of the cross-process latency subject.
        common::latency::echo_process(&fds);
        return;
    }
    let opts = parse_args();
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    let load_before = loadavg();
    let run_group = |g: &str| opts.only.as_deref().is_none_or(|o| o == g);
    let specs: Vec<_> = catalogue()
        .into_iter()
        .filter(|_| run_group("throughput"))
        .filter(|s| {
            opts.filter
                .as_ref()
                .is_none_or(|f| format!("{}B {}", s.group, s.name).contains(f.as_str()))
        })
        .collect();
    let map_filter = opts.filter.as_deref();
    let run_mapping = run_group("mapping")
        && common::mapping::map_catalogue()
            .iter()
            .any(|s| map_filter.is_none_or(|f| s.name.contains(f)));
    if opts.nice {
        // Threads spawned later inherit the calling thread's nice value.
        // SAFETY: plain syscall; `who` 0 = the calling thread (Linux nice is per thread).
        let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -20) };
        if r != 0 {
            eprintln!(
                "compare: --nice: setpriority: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    if opts.fifo {
        let param = libc::sched_param { sched_priority: 10 };
        // SAFETY: plain syscall on the calling thread with a valid `sched_param`; threads
        // spawned later inherit the policy.
        let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
        if r != 0 {
            eprintln!(
                "compare: --fifo: sched_setscheduler: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    let (cpu_p, cpu_c) = common::affinity::cpu_pair();
    eprintln!(
        "compare: {} subjects, {} rounds of {} ms runs; producer on CPU {cpu_p}, consumer on CPU {cpu_c}",
        specs.len(),
        opts.rounds,
        opts.run.as_millis()
    );

    // Where the two vCPUs sit: the median of 5 probes of 20k round trips each.
    let mut rtts: Vec<f64> = (0..5)
        .map(|_| common::affinity::ping_pong_rtt(20_000).as_secs_f64() * 1e9)
        .collect();
    rtts.sort_by(f64::total_cmp);
    let rtt_ns = rtts[2];
    eprintln!("  cache-line ping-pong between the two CPUs: {rtt_ns:.0} ns round trip");

    let mut subjects: Vec<(Subject, u64)> = Vec::new();
    for spec in specs {
        let mut s = Subject::new(spec);
        s.verify();
        let n = calibrate(&mut s, opts.run);
        eprintln!(
            "  verified and calibrated {}B {}: {n} records/run",
            s.spec.group, s.spec.name
        );
        subjects.push((s, n));
    }

    // samples[i][round]
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); subjects.len()];
    let mut noisy = vec![0usize; subjects.len()];
    let mut retries = vec![0usize; subjects.len()];
    let mut busy_before = Vec::new();
    let started = Instant::now();
    // No throughput subject (`--only mapping`, or a filter): no rounds to wait for.
    let throughput_rounds = if subjects.is_empty() { 0 } else { opts.rounds };
    for round in 0..throughput_rounds {
        busy_before.push(wait_for_quiet(opts.quiet_wait));
        let k = subjects.len();
        for j in 0..k {
            let i = (j + round) % k; // each round starts one subject later
            let (subject, n) = &mut subjects[i];
            let mut best: Option<Sample> = None;
            for attempt in 0..MAX_ATTEMPTS {
                let s = subject.run(*n, Check::Sequence);
                if attempt > 0 {
                    retries[i] += 1;
                }
                let better = best.is_none_or(|b| s.delay_fraction() < b.delay_fraction());
                if better {
                    best = Some(s);
                }
                if s.delay_fraction() < MAX_DELAY_FRACTION {
                    break;
                }
            }
            let best = best.expect("at least one attempt");
            if best.delay_fraction() >= MAX_DELAY_FRACTION {
                noisy[i] += 1;
            }
            samples[i].push(best);
        }
        eprintln!(
            "  round {}/{} done ({:.0}% busy before it, {:.0} s so far)",
            round + 1,
            opts.rounds,
            100.0 * busy_before[round],
            started.elapsed().as_secs_f64()
        );
    }

    // Per-round values in each group's unit.
    let value = |group: usize, s: &Sample| {
        if group <= 64 {
            s.records_per_sec() / 1e6
        } else {
            s.bytes_per_sec() / 1e9
        }
    };
    let measured: Vec<Measured> = subjects
        .iter()
        .enumerate()
        .map(|(i, (s, n))| {
            let g = s.spec.group;
            let vals: Vec<f64> = samples[i].iter().map(|x| value(g, x)).collect();
            let rec: Vec<f64> = samples[i]
                .iter()
                .map(|x| x.records_per_sec() / 1e6)
                .collect();
            let gbs: Vec<f64> = samples[i].iter().map(|x| x.bytes_per_sec() / 1e9).collect();
            Measured {
                spec: s.spec.clone(),
                unit: if g <= 64 { "M rec/s" } else { "GB/s" },
                value: Summary::of(&vals).expect("samples"),
                mrec: Summary::of(&rec).expect("samples").median,
                gbs: Summary::of(&gbs).expect("samples").median,
                per_round: vals,
                per_round_mrec: rec.clone(),
                per_round_gbs: gbs.clone(),
                records_per_run: *n,
                noisy: noisy[i],
                retries: retries[i],
                derived_from: Vec::new(),
            }
        })
        .collect();
    let mut measured = measured;
    add_max_rows(
        &mut measured,
        Role::Limit,
        BEST_LIMIT,
        "cross-core limit (best handoff of the round)",
    );
    add_max_rows(
        &mut measured,
        Role::Peer,
        FASTEST_PEER,
        "fastest peer of the round",
    );
    let beaten = beaten_limits(&measured);
    let mut ratios = Vec::new();
    for m in &measured {
        for p in &m.spec.peers {
            let Some(peer) = measured
                .iter()
                .find(|o| o.spec.group == m.spec.group && o.spec.name == p.peer)
            else {
                continue; // filtered out
            };
            let per_round: Vec<f64> = m
                .per_round
                .iter()
                .zip(&peer.per_round)
                .map(|(a, b)| a / b)
                .collect();
            let summary = Summary::of(&per_round).expect("ratios");
            ratios.push(RatioRow {
                group: m.spec.group,
                subject: m.spec.name,
                peer: p.peer,
                ratio: summary,
                target: p.min,
            });
        }
    }
    let run_latency = run_group("latency")
        && common::latency::lat_catalogue()
            .iter()
            .any(|s| map_filter.is_none_or(|f| format!("{}B {}", s.size, s.name).contains(f)));
    let latency = run_latency.then(|| {
        eprintln!("compare: latency group");
        latency::run(opts.rounds, map_filter)
    });
    let mapping = run_mapping.then(|| {
        eprintln!("compare: mapping group");
        mapping::run(opts.rounds, map_filter)
    });
    let run = report::Run {
        opts: opts.clone(),
        measured,
        ratios,
        busy_before,
        seconds: started.elapsed().as_secs_f64(),
        cpus: (cpu_p, cpu_c),
        rtt_ns,
        mapping,
        latency,
        load: (load_before, loadavg()),
    };
    if opts.json {
        println!("{}", report::json(&run));
    } else {
        println!("{}", report::text_table(&run));
    }
    if let (Some(path), Some(m)) = (&opts.mapping_svg, &run.mapping) {
        std::fs::write(path, mapping::svg(m)).expect("write the mapping SVG plot");
        eprintln!("wrote {path}");
    }
    if let Some(path) = &opts.markdown_to {
        std::fs::write(path, report::markdown(&run)).expect("write the Markdown preview");
        eprintln!("wrote {path}");
    }
    if !beaten.is_empty() {
        // A subject faster than the fastest bare copy of the same bytes is a harness that
        // does not reach the machine's limit (or a subject that skips work): nothing from
        // this run goes into BENCHMARKS.md.
        let path = format!("{}/target/compare-failed.md", env!("CARGO_MANIFEST_DIR"));
        let _ = std::fs::write(&path, report::markdown(&run));
        eprintln!("\ncompare: MEASUREMENT ERROR: a subject beat the cross-core limit by more than {:.0}%:", (LIMIT_TOLERANCE - 1.0) * 100.0);
        for (g, name, r) in &beaten {
            eprintln!("  {g} B {name}: {r:.2}x the best limit of the round (median)");
        }
        eprintln!("BENCHMARKS.md not written; this run's report is in {path}");
        std::process::exit(2);
    }
    if opts.write {
        let root = env!("CARGO_MANIFEST_DIR");
        let md = format!("{root}/BENCHMARKS.md");
        let svg = format!("{root}/benches/throughput.svg");
        let map_svg = format!("{root}/benches/mapping.svg");
        let lat_svg = format!("{root}/benches/latency.svg");
        if let Some(l) = &run.latency {
            std::fs::write(&lat_svg, latency::svg(l)).expect("write the latency SVG plot");
        }
        std::fs::write(&md, report::markdown(&run)).expect("write BENCHMARKS.md");
        std::fs::write(&svg, report::svg(&run)).expect("write the SVG plot");
        if let Some(m) = &run.mapping {
            std::fs::write(&map_svg, mapping::svg(m)).expect("write the mapping SVG plot");
        }
        eprintln!("wrote {md}, {svg} and {map_svg}");
    }
}
