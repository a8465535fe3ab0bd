//! The table as text, Markdown (BENCHMARKS.md), JSON rows, and an SVG plot.

use std::fmt::Write as _;

use crate::common::subjects::{Role, Spec, BATCH, CAPACITY_BYTES};
use crate::stats::Summary;
use crate::Options;

/// One subject's results.
#[derive(Debug, Clone)]
pub struct Measured {
    pub spec: Spec,
    /// "M rec/s" for 16- and 64-byte groups, "GB/s" above.
    pub unit: &'static str,
    pub value: Summary,
    /// Median records per second (millions) and bytes per second (1e9).
    pub mrec: f64,
    pub gbs: f64,
    pub per_round: Vec<f64>,
    pub per_round_mrec: Vec<f64>,
    pub per_round_gbs: Vec<f64>,
    pub records_per_run: u64,
    /// Rounds whose kept run was still disturbed (run-queue delay >= 0.5%).
    pub noisy: usize,
    /// Extra attempts made because a run was disturbed.
    pub retries: usize,
    /// For a derived row (best limit, fastest peer): the row that was fastest, per round.
    pub derived_from: Vec<&'static str>,
}

/// A same-round ratio.
#[derive(Debug, Clone)]
pub struct RatioRow {
    pub group: usize,
    pub subject: &'static str,
    pub peer: &'static str,
    pub ratio: Summary,
    pub target: Option<f64>,
}

impl RatioRow {
    fn verdict(&self) -> &'static str {
        // A subject above the limit never gets here: `compare` refuses the run (main.rs,
        // `beaten_limits`).
        match self.target {
            Some(t) if self.ratio.median >= t => "met",
            Some(_) => "MISSED",
            None => "",
        }
    }
}

/// Everything a report needs.
#[derive(Debug)]
pub struct Run {
    pub opts: Options,
    pub measured: Vec<Measured>,
    pub ratios: Vec<RatioRow>,
    pub busy_before: Vec<f64>,
    pub seconds: f64,
    pub cpus: (usize, usize),
    /// Cache-line round trip between the two CPUs, before the rounds.
    pub rtt_ns: f64,
    /// The mapping group, when it ran.
    pub mapping: Option<crate::mapping::MappingRun>,
    /// The latency group, when it ran.
    pub latency: Option<crate::latency::LatencyRun>,
    /// `/proc/loadavg` (1, 5, 15 minutes) when the run started and when it ended.
    pub load: (String, String),
}

pub(crate) fn role(r: Role) -> &'static str {
    match r {
        Role::Ours => "ours",
        Role::Peer => "peer",
        Role::Limit => "limit",
        Role::Scale => "scale",
        Role::Variant => "variant",
    }
}

fn command(run: &Run) -> String {
    let mut c = String::from("cargo bench --bench compare");
    if !run.opts.args.is_empty() {
        c.push_str(" -- ");
        c.push_str(&run.opts.args.join(" "));
    }
    c
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The plain-text table printed by default.
pub fn text_table(run: &Run) -> String {
    let mut out = String::new();
    if !run.measured.is_empty() {
        out.push_str(&throughput_text(run));
    }
    if let Some(l) = &run.latency {
        out.push_str(&crate::latency::text(l));
    }
    if let Some(m) = &run.mapping {
        out.push_str(&crate::mapping::text(m));
    }
    if run.opts.only.is_none() {
        // Parsing and capture rows from benches/results/ (see external.rs).
        out.push_str(&crate::external::text());
    }
    out
}

fn throughput_text(run: &Run) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<6} {:<36} {:<6} {:>8} {:<8} {:>15} {:>17} {:>9} {:>7} {:>6}",
        "group", "subject", "role", "median", "unit", "IQR", "min-max", "M rec/s", "GB/s", "noisy"
    );
    for m in &run.measured {
        let v = &m.value;
        let _ = writeln!(
            out,
            "{:<6} {:<36} {:<6} {:>8} {:<8} {:>15} {:>17} {:>9} {:>7} {:>3}/{:<2}",
            format!("{} B", m.spec.group),
            m.spec.name,
            role(m.spec.role),
            fmt(v.median),
            m.unit,
            format!("{}-{}", fmt(v.q1), fmt(v.q3)),
            format!("{}-{}", fmt(v.min), fmt(v.max)),
            fmt(m.mrec),
            fmt(m.gbs),
            m.noisy,
            v.n
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<6} {:<34} {:<36} {:>7} {:>13} {:>13} {:>7}  verdict",
        "group", "subject", "vs peer (same round)", "ratio", "IQR", "min-max", "target"
    );
    for r in &run.ratios {
        let x = &r.ratio;
        let _ = writeln!(
            out,
            "{:<6} {:<34} {:<36} {:>7.2} {:>13} {:>13} {:>7}  {}",
            format!("{} B", r.group),
            r.subject,
            r.peer,
            x.median,
            format!("{:.2}-{:.2}", x.q1, x.q3),
            format!("{:.2}-{:.2}", x.min, x.max),
            r.target.map_or(String::new(), |t| format!(">={t}")),
            r.verdict()
        );
    }
    let _ = writeln!(
        out,
        "\n{} rounds, {:.0} s; ping-pong RTT {:.0} ns; machine busy before rounds: {}",
        run.opts.rounds,
        run.seconds,
        run.rtt_ns,
        busy_list(run)
    );
    out
}

