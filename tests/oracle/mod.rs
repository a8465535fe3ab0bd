//! The oracle suite: a corpus recorded with `perf record` and with `perf-client record`,
//! read by `perf script`/`perf report` and by `perf-client script`/`report` on the same
//! files. Every frame perf names, perf-client must name the same way; where perf prints
//! an address, perf-client prints an address, or a name it read from an object verified
//! by build id (the only place names come from); sample counts and report percentages
//! agree. Each case prints a row of the table (file, frames compared, equal, named by us
//! and verified, wrong) — `cargo test --test integration oracle -- --nocapture` shows it.
//!
//! perf and perf-client run with `HOME` set to a temporary directory, so the build-id
//! caches they fill and read are the test's own (never the real `~/.debug`).

mod cases;
mod inline;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{perf_client_bin, skip};

/// One frame as printed: the function, or `None` for `[unknown]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub symbol: Option<String>,
    pub dso: String,
}

/// One sample: event name and frames, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub event: String,
    pub frames: Vec<Frame>,
}

/// The comparison of one file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Row {
    pub file: String,
    pub samples: usize,
    pub frames: usize,
    /// Same name, or both unknown.
    pub equal: usize,
    /// Of those, named by both.
    pub named: usize,
    /// perf printed an address, we a name (from a verified object).
    pub named_by_us: usize,
    /// The objects of those frames (`dso: symbol`), for the assertions and messages.
    pub named_by_us_in: Vec<String>,
    /// perf named it, we did not, or differently.
    pub wrong: usize,
    /// The first few wrong frames, for the failure message.
    pub examples: Vec<String>,
}

impl Row {
    pub fn line(&self) -> String {
        format!(
            "| {:<31} | {:>7} | {:>6} | {:>6} | {:>7} | {:>9} | {:>5} |",
            self.file,
            self.samples,
            self.frames,
            self.equal,
            self.named,
            self.named_by_us,
            self.wrong
        )
    }
}

/// The table's header.
pub const HEADER: &str = "| file                            | samples | frames |  equal | (named) | named+ver | wrong |\n|---|---|---|---|---|---|---|";

/// A scratch directory with its own HOME (build-id cache) for one case.
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("pc-oracle-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("home")).unwrap();
        Scratch { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// A command with this scratch's HOME and no PERF_BUILDID_DIR.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        c.env("HOME", self.home()).env_remove("PERF_BUILDID_DIR");
        c.current_dir(&self.dir);
        c
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `c`; `None` (and a counted skip) when the program is missing or the kernel
/// refused (perf's exit status), with its stderr.
pub fn run(c: &mut Command, what: &str) -> Option<Output> {
    match c.output() {
        Ok(o) if o.status.success() => Some(o),
        Ok(o) => {
            skip(&format!(
                "{what} failed ({}): {}",
                o.status,
                String::from_utf8_lossy(&o.stderr)
            ));
            None
        }
        Err(e) => {
            skip(&format!("cannot run {what}: {e}"));
            None
        }
    }
}

/// Runs `c` and insists that it succeeds (our own binary).
pub fn run_ok(c: &mut Command, what: &str) -> Output {
    let o = c.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        o.status.success(),
        "{what} failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// Parses `perf script -F tid,time,event,ip,sym,symoff,dso` output.
pub fn parse_perf_script(text: &str) -> Vec<Sample> {
    let mut out: Vec<Sample> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('\t') {
            if let (Some(s), Some(f)) = (out.last_mut(), parse_perf_frame(line.trim())) {
                s.frames.push(f);
            }
            continue;
        }
        // `<tid> <time>: <event>: [frame]`
        let mut rest = line.trim_start();
        let mut field = || {
            let t = rest.trim_start();
            let end = t.find(' ').unwrap_or(t.len());
            let (a, b) = t.split_at(end);
            rest = b;
            a
        };
        let (_tid, _time, event) = (field(), field(), field());
        let mut s = Sample {
            event: event.trim_end_matches(':').to_owned(),
            frames: Vec::new(),
        };
        if let Some(f) = parse_perf_frame(rest.trim()) {
            s.frames.push(f);
        }
        out.push(s);
    }
    out
}

/// `addr sym+0xoff (dso)` or `addr [unknown] (dso)`.
fn parse_perf_frame(s: &str) -> Option<Frame> {
    let (addr, rest) = s.split_once(' ')?;
    u64::from_str_radix(addr, 16).ok()?;
    let open = rest.rfind(" (")?;
    let dso = rest[open + 2..].trim_end_matches(')').to_owned();
    let sym = rest[..open].trim();
    let symbol = match sym {
        "[unknown]" => None,
        s => Some(s.rsplit_once("+0x").map_or(s, |(n, _)| n).to_owned()),
    };
    Some(Frame { symbol, dso })
}

/// Parses `perf-client script --json`.
pub fn parse_our_json(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let frame = |f: &serde_json::Value| Frame {
                symbol: f["symbol"].as_str().map(str::to_owned),
                dso: f["dso"].as_str().unwrap_or("[unknown]").to_owned(),
            };
            let frames = match v["callchain"].as_array() {
                Some(chain) => chain.iter().map(frame).collect(),
                None if v["ip"].is_string() => vec![frame(&v)],
                None => Vec::new(),
            };
            Sample {
                event: v["event"].as_str().unwrap_or("").to_owned(),
                frames,
            }
        })
        .collect()
}

