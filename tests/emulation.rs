//! The emulated kernel buffer: mapping semantics, page bookkeeping, lifetimes, huge pages,
//! mirrored reads, and a buffer handed to another process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use perf_ringbuf::emulation::handoff::{self, ProducerExit, RemoteBuffer};
use perf_ringbuf::emulation::{
    BufferConfig, EmulationError, FaultMode, KernelBuffer, MapOptions, PageLayout, Strategy,
};
use perf_ringbuf::{ReadError, RecordBytes, WaitOutcome, WriteError, Writer};
use perf_ringbuf_tools::mm as sys;
use perf_ringbuf_tools::probe::{self, ChildOutcome};

use crate::common;

const SAMPLE: u32 = 9;

fn buffer(pages: usize) -> KernelBuffer {
    KernelBuffer::new(BufferConfig::new(pages)).expect("allocate emulated buffer")
}

/// Runs `name` (an ignored helper test of this binary) in a fresh process, alone, with
/// `env` set and `keep_fd` inherited; returns the child.
fn spawn_helper(name: &str, env: &[(&str, String)], keep_fd: Option<i32>) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([
        name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(fd) = keep_fd {
        // SAFETY: only an async-signal-safe fcntl between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd.spawn().expect("spawn helper process")
}

fn uffd_available(mapping: &perf_ringbuf::emulation::Mapping) -> bool {
    matches!(mapping.fault_mode(), Some(FaultMode::Userfaultfd { .. }))
}

#[test]
fn records_round_trip_through_every_strategy() {
    for strategy in Strategy::ALL {
        let buf = buffer(4);
        let mut writer = buf.writer(Default::default()).unwrap();
        let mapping = Arc::new(buf.map(MapOptions::new(strategy)).unwrap());
        let mut reader = mapping.reader().unwrap();
        for i in 0u64..2000 {
            writer.write(SAMPLE, 0, &i.to_ne_bytes()).unwrap();
            let mut drain = reader.drain().unwrap();
            let rec = drain.next().unwrap().unwrap();
            let mut bytes = Vec::new();
            rec.bytes.extend_into(&mut bytes);
            assert_eq!(bytes[8..16], i.to_ne_bytes(), "{strategy:?}");
        }
    }
}

#[test]
fn child_writing_a_data_page_dies_of_sigsegv() {
    for strategy in Strategy::ALL {
        let buf = buffer(4);
        // The child makes its own mapping (ours is MADV_DONTFORK, so it would not inherit
        // it): a read must work there and a write must kill it.
        let read = probe::in_child(Duration::from_secs(10), || {
            let Ok(m) = buf.map(MapOptions::new(strategy)) else {
                return 3;
            };
            // SAFETY: the data page is mapped readable.
            unsafe { m.data_ptr().read_volatile() };
            0
        })
        .unwrap();
        assert_eq!(read, ChildOutcome::Exited(0), "{strategy:?} read");
        let write = probe::in_child(Duration::from_secs(10), || {
            let Ok(m) = buf.map(MapOptions::new(strategy)) else {
                return 3;
            };
            // SAFETY: none: the write is the experiment and must kill the child.
            unsafe { (m.data_ptr() as *mut u8).write_volatile(1) };
            0
        })
        .unwrap();
        assert_eq!(
            write,
            ChildOutcome::Signaled(libc::SIGSEGV),
            "{strategy:?} write"
        );
    }
}

#[test]
fn data_view_can_never_become_writable() {
    let buf = buffer(8);
    for strategy in Strategy::ALL {
        let m = buf.map(MapOptions::new(strategy)).unwrap();
        // Fault: untouched pages are empty placeholders; the check is on inserted pages.
        // SAFETY: the data is mapped readable.
        unsafe { sys::touch_pages(m.data_ptr(), m.data_len()) };
        // SAFETY: an mprotect experiment on our own mapping; on success nothing relies
        // on the old protection (but it must fail).
        let r = unsafe {
            sys::mprotect(
                m.data_ptr() as *mut u8,
                m.data_len(),
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        let err = r.expect_err("data must not become writable");
        assert_eq!(err.raw_os_error(), Some(libc::EACCES), "{strategy:?}");
        let vmas = sys::vmas_in(m.control_ptr() as usize, m.len()).unwrap();
        let data_vma = vmas
            .iter()
            .find(|v| v.start == m.data_ptr() as usize)
            .unwrap();
        assert!(
            !data_vma.has_flag("mw") && !data_vma.has_flag("wr"),
            "{}",
            data_vma.vm_flags
        );
        for flag in ["dc", "dd"] {
            assert!(vmas.iter().all(|v| v.has_flag(flag)), "{flag} missing");
        }
    }
    // An untouched Fault placeholder made writable still never exposes writable data: the
    // write inserts the sealed read-only page and faults.
    let placeholder = probe::in_child(Duration::from_secs(10), || {
        let Ok(m) = buf.map(MapOptions::new(Strategy::Fault)) else {
            return 3;
        };
        if !uffd_available(&m) {
            return 4;
        }
        let page = m.data_ptr() as *mut u8;
        // SAFETY: the experiment: an untouched placeholder page of our own mapping.
        if unsafe { sys::mprotect(page, 4096, libc::PROT_READ | libc::PROT_WRITE) }.is_err() {
            return 5;
        }
        // SAFETY: none: the write must kill the child.
        unsafe { page.write_volatile(1) };
        0
    })
    .unwrap();
    match placeholder {
        ChildOutcome::Exited(4) => common::skip("userfaultfd refused: no placeholder to test"),
        other => assert_eq!(other, ChildOutcome::Signaled(libc::SIGSEGV)),
    }
    // A new writable mapping of the data memfd fails too (F_SEAL_FUTURE_WRITE: EPERM).
    // SAFETY: a fresh mapping at a kernel-chosen address, unmapped if it succeeds.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            buf.data_fd().as_raw_fd(),
            0,
        )
    };
    let err = std::io::Error::last_os_error();
    assert_eq!(
        p,
        libc::MAP_FAILED,
        "writable mmap of the sealed data memfd succeeded"
    );
    assert_eq!(err.raw_os_error(), Some(libc::EPERM));
}

#[test]
fn premapped_first_pass_takes_no_minor_faults_and_fault_strategy_takes_one_per_page() {
    let pages = 256;
    let buf = buffer(pages);
    for strategy in Strategy::ALL {
        let m = buf.map(MapOptions::new(strategy)).unwrap();
        let before = sys::thread_minor_faults();
        // SAFETY: the data area is mapped readable.
        unsafe { sys::touch_pages(m.data_ptr(), m.data_len()) };
        let faults = sys::thread_minor_faults() - before;
        match strategy {
            Strategy::PfnMap | Strategy::InsertPages => {
                assert_eq!(faults, 0, "{strategy:?} must be fully pre-mapped")
            }
            Strategy::Fault => {
                assert!(faults > 0, "lazy mapping took no faults");
                if uffd_available(&m) {
                    assert_eq!(
                        m.faults(),
                        Some(pages as u64),
                        "one userfault per data page"
                    );
                } else {
                    common::skip(
                        "userfaultfd refused: the Fault strategy fell back to kernel faults",
                    );
                }
            }
        }
    }
}

#[test]
fn premapped_mappings_are_present_in_every_vma_for_every_layout_and_mirror() {
    // Scattered pages take one VMA per page, populated in one pass after all are mapped;
    // contiguous ones take one VMA (InsertPages: one per page table). Whatever the path,
    // the control page and every data page of both copies are present before the first
    // read.
    for layout in [PageLayout::Scattered { seed: 3 }, PageLayout::Contiguous] {
        let buf = KernelBuffer::new(BufferConfig {
            data_pages: 1024,
            layout,
            huge_pages: false,
        })
        .unwrap();
        for strategy in [Strategy::PfnMap, Strategy::InsertPages] {
            for mirrored in [false, true] {
                let m = buf
                    .map(MapOptions::new(strategy).mirrored(mirrored))
                    .unwrap();
                let before = sys::thread_minor_faults();
                // SAFETY: the whole mapping is readable.
                unsafe { sys::touch_pages(m.control_ptr(), m.len()) };
                let faults = sys::thread_minor_faults() - before;
                assert_eq!(
                    faults, 0,
                    "{layout:?} {strategy:?} mirrored={mirrored}: not fully pre-mapped"
                );
            }
        }
    }
}

#[test]
fn page_references_follow_the_strategy_and_reach_zero_after_the_last_drop() {
    let pages = 16;
    let buf = buffer(pages);
    let watch = buf.watch();
    // Allocation: the buffer holds one reference per page, no mappings.
    assert_eq!(watch.totals(), (1 + pages as u64, 0));
    assert_eq!(watch.scamem_refs(), 1);

    let pfn = buf.map(MapOptions::new(Strategy::PfnMap)).unwrap();
    assert_eq!(
        watch.totals(),
        (1 + pages as u64, 0),
        "pfnmap touches no page counters"
    );
    assert_eq!(watch.scamem_refs(), 2, "pfnmap holds one buffer reference");
    assert!(matches!(pfn.pin(0, 1), Err(EmulationError::GupRefused)));

    let a = buf.map(MapOptions::new(Strategy::InsertPages)).unwrap();
    let b = buf
        .map(MapOptions::new(Strategy::InsertPages).mirrored(true))
        .unwrap();
    let mappings_of_each_data_page = 1 + 2;
    for i in 0..pages {
        let c = watch.data_page(i).unwrap();
        assert_eq!(c.mapcount, mappings_of_each_data_page);
        assert_eq!(
            c.refcount,
            1 + mappings_of_each_data_page,
            "buffer + one per mapping"
        );
    }
    assert_eq!(watch.control_page().mapcount, 2);
    assert_eq!(
        watch.scamem_refs(),
        2,
        "inserted pages hold no buffer reference"
    );
    let pin = a.pin(3, 2).unwrap();
    assert_eq!(
        watch.data_page(3).unwrap().refcount,
        1 + 3 + 1,
        "a pin takes a reference"
    );
    drop(pin);
    assert_eq!(watch.data_page(3).unwrap().refcount, 1 + 3);

    let f = buf.map(MapOptions::new(Strategy::Fault)).unwrap();
    // SAFETY: page 5 of the data is mapped readable.
    unsafe { f.data_ptr().add(5 * 4096).read_volatile() };
    if uffd_available(&f) {
        assert_eq!(
            watch.data_page(5).unwrap().mapcount,
            3 + 1,
            "faulted page mapped"
        );
        assert_eq!(
            watch.data_page(6).unwrap().mapcount,
            3,
            "untouched page not mapped"
        );
    }

    drop((pfn, a, b, f));
    assert_eq!(watch.totals(), (1 + pages as u64, 0));
    drop(buf);
    assert!(watch.is_released());
    assert_eq!(watch.scamem_refs(), 0);
    assert_eq!(
        watch.totals(),
        (0, 0),
        "every page free after the last drop"
    );
}

#[test]
fn insert_pages_mapping_outlives_its_dropped_owner() {
    let pages = 8;
    let buf = buffer(pages);
    let watch = buf.watch();
    let mut writer = buf.writer(Default::default()).unwrap();
    writer.write(SAMPLE, 0, b"survivor").unwrap();
    drop(writer);
    let inserted = buf.map(MapOptions::new(Strategy::InsertPages)).unwrap();
    drop(buf);
    assert!(
        watch.is_released(),
        "owner and writer gone: the buffer is released"
    );
    for i in 0..pages {
        assert_eq!(
            watch.data_page(i).unwrap().refcount,
            1,
            "the PTE's reference remains"
        );
    }
    let mapping = Arc::new(inserted);
    let mut reader = mapping.reader().unwrap();
    let mut drain = reader.drain().unwrap();
    let rec = drain.next().unwrap().unwrap();
    let mut bytes = Vec::new();
    rec.bytes.extend_into(&mut bytes);
    assert_eq!(&bytes[8..16], b"survivor");
    drop(drain);
    drop(reader);
    drop(mapping);
    assert_eq!(watch.totals(), (0, 0));

    // A pfnmap instead keeps the whole buffer alive through its buffer reference.
    let buf = buffer(pages);
    let watch = buf.watch();
    let pfn = buf.map(MapOptions::new(Strategy::PfnMap)).unwrap();
    drop(buf);
    assert!(!watch.is_released());
    assert_eq!(watch.scamem_refs(), 1);
    drop(pfn);
    assert!(watch.is_released());
}

#[test]
fn mirrored_mapping_yields_every_record_as_one_slice() {
    let buf = buffer(2);
    let mut writer = buf.writer(Default::default()).unwrap();
    let mapping = Arc::new(
        buf.map(MapOptions::new(Strategy::InsertPages).mirrored(true))
            .unwrap(),
    );
    let mut reader = mapping.reader().unwrap();
    let mut seq = 0u64;
    let mut straddling = 0;
    let data_size = 8192u64;
    for round in 0..5000u64 {
        let len = 8 + (round * 37 % 300) as usize;
        let mut payload = vec![0u8; len];
        payload[..8].copy_from_slice(&seq.to_ne_bytes());
        writer.write(SAMPLE, 0, &payload).unwrap();
        let mut drain = reader.drain().unwrap();
        while let Some(rec) = drain.next() {
            let rec = rec.unwrap();
            let start = rec.position % data_size;
            if start + rec.bytes.len() as u64 > data_size {
                straddling += 1;
            }
            match rec.bytes {
                RecordBytes::Single(b) => assert_eq!(b[8..16], seq.to_ne_bytes()),
                RecordBytes::Split(..) => panic!("mirrored reader split a record"),
            }
            seq += 1;
        }
    }
    assert!(
        straddling > 10,
        "the test must cross the wrap point ({straddling})"
    );
}

#[test]
fn reported_huge_page_size_matches_smaps() {
    let config = BufferConfig {
        data_pages: 1024,
        layout: PageLayout::Contiguous,
        huge_pages: true,
    };
    let buf = KernelBuffer::new(config).unwrap();
    let m = buf.map(MapOptions::new(Strategy::PfnMap)).unwrap();
    assert_eq!(
        m.data_ptr() as usize % (2 << 20),
        0,
        "data area 2 MiB aligned"
    );
    let report = m.report().unwrap();
    let reported = report.data_backing.unwrap().page_size;
    assert_eq!(
        buf.data_backing().unwrap().page_size,
        reported,
        "producer view and mapping agree"
    );
    // Independent reading of smaps for the data VMA.
    let text = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let start = format!("{:x}-", m.data_ptr() as usize);
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with(&start))
        .take_while(|l| l.starts_with(&start) || !l.contains(" r"))
        .take(40)
        .collect();
    let field = |name: &str| -> u64 {
        block
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap())
            .unwrap_or(0)
    };
    let size_kb = field("Size:");
    let huge_kb = field("ShmemPmdMapped:") + field("Private_Hugetlb:") + field("Shared_Hugetlb:");
    let expected = if field("KernelPageSize:") == 2048 || (huge_kb > 0 && huge_kb == size_kb) {
        2 << 20
    } else {
        4096
    };
    assert_eq!(reported, expected, "smaps block: {block:?}");
    eprintln!(
        "huge pages: {:?} -> data backed by {} KiB pages (fallbacks: {:?})",
        buf.info().source,
        reported / 1024,
        buf.info().huge_fallback
    );
}

