//! perf's `-e` syntax in `perf-client record`: for the same `-e` string, the attrs
//! `perf evlist -v` shows in our file equal those of `perf record`'s file in every field
//! the syntax decides; leader-sampling groups, tracepoint patterns and `--switch-events`
//! are read back by `perf script` as by `perf-client script`. Needs `/usr/bin/perf` and
//! permission to record (skips through `common::skip` otherwise).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common;

/// A scratch directory (also HOME, so no build-id cache outside it is touched).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evsyntax-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(mut cmd: Command, home: &Path) -> Option<Output> {
    match cmd
        .env("HOME", home)
        .env_remove("PERF_BUILDID_DIR")
        .output()
    {
        Ok(o) => Some(o),
        Err(e) => {
            common::skip(&format!("cannot run {cmd:?}: {e}"));
            None
        }
    }
}

/// Records `workload` with `-e event` into `out`, with perf (`perf`) or perf-client.
/// `None` (after a skip) when the recorder is missing or perf itself is refused.
fn record(perf: bool, event: &str, extra: &[&str], out: &Path, workload: &[&str]) -> Option<()> {
    let home = out.parent().unwrap();
    let mut cmd = if perf {
        Command::new("perf")
    } else {
        Command::new(common::perf_client_bin())
    };
    cmd.args([
        "record",
        "-q",
        "-N",
        "-o",
        out.to_str().unwrap(),
        "-e",
        event,
    ])
    .args(extra)
    .arg("--")
    .args(workload);
    let o = run(cmd, home)?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        if perf {
            common::skip(&format!("perf record -e {event} failed: {err}"));
            return None;
        }
        panic!("perf-client record -e {event} failed: {err}");
    }
    Some(())
}

/// `perf evlist -v -i file`: per event, its name and its fields.
fn evlist(file: &Path) -> Vec<(String, BTreeMap<String, String>)> {
    let o = Command::new("perf")
        .args(["evlist", "-v", "-i", file.to_str().unwrap()])
        .output()
        .expect("perf evlist");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(": type: "))
        .map(|l| {
            let at = l.find(": type: ").unwrap();
            let rest = l[at + 2..]
                .replace("{ sample_period, sample_freq }", "period_or_freq")
                .replace("{ wakeup_events, wakeup_watermark }", "wakeup");
            let fields = rest
                .split(", ")
                .filter_map(|kv| kv.split_once(": "))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            (l[..at].to_owned(), fields)
        })
        .collect()
}

/// `perf evlist -g -i file`: the events, `{a,b}` for a group.
fn groups(file: &Path) -> String {
    let o = Command::new("perf")
        .args(["evlist", "-g", "-i", file.to_str().unwrap()])
        .output()
        .expect("perf evlist -g");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fields an `-e` string decides, as `perf evlist -v` prints them ("0" when absent).
fn decided(fields: &BTreeMap<String, String>) -> Vec<(String, String)> {
    const KEYS: &[&str] = &[
        "type",
        "config",
        "period_or_freq",
        "freq",
        "exclude_user",
        "exclude_kernel",
        "exclude_hv",
        "exclude_guest",
        "exclude_host",
        "precise_ip",
        "pinned",
        "disabled",
        "inherit",
        "enable_on_exec",
        "context_switch",
    ];
    let mut out: Vec<(String, String)> = KEYS
        .iter()
        .map(|k| {
            let v = fields.get(*k).cloned().unwrap_or_else(|| "0".into());
            ((*k).to_owned(), v)
        })
        .collect();
    let has = |field: &str, bit: &str| {
        fields
            .get(field)
            .is_some_and(|v| v.split('|').any(|b| b == bit))
    };
    for (field, bit) in [
        ("sample_type", "READ"),
        ("sample_type", "PERIOD"),
        ("sample_type", "RAW"),
        ("read_format", "GROUP"),
    ] {
        out.push((format!("{field}&{bit}"), has(field, bit).to_string()));
    }
    out
}

#[test]
fn record_writes_the_attrs_perf_record_writes_for_the_same_event_strings() {
    let dir = scratch("attrs");
    let cases = [
        "cpu-clock:u",
        "cpu-clock:k,page-faults:uh",
        "{cpu-clock,page-faults}",
        "{cpu-clock,page-faults}:S",
        "{cpu-clock:u,page-faults:k}:S",
        "cpu-clock:S",
        "cpu-clock:ppp",
        "cpu-clock:GH",
        "cpu-clock:uG",
        "cpu-clock:D",
        "cpu-clock/period=100000/",
        "page-faults/freq=100/u",
        "sched:sched_switch:k",
        "sched:sched_w*",
        "{sched:sched_switch,page-faults}:S",
        "dummy,{cpu-clock,page-faults:u},task-clock:k",
    ];
    let (theirs, ours) = (dir.join("perf.data"), dir.join("ours.data"));
    let (mut compared, mut runs) = (0, 0);
    let with_flags = cases
        .iter()
        .map(|&e| (e, &[][..]))
        .chain([("page-faults,cpu-clock", &["--switch-events"][..])]);
    for (e, flags) in with_flags {
        if record(true, e, flags, &theirs, &["true"]).is_none() {
            return;
        }
        record(false, e, flags, &ours, &["true"]).unwrap();
        runs += 1;
        let (t, o) = (evlist(&theirs), evlist(&ours));
        let names = |v: &[(String, BTreeMap<String, String>)]| -> Vec<String> {
            v.iter().map(|(n, _)| n.clone()).collect()
        };
        assert_eq!(names(&o), names(&t), "-e {e}: event names");
        // The groups (GROUP_DESC), as `perf evlist -g` shows them.
        assert_eq!(groups(&ours), groups(&theirs), "-e {e}: groups");
        for ((name, tf), (_, of)) in t.iter().zip(&o) {
            assert_eq!(decided(of), decided(tf), "-e {e}: attr of {name}");
            compared += 1;
        }
    }
    eprintln!("event syntax: {runs} recordings, {compared} attrs equal to perf record's");
}

/// The event names and periods of `script` output lines (what leader sampling decides).
fn names_and_periods(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| {
            let toks: Vec<&str> = l.split_whitespace().collect();
            let ev = toks
                .iter()
                .position(|t| t.ends_with(':') && !t.contains('.'));
            match ev {
                Some(i) if i > 0 => format!("{} {}", toks[i - 1], toks[i]),
                _ => l.to_owned(),
            }
        })
        .collect()
}

