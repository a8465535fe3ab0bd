//! Ring mechanics on kernel rings: losses under a storm, overwrite (flight recorder),
//! records straddling the end, wakeups and timeout drains.

use super::*;

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

/// Records that straddle the end of a one-page kernel ring come out of the shared Reader
/// as two slices, parse once joined, and nothing is miscounted: read + lost == counted.
#[test]
fn records_straddling_the_end_of_a_kernel_ring_arrive_split_and_parse() {
    // Whether a record straddles depends on the reader keeping up with the kernel: on a
    // loaded machine the one-page ring may fill before the first drain and everything after
    // it be lost. Every attempt checks the accounting; up to 5 attempts to see a straddle.
    for attempt in 1..=5 {
        match straddle_attempt() {
            None => return,
            Some(split) if split > 0 => return,
            Some(_) => eprintln!("attempt {attempt}: no record straddled (reader fell behind)"),
        }
    }
    panic!("no record straddled the end of the ring in 5 attempts");
}

/// One capture into a one-data-page ring; the number of records read split at the wrap,
/// or `None` after a counted skip.
fn straddle_attempt() -> Option<u64> {
    use perf_client::kernel::child::PendingChild;
    use perf_client::kernel::ring::KernelRing;
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
        Err(e) => {
            common::skip(&e.to_string());
            return None;
        }
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
    assert_eq!(samples + lost, counted);
    assert!(lost_reported <= lost);
    Some(split)
}

/// Waits up to 10 s for `fd` to be readable (an upper bound for a noisy machine, not a
/// timing assertion); returns `revents`.
fn poll_readable(fd: std::os::fd::BorrowedFd<'_>) -> i16 {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the call; the fd is borrowed for its duration.
    let n = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(n, 1, "poll: {}", std::io::Error::last_os_error());
    pfd.revents
}

/// An embedding event loop can wait on the capture (its epoll fd) and on a kernel ring
/// (its event fd) through `AsFd`: both turn readable when samples wait.
#[test]
fn the_capture_and_a_kernel_ring_are_pollable_by_an_embedding_event_loop() {
    use perf_client::kernel::ring::KernelRing;
    use std::os::fd::AsFd;

    let faults = || {
        sw(Software::PageFaults)
            .sampling(Sampling::Period(1))
            .wakeup_events(1)
    };
    let mut capture =
        match Capture::start(CaptureOptions::new(vec![faults()], Target::CurrentThread)) {
            Ok(c) => c,
            Err(e) if is_refusal(&e) => return common::skip(&e.to_string()),
            Err(e) => panic!("{e}"),
        };
    let touched = vec![1u8; 4 << 20];
    std::hint::black_box(&touched);
    assert_ne!(poll_readable(capture.as_fd()) & libc::POLLIN, 0);
    // (perf_poll hands out a wakeup once: what it announced is now in the ring.)
    let drained = capture
        .drain(&mut |_| -> Result<(), CaptureError> { Ok(()) })
        .unwrap();
    assert!(drained > 0);

    let cfg = faults().enable_on_exec(false).disabled(false);
    let ev = cfg.open(0, -1, None).expect("open page-faults");
    let ring = KernelRing::map(&ev, 1, false, 0).expect("map one data page");
    let touched = vec![1u8; 4 << 20];
    std::hint::black_box(&touched);
    assert_ne!(poll_readable(ring.as_fd()) & libc::POLLIN, 0);
}