#[test]
fn no_fds_or_mappings_leak_over_10000_cycles() {
    // Run alone in a fresh process, so other tests' descriptors do not disturb the counts.
    let mut child = spawn_helper(
        "emulation::leak_cycles_helper",
        &[("EMUL_HELPER", "leak".into())],
        None,
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "leak helper failed: {status:?}");
}

#[test]
#[ignore = "helper process of no_fds_or_mappings_leak_over_10000_cycles"]
fn leak_cycles_helper() {
    if std::env::var("EMUL_HELPER").as_deref() != Ok("leak") {
        eprintln!("helper process only: run no_fds_or_mappings_leak_over_10000_cycles");
        return;
    }
    let cycle = |i: usize| {
        let buf = buffer(2);
        let strategy = Strategy::ALL[i % 3];
        let mapping = Arc::new(
            buf.map(MapOptions::new(strategy).mirrored(i.is_multiple_of(2)))
                .unwrap(),
        );
        let mut writer = buf.writer(Default::default()).unwrap();
        let mut reader = mapping.reader().unwrap();
        writer.write(SAMPLE, 0, &i.to_ne_bytes()).unwrap();
        assert!(reader.drain().unwrap().next().is_some());
    };
    // Warm up thread-local and allocator state, then count.
    for i in 0..30 {
        cycle(i);
    }
    let fds = common::open_fds();
    let maps = common::mappings();
    for i in 0..10_000 {
        cycle(i);
    }
    assert_eq!(common::open_fds(), fds, "descriptors leaked");
    let after = common::mappings();
    assert!(after <= maps + 2, "mappings leaked: {maps} -> {after}");
}

