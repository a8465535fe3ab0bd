//! Inlined calls and source lines against perf 6.1 on one `--call-graph dwarf` capture of
//! a `-O2 -g` program whose hot loop calls two `always_inline` functions: `perf script
//! -F +srcline` and `perf report --stdio` (`--inline`, its default, and `--no-inline`)
//! line by line for the program's own frames, and the exports (folded `_[i]`, pprof
//! Lines) with report's totals.
//!
//! Known differences, not compared: where DWARF names a libc function otherwise than
//! its ELF symbol (`__libc_start_main_impl` for `__libc_start_main@@GLIBC_2.34`), perf
//! shows the DWARF name marked ` (inlined)` in place of the function; we keep the symbol
//! and mark only real `DW_TAG_inlined_subroutine`s. perf's addr2line gives the CU's file
//! for a function from a header; we give the header.

use std::path::PathBuf;

use super::{gcc, run, run_ok, Scratch};
use crate::common::{perf_client_bin, skip};

const PROG: &str = r#"
#include <stdio.h>
#include <stdlib.h>
static inline __attribute__((always_inline)) unsigned long mix(unsigned long x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}
static inline __attribute__((always_inline)) unsigned long step(unsigned long x, unsigned long i)
{
	return mix(x + i) * 31;
}
__attribute__((noinline)) unsigned long work(unsigned long n)
{
	unsigned long x = 1;
	for (unsigned long i = 0; i < n; i++)
		x = step(x, i);
	return x;
}
int main(int argc, char **argv)
{
	printf("%lu\n", work(argc > 1 ? strtoul(argv[1], 0, 10) : 100000000UL));
	return 0;
}
"#;

/// The program recorded by perf with `--call-graph dwarf`; `None` after a counted skip.
fn capture(s: &Scratch) -> Option<PathBuf> {
    let bin = gcc(s, PROG, "prog", &["-O2"])?;
    let out = s.path("perf.data");
    let mut c = s.cmd("perf");
    c.args([
        "record",
        "-q",
        "-e",
        "cpu-clock",
        "-c",
        "250000",
        "--call-graph",
        "dwarf",
    ])
    .arg("-o")
    .arg(&out)
    .arg("--")
    .arg(&bin)
    .arg("150000000");
    run(&mut c, "perf record --call-graph dwarf")?;
    Some(out)
}

