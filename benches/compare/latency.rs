//! The latency group: round trip and one-way latency of one message in flight, per record
//! size, for perf-ringbuf (heap rings, and emulated buffers across two processes), rtrb,
//! crossbeam `ArrayQueue` and a bare cache-line ping-pong (the floor). Subjects are
//! verified byte for byte, then measured in interleaved rounds; each round records
//! [`ROUND_TRIPS`] round trips per subject and takes their p50, p99 and p99.9; the table
//! shows the median of each over the rounds, and the targets are same-round ratios of
//! the p50 round trip.

use std::fmt::Write as _;

use crate::common::latency::{lat_catalogue, LatSample, LatSubject, PING_PONG, SIZES};
use crate::common::subjects::Role;
use crate::report::{json_num, json_str, svg_log_grid, svg_size_axes};
use crate::stats::Summary;

/// Recorded round trips per subject per round.
pub const ROUND_TRIPS: usize = 40_000;
/// Unrecorded round trips before them.
const WARM: usize = 2_000;

/// Percentiles of one run, in nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct Pcts {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
}

fn pcts(v: &mut [u64]) -> Pcts {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64;
    Pcts {
        p50: at(0.5),
        p99: at(0.99),
        p999: at(0.999),
    }
}

/// One subject's rounds.
#[derive(Debug, Clone)]
pub struct LatRow {
    pub size: usize,
    pub name: &'static str,
    pub role: Role,
    /// Per round: round trip and one-way percentiles.
    pub rtt: Vec<Pcts>,
    pub one_way: Vec<Pcts>,
}

impl LatRow {
    fn median(v: &[Pcts], f: impl Fn(&Pcts) -> f64) -> Summary {
        Summary::of(&v.iter().map(f).collect::<Vec<_>>()).expect("rounds")
    }
}

/// A same-round ratio of p50 round trips, with its target (at most).
#[derive(Debug, Clone)]
pub struct LatRatio {
    pub size: usize,
    pub subject: &'static str,
    pub peer: &'static str,
    pub ratio: Summary,
    /// None: informative (against the commit-word variant).
    pub target_max: Option<f64>,
}

impl LatRatio {
    fn verdict(&self) -> &'static str {
        match self.target_max {
            Some(t) if self.ratio.median <= t => "met",
            Some(_) => "MISSED",
            None => "",
        }
    }

    fn target(&self) -> String {
        self.target_max.map_or(String::new(), |t| format!("≤ {t}×"))
    }
}

/// The group's results.
#[derive(Debug, Clone)]
pub struct LatencyRun {
    pub rounds: usize,
    pub rows: Vec<LatRow>,
    pub ratios: Vec<LatRatio>,
    pub seconds: f64,
}