// ---- Across processes ----

const RECORDS: u64 = 10_000_000;

fn checksum(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0xA5A5_5A5A_DEAD_BEEF
}

/// Writes `seq` records of 24-byte payloads `[seq, checksum, seq ^ !0]`, waiting for space
/// instead of dropping (backpressure), until `count` or until the consumer is gone.
fn produce(writer: &mut Writer, link: &handoff::ConsumerLink, count: u64) -> u64 {
    let mut seq = 0;
    while seq < count {
        let bytes = payload_bytes([seq, checksum(seq), !seq]);
        match link.wait_for_room(writer, bytes.len(), None) {
            Ok(()) => {}
            Err(handoff::RoomError::ConsumerGone) => break,
            Err(e) => panic!("{e}"),
        }
        match writer.write_deferred(SAMPLE, 0, &bytes) {
            Ok(()) => seq += 1,
            Err(WriteError::NoSpace { .. }) => unreachable!("space was checked"),
            Err(e) => panic!("{e}"),
        }
        if seq.is_multiple_of(64) {
            writer.publish();
        }
    }
    writer.flush();
    seq
}

fn payload_bytes(words: [u64; 3]) -> [u8; 24] {
    let mut out = [0u8; 24];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
    }
    out
}

#[test]
#[ignore = "helper process of the cross-process tests"]
fn cross_process_producer_helper() {
    let Ok(fd) = std::env::var("EMUL_HELPER_FD") else {
        eprintln!("helper process only: run cross_process_run_of_10_million_records");
        return;
    };
    let count: u64 = std::env::var("EMUL_HELPER_COUNT").unwrap().parse().unwrap();
    let die_after: Option<u64> = std::env::var("EMUL_HELPER_DIE_AFTER")
        .ok()
        .map(|v| v.parse().unwrap());
    // SAFETY: the parent passed this descriptor for us alone.
    let sock = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd.parse().unwrap()) });
    let buf = KernelBuffer::new(BufferConfig::new(64)).unwrap();
    let mut writer = buf.writer(Default::default()).unwrap();
    let link = handoff::send(&buf, sock).unwrap();
    let written = produce(&mut writer, &link, die_after.unwrap_or(count));
    if let Ok(head) = std::env::var("EMUL_HELPER_BAD_HEAD") {
        // A broken producer: an impossible head, published. Written through the control
        // page's memfd, out of band, as another process would: the writer itself cannot
        // store a head it did not write.
        let head: u64 = head.parse().unwrap();
        let ctrl = std::fs::File::from(buf.control_fd().try_clone_to_owned().unwrap());
        std::os::unix::fs::FileExt::write_all_at(
            &ctrl,
            &head.to_ne_bytes(),
            perf_ringbuf::layout::DATA_HEAD_OFFSET as u64,
        )
        .unwrap();
    }
    if die_after.is_some() {
        // Die without a word, leaving what was published in the ring.
        // SAFETY: ends the process at once, as a crash would.
        unsafe { libc::_exit(0) };
    }
    let lost = writer.stats().lost;
    drop(writer);
    link.finish(written, lost).unwrap();
}

