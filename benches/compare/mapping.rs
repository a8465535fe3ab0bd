//! The mapping group: time to map 1 + 2^n pages (n = 0..14) for every subject of
//! `benches/common/mapping.rs`, the minor faults of the first full read pass, and the
//! same-round ratios the targets of issue 6 are held to at 1 + 16384 pages.
//!
//! Method: for each size, every subject is prepared (the emulated buffers, one per layout,
//! allocated once), mapped once untimed and checked, then measured in interleaved
//! rounds — every subject once per round, starting one subject later each round. Ratios
//! are taken per round, then the median.
//!
//! The group runs pinned to one CPU (the consumer's), and threads started meanwhile — the
//! `Fault` strategy's userfaultfd handler — inherit that CPU. Unpinned, on this 2-vCPU
//! guest, every fault's round trip between the faulting thread and the handler on the
//! other CPU woke a halted vCPU: 1.4-1.9 s instead of 0.24-0.30 s for a first pass over
//! 1+16384 pages when the machine was idle, and less when it was busy, which measures the
//! host rather than the strategy.

use std::fmt::Write as _;
use std::time::Instant;

use crate::common::affinity;
use crate::common::mapping::{
    map_catalogue, MapSample, MapSpec, MapSubject, BPF_MMAP, MAX_ORDER, MEMFD_POPULATE, PERF_RING,
    PFNMAP_CONTIGUOUS, PFNMAP_SCATTERED,
};
use crate::common::subjects::Role;
use crate::report::{json_num, json_str, svg_log_grid};
use crate::stats::Summary;

/// Rounds at the largest size, where the targets are: at least 9.
pub const MIN_TARGET_ROUNDS: usize = 9;

/// One subject at one size.
#[derive(Debug, Clone)]
pub struct MapRow {
    pub name: &'static str,
    pub role: Role,
    /// n: the ring is 1 + 2^n pages.
    pub order: u32,
    /// Milliseconds.
    pub time: Summary,
    pub per_round: Vec<f64>,
    /// Minor faults of the first full read pass, over the rounds (`None` for the BPF map
    /// creation row, which maps nothing).
    pub faults: Option<Summary>,
    /// How faults were served, for `Fault`.
    pub note: Option<String>,
}

/// A checked figure at one size: a same-round time ratio, or the first-pass faults.
#[derive(Debug, Clone)]
pub struct MapCheck {
    pub subject: &'static str,
    pub order: u32,
    /// The peer of a ratio; `None` for a fault count.
    pub peer: Option<&'static str>,
    /// Time ratio (subject / peer) per round, or the fault counts.
    pub value: Summary,
    /// Ratio at most this (`Some`), or faults at most this.
    pub target: Option<f64>,
}

impl MapCheck {
    pub fn verdict(&self) -> &'static str {
        match self.target {
            // Fault counts: every round must meet it, not just the median.
            Some(t) if self.peer.is_none() => {
                if self.value.max <= t {
                    "met"
                } else {
                    "MISSED"
                }
            }
            Some(t) if self.value.median <= t => "met",
            Some(_) => "MISSED",
            None => "",
        }
    }

    /// What the value is, for tables.
    pub fn what(&self) -> String {
        match self.peer {
            Some(p) => format!("time / {p}"),
            None => "first-pass minor faults (max over rounds)".into(),
        }
    }

    pub fn target_text(&self) -> String {
        match (self.target, self.peer) {
            (Some(t), Some(_)) => format!("<= {t}"),
            (Some(t), None) => format!("= {t}"),
            (None, _) => String::new(),
        }
    }

    /// The value the verdict is taken on.
    pub fn figure(&self) -> f64 {
        if self.peer.is_some() {
            self.value.median
        } else {
            self.value.max
        }
    }
}

/// The whole group.
#[derive(Debug)]
pub struct MappingRun {
    pub rows: Vec<MapRow>,
    pub checks: Vec<MapCheck>,
    /// Subjects that could not run, with the reason.
    pub skipped: Vec<String>,
    /// Rounds at n < 14 and at n = 14.
    pub rounds: (usize, usize),
    pub seconds: f64,
}