fn text(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn perf(s: &Scratch, args: &[&str]) -> Option<String> {
    run(s.cmd("perf").args(args), "perf").map(|o| text(&o))
}

fn ours(s: &Scratch, args: &[&str]) -> String {
    text(&run_ok(s.cmd(perf_client_bin()).args(args), "perf-client"))
}

/// A frame line without its address (perf prints user addresses of unwound frames
/// relative to the object), a srcline fallback without its address.
fn normalized(line: &str) -> String {
    let l = match line.strip_prefix('\t') {
        Some(rest) => {
            let rest = rest.trim_start();
            let rest = rest.split_once(' ').map_or(rest, |(_, r)| r);
            format!("\t{rest}")
        }
        None => line.to_owned(),
    };
    match l.rfind('[') {
        Some(i) if l.ends_with(']') && l.starts_with("  ") => format!("{}[ADDR]", &l[..i]),
        _ => l,
    }
}

/// Whether a line is about the program's own code: its functions, its file, its source.
fn ours_only(line: &str) -> bool {
    ["mix", "step", "work", "main+", "/prog)", "prog.c"]
        .iter()
        .any(|w| line.contains(w))
        && !line.contains("libc")
}

/// `perf script` text split into samples (separated by blank lines), each reduced to the
/// lines about the program's frames ([`ours_only`]) and the source lines under them.
fn program_lines(text: &str) -> Vec<Vec<&str>> {
    text.split("\n\n")
        .filter(|sample| !sample.trim().is_empty())
        .map(|sample| {
            let lines: Vec<&str> = sample.lines().collect();
            lines
                .iter()
                .enumerate()
                .filter(|&(i, l)| {
                    // A source line is about the frame above it.
                    let about = if l.starts_with("  ") && i > 0 {
                        lines[i - 1]
                    } else {
                        l
                    };
                    ours_only(about) || ours_only(l)
                })
                .map(|(_, l)| *l)
                .collect()
        })
        .collect()
}

#[test]
fn script_shows_inlined_frames_and_source_lines_as_perf_does() {
    let s = Scratch::new("inline-script");
    let Some(data) = capture(&s) else { return };
    let d = data.to_str().unwrap();
    for extra in [&["-F", "+srcline"][..], &[], &["--no-inline"]] {
        let mut args = vec!["script", "-i", d];
        args.extend_from_slice(extra);
        let Some(theirs) = perf(&s, &args) else {
            return;
        };
        let mine = ours(&s, &args);
        // Sample by sample (perf ends each with a blank line), the lines about the
        // program's own frames: libc and ld.so frames may differ (DWARF names perf marks
        // inlined, source lines perf reads from unverified files), and with them the
        // number of lines a sample takes.
        let (t, m) = (program_lines(&theirs), program_lines(&mine));
        assert_eq!(t.len(), m.len(), "{extra:?}: sample counts");
        let (mut compared, mut inlined) = (0, 0);
        for (i, (a, b)) in t.iter().zip(&m).enumerate() {
            let a: Vec<_> = a.iter().map(|l| normalized(l)).collect();
            let b: Vec<_> = b.iter().map(|l| normalized(l)).collect();
            assert_eq!(a, b, "{extra:?}: sample {i}");
            compared += a.len();
            inlined += b.iter().filter(|l| l.ends_with(" (inlined)")).count();
        }
        println!(
            "script {extra:?}: {compared} lines of the program's frames equal, {inlined} inlined"
        );
        assert!(compared > 100, "{extra:?}: {compared}");
        if extra == ["--no-inline"] {
            assert_eq!(inlined, 0);
            assert!(!mine.contains("(inlined)"));
        } else {
            assert!(inlined > 10, "{extra:?}: {inlined}");
        }
    }
}

#[test]
fn report_shows_inlined_frames_as_perf_report_inline_does() {
    let s = Scratch::new("inline-report");
    let Some(data) = capture(&s) else { return };
    let d = data.to_str().unwrap();
    for extra in [
        &[][..],
        &["--no-children"],
        &["--no-inline"],
        &["--no-children", "--no-inline"],
        &["--no-children", "-g", "caller"],
    ] {
        let mut args = vec!["report", "--stdio", "-i", d];
        args.extend_from_slice(extra);
        let Some(theirs) = perf(&s, &args) else {
            return;
        };
        let mine = ours(&s, &args);
        let pick = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .filter(|l| {
                    ["mix", "step", "work", "main"]
                        .iter()
                        .any(|w| l.contains(w))
                })
                .filter(|l| !l.contains("libc"))
                .map(str::to_owned)
                .collect()
        };
        let (t, m) = (pick(&theirs), pick(&mine));
        // Branches of equal weight where one is an inlined frame: perf orders its children
        // tree by name for inlined frames and by address otherwise, which is no total
        // order, so the order of such ties depends on the order samples were inserted.
        // Only then, the same lines in another order are accepted.
        if t != m {
            let tree_free = |v: &[String]| -> Vec<String> {
                let mut v: Vec<String> = v
                    .iter()
                    .map(|l| l.trim_start_matches([' ', '|', '-']).to_owned())
                    .collect();
                v.sort();
                v
            };
            let tied = m.iter().any(|l| l.contains("(inlined)")) && tree_free(&t) == tree_free(&m);
            assert!(tied, "{extra:?}\nperf: {t:#?}\nours: {m:#?}");
            println!("report {extra:?}: equal-weight branches ordered differently");
        }
        let inlined = m.iter().filter(|l| l.contains("(inlined)")).count();
        println!(
            "report {extra:?}: {} lines equal, {inlined} inlined",
            t.len()
        );
        assert!(t.len() >= 3, "{extra:?}");
        assert_eq!(inlined > 0, !extra.contains(&"--no-inline"), "{extra:?}");
    }
}