/// Verifies every subject, then runs `rounds` interleaved rounds.
pub fn run(rounds: usize, filter: Option<&str>) -> LatencyRun {
    let started = std::time::Instant::now();
    let mut subjects: Vec<LatSubject> = lat_catalogue()
        .into_iter()
        .filter(|s| filter.is_none_or(|f| format!("{}B {}", s.size, s.name).contains(f)))
        .map(LatSubject::new)
        .collect();
    for s in &mut subjects {
        let sample = s.run(2_000, 100, true);
        assert_eq!(sample.rtt.len(), 2_000);
        eprintln!("  latency: verified {}B {}", s.spec.size, s.spec.name);
    }
    let mut per: Vec<(Vec<Pcts>, Vec<Pcts>)> = vec![(Vec::new(), Vec::new()); subjects.len()];
    for round in 0..rounds {
        let k = subjects.len();
        for j in 0..k {
            let i = (j + round) % k;
            let LatSample {
                mut rtt,
                mut one_way,
            } = subjects[i].run(ROUND_TRIPS, WARM, false);
            per[i].0.push(pcts(&mut rtt));
            per[i].1.push(pcts(&mut one_way));
        }
        eprintln!("  latency round {}/{rounds} done", round + 1);
    }
    let rows: Vec<LatRow> = subjects
        .iter()
        .zip(per)
        .map(|(s, (rtt, one_way))| LatRow {
            size: s.spec.size,
            name: s.spec.name,
            role: s.spec.role,
            rtt,
            one_way,
        })
        .collect();
    let ratios = ratios(&rows);
    LatencyRun {
        rounds,
        rows,
        ratios,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Each of ours against the floor (at most 1.2×), against each peer of its size (at
/// most 1×) and against the commit-word variant (informative), p50 round trip, same
/// round.
fn ratios(rows: &[LatRow]) -> Vec<LatRatio> {
    let mut out = Vec::new();
    let floor = rows.iter().find(|r| r.name == PING_PONG);
    for ours in rows.iter().filter(|r| r.role == Role::Ours) {
        let mut others: Vec<(&LatRow, Option<f64>)> = Vec::new();
        if let Some(f) = floor {
            others.push((f, Some(1.2)));
        }
        for p in rows
            .iter()
            .filter(|r| r.role == Role::Peer && r.size == ours.size)
        {
            others.push((p, Some(1.0)));
        }
        for v in rows
            .iter()
            .filter(|r| r.role == Role::Variant && r.size == ours.size)
        {
            others.push((v, None));
        }
        for (other, target_max) in others {
            let per_round: Vec<f64> = ours
                .rtt
                .iter()
                .zip(&other.rtt)
                .map(|(a, b)| a.p50 / b.p50)
                .collect();
            out.push(LatRatio {
                size: ours.size,
                subject: ours.name,
                peer: other.name,
                ratio: Summary::of(&per_round).expect("rounds"),
                target_max,
            });
        }
    }
    out
}

fn ns(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} µs", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

fn size_label(r: &LatRow) -> String {
    if r.name == PING_PONG {
        "1 line".into()
    } else {
        format!("{} B", r.size)
    }
}

/// The group as plain text.
pub fn text(run: &LatencyRun) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nlatency (ns, medians over {} rounds of {ROUND_TRIPS} round trips, {:.0} s)",
        run.rounds, run.seconds
    );
    let _ = writeln!(
        o,
        "{:<7} {:<44} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}",
        "size", "subject", "RTT p50", "p99", "p99.9", "1-way 50", "p99", "p99.9"
    );
    for r in &run.rows {
        let m = |v: &[crate::latency::Pcts], f: fn(&Pcts) -> f64| LatRow::median(v, f).median;
        let _ = writeln!(
            o,
            "{:<7} {:<44} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}",
            size_label(r),
            r.name,
            ns(m(&r.rtt, |p| p.p50)),
            ns(m(&r.rtt, |p| p.p99)),
            ns(m(&r.rtt, |p| p.p999)),
            ns(m(&r.one_way, |p| p.p50)),
            ns(m(&r.one_way, |p| p.p99)),
            ns(m(&r.one_way, |p| p.p999)),
        );
    }
    for x in &run.ratios {
        let _ = writeln!(
            o,
            "{:>4} B {:<44} vs {:<32} p50 RTT {:>6.2}x (IQR {:.2}-{:.2})  {}  {}",
            x.size,
            x.subject,
            x.peer,
            x.ratio.median,
            x.ratio.q1,
            x.ratio.q3,
            x.target(),
            x.verdict()
        );
    }
    o
}

/// JSON rows.
pub fn json_rows(run: &LatencyRun) -> Vec<String> {
    let mut rows = Vec::new();
    for r in &run.rows {
        let m = |v: &[Pcts], f: fn(&Pcts) -> f64| json_num(LatRow::median(v, f).median);
        rows.push(format!(
            "{{\"group\":\"latency\",\"size\":{},\"subject\":{},\"unit\":\"ns\",\
             \"rtt_p50\":{},\"rtt_p99\":{},\"rtt_p999\":{},\
             \"one_way_p50\":{},\"one_way_p99\":{},\"one_way_p999\":{},\"rounds\":{}}}",
            r.size,
            json_str(r.name),
            m(&r.rtt, |p| p.p50),
            m(&r.rtt, |p| p.p99),
            m(&r.rtt, |p| p.p999),
            m(&r.one_way, |p| p.p50),
            m(&r.one_way, |p| p.p99),
            m(&r.one_way, |p| p.p999),
            r.rtt.len()
        ));
    }
    for x in &run.ratios {
        rows.push(format!(
            "{{\"group\":\"latency\",\"size\":{},\"subject\":{},\"peer\":{},\
             \"ratio\":{},\"ratio_is\":\"p50 round trip, ours/peer\",\"target_max\":{},\"verdict\":{}}}",
            x.size,
            json_str(x.subject),
            json_str(x.peer),
            json_num(x.ratio.median),
            x.target_max.map_or("null".into(), json_num),
            json_str(x.verdict())
        ));
    }
    rows
}

/// The target rows for the ratio table of BENCHMARKS.md.
pub fn markdown_target_rows(run: &LatencyRun) -> String {
    let mut o = String::new();
    for x in &run.ratios {
        let _ = writeln!(
            o,
            "| latency {} B | {} | {} (p50 round trip) | **{:.2}×** | {:.2}–{:.2} | {:.2}–{:.2} | {} | {} |",
            x.size,
            crate::report::md(x.subject),
            crate::report::md(x.peer),
            x.ratio.median,
            x.ratio.q1,
            x.ratio.q3,
            x.ratio.min,
            x.ratio.max,
            x.target(),
            x.verdict()
        );
    }
    o
}

/// The section of BENCHMARKS.md.
pub fn markdown(run: &LatencyRun) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\n## Latency\n");
    let _ = writeln!(
        o,
        "One message in flight between the two CPUs and echoed back \
         (`benches/common/latency.rs`): the requester stamps `CLOCK_MONOTONIC` into the \
         message, the responder writes the one-way latency (its receipt minus that stamp) \
         into the echo, the requester reads the clock when the echo arrives (round trip). \
         {ROUND_TRIPS} round trips per subject per round, {} interleaved rounds; each cell \
         is the median over the rounds of that round's percentile, in nanoseconds. Every \
         figure includes one clock read (about 20 ns). perf-ringbuf messages are records \
         of the size shown, the 8-byte header included; rtrb and `ArrayQueue` carry \
         `[u8; N]` items; the ping-pong moves one cache line each way. The emulated-buffer \
         subject runs its responder in a child process: each process owns the buffer it \
         writes and maps the other's (`handoff::send` / `RemoteBuffer::receive`, `PfnMap`).\n",
        run.rounds
    );
    let _ = writeln!(o, "![latency against record size](benches/latency.svg)\n");
    let _ = writeln!(
        o,
        "| size | subject | role | RTT p50 | RTT p99 | RTT p99.9 | one-way p50 | one-way p99 | one-way p99.9 |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
    );
    for r in &run.rows {
        let m = |v: &[Pcts], f: fn(&Pcts) -> f64| ns(LatRow::median(v, f).median);
        let _ = writeln!(
            o,
            "| {} | {} | {} | **{}** | {} | {} | {} | {} | {} |",
            size_label(r),
            crate::report::md(r.name),
            crate::report::role(r.role),
            m(&r.rtt, |p| p.p50),
            m(&r.rtt, |p| p.p99),
            m(&r.rtt, |p| p.p999),
            m(&r.one_way, |p| p.p50),
            m(&r.one_way, |p| p.p99),
            m(&r.one_way, |p| p.p999),
        );
    }
    o
}