/// Same-round ratios (subject, peer, target) checked at 1 + 2^14 pages.
const RATIOS: [(&str, &str, Option<f64>); 6] = [
    (PFNMAP_CONTIGUOUS, MEMFD_POPULATE, Some(2.0)),
    (PFNMAP_CONTIGUOUS, BPF_MMAP, Some(1.0)),
    (PFNMAP_SCATTERED, MEMFD_POPULATE, Some(2.0)),
    (PFNMAP_SCATTERED, BPF_MMAP, Some(1.0)),
    (PERF_RING, MEMFD_POPULATE, None),
    (BPF_MMAP, MEMFD_POPULATE, None),
];

/// Subjects whose pages are all present before the first access: 0 faults on it.
const PRE_MAPPED: [&str; 4] = [
    PFNMAP_CONTIGUOUS,
    PFNMAP_SCATTERED,
    "InsertPages, contiguous",
    "InsertPages, scattered",
];

/// Runs the group: every size, `rounds` rounds each (at least [`MIN_TARGET_ROUNDS`] at the
/// largest size), `filter` selecting subjects by name.
pub fn run(rounds: usize, filter: Option<&str>) -> MappingRun {
    let specs: Vec<MapSpec> = map_catalogue()
        .into_iter()
        .filter(|s| filter.is_none_or(|f| s.name.contains(f)))
        .collect();
    let allowed = affinity::allowed_cpus().unwrap_or_default();
    affinity::pin_current_thread(affinity::cpu_pair().1);
    let started = Instant::now();
    let big_rounds = rounds.max(MIN_TARGET_ROUNDS);
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    // per-round times of every row, to take same-round ratios
    for order in 0..=MAX_ORDER {
        let rounds = if order == MAX_ORDER {
            big_rounds
        } else {
            rounds
        };
        let mut subjects: Vec<(MapSubject, Option<String>)> = Vec::new();
        for (spec, prepared) in MapSubject::prepare(&specs, order) {
            let checked = prepared.and_then(|mut s| s.verify().map(|note| (s, note)));
            match checked {
                Ok(s) => subjects.push(s),
                Err(e) => skipped.push(format!("{} at 1+{} pages: {e}", spec.name, 1u64 << order)),
            }
        }
        let k = subjects.len();
        let mut samples: Vec<Vec<MapSample>> = vec![Vec::new(); k];
        let mut failed = vec![None; k];
        for round in 0..rounds {
            for j in 0..k {
                let i = (j + round) % k;
                if failed[i].is_some() {
                    continue;
                }
                match subjects[i].0.sample() {
                    Ok(s) => samples[i].push(s),
                    Err(e) => failed[i] = Some(e.to_string()),
                }
            }
        }
        for (i, (subject, note)) in subjects.iter().enumerate() {
            let spec = subject.spec;
            if let Some(e) = &failed[i] {
                skipped.push(format!("{} at 1+{} pages: {e}", spec.name, 1u64 << order));
                continue;
            }
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
            let times: Vec<f64> = samples[i].iter().map(|s| ms(s.time)).collect();
            let faults: Vec<f64> = samples[i]
                .iter()
                .map(|s| s.first_pass_faults as f64)
                .collect();
            let (Some(time), Some(faults)) = (Summary::of(&times), Summary::of(&faults)) else {
                continue;
            };
            rows.push(MapRow {
                name: spec.name,
                role: spec.role,
                order,
                time,
                per_round: times,
                faults: Some(faults),
                note: note.clone(),
            });
            if let Some(create) = spec.create_name {
                let times: Vec<f64> = samples[i].iter().filter_map(|s| s.create.map(ms)).collect();
                if let Some(time) = Summary::of(&times) {
                    rows.push(MapRow {
                        name: create,
                        role: spec.role,
                        order,
                        time,
                        per_round: times,
                        faults: None,
                        note: Some("map creation: allocation and the kernel's vmap".into()),
                    });
                }
            }
        }
        eprintln!(
            "  mapping 1+{} pages: {k} subjects x {rounds} rounds ({:.1} s so far)",
            1u64 << order,
            started.elapsed().as_secs_f64()
        );
    }
    restore_affinity(&allowed);
    let checks = checks(&rows);
    MappingRun {
        rows,
        checks,
        skipped,
        rounds: (rounds, big_rounds),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Lets the calling thread run on `cpus` again (what it was allowed before pinning).
fn restore_affinity(cpus: &[usize]) {
    if cpus.is_empty() {
        return;
    }
    // SAFETY: all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus {
        // SAFETY: `cpu` came from the thread's own allowed set, below the set's capacity.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; tid 0 = this thread.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
}

fn checks(rows: &[MapRow]) -> Vec<MapCheck> {
    let at = |name: &str| rows.iter().find(|r| r.name == name && r.order == MAX_ORDER);
    let mut out = Vec::new();
    for (subject, peer, target) in RATIOS {
        let (Some(s), Some(p)) = (at(subject), at(peer)) else {
            continue;
        };
        let per_round: Vec<f64> = s
            .per_round
            .iter()
            .zip(&p.per_round)
            .map(|(a, b)| a / b)
            .collect();
        if let Some(value) = Summary::of(&per_round) {
            out.push(MapCheck {
                subject: s.name,
                order: MAX_ORDER,
                peer: Some(p.name),
                value,
                target,
            });
        }
    }
    for name in PRE_MAPPED {
        if let Some((r, faults)) = at(name).and_then(|r| Some((r, r.faults?))) {
            out.push(MapCheck {
                subject: r.name,
                order: MAX_ORDER,
                peer: None,
                value: faults,
                target: Some(0.0),
            });
        }
    }
    out
}

fn fmt_ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn names(run: &MappingRun) -> Vec<&'static str> {
    let mut names = Vec::new();
    for r in &run.rows {
        if !names.contains(&r.name) {
            names.push(r.name);
        }
    }
    names
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Ours => "ours",
        Role::Peer => "kernel",
        Role::Limit => "baseline",
        Role::Scale => "scale",
        Role::Variant => "variant",
    }
}

