//! perf-client against the live kernel: events opened on real tasks, kernel rings read with
//! the perf-ringbuf reader, records parsed. Refusals (EACCES/EPERM/ENOENT) skip through
//! `common::skip`.

use std::collections::BTreeSet;
use std::ffi::OsString;

use perf_client::capture::{Capture, CaptureError, CaptureOptions, RunOptions, Summary, Target};
use perf_client::event::{EventConfig, EventKind, OpenError, Sampling, Software};
use perf_client::records::bits::{read_format as rf, regs_abi, sample as st};
use perf_client::records::{ParseContext, ParsedRecord, Record, Weight};

use crate::common;

/// A record as read: the CPU of its ring and its bytes.
struct Got {
    ring_cpu: i32,
    bytes: Vec<u8>,
}

struct Run {
    records: Vec<Got>,
    summary: Summary,
    ctx: ParseContext,
    child: Option<i32>,
    event_ids: Vec<u64>,
}

impl Run {
    fn parsed(&self) -> impl Iterator<Item = (i32, ParsedRecord<'_>)> {
        self.records.iter().map(|g| {
            let p = self
                .ctx
                .parse(&g.bytes)
                .unwrap_or_else(|e| panic!("kernel record does not parse: {e}"));
            (g.ring_cpu, p)
        })
    }

    fn count(&self, name: &str) -> usize {
        self.parsed()
            .filter(|(_, p)| p.record.kind_name() == name)
            .count()
    }

    fn samples(&self) -> Vec<perf_client::records::Sample<'_>> {
        self.parsed()
            .filter_map(|(_, p)| match p.record {
                Record::Sample(s) => Some(*s),
                _ => None,
            })
            .collect()
    }
}

fn is_refusal(e: &CaptureError) -> bool {
    let errno = |source: &std::io::Error| {
        matches!(
            source.raw_os_error(),
            Some(libc::EACCES | libc::EPERM | libc::ENOENT)
        )
    };
    match e {
        CaptureError::Open(OpenError::NotPermitted { .. } | OpenError::NoHardware { .. }) => true,
        CaptureError::Open(OpenError::Kernel { source, .. }) => errno(source),
        CaptureError::Open(OpenError::Tracepoint(_)) => true,
        CaptureError::Ring(perf_client::ring::RingError::Mlock { .. }) => true,
        _ => false,
    }
}

fn args(v: &[&str]) -> Vec<OsString> {
    v.iter().map(OsString::from).collect()
}

/// Runs a capture to the end, keeping every record. `None` (after `common::skip`) when
/// the kernel refuses.
fn capture(opts: CaptureOptions) -> Option<Run> {
    let mut cap = match Capture::start(opts) {
        Ok(c) => c,
        Err(e) if is_refusal(&e) => {
            common::skip(&e.to_string());
            return None;
        }
        Err(e) => panic!("capture failed to start: {e}"),
    };
    let ctx = cap.parse_context().clone();
    let child = cap.child_pid();
    let event_ids = cap.events().iter().map(|e| e.fd.id()).collect();
    let mut records = Vec::new();
    let summary = cap
        .run(&RunOptions::default(), |r| -> Result<(), CaptureError> {
            records.push(Got {
                ring_cpu: r.cpu,
                bytes: r.bytes.to_vec(),
            });
            Ok(())
        })
        .expect("capture run");
    Some(Run {
        records,
        summary,
        ctx,
        child,
        event_ids,
    })
}

fn event(kind: EventKind) -> EventConfig {
    EventConfig::new(kind).expect("event config")
}

fn sw(s: Software) -> EventConfig {
    event(EventKind::Software(s))
}

/// `dd` that touches `pages` fresh pages of its buffer (reads /dev/zero into it once).
fn dd_touching(pages: usize) -> Vec<OsString> {
    args(&[
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        &format!("bs={}", pages * 4096),
        "count=1",
        "status=none",
    ])
}

