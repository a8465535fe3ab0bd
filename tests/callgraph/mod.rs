//! Call graphs: `report`'s children/self tables and callchain trees against
//! `perf report --stdio` on the same file, and `--call-graph dwarf` unwinding against
//! `perf script` on a program built without frame pointers.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use perf_client::analysis::report::{build_with, ReportOptions};
use perf_client::analysis::script::{script_with, FieldSpec, ScriptFormat, ScriptOptions};
use perf_client::kernel::capture::{CaptureError, Target};
use perf_client::kernel::event::OpenError;
use perf_client::perf_data::attr::flag;
use perf_client::perf_data::sample_type as st;
use perf_client::perf_data::writer::FinishInfo;
use perf_client::perf_data::{EventEntry, FileAttr, HostFeatures, PerfData, PerfDataWriter};
use perf_client::record::{record, RecordError, RecordOptions};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("callgraph-tests-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs a tool the test needs, or skips (counted) when it is not installed.
fn run(tool: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(tool).args(args).output() {
        Ok(o) => Some(o),
        Err(e) => {
            crate::common::skip(&format!("cannot run {tool}: {e}"));
            None
        }
    }
}

const PERF_CONTEXT_USER: u64 = (-512i64) as u64;

/// Addresses of the hand-made program (no map: both tools print them in hex).
const MAIN: u64 = 0x40_1000;
const A: u64 = 0x40_1100;
const B: u64 = 0x40_1200;
const C: u64 = 0x40_1300;
const LEAF1: u64 = 0x40_1400;
const LEAF2: u64 = 0x40_1500;

/// A file of user-mode samples of one thread `worker` with these callchains
/// (innermost first) and periods: branches of distinct weights, a chain that ends in
/// the middle of another (c), and one that skips a level (leaf2 under main→c).
fn write_tree_file(path: &Path) {
    let mut attr = FileAttr::zeroed();
    attr.set_type(1)
        .set_config(0)
        .set_sample_period(1000)
        .set_sample_type(st::IP | st::TID | st::TIME | st::PERIOD | st::CALLCHAIN)
        .set_flags(flag::COMM | flag::EXCLUDE_HV);
    let ev = vec![EventEntry {
        attr,
        name: "cpu-clock".into(),
        ids: vec![],
    }];
    let mut w = PerfDataWriter::create(path, ev, None).unwrap();
    let (pid, tid) = (4242u32, 4242u32);
    let mut comm = Vec::new();
    let h = perf_ringbuf::RecordHeader {
        record_type: 3,
        misc: 0,
        size: 8 + 8 + 8,
    };
    comm.extend_from_slice(&h.to_u64().to_ne_bytes());
    comm.extend_from_slice(&pid.to_ne_bytes());
    comm.extend_from_slice(&tid.to_ne_bytes());
    comm.extend_from_slice(b"worker\0\0");
    w.write_records(&comm).unwrap();
    let chains: [(&[u64], u64, u64); 6] = [
        (&[LEAF1, B, A, MAIN], 60, 1000),
        (&[LEAF2, B, A, MAIN], 25, 1000),
        (&[LEAF1, C, A, MAIN], 9, 1000),
        (&[C, A, MAIN], 3, 1500),
        (&[LEAF2, C, MAIN], 2, 1000),
        (&[A, MAIN], 1, 700),
    ];
    let mut time = 1_000_000_000u64;
    for (chain, count, period) in chains {
        for _ in 0..count {
            let n = chain.len() + 1;
            let size = 8 + 8 + 8 + 8 + 8 + 8 + 8 * n;
            let h = perf_ringbuf::RecordHeader {
                record_type: 9,
                misc: perf_client::perf_data::misc::USER,
                size: size as u16,
            };
            let mut r = Vec::new();
            r.extend_from_slice(&h.to_u64().to_ne_bytes());
            r.extend_from_slice(&chain[0].to_ne_bytes());
            r.extend_from_slice(&pid.to_ne_bytes());
            r.extend_from_slice(&tid.to_ne_bytes());
            r.extend_from_slice(&time.to_ne_bytes());
            r.extend_from_slice(&period.to_ne_bytes());
            r.extend_from_slice(&(n as u64).to_ne_bytes());
            r.extend_from_slice(&PERF_CONTEXT_USER.to_ne_bytes());
            for ip in chain {
                r.extend_from_slice(&ip.to_ne_bytes());
            }
            w.write_records(&r).unwrap();
            time += 1000;
        }
    }
    w.finished_round().unwrap();
    let info = FinishInfo {
        host: HostFeatures::of_this_host(vec!["perf-client".into(), "test".into()]),
        build_ids: Vec::new(),
    };
    w.finish(&info).unwrap();
}

/// perf's report text without its first line (it names perf's --header option) and
/// its closing tip, which is chosen at random.
fn perf_report(path: &Path, flags: &[&str]) -> Option<Vec<String>> {
    let mut args = vec!["report", "--stdio", "-i", path.to_str().unwrap()];
    args.extend_from_slice(flags);
    let o = run("perf", &args)?;
    assert!(
        o.status.success(),
        "perf report {flags:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut lines: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
    if let Some(i) = lines.iter().rposition(|l| l.starts_with("# (Tip:")) {
        lines.truncate(i - 1);
    }
    Some(lines)
}

fn our_report(path: &Path, flags: &[&str]) -> Vec<String> {
    let o = Command::new(crate::common::perf_client_bin())
        .args(["report", "-i", path.to_str().unwrap()])
        .args(flags)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "perf-client report {flags:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn report_text_equals_perf_report_stdio_line_for_line_on_a_callchain_file() {
    let path = temp_dir("tree").join("tree.data");
    write_tree_file(&path);
    for flags in [
        &[][..],
        &["--no-children"],
        &["-g", "callee"],
        &["--no-children", "-g", "caller"],
        &["-g", "graph,5,callee"],
        &["-g", "fractal"],
        &["--no-children", "-g", "fractal,0.5,callee"],
        &["--percent-limit", "10"],
        &["--sort", "sym"],
        &["--sort", "dso,sym", "--no-children"],
        &["--sort", "pid", "--no-children"],
        &["-g", "graph,0.5,caller,function,period"],
        &["-g", "none"],
    ] {
        let Some(perf) = perf_report(&path, flags) else {
            return;
        };
        let ours = our_report(&path, flags);
        let first = ours.iter().zip(&perf).position(|(a, b)| a != b);
        assert!(
            first.is_none() && ours.len() == perf.len(),
            "{flags:?}: first difference at line {first:?} ({} vs {} lines):\nours: {:?}\nperf: {:?}\n--- ours ---\n{}",
            ours.len(),
            perf.len(),
            first.map(|i| &ours[i]),
            first.map(|i| &perf[i]),
            ours.join("\n")
        );
    }
}

#[test]
fn report_trees_carry_children_and_self_periods() {
    let path = temp_dir("tree-lib").join("tree.data");
    write_tree_file(&path);
    let f = PerfData::open(&path).unwrap();
    let rep = build_with(&f, &ReportOptions::perf_defaults()).unwrap();
    assert!(
        rep.children,
        "a file with callchains gets children by default"
    );
    let ev = &rep.events[0];
    let total = 60_000 + 25_000 + 9_000 + 4_500 + 2_000 + 700;
    assert_eq!(ev.period, total);
    let main = ev.rows.iter().find(|r| r.addr == MAIN).unwrap();
    assert_eq!((main.children_period, main.period), (total, 0));
    assert_eq!(ev.rows[0].addr, MAIN, "highest Children first");
    // main's tree (caller order) branches into a and c; a into b, c and a's own end.
    let root = &main.callchain;
    assert_eq!(root.len(), 1);
    assert_eq!(root[0].frames, ["0x401000"]);
    let kids: Vec<(&str, u64)> = root[0]
        .children
        .iter()
        .map(|n| (n.frames[0].as_str(), n.period))
        .collect();
    assert_eq!(kids, [("0x401100", total - 2_000), ("0x401300", 2_000)]);
    let json = rep.to_json();
    assert_eq!(json["children"], true);
    assert!(json["events"][0]["rows"][0]["callchain"][0]["children"].is_array());
}

/// main → chain_a → chain_b → chain_leaf, none inlined, built without frame pointers.
const CHAIN_C: &str = r#"
#include <stdlib.h>
volatile unsigned long sink;
__attribute__((noinline)) void chain_leaf(unsigned long n) { for (unsigned long i = 0; i < n; i++) sink += i * i; }
__attribute__((noinline)) void chain_b(unsigned long n) { chain_leaf(n); sink++; }
__attribute__((noinline)) void chain_a(unsigned long n) { chain_b(n); sink++; }
int main(int argc, char **argv) {
    unsigned long n = argc > 1 ? strtoul(argv[1], 0, 10) : 100;
    for (unsigned long k = 0; k < n; k++) chain_a(1000000);
    return 0;
}
"#;

/// Function name → [start, end) file offsets, from `nm -S` (text symbols).
fn functions(binary: &Path) -> Option<Vec<(String, u64, u64)>> {
    let o = run("nm", &["-S", binary.to_str().unwrap()])?;
    let mut out = Vec::new();
    for l in String::from_utf8_lossy(&o.stdout).lines() {
        let p: Vec<&str> = l.split_whitespace().collect();
        if let [addr, size, kind, name] = p[..] {
            if kind.eq_ignore_ascii_case("t") {
                let a = u64::from_str_radix(addr, 16).ok()?;
                let s = u64::from_str_radix(size, 16).ok()?;
                out.push((name.to_owned(), a, a + s));
            }
        }
    }
    Some(out)
}

/// perf script's frames per sample: (address, DSO file name), an inlined frame merged
/// into the next entry of its address (the DSO stays `inlined` when perf prints only
/// inlined entries there). One list per sample, empty when perf printed no frame.
fn perf_frames(path: &Path) -> Option<Vec<Vec<(u64, String)>>> {
    let o = run(
        "perf",
        &[
            "script",
            "-F",
            "tid,time,ip,sym,dso",
            "-i",
            path.to_str().unwrap(),
        ],
    )?;
    assert!(
        o.status.success(),
        "perf script: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut samples: Vec<Vec<(u64, String)>> = Vec::new();
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(frame) = line.strip_prefix('\t') else {
            // A header line (tid, time) starts a sample; blank lines end one.
            if !line.trim().is_empty() {
                samples.push(Vec::new());
            }
            continue;
        };
        let cur = samples.last_mut().expect("a frame after a sample header");
        let frame = frame.trim_start();
        let (addr, rest) = frame.split_once(' ').unwrap_or((frame, ""));
        let addr = u64::from_str_radix(addr, 16).unwrap();
        let dso = rest
            .rsplit_once('(')
            .map_or("", |(_, d)| d.trim_end_matches(')'));
        let dso = Path::new(dso)
            .file_name()
            .map_or(dso.to_owned(), |n| n.to_string_lossy().into_owned());
        // An inlined frame is printed before the frame it is inlined in, at its address.
        match cur.last_mut() {
            Some(last) if last.0 == addr && last.1 == "inlined" => last.1 = dso,
            _ => cur.push((addr, dso)),
        }
    }
    Some(samples)
}

#[test]
fn dwarf_unwinding_without_frame_pointers_reaches_main_and_matches_perf_frame_for_frame() {
    let dir = temp_dir("dwarf");
    let src = dir.join("chain.c");
    let bin = dir.join("chain");
    std::fs::write(&src, CHAIN_C).unwrap();
    let Some(cc) = run(
        "gcc",
        &[
            "-O2",
            "-g",
            "-fomit-frame-pointer",
            "-o",
            bin.to_str().unwrap(),
            src.to_str().unwrap(),
        ],
    ) else {
        return;
    };
    assert!(
        cc.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let mut opts = RecordOptions::new(
        vec!["cpu-clock".into()],
        Target::Command(vec![OsString::from(&bin), OsString::from("100")]),
    );
    opts.callchain = true;
    opts.dwarf_stack_user = Some(8192);
    opts.output = dir.join("dwarf.data");
    match record(&opts, |_| {}) {
        Ok(_) => {}
        Err(RecordError::Capture(CaptureError::Open(e @ OpenError::NotPermitted { .. }))) => {
            return crate::common::skip(&format!("the kernel refused the event: {e}"));
        }
        Err(e) => panic!("recording failed: {e}"),
    }
    let f = PerfData::open(&opts.output).unwrap();
    let mut json = Vec::new();
    let sum = script_with(
        &f,
        &mut json,
        &ScriptOptions {
            format: ScriptFormat::Json,
            fields: FieldSpec::Default,
            ..ScriptOptions::default()
        },
    )
    .unwrap();
    // Our frames as perf prints dwarf-unwound ones: user addresses as offsets in their
    // file, kernel addresses as they are.
    let mut ours: Vec<Vec<(u64, String)>> = String::from_utf8(json)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["callchain"]
                .as_array()
                .unwrap()
                .iter()
                // perf's inlined entries are merged into their function's above.
                .filter(|fr| fr["inlined"].is_null())
                .map(|fr| {
                    let hex = |s: &serde_json::Value| {
                        u64::from_str_radix(s.as_str().unwrap().trim_start_matches("0x"), 16)
                            .unwrap()
                    };
                    let addr = if fr["dso_offset"].is_null() {
                        hex(&fr["ip"])
                    } else {
                        hex(&fr["dso_offset"])
                    };
                    (addr, fr["dso"].as_str().unwrap_or("").to_owned())
                })
                .collect()
        })
        .collect();
    let Some(funcs) = functions(&bin) else {
        return;
    };
    let name = bin.file_name().unwrap().to_str().unwrap();
    let in_fn = |fr: &(u64, String), f: &str| {
        fr.1 == name
            && funcs
                .iter()
                .any(|(n, s, e)| n == f && (*s..*e).contains(&fr.0))
    };
    let leaf: Vec<&Vec<(u64, String)>> = ours
        .iter()
        .filter(|c| c.first().is_some_and(|fr| in_fn(fr, "chain_leaf")))
        .collect();
    assert!(leaf.len() >= 50, "too few leaf samples: {}", leaf.len());
    let to_main = leaf
        .iter()
        .filter(|c| {
            ["chain_b", "chain_a", "main"]
                .iter()
                .enumerate()
                .all(|(i, f)| c.get(i + 1).is_some_and(|fr| in_fn(fr, f)))
        })
        .count();
    assert!(
        to_main * 100 >= leaf.len() * 99,
        "{to_main} of {} leaf samples unwound leaf → b → a → main ({:?})",
        leaf.len(),
        sum.unwind
    );
    let Some(mut perf) = perf_frames(&opts.output) else {
        return;
    };
    assert_eq!(perf.len(), ours.len(), "perf script's sample count");
    // libdw sometimes repeats a frame of ld.so at startup (the same return address twice
    // in a row, where the CFA did not move); the program has no recursion, so a repeated
    // address is never a frame of its own on either side.
    let leaves = leaf.len();
    for chain in perf.iter_mut().chain(ours.iter_mut()) {
        chain.dedup();
    }
    let frame_eq =
        |a: &(u64, String), b: &(u64, String)| a.0 == b.0 && (b.1 == "inlined" || a.1 == b.1);
    let equal = |o: &[(u64, String)], p: &[(u64, String)]| {
        o.len() == p.len() && o.iter().zip(p).all(|(a, b)| frame_eq(a, b))
    };
    // perf gives up on a few samples early (at startup, in ld.so) where we go on: its
    // frames must then be the start of ours.
    let extends = |o: &[(u64, String)], p: &[(u64, String)]| {
        o.len() > p.len() && o.iter().zip(p).all(|(a, b)| frame_eq(a, b))
    };
    let bad = ours
        .iter()
        .zip(&perf)
        .find(|(o, p)| !equal(o, p) && !extends(o, p));
    assert!(
        bad.is_none(),
        "a sample whose frames differ from perf script's (ours, perf's): {bad:?}"
    );
    let leaf_equal = ours
        .iter()
        .zip(&perf)
        .filter(|(o, _)| o.first().is_some_and(|fr| in_fn(fr, "chain_leaf")))
        .filter(|(o, p)| equal(o, p))
        .count();
    assert_eq!(
        leaf_equal, leaves,
        "leaf samples equal to perf script's frame for frame"
    );
}

#[test]
fn script_prints_tracepoint_fields_exactly_as_perf_script() {
    let dir = temp_dir("tracepoints");
    let mut opts = RecordOptions::new(
        vec![
            "sched:sched_switch".into(),
            "raw_syscalls:sys_enter".into(),
            "raw_syscalls:sys_exit".into(),
            "sched:sched_process_exec".into(),
        ],
        Target::Command(
            ["sh", "-c", "sleep 0.01; ls / > /dev/null"]
                .iter()
                .map(OsString::from)
                .collect(),
        ),
    );
    opts.output = dir.join("tp.data");
    match record(&opts, |_| {}) {
        Ok(_) => {}
        Err(
            RecordError::Capture(CaptureError::Open(
                e @ (OpenError::NotPermitted { .. } | OpenError::Tracepoint(_)),
            ))
            | RecordError::Event(e @ (OpenError::NotPermitted { .. } | OpenError::Tracepoint(_))),
        ) => return crate::common::skip(&format!("the kernel refused the tracepoints: {e}")),
        Err(e) => panic!("recording failed: {e}"),
    }
    let f = PerfData::open(&opts.output).unwrap();
    let mut ours = Vec::new();
    script_with(
        &f,
        &mut ours,
        &ScriptOptions {
            format: ScriptFormat::Text,
            fields: FieldSpec::Default,
            ..ScriptOptions::default()
        },
    )
    .unwrap();
    let ours = String::from_utf8(ours).unwrap();
    assert!(ours.contains(" ==> next_comm="), "sched_switch fields");
    assert!(
        ours.contains("raw_syscalls:sys_enter: NR "),
        "sys_enter fields"
    );
    let Some(o) = run("perf", &["script", "-i", opts.output.to_str().unwrap()]) else {
        return;
    };
    assert!(o.status.success());
    let perf = String::from_utf8_lossy(&o.stdout);
    let differ: Vec<(&str, &str)> = ours
        .lines()
        .zip(perf.lines())
        .filter(|(a, b)| a != b)
        .take(3)
        .collect();
    assert_eq!(ours.lines().count(), perf.lines().count(), "line counts");
    assert!(
        differ.is_empty(),
        "lines that differ from perf script: {differ:#?}"
    );
}