fn spawn_producer(count: u64, die_after: Option<u64>) -> (std::process::Child, RemoteBuffer) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let mut env = vec![
        ("EMUL_HELPER_FD", theirs.as_raw_fd().to_string()),
        ("EMUL_HELPER_COUNT", count.to_string()),
    ];
    if let Some(n) = die_after {
        env.push(("EMUL_HELPER_DIE_AFTER", n.to_string()));
    }
    let child = spawn_helper(
        "emulation::cross_process_producer_helper",
        &env,
        Some(theirs.as_raw_fd()),
    );
    drop(theirs);
    let remote = RemoteBuffer::receive(ours, Duration::from_secs(60)).unwrap();
    (child, remote)
}

/// Reads until the producer is gone; checks every record. Returns records read.
fn consume(remote: &RemoteBuffer) -> u64 {
    consume_with(
        remote,
        MapOptions::new(Strategy::InsertPages).mirrored(true),
    )
}

fn consume_with(remote: &RemoteBuffer, options: MapOptions) -> u64 {
    let mapping = Arc::new(remote.map(options).unwrap());
    // Fault: untouched pages are empty placeholders; the check is on inserted pages.
    // SAFETY: the data is mapped readable.
    unsafe { sys::touch_pages(mapping.data_ptr(), mapping.data_len()) };
    // Nor can the consumer make its view of the data writable.
    // SAFETY: an mprotect experiment on our own mapping; it must fail.
    let r = unsafe {
        sys::mprotect(
            mapping.data_ptr() as *mut u8,
            mapping.data_len(),
            libc::PROT_READ | libc::PROT_WRITE,
        )
    };
    assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EACCES));
    let mut reader = mapping.reader().unwrap();
    let mut expect = 0u64;
    let mut b = Vec::with_capacity(64);
    loop {
        let outcome = reader.wait(Some(Duration::from_secs(30))).unwrap();
        let mut drain = reader.drain().unwrap();
        while let Some(rec) = drain.next() {
            let rec = rec.unwrap();
            assert_eq!(rec.header.record_type, SAMPLE);
            if options.mirrored {
                assert!(
                    matches!(rec.bytes, RecordBytes::Single(_)),
                    "mirrored mapping split a record"
                );
            }
            b.clear();
            rec.bytes.extend_into(&mut b);
            let word = |i: usize| u64::from_ne_bytes(b[8 + 8 * i..16 + 8 * i].try_into().unwrap());
            assert_eq!(word(0), expect, "sequence");
            assert_eq!(word(1), checksum(expect), "checksum of record {expect}");
            assert_eq!(word(2), !expect);
            expect += 1;
        }
        drop(drain);
        match outcome {
            WaitOutcome::ProducerGone => break,
            WaitOutcome::TimedOut => {
                assert_ne!(remote.producer(), ProducerExit::Running, "stalled")
            }
            WaitOutcome::Ready => {}
        }
    }
    assert_eq!(reader.stats().lost, 0);
    expect
}