#[test]
fn cpu_clock_samples_of_a_busy_child_carry_its_pid_tid_and_nondecreasing_time() {
    let ev = sw(Software::CpuClock).sampling(Sampling::Period(250_000)); // every 0.25 ms
    let busy = args(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done",
    ]);
    let Some(run) = capture(CaptureOptions::new(vec![ev], Target::Command(busy))) else {
        return;
    };
    let child = run.child.unwrap() as u32;
    let mut last_time_per_cpu = std::collections::BTreeMap::new();
    let mut n = 0;
    for (ring_cpu, p) in run.parsed() {
        let Record::Sample(s) = &p.record else {
            continue;
        };
        n += 1;
        assert_eq!(
            (s.pid, s.tid),
            (Some(child), Some(child)),
            "sample of another task"
        );
        assert_eq!(
            s.cpu,
            Some(ring_cpu as u32),
            "sample in the ring of another CPU"
        );
        let t = s.time.unwrap();
        let last = last_time_per_cpu.entry(ring_cpu).or_insert(0);
        assert!(
            t >= *last,
            "time went backwards in ring {ring_cpu}: {t} < {last}"
        );
        *last = t;
        assert_eq!(s.period, Some(250_000));
    }
    assert!(n >= 10, "only {n} cpu-clock samples of a busy child");
    assert_eq!(run.summary.lost(), 0);
}

/// Samples of `page-faults -c 1` over `dd` touching `pages` pages.
fn page_fault_samples(pages: usize) -> Option<(usize, Run)> {
    let ev = sw(Software::PageFaults)
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::TID | st::TIME | st::ADDR)
        .tracking(true);
    let run = capture(CaptureOptions::new(
        vec![ev],
        Target::Command(dd_touching(pages)),
    ))?;
    let child = run.child.unwrap() as u32;
    let samples = run.samples();
    assert!(samples.iter().all(|s| s.pid == Some(child)));
    Some((samples.len(), run))
}

#[test]
fn page_faults_period_one_yields_one_sample_per_fresh_page() {
    const N: usize = 1000;
    let Some((base, base_run)) = page_fault_samples(1) else {
        return;
    };
    let Some((touched, run)) = page_fault_samples(1 + N) else {
        return;
    };
    eprintln!("page-faults: start-up {base} samples (1 page), {touched} with {N} more pages");
    // Start-up faults (loader, libc, dd's own setup) are measured with 1 page; the rest
    // is one fault per fresh page. dd's start-up is deterministic to a few faults.
    let extra = touched as i64 - base as i64;
    assert!(
        (extra - N as i64).abs() <= 8,
        "{extra} extra samples for {N} pages"
    );
    for r in [&base_run, &run] {
        // Nothing lost, and the samples are exactly what the kernel counted.
        assert_eq!(r.summary.lost(), 0);
        let counted: u64 = r
            .summary
            .events
            .iter()
            .map(|e| e.values.values[0].value)
            .sum();
        assert_eq!(counted, r.samples().len() as u64);
        // The command's side-band records.
        assert!(r.count("COMM") >= 1 && r.count("MMAP2") >= 1 && r.count("EXIT") >= 1);
    }
    // The fault addresses cover the N pages of dd's buffer: at least N distinct pages.
    let pages: BTreeSet<u64> = run
        .samples()
        .iter()
        .filter_map(|s| s.addr)
        .map(|a| a >> 12)
        .collect();
    assert!(pages.len() >= N, "{} distinct fault pages", pages.len());
}

