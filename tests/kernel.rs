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
    let errno = |cause: &std::io::Error| {
        matches!(
            cause.raw_os_error(),
            Some(libc::EACCES | libc::EPERM | libc::ENOENT)
        )
    };
    match e {
        CaptureError::Open(OpenError::NotPermitted { .. } | OpenError::NoHardware { .. }) => true,
        CaptureError::Open(OpenError::Kernel { cause, .. }) => errno(cause),
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
    let mut true_maps = Vec::new();
    // Rings are per CPU: a child's FORK (parent's CPU) may be read after its MMAP2.
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
                    true_maps.push(m.pid);
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
    assert!(
        true_maps.len() >= 2,
        "MMAP2 of /usr/bin/true: {true_maps:?}"
    );
    for pid in &true_maps {
        assert!(
            forked.contains(pid),
            "true mapped in {pid}, not forked from sh"
        );
    }
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

/// Loads (and closes) a two-instruction socket filter: the kernel announces it with
/// KSYMBOL (its JIT image) and BPF_EVENT (PROG_LOAD). Returns false if refused.
fn load_trivial_bpf_program() -> bool {
    // mov64 r0, 0; exit
    let insns: [u8; 16] = [0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0];
    let license = c"GPL";
    // union bpf_attr for BPF_PROG_LOAD: prog_type @0, insn_cnt @4, insns @8, license @16.
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // BPF_PROG_TYPE_SOCKET_FILTER
    attr[4..8].copy_from_slice(&2u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    attr[48..53].copy_from_slice(b"pcli\0"); // prog_name
    const BPF_PROG_LOAD: libc::c_long = 5;
    // SAFETY: bpf(BPF_PROG_LOAD) reads `attr` (128 bytes, valid) and the instruction and
    // license buffers it points to, all alive for the call.
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_ptr(), attr.len()) };
    if fd < 0 {
        return false;
    }
    // SAFETY: closes the fd the kernel just gave us, used nowhere else.
    unsafe { libc::close(fd as i32) };
    true
}

/// Side-band record types that need system-wide events: MMAP (mmap without mmap2), FORK,
/// NAMESPACES, CGROUP, KSYMBOL, BPF_EVENT — each triggered on purpose. (TEXT_POKE: enabling
/// a tracepoint's static key produced none on this kernel, so it is tested hand-built only.)
#[test]
fn system_wide_side_band_records_of_every_kind_this_kernel_makes() {
    let mut ev = sw(Software::Dummy)
        .sampling(Sampling::None)
        .mmap(true)
        .task(true)
        .comm(true)
        .namespaces(true)
        .cgroup(true)
        .ksymbol(true)
        .bpf_event(true);
    ev.attr_mut().sample_type = st::IDENTIFIER | st::TID | st::TIME | st::CPU;
    let opts = CaptureOptions::new(
        vec![ev],
        Target::Cpus {
            cpus: None,
            command: None,
        },
    );
    let mut cap = match Capture::start(opts) {
        Ok(c) => c,
        Err(e) if is_refusal(&e) => return common::skip(&e.to_string()),
        Err(e) => panic!("{e}"),
    };
    let ctx = cap.parse_context().clone();
    // KSYMBOL + BPF_EVENT
    let bpf = load_trivial_bpf_program();
    // CGROUP (mkdir in the cgroup2 hierarchy), FORK/NAMESPACES/MMAP/COMM (the shell).
    let dir = format!(
        "/sys/fs/cgroup/unified/perf-client-test-{}",
        std::process::id()
    );
    let cmd = format!("mkdir {dir} && rmdir {dir}; /usr/bin/true");
    let status = std::process::Command::new("sh")
        .args(["-c", &cmd])
        .status()
        .unwrap();
    let mut types = BTreeSet::new();
    let summary = cap
        .run(
            &RunOptions {
                duration: Some(std::time::Duration::from_millis(200)),
                ..Default::default()
            },
            |r| -> Result<(), CaptureError> {
                let p = ctx.parse(r.bytes).expect("kernel record parses");
                types.insert(p.record.kind_name());
                if let Record::Ksymbol(k) = &p.record {
                    assert!(!k.name.is_empty());
                }
                Ok(())
            },
        )
        .unwrap();
    eprintln!(
        "system-wide side-band types seen: {types:?}; lost {}",
        summary.lost()
    );
    for t in ["MMAP", "COMM", "FORK", "EXIT", "NAMESPACES"] {
        assert!(types.contains(t), "no {t} record: {types:?}");
    }
    if status.success() {
        assert!(
            types.contains("CGROUP"),
            "no CGROUP record for a mkdir: {types:?}"
        );
    }
    if bpf {
        assert!(
            types.contains("BPF_EVENT"),
            "no BPF_EVENT for a program load: {types:?}"
        );
        assert!(
            types.contains("KSYMBOL"),
            "no KSYMBOL for a JIT image: {types:?}"
        );
    }
    assert!(!types.contains("RAW"), "an unknown record type: {types:?}");
}

