//! The corpus: one test per kind of file.

use std::path::{Path, PathBuf};

use super::{check, compare_report, compare_script, gcc, run, Scratch};
use crate::common::perf_client_bin;

/// A program with a hot function of its own, frame pointers kept. With `-DPAD` a
/// function is added before it, so a rebuild moves `hot`.
const PROG: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#ifdef PAD
__attribute__((noinline)) long pad_fn(long x) { long s = 0; for (long i = 0; i < x; i++) s += i * 7 ^ (s >> 3); return s; }
#endif
__attribute__((noinline)) long hot(long n) { long s = 0; for (long i = 0; i < n; i++) s += (i * 2654435761u) >> 7; return s; }
int main(int argc, char **argv) { long n = argc > 1 ? atol(argv[1]) : 100000000; printf("%ld\n", hot(n)); return 0; }
"#;

/// A program that spends its time inside libc (qsort's merge sort, memcpy): its frames
/// are named only from libc's detached debug file.
const LIBC_PROG: &str = r#"
#include <stdio.h>
#include <stdlib.h>
static int cmp(const void *a, const void *b) { int x = *(const int *)a, y = *(const int *)b; return (x > y) - (x < y); }
int main(void) {
    enum { N = 1 << 16 };
    static int v[N];
    unsigned s = 1;
    long sum = 0;
    for (int r = 0; r < 60; r++) {
        for (int i = 0; i < N; i++) { s = s * 1103515245u + 12345u; v[i] = (int)(s >> 8); }
        qsort(v, N, sizeof v[0], cmp);
        sum += v[N / 2];
    }
    printf("%ld\n", sum);
    return 0;
}
"#;

fn perf_record(s: &Scratch, out: &Path, args: &[&str], cmd: &[&Path]) -> Option<()> {
    let mut c = s.cmd("perf");
    c.args(["record", "-q", "-o"]).arg(out).args(args).arg("--");
    c.args(cmd);
    run(&mut c, "perf record").map(|_| ())
}

fn pc_record(s: &Scratch, out: &Path, args: &[&str], cmd: &[&Path]) -> Option<()> {
    let mut c = s.cmd(perf_client_bin());
    c.args(["record", "-q", "-o"]).arg(out).args(args).arg("--");
    c.args(cmd);
    run(&mut c, "perf-client record").map(|_| ())
}

/// Records `cmd` with perf and with perf-client (same flags), compares both files.
fn both(name: &str, args: &[&str], src: &str, cmd_args: &[&str]) {
    let s = Scratch::new(name);
    let Some(bin) = gcc(&s, src, "prog", &[]) else {
        return;
    };
    let mut cmd: Vec<PathBuf> = vec![bin];
    cmd.extend(cmd_args.iter().map(PathBuf::from));
    let cmd: Vec<&Path> = cmd.iter().map(PathBuf::as_path).collect();
    for (who, file) in [("perf", "perf.data"), ("perf-client", "pc.data")] {
        let out = s.path(file);
        let done = if who == "perf" {
            perf_record(&s, &out, args, &cmd)
        } else {
            pc_record(&s, &out, args, &cmd)
        };
        if done.is_none() {
            return;
        }
        let label = format!("{name} ({who})");
        let Some(row) = compare_script(&s, &out, &label) else {
            return;
        };
        check(&row);
        compare_report(&s, &out, &label);
    }
}

#[test]
fn callchains_name_the_frames_perf_names() {
    both(
        "callchains-g",
        &["-g", "-e", "cpu-clock", "-c", "100000"],
        PROG,
        &["100000000"],
    );
}

#[test]
fn tracepoint_samples_name_the_frames_perf_names() {
    both(
        "tracepoint",
        &["-e", "raw_syscalls:sys_enter"],
        PROG,
        &["1000"],
    );
}

#[test]
fn two_events_name_the_frames_perf_names() {
    both(
        "two-events",
        &["-g", "-e", "cpu-clock,page-faults", "-c", "100000"],
        PROG,
        &["50000000"],
    );
}

#[test]
fn compressed_files_name_the_frames_perf_names() {
    // perf reads perf-client's -z files, and we read perf's.
    both(
        "z",
        &["-z", "-g", "-e", "cpu-clock", "-c", "100000"],
        PROG,
        &["100000000"],
    );
}

#[test]
fn a_file_from_another_kernel_build_gets_no_wrong_kernel_names() {
    // Recorded on kernel build e4f18d9d… (tests/fixtures/README.md): on another build
    // perf prints [unknown] for its kernel frames, and so must we.
    let s = Scratch::new("other-kernel");
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sys-enter.data");
    if let Some(row) = compare_script(&s, &file, "sys-enter.data (fixture)") {
        check(&row);
    }
}