const COLORS: [&str; 8] = [
    "#000000", "#d62728", "#ff7f0e", "#9467bd", "#1f77b4", "#2ca02c", "#8c564b", "#17becf",
];

/// The plot: p50 (solid) and p99 (dashed) round trip against record size, log y.
pub fn svg(run: &LatencyRun) -> String {
    let (w, h) = (860.0, 480.0);
    let (left, right, top, bottom) = (70.0, 300.0, 40.0, 60.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let xs: Vec<f64> = SIZES.iter().map(|&s| s as f64).collect();
    let (xmin, xmax) = (xs[0].log2(), xs[xs.len() - 1].log2());
    let med = |r: &LatRow, f: fn(&Pcts) -> f64| LatRow::median(&r.rtt, f).median;
    let vals: Vec<f64> = run
        .rows
        .iter()
        .flat_map(|r| [med(r, |p| p.p50), med(r, |p| p.p99)])
        .filter(|v| *v > 0.0)
        .collect();
    let ymin = vals.iter().copied().fold(f64::MAX, f64::min).max(1.0);
    let ymax = vals.iter().copied().fold(0.0, f64::max).max(ymin * 10.0);
    let (lmin, lmax) = (ymin.log10().floor(), ymax.log10().ceil());
    let x = |size: f64| left + (size.log2() - xmin) / (xmax - xmin) * pw;
    let y = |v: f64| top + ph - (v.log10() - lmin) / (lmax - lmin) * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{left}" y="22" font-size="15">Round-trip latency (ns; p50 solid, p99 dashed; median of {} rounds)</text>"#,
        run.rounds
    );
    svg_log_grid(&mut o, (lmin, lmax), left, pw, y);
    svg_size_axes(&mut o, &xs, &x, (left, top, pw, ph, h), "ns (log scale)");
    let mut names: Vec<&'static str> = Vec::new();
    for r in &run.rows {
        if !names.contains(&r.name) {
            names.push(r.name);
        }
    }
    for (k, name) in names.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let rows: Vec<&LatRow> = run.rows.iter().filter(|r| r.name == *name).collect();
        let p50: fn(&Pcts) -> f64 = |p| p.p50;
        let p99: fn(&Pcts) -> f64 = |p| p.p99;
        for (f, dash) in [(p50, ""), (p99, r#" stroke-dasharray="6 3""#)] {
            let pts: Vec<(f64, f64)> = if *name == PING_PONG {
                // The floor has no record size: a horizontal line across the plot.
                let v = med(rows[0], f);
                vec![(x(xs[0]), y(v)), (x(xs[xs.len() - 1]), y(v))]
            } else {
                rows.iter()
                    .map(|r| (x(r.size as f64), y(med(r, f))))
                    .collect()
            };
            let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                o,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
                path.join(" ")
            );
            if *name != PING_PONG && dash.is_empty() {
                for (a, b) in &pts {
                    let _ = writeln!(
                        o,
                        r#"<circle cx="{a:.1}" cy="{b:.1}" r="4" fill="{color}"/>"#
                    );
                }
            }
        }
        let ly = top + 10.0 + 20.0 * k as f64;
        let lx = left + pw + 20.0;
        let _ = writeln!(
            o,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            crate::report::md(name)
        );
    }
    let _ = writeln!(o, "</svg>");
    o
}