/// `inherit_stat`: each exiting child writes a READ record with its own counts.
#[test]
fn inherit_stat_children_write_read_records_on_exit() {
    let ev = sw(Software::TaskClock)
        .sampling(Sampling::None)
        .inherit_stat(true)
        .read_format(rf::TOTAL_TIME_ENABLED | rf::ID)
        .sample_type(st::IDENTIFIER | st::TID | st::TIME);
    let cmd = args(&["sh", "-c", "/usr/bin/true; /usr/bin/true; exit 0"]);
    let Some(run) = capture(CaptureOptions::new(vec![ev], Target::Command(cmd))) else {
        return;
    };
    let mut reads = 0;
    for (_, p) in run.parsed() {
        if let Record::Read(r) = &p.record {
            reads += 1;
            assert!(!r.values.group);
            assert!(r.values.time_enabled.is_some());
            assert!(run.event_ids.contains(&r.values.values[0].id.unwrap()));
        }
    }
    assert!(reads >= 2, "{reads} READ records for two exiting children");
}

/// The READ group layout on kernel data: a sampling leader and a counting member, opened
/// by hand with the lower-level API (EventFd, KernelRing, PendingChild).
#[test]
fn sample_read_with_a_group_carries_every_member_in_group_layout() {
    use perf_client::child::PendingChild;
    use perf_client::ring::KernelRing;
    use std::os::fd::AsFd;

    let child = PendingChild::spawn(&dd_touching(16)).expect("fork");
    let read_format =
        rf::GROUP | rf::ID | rf::LOST | rf::TOTAL_TIME_ENABLED | rf::TOTAL_TIME_RUNNING;
    let leader_cfg = sw(Software::PageFaults)
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::TID | st::READ)
        .read_format(read_format)
        .enable_on_exec(true);
    let member_cfg = sw(Software::TaskClock)
        .sampling(Sampling::None)
        .read_format(read_format)
        .disabled(false);
    let leader = match leader_cfg.open(child.pid(), -1, None) {
        Ok(fd) => fd,
        Err(e) => return common::skip(&e.to_string()),
    };
    let member = member_cfg
        .open(child.pid(), -1, Some(leader.as_fd()))
        .expect("open the group member");
    let mut ring = KernelRing::map(&leader, 8, false, 0).expect("map");
    let ctx = ParseContext::single(leader_cfg.format()).unwrap();
    let mut child = child.release().expect("exec dd");
    child.wait().unwrap();
    let mut samples = 0;
    ring.drain(|bytes| -> Result<(), CaptureError> {
        let p = ctx.parse(bytes).expect("parse");
        if let Record::Sample(s) = p.record {
            samples += 1;
            let r = s.read.unwrap();
            assert!(r.group);
            assert_eq!(r.values.len(), 2);
            assert_eq!(r.values[0].id, Some(leader.id()));
            assert_eq!(r.values[1].id, Some(member.id()));
            assert_eq!(r.values[0].lost, Some(0));
            assert!(r.time_enabled.is_some() && r.time_running.is_some());
            // the leader counts page faults: its own count is at least this sample
            assert!(r.values[0].value >= 1);
        }
        Ok(())
    })
    .unwrap();
    assert!(samples >= 16, "{samples} samples");
    // read(2) on the leader uses the same layout.
    let v = leader.read_values().unwrap();
    assert!(v.group && v.values.len() == 2);
    assert_eq!(v.values[0].value, samples);
    assert_eq!(v.lost(), Some(0));
}

#[test]
fn hardware_events_give_a_clear_error_when_the_pmu_is_missing() {
    let cfg = event(EventKind::Hardware(perf_client::event::Hardware::CpuCycles));
    match cfg.open(0, -1, None) {
        Ok(_) => eprintln!("this machine has a hardware PMU: nothing to check"),
        Err(e @ OpenError::NoHardware { .. }) => {
            assert!(e
                .to_string()
                .contains("hardware events are not available on this machine"));
        }
        Err(e) => panic!("unexpected error for cycles: {e}"),
    }
}

