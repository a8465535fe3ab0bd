//! Rows measured outside this command, read from JSON files in `benches/results/`:
//! the "parsing" group (`cargo bench --bench parsing` with `PARSE_ROWS_JSON`, and
//! `scripts/script-compare.sh`) and the "capture" group (`scripts/capture-compare.sh` →
//! `scripts/capture-rows.sh`). They take minutes each and need `perf`, so `compare` does
//! not run them; it folds their latest rows into its table, JSON and BENCHMARKS.md.

use std::fmt::Write as _;

use serde_json::Value;

/// The row files, with the command that regenerates each.
const FILES: [(&str, &str); 3] = [
    (
        "parse-rows.json",
        "PARSE_ROWS_JSON=benches/results/parse-rows.json cargo bench --bench parsing",
    ),
    ("script-rows.json", "scripts/script-compare.sh"),
    (
        "capture-rows.json",
        "NICE=-19 RUNS=9 scripts/capture-compare.sh > target/capture.txt && \
         scripts/capture-rows.sh target/capture.txt > benches/results/capture-rows.json",
    ),
];

fn dir() -> String {
    format!("{}/benches/results", env!("CARGO_MANIFEST_DIR"))
}

/// Every row of every file present, in file order.
pub fn rows() -> Vec<Value> {
    let mut out = Vec::new();
    for (name, _) in FILES {
        let path = format!("{}/{name}", dir());
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match serde_json::from_str::<Vec<Value>>(&text) {
            Ok(rows) => out.extend(rows),
            Err(e) => eprintln!("compare: ignoring {path}: {e}"),
        }
    }
    out
}

/// The rows, one JSON object each (for `--json`).
pub fn json_rows() -> Vec<String> {
    rows().iter().map(Value::to_string).collect()
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), |f| format!("{f:.3}")),
        other => other.to_string(),
    }
}

/// The target as the table shows it: `≥ t` or `≤ t`.
fn target_cell(r: &Value) -> String {
    match (r["target"].as_f64(), r["target_max"].as_f64()) {
        (Some(min), _) => format!("≥ {min}"),
        (None, Some(max)) => format!("≤ {max}"),
        (None, None) => String::new(),
    }
}

/// `target`: the ratio must reach it; `target_max` (lower is better): must not exceed it.
/// A row may carry its own `verdict` (a rule the ratio alone does not express, such as
/// "no loss where the peer lost none").
fn verdict(r: &Value) -> &str {
    if let Some(v) = r["verdict"].as_str() {
        return v;
    }
    let Some(ratio) = r["ratio"].as_f64() else {
        return "";
    };
    let met = match (r["target"].as_f64(), r["target_max"].as_f64()) {
        (Some(min), _) => ratio >= min,
        (None, Some(max)) => ratio <= max,
        (None, None) => return "",
    };
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// The rows as text lines, for the printed table.
pub fn text() -> String {
    let mut o = String::new();
    for r in rows() {
        let _ = writeln!(
            o,
            "{:<8} {:<50} {:>10} {:<9} {:<32} {:>8} {}",
            cell(&r["group"]),
            cell(&r["subject"]),
            cell(&r["value"]),
            cell(&r["unit"]),
            cell(&r["peer"]),
            cell(&r["ratio"]),
            verdict(&r)
        );
    }
    if !o.is_empty() {
        o.insert_str(
            0,
            "\nfrom benches/results/*.json (own commands; see BENCHMARKS.md):\n",
        );
    }
    o
}

/// A Markdown section per group, and how each file is regenerated.
pub fn markdown() -> String {
    let rows = rows();
    let mut o = String::new();
    if rows.is_empty() {
        return o;
    }
    let _ = writeln!(
        o,
        "\n## Parsing and capture (read from `benches/results/*.json`)\n\n\
         These rows are measured by their own commands (below), not by this one: they need \
         `perf` and take minutes. This command folds in the latest files.\n"
    );
    for group in ["parsing", "capture"] {
        let g: Vec<&Value> = rows.iter().filter(|r| r["group"] == group).collect();
        if g.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "### {group}\n\n| subject | value | unit | peer | peer value | ratio | ratio is | target | verdict |\n|---|---:|---|---|---:|---:|---|---:|---|"
        );
        for r in g {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&r["subject"]),
                cell(&r["value"]),
                cell(&r["unit"]),
                cell(&r["peer"]),
                cell(&r["peer_value"]),
                cell(&r["ratio"]),
                cell(&r["ratio_is"]),
                target_cell(r),
                verdict(r)
            );
        }
        let _ = writeln!(o);
    }
    if let Ok(notes) = std::fs::read_to_string(format!("{}/notes.md", dir())) {
        let _ = writeln!(o, "{}\n", notes.trim());
    }
    let _ = writeln!(o, "Regenerate:\n");
    for (name, cmd) in FILES {
        let _ = writeln!(o, "* `{name}`: `{cmd}`");
    }
    o
}