#[test]
fn a_rebuilt_binary_is_named_from_the_build_id_cache_or_not_at_all() {
    let s = Scratch::new("rebuilt");
    let Some(bin) = gcc(&s, PROG, "prog", &[]) else {
        return;
    };
    let cmd = [bin.as_path(), Path::new("100000000")];
    let args = ["-g", "-e", "cpu-clock", "-c", "100000"];
    let (pf, of) = (s.path("perf.data"), s.path("pc.data"));
    if perf_record(&s, &pf, &args, &cmd).is_none() || pc_record(&s, &of, &args, &cmd).is_none() {
        return;
    }
    // Rebuild: `hot` moves, `pad_fn` takes its old place.
    gcc(&s, PROG, "prog", &["-DPAD"]).unwrap();
    // The build-id cache both recorders filled (perf reads ours too), kept aside.
    let filled = s.path("home-filled");
    super::run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(s.home())
            .arg(&filled),
        "cp -a",
    );
    let set_home = |with_cache: bool| {
        std::fs::remove_dir_all(s.home()).unwrap();
        if with_cache {
            super::run_ok(
                std::process::Command::new("cp")
                    .arg("-a")
                    .arg(&filled)
                    .arg(s.home()),
                "cp -a",
            );
        } else {
            std::fs::create_dir_all(s.home()).unwrap();
        }
    };
    for (who, file) in [("perf", &pf), ("perf-client", &of)] {
        set_home(true);
        let label = format!("rebuilt, cache ({who})");
        let Some(row) = compare_script(&s, file, &label) else {
            return;
        };
        check(&row);
        compare_report(&s, file, &label);
        let ours = super::run_ok(
            s.cmd(perf_client_bin()).args(["report", "-i"]).arg(file),
            "perf-client report",
        );
        let text = String::from_utf8_lossy(&ours.stdout);
        assert!(
            text.contains("[.] hot"),
            "{label}: hot not named from the cache\n{text}"
        );
        // Without a cache: perf prints addresses, and we must not name the new code.
        set_home(false);
        let label = format!("rebuilt, no cache ({who})");
        let Some(row) = compare_script(&s, file, &label) else {
            return;
        };
        check(&row);
        // The rebuilt program's frames stay addresses; a frame perf leaves unnamed
        // elsewhere (a verified ld.so or kernel frame perf failed to resolve) may be named.
        let in_prog: Vec<_> = row
            .named_by_us_in
            .iter()
            .filter(|f| f.starts_with("prog:"))
            .collect();
        assert!(
            in_prog.is_empty(),
            "{label}: named frames of the rebuilt program: {in_prog:?}"
        );
        let ours = super::run_ok(
            s.cmd(perf_client_bin()).args(["report", "-i"]).arg(file),
            "perf-client report",
        );
        let text = String::from_utf8_lossy(&ours.stdout);
        assert!(
            !text.contains("pad_fn"),
            "{label}: named the new build's code\n{text}"
        );
        let err = String::from_utf8_lossy(&ours.stderr);
        assert!(
            err.contains("could not be verified by build id"),
            "{label}: {err}"
        );
    }
}

#[test]
fn libc_and_loader_frames_are_named_from_the_debug_package_as_perf_names_them() {
    if !Path::new("/usr/lib/debug/.build-id").is_dir() {
        crate::common::skip("libc6-dbg is not installed (/usr/lib/debug/.build-id)");
        return;
    }
    let s = Scratch::new("libc-dbg");
    let Some(bin) = gcc(&s, LIBC_PROG, "prog", &[]) else {
        return;
    };
    let args = ["-g", "-e", "cpu-clock", "-c", "50000"];
    for (who, file) in [("perf", "perf.data"), ("perf-client", "pc.data")] {
        let out = s.path(file);
        let done = if who == "perf" {
            perf_record(&s, &out, &args, &[&bin])
        } else {
            pc_record(&s, &out, &args, &[&bin])
        };
        if done.is_none() {
            return;
        }
        let label = format!("libc + libc6-dbg ({who})");
        let Some(row) = compare_script(&s, &out, &label) else {
            return;
        };
        check(&row);
        compare_report(&s, &out, &label);
        // The frames only the debug file names: libc's static functions and the start.
        let ours = super::run_ok(
            s.cmd(perf_client_bin()).args(["script", "-i"]).arg(&out),
            "perf-client script",
        );
        let text = String::from_utf8_lossy(&ours.stdout);
        assert!(
            text.contains("__libc_start_call_main"),
            "{label}: __libc_start_call_main not named"
        );
        assert!(
            text.contains("msort_with_tmp"),
            "{label}: qsort's merge sort not named"
        );
    }
}