#[test]
fn cross_process_run_of_10_million_records_is_exact() {
    let (mut child, remote) = spawn_producer(RECORDS, None);
    // The received data memfd can never be mapped writable here either.
    // SAFETY: a fresh mapping at a kernel-chosen address; it must fail.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            remote.data_fd().as_raw_fd(),
            0,
        )
    };
    assert_eq!(p, libc::MAP_FAILED);
    let read = consume(&remote);
    assert!(child.wait().unwrap().success());
    assert_eq!(read, RECORDS);
    assert_eq!(
        remote.producer(),
        ProducerExit::Finished {
            records: RECORDS,
            lost: 0
        }
    );
}

#[test]
fn cross_process_handoff_works_with_every_strategy() {
    for strategy in Strategy::ALL {
        for mirrored in [false, true] {
            let (mut child, remote) = spawn_producer(200_000, None);
            let read = consume_with(&remote, MapOptions::new(strategy).mirrored(mirrored));
            assert!(child.wait().unwrap().success());
            assert_eq!(read, 200_000, "{strategy:?} mirrored={mirrored}");
            assert_eq!(
                remote.producer(),
                ProducerExit::Finished {
                    records: 200_000,
                    lost: 0
                }
            );
        }
    }
}

#[test]
fn consumer_sees_a_dead_producer_as_died_with_its_published_records() {
    let (mut child, remote) = spawn_producer(RECORDS, Some(50_000));
    let read = consume(&remote);
    child.wait().unwrap();
    assert_eq!(remote.producer(), ProducerExit::Died);
    assert_eq!(
        read, 50_000,
        "everything published before the death is read"
    );
}

#[test]
fn producer_sees_a_dead_consumer() {
    let buf = buffer(4);
    let (ours, theirs) = UnixStream::pair().unwrap();
    let link = handoff::send(&buf, ours).unwrap();
    assert!(link.is_alive());
    let remote = RemoteBuffer::receive(theirs, Duration::from_secs(5)).unwrap();
    drop(remote);
    assert!(!link.is_alive());
}

#[test]
fn receive_rejects_a_bad_handoff_without_hanging() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    use std::io::Write;
    (&ours).write_all(&[0u8; 24]).unwrap();
    let err = RemoteBuffer::receive(theirs, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, EmulationError::BadHandoff(_)), "{err}");
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(ours);
    assert!(RemoteBuffer::receive(theirs, Duration::from_secs(2)).is_err());
}

// ---- The semantics report ----