/// perf script and perf-client script on `file`, compared frame by frame.
pub fn compare_script(s: &Scratch, file: &Path, label: &str) -> Option<Row> {
    let f = file.to_str().unwrap();
    let perf = run(
        s.cmd("perf")
            .args(["script", "-F", "tid,time,event,ip,sym,symoff,dso", "-i", f]),
        "perf script",
    )?;
    let ours = run_ok(
        s.cmd(perf_client_bin()).args(["script", "--json", "-i", f]),
        "perf-client script",
    );
    let perf = parse_perf_script(&String::from_utf8_lossy(&perf.stdout));
    let ours = parse_our_json(&String::from_utf8_lossy(&ours.stdout));
    let mut row = Row {
        file: label.to_owned(),
        samples: perf.len(),
        ..Default::default()
    };
    assert_eq!(
        perf.len(),
        ours.len(),
        "{label}: perf script shows {} samples, perf-client {}",
        perf.len(),
        ours.len()
    );
    for (i, (p, o)) in perf.iter().zip(&ours).enumerate() {
        assert_eq!(p.event, o.event, "{label}: sample {i}");
        // perf leaves out callchain entries that lie in no map (a frame-pointer walk's
        // last word, 0); we print them as `[unknown] ([unknown])`. Every frame perf
        // prints must be ours, in order, and every other of ours unmapped.
        let mut ours = o.frames.iter().peekable();
        for pf in &p.frames {
            while pf.dso != "[unknown]" && ours.peek().is_some_and(|f| f.dso == "[unknown]") {
                ours.next();
            }
            row.frames += 1;
            let Some(of) = ours.next() else {
                row.wrong += 1;
                row.examples
                    .push(format!("sample {i}: perf has more frames"));
                break;
            };
            let base = pf.dso.rsplit('/').next().unwrap_or(&pf.dso);
            match (&pf.symbol, &of.symbol) {
                _ if base != of.dso => {
                    row.wrong += 1;
                    if row.examples.len() < 8 {
                        row.examples
                            .push(format!("sample {i}: perf dso {}, ours {}", pf.dso, of.dso));
                    }
                }
                (Some(a), Some(b)) if a == b => {
                    row.equal += 1;
                    row.named += 1;
                }
                (None, None) => row.equal += 1,
                (None, Some(name)) => {
                    row.named_by_us += 1;
                    row.named_by_us_in.push(format!("{}: {name}", of.dso));
                }
                (a, b) => {
                    row.wrong += 1;
                    if row.examples.len() < 8 {
                        row.examples.push(format!(
                            "sample {i}: perf {a:?} ({}), ours {b:?} ({})",
                            pf.dso, of.dso
                        ));
                    }
                }
            }
        }
        if ours.any(|f| f.dso != "[unknown]") {
            row.wrong += 1;
            row.examples
                .push(format!("sample {i}: we have mapped frames perf does not"));
        }
    }
    Some(row)
}