#[test]
fn comm_mmap2_fork_exit_records_for_a_child_that_forks_and_execs() {
    let ev = sw(Software::Dummy).sampling(Sampling::None).tracking(true);
    let cmd = args(&["sh", "-c", "/usr/bin/true; /usr/bin/true; exit 3"]);
    let Some(run) = capture(CaptureOptions::new(vec![ev], Target::Command(cmd))) else {
        return;
    };
    let sh = run.child.unwrap() as u32;
    assert_eq!(
        run.summary.exit_status,
        Some(perf_client::child::ExitStatus::Exited(3))
    );
    let mut forked = BTreeSet::new();
    let mut comms = Vec::new();
    let mut exits = BTreeSet::new();
    let mut true_maps = 0;
    for (_, p) in run.parsed() {
        match &p.record {
            Record::Fork(f) => {
                assert_eq!(f.ppid, sh, "fork from an unexpected parent");
                forked.insert(f.pid);
            }
            Record::Comm(c) => {
                comms.push((c.pid, String::from_utf8_lossy(c.comm).into_owned(), c.exec))
            }
            Record::Exit(e) => {
                exits.insert(e.pid);
            }
            Record::Mmap2(m) => {
                if m.filename == b"/usr/bin/true" {
                    true_maps += 1;
                    assert!(
                        forked.contains(&m.pid),
                        "true mapped in a task not forked from sh"
                    );
                }
                assert_eq!(p.pid_tid().map(|(pid, _)| pid), Some(m.pid), "trailer pid");
            }
            _ => {}
        }
    }
    assert_eq!(forked.len(), 2, "two forks: {forked:?}");
    assert!(
        comms.contains(&(sh, "sh".into(), true)),
        "exec of sh: {comms:?}"
    );
    for child in &forked {
        assert!(
            comms.contains(&(*child, "true".into(), true)),
            "exec of true in {child}: {comms:?}"
        );
        assert!(exits.contains(child), "exit of {child}");
    }
    assert!(exits.contains(&sh), "exit of sh");
    assert!(true_maps >= 2, "MMAP2 of /usr/bin/true: {true_maps}");
}

#[test]
fn context_switch_records_for_a_sleeping_child() {
    let ev = sw(Software::Dummy)
        .sampling(Sampling::None)
        .context_switch(true);
    let cmd = args(&["sh", "-c", "sleep 0.02; sleep 0.02"]);
    let Some(run) = capture(CaptureOptions::new(vec![ev], Target::Command(cmd))) else {
        return;
    };
    let mut outs = 0;
    let mut ins = 0;
    for (ring_cpu, p) in run.parsed() {
        if let Record::Switch(s) = &p.record {
            if s.out {
                outs += 1;
            } else {
                ins += 1;
            }
            assert_eq!(p.cpu(), Some(ring_cpu as u32));
        }
    }
    assert!(outs >= 2 && ins >= 2, "{outs} switches out, {ins} in");
}

#[test]
fn tracepoint_samples_carry_the_tracepoint_id_in_their_raw_data() {
    let ev = match EventConfig::parse("sched:sched_process_exec") {
        Ok(e) => e,
        Err(e) => return common::skip(&e.to_string()),
    };
    let tp_id = ev.attr().config;
    let ev = ev
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::TID | st::TIME | st::RAW);
    let cmd = args(&["sh", "-c", "/usr/bin/true; /usr/bin/true"]);
    let Some(run) = capture(CaptureOptions::new(vec![ev], Target::Command(cmd))) else {
        return;
    };
    let samples = run.samples();
    assert!(samples.len() >= 2, "{} exec tracepoint hits", samples.len());
    for s in samples {
        let raw = s.raw.unwrap();
        // struct trace_entry starts with `unsigned short common_type`: the tracepoint id.
        let common_type = u16::from_ne_bytes([raw[0], raw[1]]);
        assert_eq!(u64::from(common_type), tp_id);
    }
    assert_eq!(run.summary.lost(), 0);
}