/// The orders shown in the size matrix of the tables (every other size; JSON has all).
const MATRIX_ORDERS: [u32; 8] = [0, 2, 4, 6, 8, 10, 12, 14];

/// The group as plain text.
pub fn text(run: &MappingRun) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nmapping: median ms to map 1+2^n pages ({} rounds, {} at n={MAX_ORDER}; {:.0} s)",
        run.rounds.0, run.rounds.1, run.seconds
    );
    let _ = write!(o, "{:<40}", "subject \\ n");
    for n in MATRIX_ORDERS {
        let _ = write!(o, " {n:>8}");
    }
    let _ = writeln!(o);
    for name in names(run) {
        let _ = write!(o, "{name:<40}");
        for n in MATRIX_ORDERS {
            let cell = run
                .rows
                .iter()
                .find(|r| r.name == name && r.order == n)
                .map_or("-".into(), |r| fmt_ms(r.time.median));
            let _ = write!(o, " {cell:>8}");
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "\n{:<40} {:<8} {:>9} {:>17} {:>17} {:>13}  note",
        format!("at 1+{} pages", 1u64 << MAX_ORDER),
        "role",
        "median ms",
        "IQR",
        "min-max",
        "faults med/max"
    );
    for r in run.rows.iter().filter(|r| r.order == MAX_ORDER) {
        let t = &r.time;
        let _ = writeln!(
            o,
            "{:<40} {:<8} {:>9} {:>17} {:>17} {:>13}  {}",
            r.name,
            role(r.role),
            fmt_ms(t.median),
            format!("{}-{}", fmt_ms(t.q1), fmt_ms(t.q3)),
            format!("{}-{}", fmt_ms(t.min), fmt_ms(t.max)),
            r.faults
                .map_or("-".into(), |f| format!("{:.0}/{:.0}", f.median, f.max)),
            r.note.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(
        o,
        "\n{:<40} {:<45} {:>8} {:>13} {:>7}  verdict",
        "subject", "checked", "value", "IQR", "target"
    );
    for c in &run.checks {
        let _ = writeln!(
            o,
            "{:<40} {:<45} {:>8.2} {:>13} {:>7}  {}",
            c.subject,
            c.what(),
            c.figure(),
            if c.peer.is_some() {
                format!("{:.2}-{:.2}", c.value.q1, c.value.q3)
            } else {
                String::new()
            },
            c.target_text(),
            c.verdict()
        );
    }
    for s in &run.skipped {
        let _ = writeln!(o, "skipped: {s}");
    }
    o
}

/// JSON rows `{group: "mapping", subject, value, unit, peer, ratio, ...}`: one per subject
/// and size (`peer: null`), then one per check.
pub fn json_rows(run: &MappingRun) -> Vec<String> {
    let mut rows = Vec::new();
    for r in &run.rows {
        rows.push(format!(
            "{{\"group\":\"mapping\",\"subject\":{},\"value\":{},\"unit\":\"ms\",\"peer\":null,\
             \"ratio\":null,\"pages\":{},\"role\":{},\"q1\":{},\"q3\":{},\"min\":{},\"max\":{},\
             \"rounds\":{},\"first_pass_faults_median\":{},\"first_pass_faults_max\":{}}}",
            json_str(r.name),
            json_num(r.time.median),
            1 + (1u64 << r.order),
            json_str(role(r.role)),
            json_num(r.time.q1),
            json_num(r.time.q3),
            json_num(r.time.min),
            json_num(r.time.max),
            r.time.n,
            r.faults.map_or("null".into(), |f| json_num(f.median)),
            r.faults.map_or("null".into(), |f| json_num(f.max)),
        ));
    }
    for c in &run.checks {
        let subject_ms = run
            .rows
            .iter()
            .find(|r| r.name == c.subject && r.order == c.order)
            .map_or(f64::NAN, |r| r.time.median);
        match c.peer {
            Some(peer) => rows.push(format!(
                "{{\"group\":\"mapping\",\"subject\":{},\"value\":{},\"unit\":\"ms\",\"peer\":{},\
                 \"ratio\":{},\"ratio_q1\":{},\"ratio_q3\":{},\"pages\":{},\
                 \"ratio_is\":\"subject time / peer time, same round (lower is better)\",\
                 \"target\":{},\"target_is\":\"at most\",\"verdict\":{}}}",
                json_str(c.subject),
                json_num(subject_ms),
                json_str(peer),
                json_num(c.value.median),
                json_num(c.value.q1),
                json_num(c.value.q3),
                1 + (1u64 << c.order),
                c.target.map_or("null".into(), json_num),
                json_str(c.verdict()),
            )),
            None => rows.push(format!(
                "{{\"group\":\"mapping\",\"subject\":{},\"value\":{},\
                 \"unit\":\"minor faults, first read pass (max over rounds)\",\"peer\":null,\
                 \"ratio\":null,\"pages\":{},\"target\":{},\"target_is\":\"at most\",\
                 \"verdict\":{}}}",
                json_str(c.subject),
                json_num(c.value.max),
                1 + (1u64 << c.order),
                c.target.map_or("null".into(), json_num),
                json_str(c.verdict()),
            )),
        }
    }
    rows
}

/// Rows for the targets table of BENCHMARKS.md (same columns as the throughput targets).
pub fn markdown_target_rows(run: &MappingRun) -> String {
    let mut o = String::new();
    for c in &run.checks {
        let (value, iqr, range) = if c.peer.is_some() {
            (
                format!("**{:.2}×**", c.value.median),
                format!("{:.2}–{:.2}", c.value.q1, c.value.q3),
                format!("{:.2}–{:.2}", c.value.min, c.value.max),
            )
        } else {
            (
                format!("**{:.0}** (max)", c.value.max),
                String::new(),
                String::new(),
            )
        };
        let target = match (c.target, c.peer) {
            (Some(t), Some(_)) => format!("≤ {t}×"),
            (Some(t), None) => format!("= {t}"),
            (None, _) => String::new(),
        };
        let _ = writeln!(
            o,
            "| map 1+{} pages | {} | {} | {value} | {iqr} | {range} | {target} | {} |",
            1u64 << c.order,
            c.subject,
            c.peer
                .map_or("first-pass minor faults".into(), |p| format!("time vs {p}")),
            c.verdict()
        );
    }
    o
}

/// The Markdown section of the group.
pub fn markdown(run: &MappingRun) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\n## Mapping\n");
    let _ = writeln!(
        o,
        "Time to map a ring of 1 + 2^n pages, median of {} interleaved rounds ({} at \
         1+{} pages); same-round ratios and first-pass faults are in the targets table above.\n",
        run.rounds.0,
        run.rounds.1,
        1u64 << MAX_ORDER
    );
    let _ = writeln!(o, "![time to map against ring size](benches/mapping.svg)\n");
    let _ = write!(o, "| subject (median ms) |");
    for n in MATRIX_ORDERS {
        let _ = write!(o, " 1+{} |", 1u64 << n);
    }
    let _ = write!(o, "\n|---|");
    for _ in MATRIX_ORDERS {
        let _ = write!(o, "---:|");
    }
    let _ = writeln!(o);
    for name in names(run) {
        let _ = write!(o, "| {name} |");
        for n in MATRIX_ORDERS {
            let cell = run
                .rows
                .iter()
                .find(|r| r.name == name && r.order == n)
                .map_or("–".into(), |r| fmt_ms(r.time.median));
            let _ = write!(o, " {cell} |");
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(
        o,
        "\nAt 1+{} pages:\n\n| subject | role | median ms | IQR | min–max | first-pass faults (median / max) | note |\n|---|---|---:|---|---|---|---|",
        1u64 << MAX_ORDER
    );
    for r in run.rows.iter().filter(|r| r.order == MAX_ORDER) {
        let t = &r.time;
        let _ = writeln!(
            o,
            "| {} | {} | **{}** | {}–{} | {}–{} | {} | {} |",
            r.name,
            role(r.role),
            fmt_ms(t.median),
            fmt_ms(t.q1),
            fmt_ms(t.q3),
            fmt_ms(t.min),
            fmt_ms(t.max),
            r.faults
                .map_or("–".into(), |f| format!("{:.0} / {:.0}", f.median, f.max)),
            r.note.as_deref().unwrap_or("")
        );
    }
    if !run.skipped.is_empty() {
        let _ = writeln!(o, "\nNot measured:\n");
        for s in &run.skipped {
            let _ = writeln!(o, "* {s}");
        }
    }
    let _ = writeln!(o, "\n{}", NOTES.trim());
    o
}

/// What the mapping numbers mean and why the missed targets are missed.
const NOTES: &str = include_str!("mapping-notes.md");

const COLORS: [&str; 10] = [
    "#d62728", "#ff7f0e", "#bcbd22", "#1f77b4", "#17becf", "#9467bd", "#2ca02c", "#8c564b",
    "#e377c2", "#000000",
];

/// The plot: median time to map against pages, one series per subject, log-log.
pub fn svg(run: &MappingRun) -> String {
    let (w, h) = (900.0, 540.0);
    let (left, right, top, bottom) = (70.0, 300.0, 40.0, 60.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let xmax = f64::from(MAX_ORDER);
    let vals: Vec<f64> = run
        .rows
        .iter()
        .map(|r| r.time.median)
        .filter(|v| *v > 0.0)
        .collect();
    let ymin = vals.iter().copied().fold(f64::MAX, f64::min).max(1e-4);
    let ymax = vals.iter().copied().fold(0.0, f64::max).max(ymin * 10.0);
    let (lmin, lmax) = (ymin.log10().floor(), ymax.log10().ceil());
    // x: log2 of the data pages (n); the ring is 1 + 2^n pages.
    let x = |n: f64| left + n / xmax * pw;
    let y = |v: f64| top + ph - (v.log10() - lmin) / (lmax - lmin) * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{left}" y="22" font-size="15">Time to map a ring of 1 + 2^n pages (ms, median of {} rounds)</text>"#,
        run.rounds.0
    );
    svg_log_grid(&mut o, (lmin, lmax), left, pw, y);
    for n in (0..=MAX_ORDER).step_by(2) {
        let xx = x(f64::from(n));
        let _ = writeln!(
            o,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">1+{}</text>"##,
            top + ph,
            top + ph + 18.0,
            1u64 << n
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">pages mapped (log scale)</text>"#,
        left + pw / 2.0,
        h - 15.0
    );
    let _ = writeln!(
        o,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">ms (log scale)</text>"#,
        top + ph / 2.0
    );
    for (k, name) in names(run).iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let rows: Vec<&MapRow> = run.rows.iter().filter(|r| r.name == *name).collect();
        let dash = match rows.first().map(|r| r.role) {
            Some(Role::Limit) => r#" stroke-dasharray="6 3""#,
            Some(Role::Peer) => r#" stroke-dasharray="2 3""#,
            _ => "",
        };
        let pts: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.time.median > 0.0)
            .map(|r| (x(f64::from(r.order)), y(r.time.median)))
            .collect();
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
                r#"<circle cx="{a:.1}" cy="{b:.1}" r="3" fill="{color}"/>"#
            );
        }
        let ly = top + 10.0 + 20.0 * k as f64;
        let lx = left + pw + 20.0;
        let _ = writeln!(
            o,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            lx + 24.0,
            lx + 30.0,
            ly + 4.0,
            name
        );
    }
    let _ = writeln!(o, "</svg>");
    o
}