#[test]
fn a_killed_recorder_leaves_a_readable_file_and_no_orphan() {
    let s = Scratch::new("killed");
    let Some(bin) = gcc(&s, PROG, "prog", &[]) else {
        return;
    };
    let out = s.path("killed.data");
    // A command that runs far longer than the test: only the kill ends it.
    let mut rec = s
        .cmd(perf_client_bin())
        .args(["record", "-q", "-e", "cpu-clock", "-c", "100000", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&bin)
        .arg("1000000000000")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait (bounded) until records have reached the file and the header says so.
    let mut recorded = 0;
    for _ in 0..600 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(b) = std::fs::read(&out) {
            if b.len() >= 56 {
                recorded = u64::from_ne_bytes(b[48..56].try_into().unwrap());
                if recorded > 64 << 10 {
                    break;
                }
            }
        }
        if rec.try_wait().unwrap().is_some() {
            let _ = super::run(&mut s.cmd("false"), "perf-client record (ended early)");
            return;
        }
    }
    assert!(recorded > 0, "the header's data size grows while recording");
    let child = std::fs::read_to_string(format!("/proc/{}/task/{}/children", rec.id(), rec.id()))
        .unwrap_or_default();
    rec.kill().unwrap();
    rec.wait().unwrap();
    // PR_SET_PDEATHSIG: the command dies with its recorder.
    for pid in child.split_whitespace() {
        let mut gone = false;
        for _ in 0..200 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Gone, or a zombie waiting for init to reap it.
            if stat.is_empty() || stat.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')) {
                gone = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(gone, "the recorded command {pid} outlived its recorder");
    }
    let ours = super::run_ok(
        s.cmd(perf_client_bin()).args(["report", "-i"]).arg(&out),
        "perf-client report",
    );
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(err.contains("was not finished"), "{err}");
    let text = String::from_utf8_lossy(&ours.stdout);
    let samples: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("# Samples: "))
        .and_then(|v| {
            // perf's convert_unit: "1K" for 1000 and more.
            let n = v.split_whitespace().next()?;
            let (digits, scale) = match n.strip_suffix('K') {
                Some(d) => (d, 1000),
                None => (n, 1),
            };
            digits.parse::<u64>().ok().map(|d| d * scale)
        })
        .unwrap_or(0);
    assert!(samples > 0, "{text}");
    assert!(text.contains("[.] hot"), "{text}");
}

/// A hot loop whose body is an inlined function, built with `-g`.
const INLINE_PROG: &str = r#"
#include <stdio.h>
#include <stdlib.h>
static inline __attribute__((always_inline)) long mix(long s, long i) {
    return s + ((i * 2654435761u) >> 7);
}
__attribute__((noinline)) long hot(long n) {
    long s = 0;
    for (long i = 0; i < n; i++)
        s = mix(s, i);
    return s;
}
int main(int argc, char **argv) { printf("%ld\n", hot(argc > 1 ? atol(argv[1]) : 100000000)); return 0; }
"#;

#[test]
fn source_lines_and_inlined_calls_come_from_dwarf() {
    use perf_client::analysis::machine::Machine;
    use perf_client::analysis::symbols::Symbols;
    use perf_client::perf_data::PerfData;
    use perf_client::records::Record;
    let s = Scratch::new("srcline");
    let Some(bin) = gcc(&s, INLINE_PROG, "prog", &[]) else {
        return;
    };
    let out = s.path("pc.data");
    let args = ["-e", "cpu-clock", "-c", "100000"];
    if pc_record(&s, &out, &args, &[&bin, Path::new("100000000")]).is_none() {
        return;
    }
    let file = PerfData::open(&out).unwrap();
    let ctx = file.parse_context().unwrap();
    let mut machine = Machine::new();
    let mut symbols = Symbols::for_file(&file);
    let (mut in_hot, mut with_line, mut inlined) = (0, 0, 0);
    perf_client::analysis::for_each_ordered(&file, &ctx, |rec| {
        let Record::Sample(smp) = &rec.record else {
            machine.apply(rec.header.misc, &rec.record);
            return Ok(());
        };
        let (pid, ip) = (smp.pid.unwrap_or(0), smp.ip.unwrap_or(0));
        if symbols.resolve(&machine, pid, ip).symbol.as_deref() != Some("hot") {
            return Ok(());
        }
        in_hot += 1;
        if let Some(l) = symbols.source_line(&machine, pid, ip) {
            assert_eq!(l.function, "hot");
            assert!(l.file.ends_with("prog.c"), "{l:?}");
            with_line += 1;
            if l.inlined.iter().any(|c| c.name == "mix") {
                inlined += 1;
            }
        }
        Ok(())
    })
    .unwrap();
    println!("srcline: {in_hot} samples in hot, {with_line} with a line, {inlined} in inlined mix");
    assert!(in_hot > 10, "{in_hot}");
    assert_eq!(with_line, in_hot, "every sample in hot has its line");
    assert!(inlined > 0, "the inlined call is named");
}

#[test]
fn recordings_are_readable_by_their_owner_only_as_perf_writes_them() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("mode");
    let t = Path::new("/bin/true");
    let (pf, of) = (s.path("perf.data"), s.path("pc.data"));
    if perf_record(&s, &pf, &["-e", "cpu-clock"], &[t]).is_none()
        || pc_record(&s, &of, &["-e", "cpu-clock"], &[t]).is_none()
    {
        return;
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&pf), 0o600, "perf's own mode");
    assert_eq!(mode(&of), mode(&pf));
}