#[test]
fn semantics_report_measures_every_row_and_marks_every_difference() {
    let report = perf_ringbuf_tools::semantics::measure(8).unwrap();
    assert_eq!(report.rows.len(), 5);
    for row in &report.rows {
        let Some(cols) = &row.columns else {
            // A kernel row the kernel refused (no perf_event_open, no bpf as non-root).
            common::skip(&format!("{} not measured: {:?}", row.name, row.notes));
            continue;
        };
        if row.kind != "emulated" {
            continue;
        }
        // What the emulation guarantees, whatever the kernel rows show.
        assert_eq!(cols.data_page_write.value, "SIGSEGV", "{}", row.name);
        assert_eq!(cols.mprotect_ro_to_rw.value, "EACCES", "{}", row.name);
        assert!(
            cols.inherited_by_fork.value.starts_with("no"),
            "{}",
            row.name
        );
        assert!(cols.vm_flags.value.contains("dc") && cols.vm_flags.value.contains("dd"));
        let faults = cols.first_pass_minor_faults.number.unwrap();
        if row.name.ends_with("Fault") {
            assert!(faults > 0.0);
        } else {
            assert_eq!(faults, 0.0, "{}", row.name);
        }
        // Every comparison that differs carries an explanation; none is silently equal.
        for (header, cell) in cols.iter() {
            if let Some(k) = &cell.kernel {
                assert!(
                    k.matches || k.note.is_some(),
                    "{} / {header}: unexplained difference",
                    row.name
                );
                if k.matches {
                    assert!(header != "write to data page" || cell.value == k.kernel_value);
                }
            }
        }
    }
    // `--json` prints the same rows as data.
    let json = report.to_json();
    for row in &report.rows {
        assert!(json.contains(&format!("\"name\": \"{}\"", row.name)));
    }
}

#[test]
fn scattered_mapping_beyond_max_map_count_is_refused_up_front() {
    let Some(max) = sys::max_map_count() else {
        return common::skip("vm.max_map_count unreadable");
    };
    // A mirrored mapping of n scattered pages needs 2n + 1 VMAs; the producer view n + 1.
    let n = (max / 2 + 1).next_power_of_two();
    let current = sys::vma_count().unwrap();
    if n + 1 + current + 2048 > max {
        return common::skip(&format!(
            "vm.max_map_count {max} leaves no room for a {n}-page producer view"
        ));
    }
    let buf = buffer(n);
    let before = sys::vma_count().unwrap();
    match buf.map(MapOptions::new(Strategy::InsertPages).mirrored(true)) {
        Err(EmulationError::MapCountLimit { needed, max: m, .. }) => {
            assert_eq!(needed, 2 * n + 1);
            assert_eq!(m, max);
        }
        other => panic!("expected MapCountLimit, got {other:?}"),
    }
    assert!(
        sys::vma_count().unwrap() <= before + 16,
        "nothing was mapped"
    );
}

/// Sends a hand-made handoff: `header` + `frames`, with `fds` attached.
fn send_raw_handoff(sock: &UnixStream, n: u32, frames: &[u32], fds: &[i32]) {
    let mut msg = Vec::new();
    msg.extend_from_slice(b"PRBHOFF1");
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&n.to_ne_bytes());
    msg.extend_from_slice(&[0u8; 8]);
    for f in frames {
        msg.extend_from_slice(&f.to_ne_bytes());
    }
    let fd_bytes = std::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: msg.as_mut_ptr().cast(),
        iov_len: msg.len(),
    };
    // SAFETY: an all-zero msghdr is valid; filled in below.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = space;
    // SAFETY: the control buffer holds one cmsg with `fds`; `hdr` points at live buffers.
    let sent = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as usize;
        std::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), fd_bytes);
        libc::sendmsg(sock.as_raw_fd(), &hdr, 0)
    };
    assert_eq!(sent, msg.len() as isize);
}

#[test]
fn receive_refuses_a_buffer_the_consumer_could_write_or_that_lies_about_frames() {
    let genuine = buffer(4);
    let make_memfd = |pages: i64| {
        // SAFETY: plain syscalls on a fresh descriptor we own.
        unsafe {
            let fd = libc::memfd_create(c"fake".as_ptr(), libc::MFD_CLOEXEC);
            assert!(fd >= 0);
            assert_eq!(libc::ftruncate(fd, pages * 4096), 0);
            OwnedFd::from_raw_fd(fd)
        }
    };
    let ctrl = genuine.control_fd().as_raw_fd();
    let wake = genuine.wakeup_fd().unwrap();
    let wake = std::os::fd::AsFd::as_fd(wake).as_raw_fd();
    // 1. An unsealed data memfd: the consumer could map it writable.
    let unsealed = make_memfd(4);
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(&a, 4, &[1, 2, 3, 4], &[ctrl, unsealed.as_raw_fd(), wake]);
    let err = RemoteBuffer::receive(b, Duration::from_secs(2)).unwrap_err();
    assert!(err.to_string().contains("F_SEAL_FUTURE_WRITE"), "{err}");
    // 2. The genuine sealed memfd, but frames out of range or repeated.
    for frames in [[1u32, 2, 3, 9], [1, 1, 2, 3], [0, 1, 2, 3]] {
        let (a, b) = UnixStream::pair().unwrap();
        send_raw_handoff(&a, 4, &frames, &[ctrl, genuine.data_fd().as_raw_fd(), wake]);
        let err = RemoteBuffer::receive(b, Duration::from_secs(2)).unwrap_err();
        assert!(
            matches!(err, EmulationError::BadHandoff(_)),
            "{frames:?}: {err}"
        );
    }
    // 3. A page count that is not a power of two, and a truncated frame list (no hang).
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(
        &a,
        3,
        &[1, 2, 3],
        &[ctrl, genuine.data_fd().as_raw_fd(), wake],
    );
    assert!(matches!(
        RemoteBuffer::receive(b, Duration::from_secs(2)),
        Err(EmulationError::BadHandoff(_))
    ));
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(&a, 4, &[1, 2], &[ctrl, genuine.data_fd().as_raw_fd(), wake]);
    drop(a);
    assert!(RemoteBuffer::receive(b, Duration::from_secs(2)).is_err());
}