fn busy_list(run: &Run) -> String {
    run.busy_before
        .iter()
        .map(|b| format!("{:.0}%", 100.0 * b))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` as a JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `v` as a JSON number (`null` when not finite).
pub(crate) fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.6}")
    } else {
        "null".into()
    }
}

/// JSON array of rows `{group, subject, value, unit, peer, ratio, ...}`: one row per
/// subject with `peer: null`, then one per same-round ratio (`value` is the subject's).
pub fn json(run: &Run) -> String {
    let mut rows = Vec::new();
    for m in &run.measured {
        rows.push(format!(
            "{{\"group\":{},\"subject\":{},\"value\":{},\"unit\":{},\"peer\":null,\"ratio\":null,\
             \"role\":{},\"q1\":{},\"q3\":{},\"min\":{},\"max\":{},\"rounds\":{},\"noisy\":{},\
             \"mrec_per_s\":{},\"gb_per_s\":{}}}",
            json_str(&format!("{} B", m.spec.group)),
            json_str(m.spec.name),
            json_num(m.value.median),
            json_str(m.unit),
            json_str(role(m.spec.role)),
            json_num(m.value.q1),
            json_num(m.value.q3),
            json_num(m.value.min),
            json_num(m.value.max),
            m.value.n,
            m.noisy,
            json_num(m.mrec),
            json_num(m.gbs),
        ));
    }
    for r in &run.ratios {
        let m = run
            .measured
            .iter()
            .find(|m| m.spec.group == r.group && m.spec.name == r.subject)
            .expect("ratio of a measured subject");
        rows.push(format!(
            "{{\"group\":{},\"subject\":{},\"value\":{},\"unit\":{},\"peer\":{},\"ratio\":{},\
             \"ratio_q1\":{},\"ratio_q3\":{},\"target\":{},\"verdict\":{}}}",
            json_str(&format!("{} B", r.group)),
            json_str(r.subject),
            json_num(m.value.median),
            json_str(m.unit),
            json_str(r.peer),
            json_num(r.ratio.median),
            json_num(r.ratio.q1),
            json_num(r.ratio.q3),
            r.target.map_or("null".into(), json_num),
            json_str(r.verdict()),
        ));
    }
    if let Some(l) = &run.latency {
        rows.extend(crate::latency::json_rows(l));
    }
    if let Some(m) = &run.mapping {
        rows.extend(crate::mapping::json_rows(m));
    }
    if run.opts.only.is_none() {
        // Parsing and capture rows from benches/results/ (see external.rs).
        rows.extend(crate::external::json_rows());
    }
    format!("[\n  {}\n]", rows.join(",\n  "))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cache = |idx: u32| {
        std::fs::read_to_string(format!(
            "/sys/devices/system/cpu/cpu0/cache/index{idx}/size"
        ))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
    };
    format!(
        "{cpu}, {cpus} CPUs (L1d {}, L2 {}), Linux {kernel}, {rustc}",
        cache(0),
        cache(2)
    )
}

/// A name for a Markdown table cell (`ArrayQueue<u64>` would otherwise be read as HTML).
pub(crate) fn md(name: &str) -> String {
    name.replace('<', "&lt;").replace('>', "&gt;")
}

/// BENCHMARKS.md.
pub fn markdown(run: &Run) -> String {
    let mut o = String::new();
    let date = std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d %H:%M UTC")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let _ = writeln!(o, "# Benchmarks\n");
    let _ = writeln!(
        o,
        "Generated by `{}` ({} rounds, {:.0} s, {date}).\n",
        command(run),
        run.opts.rounds,
        run.seconds
    );
    let _ = writeln!(o, "**Machine:** {}.  ", machine());
    let _ = writeln!(
        o,
        "Producer pinned to CPU {}, consumer to CPU {}; cache-line ping-pong between them: \
         {:.0} ns round trip. Machine busy before each round: {}.  ",
        run.cpus.0,
        run.cpus.1,
        run.rtt_ns,
        busy_list(run)
    );
    let _ = writeln!(
        o,
        "Load average (1, 5, 15 min) when the run started: {}; when it ended: {}. {}\n",
        run.load.0,
        run.load.1,
        shared_note(&run.load.0)
    );
    let _ = writeln!(
        o,
        "![throughput against record size](benches/throughput.svg)\n"
    );
    let _ = writeln!(o, "## Same-round ratios and the targets of issue 15\n");
    let _ = writeln!(
        o,
        "| record | subject | vs peer | ratio (median) | IQR | min–max | target | verdict |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|");
    for r in &run.ratios {
        let x = &r.ratio;
        let _ = writeln!(
            o,
            "| {} B | {} | {} | **{:.2}×** | {:.2}–{:.2} | {:.2}–{:.2} | {} | {} |",
            r.group,
            md(r.subject),
            md(r.peer),
            x.median,
            x.q1,
            x.q3,
            x.min,
            x.max,
            r.target.map_or(String::new(), |t| format!("≥ {t}×")),
            r.verdict()
        );
    }
    if let Some(l) = &run.latency {
        o.push_str(&crate::latency::markdown_target_rows(l));
    }
    if let Some(m) = &run.mapping {
        o.push_str(&crate::mapping::markdown_target_rows(m));
    }
    let _ = writeln!(o, "\n## Throughput\n");
    let _ = writeln!(
        o,
        "Medians over the rounds; value in the group's unit (records per second for 16- and \
         64-byte records, bytes per second above). \"noisy\" counts rounds whose kept run was \
         still disturbed by other work after {} attempts.\n",
        3
    );
    let _ = writeln!(
        o,
        "| record | subject | role | median | unit | IQR | min–max | M rec/s | GB/s | noisy | re-runs | records/run |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for m in &run.measured {
        let v = &m.value;
        let _ = writeln!(
            o,
            "| {} B | {} | {} | **{}** | {} | {}–{} | {}–{} | {} | {} | {}/{} | {} | {} |",
            m.spec.group,
            md(m.spec.name),
            role(m.spec.role),
            fmt(v.median),
            m.unit,
            fmt(v.q1),
            fmt(v.q3),
            fmt(v.min),
            fmt(v.max),
            fmt(m.mrec),
            fmt(m.gbs),
            m.noisy,
            v.n,
            m.retries,
            m.records_per_run
        );
    }
    let _ = writeln!(o, "\n## What is measured\n");
    let _ = writeln!(
        o,
        "* Every two-thread subject runs its producer and consumer on different CPUs, busy-spins \
         when full or empty, and checks every record's sequence number; before timing, each is \
         run once through several wraps comparing every byte (`benches/common`). The producer \
         copies each payload in and the consumer copies it out (one `memcpy` per side).\n\
         * `perf-ringbuf write`: `Writer::write` per record (one `data_head` store each); \
         `perf-ringbuf batch`: `Writer::write_deferred` and one `Writer::publish` per {BATCH} \
         records; the `deferred tail` variants are the same with \
         `Reader::set_release_every(64 KiB)`, so the reader stores `data_tail` once per 64 KiB \
         instead of once per drain. All wait with `Writer::has_room_for` instead of dropping. The reader drains \
         with one `data_head` load and one `data_tail` store per drain. Record bytes include \
         the 8-byte `perf_event_header`, so a 16-byte record carries 8 payload bytes.\n\
         * Peers: rtrb 0.4 `push`/`pop` of `u64` and `push_entire_slice`/`pop_entire_slice` \
         of one record's bytes; crossbeam `ArrayQueue<u64>`, `ArrayQueue<[u8; N]>` at every \
         record size N, and `channel::bounded` with `try_send`/`try_recv`; bbqueue 0.7 \
         (bip buffer: one `grant_exact` per record, copied in and committed; one read grant \
         of everything contiguous per drain, released once); disruptor 4 (`[u8; N]` events \
         written in place, {BATCH} per `try_batch_publish`, polled in batches with \
         `EventPoller::poll`). `fastest peer` is, per round, the fastest of them: the row \
         the ≥ 1× target holds our rows to. Every ring and queue holds {} KiB of items.\n\
         * `commit-word ring` (variant, `benches/common/commit_word.rs`): our framing \
         (8-byte `perf_event_header`, 8-byte aligned records, padding at the wrap) with the \
         BPF-ringbuf / Agrona commit — the header word stored last with Release is the \
         commit flag, the consumer's position alone on its 128-byte line and loaded by the \
         producer only when its cached copy says full, consumed records zeroed before \
         release. It is what perf's ABI layout (`data_head` and `data_tail` on one line, a \
         head store per commit) costs; not a peer, since no perf ring can have it.\n\
         * Limits: `cross-core copy` copies chunks of the record size into a shared \
         {} KiB buffer with a `memcpy` call and publishes them after every chunk or every \
         {BATCH} chunks; `tuned copy` writes each record in place with a copy whose size is \
         known at compile time, hands off every 4, 64 or 256 KiB (one Release store), with \
         plain or streaming (non-temporal) stores, into a page-aligned buffer, and the \
         consumer copies each record out to a line-aligned buffer. All check every \
         sequence number. `cross-core limit (best handoff)` is, per round, the fastest of \
         these six: the fastest this harness moved these bytes from one core to the other \
         in that round. Every moving subject is held to it: one that beats it by more than \
         5% (median of the same-round ratios) is a measurement error, and `compare` then \
         exits non-zero without writing BENCHMARKS.md. `memcpy, 1 thread` copies an \
         L1-resident buffer (1 MiB: L2) on one core, for scale only.\n\
         * Rounds are interleaved (every subject once per round, rotating start); ratios are \
         taken per round, then the median. A run in which either thread waited for a CPU \
         for 0.5% of its time or more is re-run.",
        CAPACITY_BYTES >> 10,
        CAPACITY_BYTES >> 10
    );
    let winners = derived_winners(run);
    if !winners.is_empty() {
        let _ = writeln!(
            o,
            "\nThe fastest row behind each derived row, counted over the rounds:\n"
        );
        o.push_str(&winners);
    }
    if let Some(l) = &run.latency {
        o.push_str(&crate::latency::markdown(l));
    }
    if let Some(m) = &run.mapping {
        o.push_str(&crate::mapping::markdown(m));
    }
    // Parsing and capture rows from benches/results/ (see external.rs).
    o.push_str(&crate::external::markdown());
    let _ = writeln!(o, "\n## Notes\n\n{}", NOTES.trim());
    o
}

/// "The machine was shared" when the 1-minute load average at the start says so.
fn shared_note(load: &str) -> &'static str {
    let one: f64 = load
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    if one >= 0.5 {
        "**The machine was shared with other work** (a load of 0.5 or more on 2 CPUs): \
         absolute figures are disturbed; read the same-round ratios."
    } else {
        "The machine was otherwise idle at the start."
    }
}

/// For each derived row (best limit, fastest peer): which row was the fastest, how many
/// rounds, as Markdown list items.
fn derived_winners(run: &Run) -> String {
    let mut o = String::new();
    for m in run.measured.iter().filter(|m| !m.derived_from.is_empty()) {
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for w in &m.derived_from {
            match counts.iter_mut().find(|(n, _)| n == w) {
                Some((_, c)) => *c += 1,
                None => counts.push((w, 1)),
            }
        }
        counts.sort_by_key(|c| std::cmp::Reverse(c.1));
        let list: Vec<String> = counts
            .iter()
            .map(|(n, c)| format!("{} ×{c}", md(n)))
            .collect();
        let _ = writeln!(
            o,
            "* {} B, {}: {}",
            m.spec.group,
            md(m.spec.name),
            list.join(", ")
        );
    }
    o
}

/// Analysis that the numbers alone do not say. Kept with the generator so that a
/// regenerated BENCHMARKS.md keeps it.
const NOTES: &str = include_str!("notes.md");

const COLORS: [&str; 16] = [
    "#d62728", "#ff7f0e", "#e377c2", "#8c564b", "#1f77b4", "#17becf", "#2ca02c", "#9467bd",
    "#bcbd22", "#7f7f7f", "#393b79", "#637939", "#843c39", "#7b4173", "#000000", "#555555",
];

/// The plot: bytes per second against record size, one series per family, log-log.
pub fn svg(run: &Run) -> String {
    let (w, h) = (860.0, 520.0);
    let (left, right, top, bottom) = (70.0, 300.0, 40.0, 60.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let xs = [16.0f64, 64.0, 256.0, 4096.0];
    let (xmin, xmax) = (16f64.log2(), 4096f64.log2());
    let vals: Vec<f64> = run
        .measured
        .iter()
        .map(|m| m.gbs)
        .filter(|v| *v > 0.0)
        .collect();
    let ymin = vals.iter().copied().fold(f64::MAX, f64::min).max(1e-3);
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
        r#"<text x="{}" y="22" font-size="15">Throughput against record size (GB/s of record bytes, median of {} rounds)</text>"#,
        left, run.opts.rounds
    );
    svg_log_grid(&mut o, (lmin, lmax), left, pw, y);
    svg_size_axes(&mut o, &xs, &x, (left, top, pw, ph, h), "GB/s (log scale)");
    let mut families: Vec<&'static str> = Vec::new();
    for m in &run.measured {
        // The plot shows the best limit, not each handoff behind it, and each peer, not
        // the derived fastest-peer row.
        let hidden = (m.spec.role == Role::Limit && m.derived_from.is_empty())
            || m.spec.name == crate::common::subjects::FASTEST_PEER;
        if !hidden && !families.contains(&m.spec.family) {
            families.push(m.spec.family);
        }
    }
    for (k, fam) in families.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut pts: Vec<(f64, f64)> = run
            .measured
            .iter()
            .filter(|m| m.spec.family == *fam && m.gbs > 0.0)
            .map(|m| (x(m.spec.group as f64), y(m.gbs)))
            .collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let dash = match run
            .measured
            .iter()
            .find(|m| m.spec.family == *fam)
            .map(|m| m.spec.role)
        {
            Some(Role::Limit) => r#" stroke-dasharray="6 3""#,
            Some(Role::Scale) => r#" stroke-dasharray="2 3""#,
            _ => "",
        };
        if pts.len() > 1 {
            let path: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            let _ = writeln!(
                o,
                r#"<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{}"/>"#,
                path.join(" ")
            );
        }
        for (a, b) in &pts {
            let _ = writeln!(
                o,
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="4" fill="{color}"/>"#
            );
        }
        let ly = top + 10.0 + 20.0 * k as f64;
        let lx = left + pw + 20.0;
        let _ = writeln!(
            o,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><circle cx="{}" cy="{ly}" r="4" fill="{color}"/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            lx + 12.0,
            lx + 30.0,
            ly + 4.0,
            fam.replace('<', "&lt;").replace('>', "&gt;")
        );
    }
    let _ = writeln!(o, "</svg>");
    o
}

/// Horizontal grid lines, labelled, at every power of ten from `10^decades.0` to
/// `10^decades.1` of a log-scale y axis (`y` maps a value to its pixel row) spanning
/// `width` pixels from `left`.
/// The record-size axis of a plot (a tick and label per size in `xs`, placed by `x`) and
/// the two axis titles; `frame` is (left, top, plot width, plot height, image height).
pub(crate) fn svg_size_axes(
    o: &mut String,
    xs: &[f64],
    x: &impl Fn(f64) -> f64,
    frame: (f64, f64, f64, f64, f64),
    y_title: &str,
) {
    let (left, top, pw, ph, h) = frame;
    for &s in xs {
        let xx = x(s);
        let _ = writeln!(
            o,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{s} B</text>"##,
            top + ph,
            top + ph + 18.0
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">record size (log scale)</text>"#,
        left + pw / 2.0,
        h - 15.0
    );
    let _ = writeln!(
        o,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">{y_title}</text>"#,
        top + ph / 2.0
    );
}

pub(crate) fn svg_log_grid(
    o: &mut String,
    decades: (f64, f64),
    left: f64,
    width: f64,
    y: impl Fn(f64) -> f64,
) {
    let mut decade = decades.0;
    while decade <= decades.1 {
        let v = 10f64.powf(decade);
        let yy = y(v);
        let _ = writeln!(
            o,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + width,
            left - 6.0,
            yy + 4.0,
            if v >= 1.0 {
                format!("{v:.0}")
            } else {
                format!("{v}")
            }
        );
        decade += 1.0;
    }
}
