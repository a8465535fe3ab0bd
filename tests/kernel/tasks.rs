//! Targets and the records they produce: a command, a process, this thread, all CPUs;
//! samples, side-band records, several events sharing rings.

use super::*;

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
        Some(perf_client::kernel::child::ExitStatus::Exited(3))
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
    let online = perf_client::kernel::capture::online_cpus().unwrap();
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
    let cpus = perf_client::kernel::capture::online_cpus().unwrap().len();
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