fn sealed_memfd(pages: i64, allocate: bool) -> OwnedFd {
    // SAFETY: plain syscalls on a fresh descriptor we own.
    unsafe {
        let fd = libc::memfd_create(
            c"fake".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        );
        assert!(fd >= 0);
        assert_eq!(libc::ftruncate(fd, pages * 4096), 0);
        if allocate {
            assert_eq!(libc::fallocate(fd, 0, 0, pages * 4096), 0);
        }
        let seals = libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
        assert_eq!(libc::fcntl(fd, libc::F_ADD_SEALS, seals), 0);
        OwnedFd::from_raw_fd(fd)
    }
}

#[test]
fn receive_refuses_a_wakeup_descriptor_that_is_not_an_eventfd() {
    let genuine = buffer(4);
    let ctrl = genuine.control_fd().as_raw_fd();
    let data = genuine.data_fd().as_raw_fd();
    let mut pipe = [0i32; 2];
    // SAFETY: `pipe` has room for the two descriptors.
    let r = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0);
    // SAFETY: both ends are ours alone from here on.
    let (rd, _wr) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(&a, 4, &[1, 2, 3, 4], &[ctrl, data, rd.as_raw_fd()]);
    let err = RemoteBuffer::receive(b, Duration::from_secs(2)).unwrap_err();
    assert!(
        matches!(&err, EmulationError::BadHandoff(m) if m.contains("not an eventfd")),
        "{err}"
    );
    // A genuine eventfd passes, and is made non-blocking whatever it was.
    // SAFETY: eventfd takes no pointers; the descriptor is ours.
    let blocking = unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC)) };
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(&a, 4, &[1, 2, 3, 4], &[ctrl, data, blocking.as_raw_fd()]);
    let remote = RemoteBuffer::receive(b, Duration::from_secs(2)).unwrap();
    // SAFETY: fcntl on a descriptor we hold.
    let flags = unsafe { libc::fcntl(blocking.as_raw_fd(), libc::F_GETFL) };
    assert_ne!(flags & libc::O_NONBLOCK, 0);
    drop(remote);
}

#[test]
fn receive_refuses_a_sparse_data_memfd_and_one_over_the_callers_limit() {
    let genuine = buffer(4);
    let ctrl = genuine.control_fd().as_raw_fd();
    let wake = std::os::fd::AsFd::as_fd(genuine.wakeup_fd().unwrap()).as_raw_fd();
    let frames: Vec<u32> = (1..=4).collect();
    // Sealed, right size, but no page allocated: mapping it would charge the consumer.
    let sparse = sealed_memfd(4, false);
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(&a, 4, &frames, &[ctrl, sparse.as_raw_fd(), wake]);
    let err = RemoteBuffer::receive(b, Duration::from_secs(2)).unwrap_err();
    assert!(err.to_string().contains("allocated"), "{err}");
    // The same memfd, allocated, is accepted.
    let full = sealed_memfd(4, true);
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(&a, 4, &frames, &[ctrl, full.as_raw_fd(), wake]);
    assert!(RemoteBuffer::receive(b, Duration::from_secs(2)).is_ok());
    // A genuine buffer over the caller's limit is refused before its frame list is read.
    let (a, b) = UnixStream::pair().unwrap();
    let link = handoff::send(&genuine, a).unwrap();
    let options = handoff::ReceiveOptions::new(Duration::from_secs(2)).max_data_bytes(8192);
    let err = RemoteBuffer::receive_with(b, options).unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
    drop(link);
}

#[test]
fn receive_bounds_the_whole_handoff_by_one_deadline() {
    // A peer that sends the header, then the frame list one byte every 100 ms: each read
    // returns within the timeout, the whole takes 1.6 s, the deadline is 0.5 s.
    let genuine = buffer(4);
    let ctrl = genuine.control_fd().as_raw_fd();
    let data = genuine.data_fd().as_raw_fd();
    let wake = std::os::fd::AsFd::as_fd(genuine.wakeup_fd().unwrap()).as_raw_fd();
    let (a, b) = UnixStream::pair().unwrap();
    send_raw_handoff(&a, 4, &[], &[ctrl, data, wake]);
    let trickle = std::thread::spawn(move || {
        let frames: Vec<u8> = [1u32, 2, 3, 4]
            .iter()
            .flat_map(|f| f.to_ne_bytes())
            .collect();
        for byte in frames {
            std::thread::sleep(Duration::from_millis(100));
            if std::io::Write::write_all(&mut &a, &[byte]).is_err() {
                return;
            }
        }
    });
    let err = RemoteBuffer::receive(b, Duration::from_millis(500)).unwrap_err();
    assert!(
        matches!(&err, EmulationError::Io { source, .. } if source.kind() == std::io::ErrorKind::TimedOut),
        "{err}"
    );
    trickle.join().unwrap();
}