#[test]
fn system_wide_capture_has_one_ring_per_cpu_with_that_cpus_records() {
    let online = perf_client::capture::online_cpus().unwrap();
    let ev = sw(Software::CpuClock)
        .sampling(Sampling::Frequency(1000))
        .context_switch(true);
    let busy = args(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done",
    ]);
    let Some(run) = capture(CaptureOptions::new(
        vec![ev],
        Target::Cpus {
            cpus: None,
            command: Some(busy),
        },
    )) else {
        return;
    };
    assert_eq!(run.summary.rings.len(), online.len());
    let mut cpus_with_samples = BTreeSet::new();
    let mut pids = BTreeSet::new();
    let mut cpu_wide_switches = 0;
    for (ring_cpu, p) in run.parsed() {
        assert_eq!(
            p.cpu(),
            Some(ring_cpu as u32),
            "record in the ring of another CPU"
        );
        match &p.record {
            Record::Sample(s) => {
                cpus_with_samples.insert(ring_cpu);
                pids.insert(s.pid.unwrap());
            }
            Record::SwitchCpuWide(s) => {
                assert!(s.next_prev.is_some());
                cpu_wide_switches += 1;
            }
            Record::Switch(_) => panic!("per-CPU events write SWITCH_CPU_WIDE"),
            _ => {}
        }
    }
    assert!(
        pids.contains(&(run.child.unwrap() as u32)),
        "the busy child was not sampled"
    );
    assert!(pids.len() >= 2, "system-wide sampled only {pids:?}");
    assert!(cpu_wide_switches > 0);
    assert!(!cpus_with_samples.is_empty());
}

#[test]
fn tiny_ring_under_a_syscall_storm_reports_losses_and_read_plus_lost_equals_counted() {
    let ev = match EventConfig::parse("raw_syscalls:sys_enter") {
        Ok(e) => e,
        Err(e) => return common::skip(&e.to_string()),
    };
    let ev = ev
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::TID | st::TIME)
        .read_format(rf::ID | rf::LOST);
    // ~100k read+write syscalls as fast as dd can.
    let storm = args(&[
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        "bs=1",
        "count=50000",
        "status=none",
    ]);
    let mut opts = CaptureOptions::new(vec![ev], Target::Command(storm));
    opts.data_pages = 1;
    let Some(run) = capture(opts) else { return };
    let samples = run.samples().len() as u64;
    let counted: u64 = run
        .summary
        .events
        .iter()
        .map(|e| e.values.values[0].value)
        .sum();
    let lost_kernel = run.summary.lost();
    let lost_reported = run.summary.lost_reported();
    let lost_records = run.count("LOST") as u64;
    eprintln!(
        "storm: counted {counted}, read {samples}, lost {lost_kernel} (kernel), \
         {lost_reported} in {lost_records} LOST records"
    );
    assert!(counted >= 100_000, "the storm made only {counted} syscalls");
    assert!(
        lost_kernel > 0,
        "a one-page ring kept up with {counted} syscalls"
    );
    assert!(lost_records > 0 && lost_reported > 0);
    assert!(
        lost_reported <= lost_kernel,
        "reports exceed the kernel's count"
    );
    assert_eq!(samples + lost_kernel, counted);
    // LOST records name our event.
    for (_, p) in run.parsed() {
        if let Record::Lost(l) = p.record {
            assert!(run.event_ids.contains(&l.id));
        }
    }
}