/// One row of `perf report --stdio` / `perf-client report`: (comm, symbol) → percent.
fn parse_report(text: &str) -> Vec<(String, String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains('%'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let pct: f64 = it.next()?.trim_end_matches('%').parse().ok()?;
            let comm = it.next()?.to_owned();
            let _dso = it.next()?;
            let _kind = it.next()?;
            let sym: Vec<&str> = it.collect();
            Some((comm, sym.join(" "), pct))
        })
        .collect()
}

/// perf report and perf-client report on `file`: every named row of perf's has the same
/// percentage in ours (to the printed 0.01%), and the same number of samples.
pub fn compare_report(s: &Scratch, file: &Path, label: &str) {
    let f = file.to_str().unwrap();
    let Some(perf) = run(
        s.cmd("perf").args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "comm,dso,sym",
            "-i",
            f,
        ]),
        "perf report",
    ) else {
        return;
    };
    let ours = run_ok(
        s.cmd(perf_client_bin()).args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "comm,dso,sym",
            "-i",
            f,
        ]),
        "perf-client report",
    );
    let perf_text = String::from_utf8_lossy(&perf.stdout);
    let ours_text = String::from_utf8_lossy(&ours.stdout);
    let count = |t: &str| -> Vec<u64> {
        t.lines()
            .filter_map(|l| l.strip_prefix("# Samples: "))
            .map(|v| {
                let n = v.split_whitespace().next().unwrap();
                // perf abbreviates large counts (`1K`); compare exact ones only.
                n.parse().unwrap_or(u64::MAX)
            })
            .collect()
    };
    let (pc, oc) = (count(&perf_text), count(&ours_text));
    for (p, o) in pc.iter().zip(&oc) {
        if *p != u64::MAX {
            assert_eq!(p, o, "{label}: sample counts\n{perf_text}\n{ours_text}");
        }
    }
    // Rows summed by (command, name): perf keeps one row per symbol, and distinct
    // symbols may share a name (every IRELATIVE PLT entry is `@plt`); we keep one per
    // name.
    let by_name = |rows: Vec<(String, String, f64)>| {
        let mut m: std::collections::BTreeMap<(String, String), (f64, usize)> = Default::default();
        for (c, s, p) in rows {
            let e = m.entry((c, s)).or_default();
            e.0 += p;
            e.1 += 1;
        }
        m
    };
    let ours_rows = by_name(parse_report(&ours_text));
    for ((comm, sym), (pct, n)) in by_name(parse_report(&perf_text)) {
        // perf lists unnamed addresses one by one (`0x…`); we group them as [unknown].
        if sym.starts_with("0x") || sym.contains("[unknown]") {
            continue;
        }
        let got = ours_rows
            .get(&(comm.clone(), sym.clone()))
            .map_or(0.0, |r| r.0);
        // Each printed percentage is rounded to 0.01.
        assert!(
            (got - pct).abs() < 0.005 * (n + 1) as f64 + 0.001,
            "{label}: {comm} {sym}: perf {pct}%, ours {got}%\n{perf_text}\n{ours_text}"
        );
    }
}

/// Asserts the row has no wrong frame and prints it.
pub fn check(row: &Row) {
    println!("{HEADER}\n{}", row.line());
    if !row.named_by_us_in.is_empty() {
        println!("named by us only: {:?}", row.named_by_us_in);
    }
    assert_eq!(
        row.wrong, 0,
        "{}: wrong frames: {:#?}",
        row.file, row.examples
    );
    assert!(row.samples > 0, "{}: no samples", row.file);
}

/// Compiles `src` with gcc into `out`, frame pointers kept, and no PLT stubs: perf 6.1
/// names an address in an executable's `.plt` after the zero-sized `_init` symbol that
/// precedes it, where we name the stub (`printf@plt`, as perf does in libraries); a
/// sample landing there must not decide the suite.
pub fn gcc(s: &Scratch, src: &str, out: &str, defines: &[&str]) -> Option<PathBuf> {
    let c = s.path(&format!("{out}.c"));
    std::fs::write(&c, src).unwrap();
    let mut cmd = s.cmd("gcc");
    cmd.args([
        "-O1",
        "-g",
        "-fno-omit-frame-pointer",
        "-fno-plt",
        "-Wl,-z,now",
        "-o",
        out,
    ])
    .arg(&c)
    .args(defines);
    run(&mut cmd, "gcc")?;
    Some(s.path(out))
}