#[test]
fn a_producer_that_dies_with_a_misaligned_head_is_reported_gone_and_resync_is_terminal() {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let env = [
        ("EMUL_HELPER_FD", theirs.as_raw_fd().to_string()),
        ("EMUL_HELPER_COUNT", "10".to_string()),
        ("EMUL_HELPER_DIE_AFTER", "10".to_string()),
        ("EMUL_HELPER_BAD_HEAD", (10 * 32 + 4).to_string()),
    ];
    let mut child = spawn_helper(
        "emulation::cross_process_producer_helper",
        &env,
        Some(theirs.as_raw_fd()),
    );
    drop(theirs);
    let remote = RemoteBuffer::receive(ours, Duration::from_secs(60)).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(remote.producer(), ProducerExit::Died);
    let m = Arc::new(remote.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    let mut reader = m.reader().unwrap();
    // The documented loop: wait, drain, resync on a ring error. It must end and learn
    // that the producer is gone, instead of spinning on the error (it used to: wait
    // returned MisalignedHead before looking at the producer, and resync could not move
    // past an unaligned head).
    let mut steps = 0;
    let gone = loop {
        steps += 1;
        assert!(steps < 10, "the consumer loop spins");
        if let Ok(WaitOutcome::ProducerGone) = reader.wait(Some(Duration::from_millis(100))) {
            break true;
        }
        if reader.drain().is_err() && reader.resync().is_err() {
            break false;
        }
    };
    assert!(gone, "the producer's death is reported");
    assert_eq!(steps, 1, "at once, before the ring error");
    assert_eq!(reader.drain().err(), Some(ReadError::MisalignedHead(324)));
    assert_eq!(reader.resync(), Err(ReadError::CannotResync(324)));
    assert_eq!(
        reader.resync(),
        Err(ReadError::CannotResync(324)),
        "terminal"
    );
}

#[test]
fn has_room_for_predicts_exactly_when_a_write_would_be_dropped() {
    let buf = buffer(1);
    let mut writer = buf.writer(Default::default()).unwrap();
    let mapping = Arc::new(buf.map(MapOptions::new(Strategy::PfnMap)).unwrap());
    let mut reader = mapping.reader().unwrap();
    let payload = [7u8; 100]; // 112-byte records
    let mut written = 0;
    // Unpublished records count: nothing is published until the end.
    while writer.has_room_for(payload.len()).unwrap() {
        writer.write_deferred(SAMPLE, 0, &payload).unwrap();
        written += 1;
    }
    assert_eq!(written, 4096 / 112);
    assert!(matches!(
        writer.write_deferred(SAMPLE, 0, &payload),
        Err(WriteError::NoSpace { .. })
    ));
    writer.publish();
    let mut n = 0;
    let mut drain = reader.drain().unwrap();
    while drain.next().is_some() {
        n += 1;
    }
    drop(drain);
    assert_eq!(n, written);
    // The dropped record is pending as a PERF_RECORD_LOST: room for it is counted too.
    assert!(writer.has_room_for(payload.len()).unwrap());
    assert!(
        writer.has_room_for(70_000).is_err(),
        "too large for any ring"
    );
}

#[test]
fn a_full_ring_waits_then_times_out_or_sees_the_consumer_gone() {
    let buf = buffer(1);
    let mut writer = buf.writer(Default::default()).unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let link = handoff::send(&buf, ours).unwrap();
    let remote = RemoteBuffer::receive(theirs, Duration::from_secs(5)).unwrap();
    while writer.has_room_for(8).unwrap() {
        writer.write_deferred(SAMPLE, 0, &[0u8; 8]).unwrap();
    }
    assert_eq!(
        link.wait_for_room(&mut writer, 8, Some(Duration::from_millis(20))),
        Err(handoff::RoomError::TimedOut),
        "a live consumer that does not read"
    );
    drop(remote);
    assert_eq!(
        link.wait_for_room(&mut writer, 8, None),
        Err(handoff::RoomError::ConsumerGone),
        "no wait forever for a consumer that is gone"
    );
    assert_eq!(writer.stats().lost, 0, "waiting dropped nothing");
}

#[test]
fn fault_strategy_without_userfaultfd_falls_back_to_reported_kernel_faults() {
    let pages = 64;
    let buf = buffer(pages);
    let watch = buf.watch();
    let m = buf
        .map(MapOptions::new(Strategy::Fault).userfaultfd(false))
        .unwrap();
    assert!(matches!(m.fault_mode(), Some(FaultMode::KernelLazy { .. })));
    assert_eq!(
        m.faults(),
        None,
        "the kernel's faults are not counted as ours"
    );
    let before = sys::thread_minor_faults();
    // SAFETY: the lazy mapping is readable.
    unsafe { sys::touch_pages(m.data_ptr(), m.data_len()) };
    assert!(
        sys::thread_minor_faults() > before,
        "pages came in by faults"
    );
    assert_eq!(
        m.page_refs(),
        0,
        "kernel-inserted pages are not in our bookkeeping"
    );
    assert_eq!(watch.scamem_refs(), 2, "the VMA still holds the buffer");
}