#[test]
fn errors_name_what_to_change() {
    // Several events that records cannot tell apart.
    let no_id = || {
        sw(Software::Dummy)
            .sampling(Sampling::None)
            .sample_type(st::TID)
    };
    let e = Capture::start(CaptureOptions::new(
        vec![no_id(), no_id()],
        Target::CurrentThread,
    ))
    .unwrap_err();
    assert!(e.to_string().contains("add PERF_SAMPLE_IDENTIFIER"), "{e}");
    // A ring that is not a power of two.
    let ev = sw(Software::Dummy).sampling(Sampling::None);
    let mut opts = CaptureOptions::new(vec![ev.clone()], Target::CurrentThread);
    opts.data_pages = 3;
    let e = Capture::start(opts).unwrap_err();
    assert!(e.to_string().contains("not a power of two"), "{e}");
    // A tracepoint that does not exist.
    let e = EventConfig::parse("sched:no_such_tracepoint").unwrap_err();
    assert!(
        e.to_string()
            .contains("no tracepoint sched:no_such_tracepoint"),
        "{e}"
    );
    // A name that is neither.
    let e = EventConfig::parse("no-such-event").unwrap_err();
    assert!(e.to_string().contains("unknown event"), "{e}");
    // A process that does not exist.
    let e = ev.open(i32::MAX - 7, -1, None).unwrap_err();
    assert!(e.to_string().contains("no process or thread"), "{e}");
    // A command that does not exist.
    let e = Capture::start(CaptureOptions::new(
        vec![ev],
        Target::Command(args(&["/nonexistent/perf-client-test"])),
    ))
    .unwrap_err();
    assert!(e.to_string().contains("cannot execute"), "{e}");
}

#[test]
fn wakeup_events_wake_the_poller_and_timeouts_drain_what_stays_below_the_watermark() {
    let cmd = || {
        args(&[
            "sh",
            "-c",
            "sleep 0.1; dd if=/dev/zero of=/dev/null bs=131072 count=1 status=none; sleep 0.1",
        ])
    };
    let base = sw(Software::PageFaults)
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::TID);
    let Some(quiet) = capture(CaptureOptions::new(
        vec![base.clone()],
        Target::Command(cmd()),
    )) else {
        return;
    };
    let Some(eager) = capture(CaptureOptions::new(
        vec![base.clone().wakeup_events(1)],
        Target::Command(cmd()),
    )) else {
        return;
    };
    let Some(watermark) = capture(CaptureOptions::new(
        vec![base.wakeup_watermark(256)],
        Target::Command(cmd()),
    )) else {
        return;
    };
    // 16-byte samples: a 256-byte watermark wakes about every 16 of them. (Wakeups are
    // counted as epoll returns, which coalesce when the reader is slow: no finer bound.)
    assert!(watermark.summary.wakeups > quiet.summary.wakeups);
    eprintln!(
        "wakeups: default {} (timeouts {}), wakeup_events=1 {} (timeouts {})",
        quiet.summary.wakeups,
        quiet.summary.timeouts,
        eager.summary.wakeups,
        eager.summary.timeouts
    );
    // Half a 512 KiB ring is far more than these samples: only timeouts drained them.
    assert!(quiet.samples().len() >= 32 && quiet.summary.timeouts > 0);
    assert_eq!(quiet.summary.lost(), 0);
    let counted: u64 = quiet
        .summary
        .events
        .iter()
        .map(|e| e.values.values[0].value)
        .sum();
    assert_eq!(quiet.samples().len() as u64, counted);
    assert!(eager.summary.wakeups > quiet.summary.wakeups);
}

/// The `perf-client` binary of this build (`cargo build -p perf-client`; `cargo test`
/// alone does not build it, as the integration tests live in another package).
fn perf_client_bin() -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("perf-client");
    bin.is_file().then_some(bin)
}