#[test]
fn leader_sampling_groups_are_read_back_by_perf_and_by_script_alike() {
    let dir = scratch("leader");
    let file = dir.join("group.data");
    let dd = [
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1M",
        "count=200",
        "status=none",
    ];
    let ev = "{cpu-clock,page-faults}:S";
    record(false, ev, &["-c", "100000"], &file, &dd).unwrap();
    let f = file.to_str().unwrap();
    let Some(theirs) = run(
        {
            let mut c = Command::new("perf");
            c.args(["script", "-i", f]);
            c
        },
        &dir,
    ) else {
        return;
    };
    assert!(theirs.status.success(), "perf script refused {ev}");
    let mut c = Command::new(common::perf_client_bin());
    c.args(["script", "-i", f]);
    let ours = run(c, &dir).unwrap();
    assert!(ours.status.success());
    let (t, o) = (
        names_and_periods(&theirs.stdout),
        names_and_periods(&ours.stdout),
    );
    assert_eq!(o, t, "the samples perf script delivers for {ev}");
    // The member's counts arrive only through the leader's samples.
    assert!(t.iter().any(|l| l.ends_with("page-faults:")), "{t:?}");
    assert!(t.iter().any(|l| l.ends_with("cpu-clock:")), "{t:?}");
}

#[test]
fn switch_events_are_shown_by_script_as_perf_shows_them() {
    let dir = scratch("switch");
    let file = dir.join("switch.data");
    record(
        false,
        "cpu-clock",
        &["--switch-events"],
        &file,
        &["sh", "-c", "sleep 0.01; true"],
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let switches = |out: &Output| -> Vec<String> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("PERF_RECORD_SWITCH"))
            .map(str::to_owned)
            .collect()
    };
    let mut c = Command::new("perf");
    c.args(["script", "--show-switch-events", "-i", f]);
    let Some(theirs) = run(c, &dir) else {
        return;
    };
    let mut c = Command::new(common::perf_client_bin());
    c.args(["script", "--show-switch-events", "-i", f]);
    let ours = run(c, &dir).unwrap();
    let t = switches(&theirs);
    assert!(!t.is_empty(), "sleep switches out at least once");
    assert_eq!(switches(&ours), t);
    // Without the flag, no switch lines.
    let mut c = Command::new(common::perf_client_bin());
    c.args(["script", "-i", f]);
    assert!(switches(&run(c, &dir).unwrap()).is_empty());
}

#[test]
fn bad_event_strings_fail_with_a_message_and_write_nothing() {
    let dir = scratch("bad");
    let out = dir.join("never.data");
    for (e, says) in [
        ("cpu-clock:x", "bad modifier"),
        ("cpu-clock:pppp", "bad modifier"),
        ("{cpu-clock,page-faults", "without a '}'"),
        ("cpu-clock/config=1/", "unknown term"),
        ("sched:no_such_tp_*", "no tracepoint matches"),
        ("no-such-event:u", "no tracepoint"),
    ] {
        let mut c = Command::new(common::perf_client_bin());
        c.args([
            "record",
            "-q",
            "-N",
            "-o",
            out.to_str().unwrap(),
            "-e",
            e,
            "--",
            "true",
        ]);
        let o = run(c, &dir).unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "-e {e} was accepted");
        assert!(err.contains(says), "-e {e}: {err}");
        assert!(!out.exists(), "-e {e} wrote a file");
    }
}

/// `stream` opens a `:S` group too: the leader's samples carry both counters, and the
/// summary counts each member once (a member's own value, not the group's).
#[test]
fn stream_reads_a_leader_sampling_group_and_counts_each_member_once() {
    let dir = scratch("stream");
    let mut c = Command::new(common::perf_client_bin());
    c.args([
        "stream",
        "--json",
        "-e",
        "{cpu-clock,page-faults}:S",
        "-c",
        "1000000",
        "--",
    ])
    .args(super::dd_touching(1024));
    let o = run(c, &dir).unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        return common::skip(&format!("stream refused: {err}"));
    }
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let group_reads = lines
        .iter()
        .filter(|l| l["type"] == "SAMPLE")
        .filter(|l| {
            l["read"]["group"] == true && l["read"]["values"].as_array().unwrap().len() == 2
        })
        .count();
    assert!(group_reads > 0, "no SAMPLE carries the group's values");
    let summary = lines.last().unwrap();
    let count = |name: &str| {
        summary["counters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["event"] == name)
            .and_then(|c| c["count"].as_u64())
            .unwrap()
    };
    // dd touches 1024 fresh pages: at least that many faults, and far fewer than the
    // nanoseconds of cpu-clock (which a group read on the member would have given).
    let (faults, clock) = (count("page-faults"), count("cpu-clock"));
    assert!(
        faults >= 1024 && faults < clock,
        "page-faults {faults}, cpu-clock {clock}"
    );
}