#[test]
fn folded_and_pprof_exports_carry_the_inlined_frames_with_reports_totals() {
    let s = Scratch::new("inline-export");
    let Some(data) = capture(&s) else { return };
    let d = data.to_str().unwrap();
    let folded = ours(&s, &["export", "-i", d, "--format", "folded", "-o", "-"]);
    assert!(folded.contains(";work;step_[i];mix_[i] "), "{folded}");
    let folded_total: u64 = folded
        .lines()
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<u64>().ok())
        .sum();
    let report: serde_json::Value =
        serde_json::from_str(&ours(&s, &["report", "--json", "-i", d])).unwrap();
    let total = report["events"][0]["period"].as_u64().unwrap();
    assert_eq!(folded_total, total);

    let pb = s.path("p.pb.gz");
    ours(
        &s,
        &[
            "export",
            "-i",
            d,
            "--format",
            "pprof",
            "-o",
            pb.to_str().unwrap(),
        ],
    );
    let go = |args: &[&str]| -> Option<String> {
        match s
            .cmd("go")
            .args(["tool", "pprof"])
            .args(args)
            .arg(&pb)
            .output()
        {
            Ok(o) if o.status.success() => Some(text(&o)),
            Ok(o) => panic!(
                "go tool pprof {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => {
                skip(&format!(
                    "cannot run `go tool pprof` (Debian golang-go): {e}"
                ));
                None
            }
        }
    };
    let Some(top) = go(&["-top", "-symbolize=none", "-unit=ns"]) else {
        return;
    };
    assert!(
        top.contains("mix (inline)") && top.contains("step (inline)"),
        "{top}"
    );
    let total_ns = format!("of {total}ns total");
    assert!(top.contains(&total_ns), "{total_ns}: {top}");
    // The inlined function's share is report's: its Children percentage.
    let children = |name: &str| {
        report["events"][0]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["symbol"] == name && r["inlined"] == true)
            .map(|r| r["children_period"].as_u64().unwrap())
    };
    let mix = children("mix").expect("report has mix (inlined)");
    let cum = top
        .lines()
        .find(|l| l.ends_with("mix (inline)"))
        .and_then(|l| l.split_whitespace().nth(3))
        .unwrap();
    assert_eq!(cum, format!("{mix}ns"), "{top}");
    let Some(lines) = go(&["-top", "-lines", "-symbolize=none"]) else {
        return;
    };
    assert!(lines.contains("prog.c:"), "{lines}");
    let Some(traces) = go(&["-traces", "-symbolize=none"]) else {
        return;
    };
    assert!(traces.contains("mix (inline)\n") || traces.contains("mix (inline)\r\n"));
}

/// Every stack of a Firefox Profiler JSON thread as function names from the root, with
/// the subcategory name of each frame ("Inlined" for an inlined call).
fn firefox_stacks(profile: &serde_json::Value) -> Vec<Vec<(String, String)>> {
    let categories = profile["meta"]["categories"].as_array().unwrap();
    let mut stacks = Vec::new();
    for t in profile["threads"].as_array().unwrap() {
        let strings = t["stringArray"].as_array().unwrap();
        let (frames, funcs, table) = (&t["frameTable"], &t["funcTable"], &t["stackTable"]);
        let at = |v: &serde_json::Value, i: u64| v.as_array().unwrap()[i as usize].clone();
        for stack in t["samples"]["stack"].as_array().unwrap() {
            let mut names = Vec::new();
            let mut s = stack.as_u64();
            while let Some(i) = s {
                let frame = at(&table["frame"], i).as_u64().unwrap();
                let func = at(&frames["func"], frame).as_u64().unwrap();
                let name = at(&funcs["name"], func).as_u64().unwrap();
                let cat = at(&frames["category"], frame).as_u64().unwrap();
                let sub = at(&frames["subcategory"], frame).as_u64().unwrap();
                let sub = &categories[cat as usize]["subcategories"][sub as usize];
                names.push((
                    strings[name as usize].as_str().unwrap().to_owned(),
                    sub.as_str().unwrap().to_owned(),
                ));
                s = at(&table["prefix"], i).as_u64();
            }
            names.reverse();
            stacks.push(names);
        }
    }
    stacks
}