/// Runs `perf-client stream --json` and returns its lines, parsed.
fn stream_json(bin: &std::path::Path, extra: &[&str], cmd: &[OsString]) -> Vec<serde_json::Value> {
    let out = std::process::Command::new(bin)
        .arg("stream")
        .args(extra)
        .arg("--json")
        .arg("--")
        .args(cmd)
        .output()
        .expect("run perf-client");
    assert!(
        out.status.success(),
        "perf-client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The issue's "done when": `stream -e page-faults -c 1 --json -- <N pages>` prints N
/// (± start-up) SAMPLE lines plus the program's COMM/MMAP2/EXIT, then a summary.
#[test]
fn stream_cli_prints_one_sample_line_per_fresh_page_plus_side_band_and_a_summary() {
    let Some(bin) = perf_client_bin() else {
        return common::skip(
            "perf-client binary not built: run `cargo build -p perf-client` first",
        );
    };
    const N: usize = 500;
    let count =
        |lines: &[serde_json::Value], t: &str| lines.iter().filter(|l| l["type"] == t).count();
    let flags = ["-e", "page-faults", "-c", "1"];
    let base = stream_json(&bin, &flags, &dd_touching(1));
    let lines = stream_json(&bin, &flags, &dd_touching(1 + N));
    if lines.len() == 1 {
        return common::skip("no records: perf_event_open refused?");
    }
    let extra = count(&lines, "SAMPLE") as i64 - count(&base, "SAMPLE") as i64;
    eprintln!(
        "stream CLI: {} SAMPLE lines at start-up, {} with {N} more pages",
        count(&base, "SAMPLE"),
        count(&lines, "SAMPLE")
    );
    assert!(
        (extra - N as i64).abs() <= 8,
        "{extra} extra SAMPLE lines for {N} pages"
    );
    assert!(
        count(&lines, "COMM") >= 1 && count(&lines, "MMAP2") >= 1 && count(&lines, "EXIT") >= 1
    );
    assert_eq!(count(&lines, "PARSE_ERROR"), 0);
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "SUMMARY");
    assert_eq!(summary["records"].as_u64(), Some(lines.len() as u64 - 1));
    assert_eq!(summary["lost"].as_u64(), Some(0));
    assert_eq!(summary["exit"], "exit code 0");
    let comm = lines.iter().find(|l| l["type"] == "COMM").unwrap();
    assert_eq!(comm["comm"], "dd");
    assert_eq!(comm["exec"], true);
}

/// Records that straddle the end of a one-page kernel ring come out of the shared Reader
/// as two slices, parse once joined, and nothing is miscounted: read + lost == counted.
#[test]
fn records_straddling_the_end_of_a_kernel_ring_arrive_split_and_parse() {
    use perf_client::child::PendingChild;
    use perf_client::ring::KernelRing;
    use perf_ringbuf::RecordBytes;

    let child = PendingChild::spawn(&dd_touching(3000)).expect("fork");
    // 8 + 32 = 40-byte samples: 4096 is not a multiple of 40, so some must straddle.
    let cfg = sw(Software::PageFaults)
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::IP | st::TID | st::TIME)
        .read_format(rf::LOST)
        .enable_on_exec(true)
        .wakeup_events(8);
    let ev = match cfg.open(child.pid(), -1, None) {
        Ok(fd) => fd,
        Err(e) => return common::skip(&e.to_string()),
    };
    let mut ring = KernelRing::map(&ev, 1, false, 0).expect("map one data page");
    let ctx = ParseContext::single(cfg.format()).unwrap();
    let mut child = child.release().expect("exec dd");
    let (mut split, mut samples, mut lost_reported) = (0u64, 0u64, 0u64);
    let mut scratch = Vec::new();
    let mut done = false;
    while !done {
        done = child.try_wait().unwrap().is_some();
        let reader = ring.reader().unwrap();
        let mut drain = reader.drain().expect("drain");
        while let Some(rec) = drain.next() {
            let rec = rec.expect("valid record");
            if matches!(rec.bytes, RecordBytes::Split(..)) {
                split += 1;
            }
            let bytes = rec.bytes.contiguous(&mut scratch);
            match ctx.parse(bytes).expect("parse").record {
                Record::Sample(s) => {
                    samples += 1;
                    assert_eq!(s.pid, Some(child.pid() as u32));
                }
                Record::Lost(l) => lost_reported += l.lost,
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    let v = ev.read_values().unwrap();
    let (counted, lost) = (v.values[0].value, v.lost().unwrap());
    eprintln!("split ring: {samples} read, {split} straddled, {lost} lost ({lost_reported} reported) of {counted}");
    assert!(split > 0, "no record straddled the end in {samples}");
    assert_eq!(samples + lost, counted);
    assert!(lost_reported <= lost);
}

/// A running process (not our command): the capture ends by itself on POLLHUP when it
/// exits, after a final drain that still has its EXIT record.
#[test]
fn process_target_ends_on_pollhup_with_the_exit_record() {
    let mut proc = std::process::Command::new("sh")
        .args(["-c", "sleep 0.2; /usr/bin/true"])
        .spawn()
        .unwrap();
    let pid = proc.id() as i32;
    let ev = sw(Software::Dummy)
        .sampling(Sampling::None)
        .tracking(true)
        .context_switch(true);
    let run = capture(CaptureOptions::new(vec![ev], Target::Process(pid)));
    proc.wait().unwrap();
    let Some(run) = run else { return };
    assert_eq!(run.child, None);
    let mut exit_of_pid = false;
    let mut forks = 0;
    for (_, p) in run.parsed() {
        match &p.record {
            Record::Exit(e) if e.pid == pid as u32 => exit_of_pid = true,
            Record::Fork(f) if f.ppid == pid as u32 => forks += 1,
            _ => {}
        }
    }
    assert!(exit_of_pid, "no EXIT record for the traced process");
    // `sleep` may be forked before the events are open; `true` (0.2 s later) is not.
    assert!(forks >= 1, "the fork of true was not seen");
    assert!(run.count("SWITCH") > 0);
}

/// This thread as the target: page faults it makes itself are sampled with its tid.
#[test]
fn current_thread_target_samples_this_threads_page_faults() {
    const PAGES: usize = 64;
    let ev = sw(Software::PageFaults)
        .sampling(Sampling::Period(1))
        .sample_type(st::IDENTIFIER | st::TID | st::ADDR);
    let mut opts = CaptureOptions::new(vec![ev], Target::CurrentThread);
    opts.inherit = false;
    let mut cap = match Capture::start(opts) {
        Ok(c) => c,
        Err(e) if is_refusal(&e) => return common::skip(&e.to_string()),
        Err(e) => panic!("{e}"),
    };
    let ctx = cap.parse_context().clone();
    // Fresh anonymous pages, touched once each.
    let map = memmap2::MmapMut::map_anon(PAGES * 4096).unwrap();
    let base = map.as_ptr() as u64;
    let mut map = map;
    for i in 0..PAGES {
        map[i * 4096] = 1;
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { libc::gettid() } as u32;
    let mut in_map = BTreeSet::new();
    cap.run(
        &RunOptions {
            duration: Some(std::time::Duration::ZERO),
            ..Default::default()
        },
        |r| -> Result<(), CaptureError> {
            if let Record::Sample(s) = ctx.parse(r.bytes).unwrap().record {
                assert_eq!(s.tid, Some(tid));
                let a = s.addr.unwrap();
                if (base..base + (PAGES * 4096) as u64).contains(&a) {
                    in_map.insert((a - base) / 4096);
                }
            }
            Ok(())
        },
    )
    .unwrap();
    assert_eq!(
        in_map.len(),
        PAGES,
        "faults seen on {} of {PAGES} pages",
        in_map.len()
    );
}

/// Run as an unprivileged user (setpriv to nobody), the CLI explains the refusals: the
/// paranoid level for a CPU-wide event, the mlock budget for a ring too large.
#[test]
fn unprivileged_refusals_explain_paranoid_and_mlock_limits() {
    let Some(bin) = perf_client_bin() else {
        return common::skip(
            "perf-client binary not built: run `cargo build -p perf-client` first",
        );
    };
    if unsafe_euid() != 0 {
        return common::skip("needs root to switch to an unprivileged user");
    }
    // A copy nobody can reach (the build tree may sit under a private home directory).
    let copy = std::env::temp_dir().join(format!("perf-client-unpriv-{}", std::process::id()));
    std::fs::copy(&bin, &copy).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(copy.clone());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = |extra: &[&str]| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&copy)
            .arg("stream")
            .args(extra)
            .output()
    };
    let Ok(out) = as_nobody(&["-a", "-e", "cpu-clock", "--duration", "0.1"]) else {
        return common::skip("setpriv is not available");
    };
    let paranoid = perf_client::event::perf_event_paranoid().unwrap_or(2);
    let err = String::from_utf8_lossy(&out.stderr);
    if paranoid >= 1 {
        assert!(!out.status.success());
        assert!(
            err.contains(&format!("perf_event_paranoid is {paranoid}")),
            "{err}"
        );
        assert!(err.contains("CAP_PERFMON"), "{err}");
    }
    // 1 + 4096 pages per CPU is beyond perf_event_mlock_kb (516 KiB/CPU) + 8 MiB memlock.
    let out = as_nobody(&["--user-only", "-e", "cpu-clock", "-m", "4096", "--", "true"]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(err.contains("perf_event_mlock_kb"), "{err}");
        assert!(err.contains("RLIMIT_MEMLOCK"), "{err}");
        assert!(err.contains("16388 KiB ring"), "{err}");
    } else {
        eprintln!("the memlock budget here allows 2 x 16 MiB rings: nothing to check");
    }
}

fn unsafe_euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// In a private mount namespace without tracefs, a tracepoint event mounts tracefs itself
/// (as root) and works.
#[test]
fn tracepoints_mount_tracefs_when_root_and_it_is_missing() {
    let Some(bin) = perf_client_bin() else {
        return common::skip(
            "perf-client binary not built: run `cargo build -p perf-client` first",
        );
    };
    if unsafe_euid() != 0 {
        return common::skip("needs root to unmount tracefs in a private namespace");
    }
    let script = format!(
        "echo NS-OK; umount /sys/kernel/tracing 2>/dev/null; \
         umount /sys/kernel/debug/tracing 2>/dev/null; \
         test -e /sys/kernel/tracing/events && echo STILL-MOUNTED; \
         {} stream -e sched:sched_process_exec -c 1 --json -- /usr/bin/true",
        bin.display()
    );
    let out = match std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .output()
    {
        Ok(o) => o,
        Err(e) => return common::skip(&format!("unshare: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.contains("NS-OK") {
        return common::skip(&format!(
            "cannot make a private mount namespace: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    assert!(
        !stdout.contains("STILL-MOUNTED"),
        "tracefs could not be unmounted here"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(r#""type":"SAMPLE""#), "{stdout}");
}

/// Three events on one command share one ring per CPU (SET_OUTPUT); every sample is
/// attributed to its event through PERF_SAMPLE_IDENTIFIER, and per event the samples read
/// equal what the kernel counted.
#[test]
fn several_events_share_one_ring_per_cpu_and_are_told_apart_by_identifier() {
    let exec = match EventConfig::parse("sched:sched_process_exec") {
        Ok(e) => e.sampling(Sampling::Period(1)),
        Err(e) => return common::skip(&e.to_string()),
    };
    let events = vec![
        sw(Software::PageFaults)
            .sampling(Sampling::Period(1))
            .tracking(true),
        sw(Software::TaskClock).sampling(Sampling::Period(100_000)),
        exec,
    ];
    let cmd = args(&[
        "sh",
        "-c",
        "dd if=/dev/zero of=/dev/null bs=1M count=20 status=none",
    ]);
    let Some(run) = capture(CaptureOptions::new(events, Target::Command(cmd))) else {
        return;
    };
    let cpus = perf_client::capture::online_cpus().unwrap().len();
    assert_eq!(
        run.summary.rings.len(),
        cpus,
        "one ring per CPU, not per event"
    );
    let mut per_event = [0u64; 3];
    for (_, p) in run.parsed() {
        if let Record::Sample(s) = &p.record {
            let e = p.event.expect("sample attributed to an event");
            assert_eq!(run.ctx.event_for_id(s.identifier.unwrap()), Some(e));
            per_event[e] += 1;
        }
    }
    for (e, n) in per_event.iter().enumerate() {
        let counted: u64 = run
            .summary
            .events
            .iter()
            .filter(|t| t.config == e)
            .map(|t| t.values.values[0].value)
            .sum();
        if e == 1 {
            // task-clock counts nanoseconds and samples from an hrtimer every 100 µs of
            // it; each task's last partial period is counted but not sampled.
            let periods = counted / 100_000;
            assert!(
                *n <= periods + 1 && *n * 2 >= periods,
                "{n} samples for {counted} ns"
            );
        } else {
            assert_eq!(*n, counted, "event {e}");
        }
    }
    assert!(per_event[0] > 0 && per_event[1] > 0, "{per_event:?}");
    assert_eq!(per_event[2], 2, "exec of sh and of dd");
    assert_eq!(run.summary.lost(), 0);
}