#[test]
fn overwrite_ring_keeps_the_newest_records_up_to_exit() {
    let ev = sw(Software::PageFaults)
        .sampling(Sampling::Period(1))
        .tracking(true);
    let mut opts = CaptureOptions::new(vec![ev], Target::Command(dd_touching(2000)));
    opts.overwrite = true;
    opts.data_pages = 2;
    let Some(run) = capture(opts) else { return };
    let child = run.child.unwrap() as u32;
    let parsed: Vec<(i32, ParsedRecord<'_>)> = run.parsed().collect();
    assert!(!parsed.is_empty());
    let counted: u64 = run
        .summary
        .events
        .iter()
        .map(|e| e.values.values[0].value)
        .sum();
    let samples = run.samples().len() as u64;
    assert!(
        samples > 0 && samples < counted,
        "{samples} kept of {counted}: nothing overwritten?"
    );
    // Oldest first, per ring; the newest record of the child's ring is its EXIT.
    let mut by_ring: std::collections::BTreeMap<i32, Vec<&ParsedRecord<'_>>> = Default::default();
    for (cpu, p) in &parsed {
        by_ring.entry(*cpu).or_default().push(p);
    }
    let mut saw_exit = false;
    for recs in by_ring.values() {
        let times: Vec<u64> = recs.iter().filter_map(|p| p.time()).collect();
        assert!(
            times.windows(2).all(|w| w[0] <= w[1]),
            "snapshot out of order"
        );
        if let Some(Record::Exit(e)) = recs.last().map(|p| &p.record) {
            assert_eq!(e.pid, child);
            saw_exit = true;
        }
    }
    assert!(saw_exit, "no ring ends with the child's EXIT");
}

/// Every sample_type bit a software event can carry on this kernel, in one sample.
#[test]
fn every_sample_bit_a_software_event_can_make_parses_from_kernel_records() {
    // BRANCH_STACK needs LBR hardware and AUX an AUX-area leader: hand-built only.
    let all = st::ALL & !(st::BRANCH_STACK | st::AUX | st::WEIGHT_TYPE);
    for weight in [st::WEIGHT, st::WEIGHT_STRUCT] {
        let ev = sw(Software::PageFaults)
            .sampling(Sampling::Period(1))
            .sample_type(all | weight)
            .read_format(rf::TOTAL_TIME_ENABLED | rf::TOTAL_TIME_RUNNING | rf::ID | rf::LOST)
            .regs_user(0xff) // the first 8 x86-64 registers
            .stack_user(512);
        let mut ev = ev;
        ev.attr_mut().sample_regs_intr = 0xf;
        let Some(run) = capture(CaptureOptions::new(
            vec![ev],
            Target::Command(dd_touching(8)),
        )) else {
            return;
        };
        let child = run.child.unwrap() as u32;
        let samples = run.samples();
        assert!(samples.len() >= 8);
        let mut user_samples = 0;
        for s in &samples {
            assert_eq!((s.pid, s.tid), (Some(child), Some(child)));
            assert!(run.event_ids.contains(&s.identifier.unwrap()));
            assert_eq!(s.identifier, s.id);
            assert!(s.ip.is_some() && s.time.is_some() && s.addr.is_some());
            assert!(s.stream_id.is_some());
            assert!((s.cpu.unwrap() as usize) < 4096);
            assert_eq!(s.period, Some(1));
            let r = s.read.as_ref().unwrap();
            assert!(!r.group && r.values.len() == 1);
            assert_eq!(r.values[0].id, s.id);
            assert!(r.values[0].value >= 1 && r.values[0].lost == Some(0));
            assert!(r.time_enabled.is_some() && r.time_running.is_some());
            assert!(!s.callchain.as_ref().unwrap().is_empty());
            // No raw data for a software event: the kernel writes 4 zero bytes.
            assert_eq!(s.raw, Some(&[0u8; 4][..]));
            let regs = s.regs_user.as_ref().unwrap();
            if regs.abi == regs_abi::ABI_64 {
                user_samples += 1;
                assert_eq!(regs.values.len(), 8);
                let stack = s.stack_user.unwrap();
                assert_eq!(stack.data.len(), 512);
                assert!(stack.dyn_size <= 512);
            }
            match s.weight.unwrap() {
                Weight::Full(_) => assert_eq!(weight, st::WEIGHT),
                Weight::Struct { .. } => assert_eq!(weight, st::WEIGHT_STRUCT),
            }
            assert!(s.data_src.is_some() && s.transaction.is_some());
            assert_eq!(s.regs_intr.as_ref().unwrap().values.len(), 4);
            assert!(s.phys_addr.is_some() && s.cgroup.is_some());
            assert!(s.data_page_size.is_some());
            assert!(s.code_page_size.is_some());
            assert_eq!(s.aux, None);
        }
        assert!(user_samples > 0, "no user-mode sample with REGS_USER");
    }
}