#[test]
fn firefox_export_carries_the_inlined_frames_and_no_inline_removes_them_from_every_export() {
    let s = Scratch::new("inline-export-firefox");
    let Some(data) = capture(&s) else { return };
    let d = data.to_str().unwrap();
    let report: serde_json::Value =
        serde_json::from_str(&ours(&s, &["report", "--json", "-i", d])).unwrap();
    let samples = report["events"][0]["samples"].as_u64().unwrap();
    let json = s.path("p.json");
    let firefox = |extra: &[&str]| -> Vec<Vec<(String, String)>> {
        let mut args = vec!["export", "-i", d, "--format", "firefox", "-o"];
        args.push(json.to_str().unwrap());
        args.extend_from_slice(extra);
        ours(&s, &args);
        let profile = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        firefox_stacks(&profile)
    };
    let inlined = |f: &(String, String)| f.1 == "Inlined";
    let stacks = firefox(&[]);
    assert_eq!(stacks.len() as u64, samples, "one sample per report sample");
    let work_step_mix = |st: &Vec<(String, String)>| {
        st.windows(3).any(|w| {
            let names: Vec<_> = w.iter().map(|f| f.0.as_str()).collect();
            names == ["work", "step", "mix"] && !inlined(&w[0]) && inlined(&w[1]) && inlined(&w[2])
        })
    };
    let with = stacks.iter().filter(|st| work_step_mix(st)).count();
    assert!(
        with > 0,
        "no sample with work > step (inlined) > mix (inlined)"
    );
    // step and mix are always inlined: never a frame of their own function.
    for f in stacks.iter().flatten() {
        assert!(f.0 != "step" && f.0 != "mix" || inlined(f), "{f:?}");
    }

    let flat = firefox(&["--no-inline"]);
    assert_eq!(flat.len() as u64, samples);
    assert!(flat.iter().flatten().all(|f| !inlined(f)));
    assert!(flat.iter().any(|st| st.iter().any(|f| f.0 == "work")));
    assert!(!flat.iter().flatten().any(|f| f.0 == "step" || f.0 == "mix"));
    // `--inline` after `--no-inline` turns it back on, as report's.
    assert_eq!(firefox(&["--no-inline", "--inline"]), stacks);

    let folded = ours(
        &s,
        &[
            "export",
            "-i",
            d,
            "--format",
            "folded",
            "-o",
            "-",
            "--no-inline",
        ],
    );
    assert!(!folded.contains("_[i]"), "{folded}");
    assert!(folded.contains(";work "), "{folded}");

    let pb = s.path("flat.pb.gz");
    let pb = pb.to_str().unwrap();
    ours(
        &s,
        &[
            "export",
            "-i",
            d,
            "--format",
            "pprof",
            "-o",
            pb,
            "--no-inline",
        ],
    );
    let traces = match s
        .cmd("go")
        .args(["tool", "pprof", "-traces", "-symbolize=none", pb])
        .output()
    {
        Ok(o) if o.status.success() => text(&o),
        Ok(o) => panic!("go tool pprof: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            skip(&format!(
                "cannot run `go tool pprof` (Debian golang-go): {e}"
            ));
            return;
        }
    };
    // One Line per Location: no inlined function in any trace.
    assert!(!traces.contains("(inline)"), "{traces}");
    assert!(
        traces.contains(" work\n") || traces.contains(" work\r\n"),
        "{traces}"
    );
}
