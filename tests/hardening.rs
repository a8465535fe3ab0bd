//! Hardening: what a consumer in another process can and cannot do to a buffer it was
//! handed, a consumer that writes nonsense into `data_tail`, and the soak with SIGKILLed
//! consumers (`perf-client soak`).
//!
//! `tests/emulation.rs` already pins the local cases (a child's own mapping dies of
//! SIGSEGV on write, `mprotect` to writable gives EACCES, a writable `mmap` of the data
//! memfd gives EPERM). Here every operation is tried by a consumer that *received* the
//! buffer over a Unix socket ([`handoff::send`] / [`RemoteBuffer::receive`]), and the
//! memfds' size and contents are attacked through the received descriptors.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use perf_ringbuf::emulation::handoff::{self, RemoteBuffer};
use perf_ringbuf::emulation::{BufferConfig, KernelBuffer, MapOptions, Strategy};
use perf_ringbuf::layout::{
    DATA_HEAD_OFFSET, DATA_SIZE_OFFSET, DATA_TAIL_OFFSET, PERF_RECORD_LOST,
};
use perf_ringbuf::WriteError;
use perf_ringbuf_tools::mm as sys;
use perf_ringbuf_tools::probe::{self, ChildOutcome};

use crate::common;

const SAMPLE: u32 = 9;
/// Exit codes of a consumer child that could not even set the experiment up.
const SETUP_FAILED: i32 = 100;
/// Exit code of a child whose forbidden operation succeeded.
const ALLOWED: i32 = 0;

fn buffer(pages: usize) -> KernelBuffer {
    KernelBuffer::new(BufferConfig::new(pages)).expect("allocate emulated buffer")
}

/// Hands `buf` to a forked consumer process, which receives it over a Unix socket and
/// runs `attack` on the received buffer; returns how the consumer ended. `attack`
/// returns the errno of the refused operation, or [`ALLOWED`].
fn as_remote_consumer(
    buf: &KernelBuffer,
    attack: impl FnOnce(&RemoteBuffer) -> i32,
) -> ChildOutcome {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let link = handoff::send(buf, ours).unwrap();
    let outcome = probe::in_child(
        Duration::from_secs(20),
        move || match RemoteBuffer::receive(theirs, Duration::from_secs(10)) {
            Ok(remote) => attack(&remote),
            Err(_) => SETUP_FAILED,
        },
    )
    .unwrap();
    drop(link);
    outcome
}

fn errno_of(r: libc::c_int) -> i32 {
    if r == -1 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        ALLOWED
    }
}

/// The received control memfd, found among our descriptors by its memfd name.
fn received_control_fd() -> Option<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .ok()?
        .flatten()
        .find_map(|e| {
            let target = std::fs::read_link(e.path()).ok()?;
            target
                .to_string_lossy()
                .starts_with("/memfd:perf-ringbuf-control")
                .then(|| e.file_name().to_string_lossy().parse().ok())?
        })
}

fn refused(outcome: ChildOutcome, errno: i32, what: &str) {
    assert_eq!(
        outcome,
        ChildOutcome::Exited(errno),
        "{what}: expected errno {errno}, got {}",
        outcome.describe()
    );
    eprintln!("refused: {what}: errno {errno}");
}

#[test]
fn remote_consumer_writing_a_data_page_dies_of_sigsegv() {
    let buf = buffer(4);
    for strategy in [Strategy::PfnMap, Strategy::InsertPages] {
        let outcome = as_remote_consumer(&buf, |remote| {
            let Ok(m) = remote.map(MapOptions::new(strategy)) else {
                return SETUP_FAILED;
            };
            // SAFETY: none: the write is the experiment and must kill the child.
            unsafe { (m.data_ptr() as *mut u8).write_volatile(1) };
            ALLOWED
        });
        assert_eq!(
            outcome,
            ChildOutcome::Signaled(libc::SIGSEGV),
            "{strategy:?}"
        );
    }
}

#[test]
fn remote_consumer_cannot_mprotect_the_data_writable() {
    let buf = buffer(4);
    let outcome = as_remote_consumer(&buf, |remote| {
        let Ok(m) = remote.map(MapOptions::new(Strategy::InsertPages)) else {
            return SETUP_FAILED;
        };
        // SAFETY: an mprotect experiment on the child's own mapping; it must fail.
        match unsafe {
            sys::mprotect(
                m.data_ptr() as *mut u8,
                m.data_len(),
                libc::PROT_READ | libc::PROT_WRITE,
            )
        } {
            Ok(()) => ALLOWED,
            Err(e) => e.raw_os_error().unwrap_or(-1),
        }
    });
    refused(
        outcome,
        libc::EACCES,
        "mprotect(data, PROT_READ|PROT_WRITE)",
    );
}

#[test]
fn remote_consumer_cannot_map_the_received_data_fd_writable() {
    let buf = buffer(4);
    let outcome = as_remote_consumer(&buf, |remote| {
        // SAFETY: a fresh mapping at a kernel-chosen address; it must fail.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                remote.data_fd().as_raw_fd(),
                4096,
            )
        };
        if p == libc::MAP_FAILED {
            errno_of(-1)
        } else {
            ALLOWED
        }
    });
    refused(
        outcome,
        libc::EPERM,
        "mmap(data fd, PROT_WRITE, MAP_SHARED)",
    );
}

#[test]
fn remote_consumer_cannot_write_grow_shrink_or_punch_the_data_memfd() {
    let buf = buffer(4);
    let len = 4 * 4096 + 4096;
    type Attack = fn(BorrowedFd<'_>, i64) -> i32;
    let attacks: [(&str, i32, Attack); 5] = [
        (
            "ftruncate(data fd, larger) [F_SEAL_GROW]",
            libc::EPERM,
            |fd, len| {
                // SAFETY: ftruncate on a descriptor we own; must fail.
                errno_of(unsafe { libc::ftruncate(fd.as_raw_fd(), len + 4096 * 16) })
            },
        ),
        (
            "ftruncate(data fd, smaller) [F_SEAL_SHRINK]",
            libc::EPERM,
            |fd, _| {
                // SAFETY: as above.
                errno_of(unsafe { libc::ftruncate(fd.as_raw_fd(), 4096) })
            },
        ),
        (
            "pwrite(data fd) [F_SEAL_FUTURE_WRITE]",
            libc::EPERM,
            |fd, _| {
                let junk = [0xffu8; 64];
                // SAFETY: `junk` is valid for 64 bytes.
                let r = unsafe { libc::pwrite(fd.as_raw_fd(), junk.as_ptr().cast(), 64, 4096) };
                errno_of(if r < 0 { -1 } else { 0 })
            },
        ),
        (
            "fallocate(data fd, PUNCH_HOLE) [F_SEAL_FUTURE_WRITE]",
            libc::EPERM,
            |fd, _| {
                let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
                // SAFETY: fallocate on a descriptor we own; must fail.
                errno_of(unsafe { libc::fallocate(fd.as_raw_fd(), mode, 4096, 4096) })
            },
        ),
        (
            "fcntl(data fd, F_ADD_SEALS) [F_SEAL_SEAL]",
            libc::EPERM,
            |fd, _| {
                // SAFETY: fcntl on a descriptor we own; must fail.
                errno_of(unsafe {
                    libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_WRITE)
                })
            },
        ),
    ];
    for (what, errno, attack) in attacks {
        let outcome = as_remote_consumer(&buf, move |remote| attack(remote.data_fd(), len));
        refused(outcome, errno, what);
    }
}

#[test]
fn remote_consumer_cannot_resize_the_control_memfd() {
    let buf = buffer(4);
    for (what, size) in [("larger", 8192), ("smaller", 0)] {
        let outcome = as_remote_consumer(&buf, move |_remote| {
            let Some(fd) = received_control_fd() else {
                return SETUP_FAILED;
            };
            // SAFETY: ftruncate on a descriptor we own; must fail.
            errno_of(unsafe { libc::ftruncate(fd, size) })
        });
        refused(
            outcome,
            libc::EPERM,
            &format!("ftruncate(control fd, {what}) [F_SEAL_GROW/F_SEAL_SHRINK]"),
        );
    }
}

#[test]
fn remote_consumer_writes_to_a_private_copy_never_reach_the_ring() {
    let buf = buffer(4);
    let mut writer = buf.writer(Default::default()).unwrap();
    writer.write(SAMPLE, 0, &[0x5a; 24]).unwrap();
    // MAP_PRIVATE|PROT_WRITE is allowed on a F_SEAL_FUTURE_WRITE memfd: the writes go to
    // private copy-on-write pages. Allowed, and harmless: checked below.
    let frame = buf.data_frame(0).unwrap() as i64;
    let outcome = as_remote_consumer(&buf, move |remote| {
        // SAFETY: a fresh private mapping at a kernel-chosen address, the child's own.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE,
                remote.data_fd().as_raw_fd(),
                frame * 4096,
            )
        };
        if p == libc::MAP_FAILED {
            return errno_of(-1);
        }
        // SAFETY: `p` is a private writable page of ours.
        unsafe { std::ptr::write_bytes(p.cast::<u8>(), 0xee, 4096) };
        ALLOWED
    });
    assert_eq!(outcome, ChildOutcome::Exited(ALLOWED));
    let mapping = Arc::new(buf.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    let mut reader = mapping.reader().unwrap();
    let mut drain = reader.drain().unwrap();
    let rec = drain.next().unwrap().unwrap();
    let mut bytes = Vec::new();
    rec.bytes.extend_into(&mut bytes);
    assert_eq!(
        bytes[8..32],
        [0x5a; 24],
        "the private write reached the ring"
    );
}

/// Snapshot of the data area as the producer sees it.
fn data_bytes(m: &perf_ringbuf::emulation::Mapping) -> Vec<u8> {
    let mut v = vec![0u8; m.data_len()];
    // SAFETY: the data area is mapped readable for `data_len` bytes; the writer is idle
    // (same thread), so nothing writes it during the copy.
    unsafe { std::ptr::copy_nonoverlapping(m.data_ptr(), v.as_mut_ptr(), v.len()) };
    v
}

fn store_tail_from_remote_consumer(buf: &KernelBuffer, tail: u64) -> ChildOutcome {
    as_remote_consumer(buf, move |remote| {
        let Ok(m) = remote.map(MapOptions::new(Strategy::InsertPages)) else {
            return SETUP_FAILED;
        };
        let word = m.control_ptr().wrapping_add(DATA_TAIL_OFFSET).cast::<u64>();
        // SAFETY: the control page is mapped read-write and 8-aligned at data_tail.
        // ATOMICS: Release, as a reader's tail store (the value is the attack).
        unsafe { std::sync::atomic::AtomicU64::from_ptr(word) }
            .store(tail, std::sync::atomic::Ordering::Release);
        ALLOWED
    })
}

#[test]
fn nonsense_data_tail_from_a_remote_consumer_never_lets_the_producer_overwrite_unread_records() {
    let buf = buffer(4); // 16 KiB: 512 records of 32 bytes
    let mut writer = buf.writer(Default::default()).unwrap();
    let local = Arc::new(buf.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    // 400 records read and released, then 512 unread ones: the ring is full, so every
    // further write must look at data_tail (a writer with cached room never needs to: it
    // only reuses space the consumer already released).
    for seq in 0u64..912 {
        let mut p = [0u8; 24];
        p[..8].copy_from_slice(&seq.to_ne_bytes());
        writer.write(SAMPLE, 0, &p).unwrap();
        if seq == 399 {
            let mut reader = local.reader().unwrap();
            let mut drain = reader.drain().unwrap();
            while let Some(rec) = drain.next() {
                rec.unwrap();
            }
        }
    }
    let real_tail = writer.memory().load_tail();
    assert_eq!(real_tail, 400 * 32);
    let head = writer.memory().load_head();
    let size = writer.memory().data_size();
    let before = data_bytes(&local);
    let hostile = [
        ("ahead of head", head + 4096),
        ("unaligned", head - 3),
        ("behind by more than the ring", head.wrapping_sub(2 * size)),
        ("far ahead", u64::MAX - 7),
        ("behind, claiming a full ring", head - size),
    ];
    let mut dropped = 0u64;
    for (what, tail) in hostile {
        assert_eq!(
            store_tail_from_remote_consumer(&buf, tail),
            ChildOutcome::Exited(ALLOWED),
            "{what}"
        );
        for _ in 0..50 {
            let r = writer.write(SAMPLE, 0, &[0xee; 24]);
            assert!(
                matches!(
                    r,
                    Err(WriteError::CorruptTail { .. } | WriteError::NoSpace { .. })
                ),
                "{what}: {r:?}"
            );
            dropped += 1;
        }
        assert_eq!(writer.memory().load_head(), head, "{what}: head moved");
        assert!(data_bytes(&local) == before, "{what}: unread bytes changed");
    }
    assert_eq!(writer.stats().lost, dropped);
    // A consumer that resets a sane tail gets every unread record intact, then the loss
    // reported, then new records.
    assert_eq!(
        store_tail_from_remote_consumer(&buf, real_tail),
        ChildOutcome::Exited(ALLOWED)
    );
    let mut reader = local.reader().unwrap();
    let mut seqs = Vec::new();
    let mut lost = None;
    let mut b = Vec::new();
    for round in 0..2 {
        if round == 1 {
            writer.write(SAMPLE, 0, &912u64.to_ne_bytes()).unwrap();
        }
        let mut drain = reader.drain().unwrap();
        while let Some(rec) = drain.next() {
            let rec = rec.unwrap();
            b.clear();
            rec.bytes.extend_into(&mut b);
            if rec.header.record_type == PERF_RECORD_LOST {
                lost = Some(u64::from_ne_bytes(b[16..24].try_into().unwrap()));
            } else {
                seqs.push(u64::from_ne_bytes(b[8..16].try_into().unwrap()));
            }
        }
    }
    assert_eq!(seqs, (400u64..=912).collect::<Vec<_>>());
    assert_eq!(lost, Some(dropped));
}

#[test]
fn nonsense_layout_words_from_a_remote_consumer_stay_out_of_the_producers_bounds() {
    let buf = buffer(4);
    let mut writer = buf.writer(Default::default()).unwrap();
    let outcome = as_remote_consumer(&buf, |remote| {
        let Ok(m) = remote.map(MapOptions::new(Strategy::InsertPages)) else {
            return SETUP_FAILED;
        };
        // SAFETY: the control page is mapped read-write; data_size is 8-aligned.
        unsafe {
            m.control_ptr()
                .wrapping_add(DATA_SIZE_OFFSET)
                .cast::<u64>()
                .write_volatile(1 << 40)
        };
        ALLOWED
    });
    assert_eq!(outcome, ChildOutcome::Exited(ALLOWED));
    // The producer's writer keeps the layout it validated: its writes stay in the ring.
    for i in 0u64..2000 {
        let _ = writer.write(SAMPLE, 0, &i.to_ne_bytes());
    }
    assert_eq!(writer.memory().data_size(), 4 * 4096);
    // A new reader refuses the damaged control page instead of reading out of bounds.
    let m = Arc::new(buf.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    let err = m.reader().unwrap_err();
    assert!(err.to_string().contains("1099511627776"), "{err}");
}

// ---- Hostile peers: nothing the other side does crashes, hangs or exhausts this side ----

/// Runs `f` on a thread and returns its result, or panics if it has not returned after
/// `limit` (a generous bound: the attacks below used to block for ever).
fn returns_within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .expect("blocked: the call did not return")
}

/// A buffer handed to a consumer in this same process over a real socket: the
/// consumer's side is what a remote consumer gets (same descriptors, same link).
fn handed_to_ourselves(buf: &KernelBuffer) -> (handoff::ConsumerLink, RemoteBuffer) {
    let (ours, theirs) = UnixStream::pair().unwrap();
    let link = handoff::send(buf, ours).unwrap();
    let remote = RemoteBuffer::receive(theirs, Duration::from_secs(10)).unwrap();
    (link, remote)
}

fn store_word(ctrl: *mut u8, offset: usize, value: u64) {
    let word = ctrl.wrapping_add(offset).cast::<u64>();
    // SAFETY: the control page is mapped read-write and 8-aligned at every position word.
    // ATOMICS: Release, as a peer's store of that word (the value is the attack).
    unsafe { std::sync::atomic::AtomicU64::from_ptr(word) }
        .store(value, std::sync::atomic::Ordering::Release);
}

#[test]
fn a_misaligned_head_stored_by_a_remote_consumer_before_the_writer_exists_is_repaired_and_counted()
{
    // 4092 in a 4 KiB ring: a writer starting there framed records over the end of the
    // data area (up to 7 bytes past it).
    let buf = buffer(1);
    let outcome = as_remote_consumer(&buf, |remote| {
        let Ok(m) = remote.map(MapOptions::new(Strategy::InsertPages)) else {
            return SETUP_FAILED;
        };
        store_word(m.control_ptr(), DATA_HEAD_OFFSET, 4092);
        ALLOWED
    });
    assert_eq!(outcome, ChildOutcome::Exited(ALLOWED));
    let mut writer = buf.writer(Default::default()).unwrap();
    assert_eq!(writer.stats().head_repairs, 1);
    assert_eq!(
        writer.memory().load_head(),
        4096,
        "rounded up to a record boundary and published"
    );
    // data_tail is still 0: the hostile head claims a full ring, so the record is dropped
    // (and counted) rather than written over what the consumer may still read.
    assert!(matches!(
        writer.write(SAMPLE, 0, &[1; 60]),
        Err(WriteError::NoSpace { .. })
    ));
    // The consumer skips the garbage it made; from then on every record arrives intact,
    // the drop reported first.
    let m = Arc::new(buf.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    let mut reader = m.reader().unwrap();
    assert_eq!(reader.resync(), Ok(4096));
    let mut seen = Vec::new();
    let mut lost = 0;
    for i in 0u64..200 {
        // Sizes that straddle the end of the data area at every offset.
        let payload = vec![i as u8; 8 + (i as usize * 8) % 120];
        writer.write(SAMPLE, 0, &payload).unwrap();
        let mut d = reader.drain().unwrap();
        while let Some(rec) = d.next_contiguous() {
            let (h, bytes) = rec.unwrap();
            if h.record_type == PERF_RECORD_LOST {
                lost += u64::from_ne_bytes(bytes[16..24].try_into().unwrap());
            } else {
                assert_eq!(&bytes[8..8 + payload.len()], &payload[..]);
                seen.push(i);
            }
        }
    }
    assert_eq!(seen, (0u64..200).collect::<Vec<_>>());
    assert_eq!(lost, 1);
    assert_eq!(writer.stats().lost, 1);
}

#[test]
fn a_remote_consumer_that_fills_the_eventfd_and_clears_o_nonblock_cannot_block_the_producer() {
    let buf = buffer(4);
    let config = perf_ringbuf::WriterConfig {
        wakeup: perf_ringbuf::WakeupPolicy::Events(1),
        ..Default::default()
    };
    let writer = buf.writer(config).unwrap();
    let outcome = as_remote_consumer(&buf, |remote| {
        let Some(wake) = remote.wakeup_fd() else {
            return SETUP_FAILED;
        };
        let fd = std::os::fd::AsFd::as_fd(wake).as_raw_fd();
        let max = u64::MAX - 1;
        let mut now = 0u64;
        // SAFETY: plain syscalls on a descriptor we hold, with 8-byte buffers.
        unsafe {
            libc::read(fd, (&mut now as *mut u64).cast(), 8); // non-blocking still: empties
            if libc::write(fd, (&max as *const u64).cast(), 8) != 8 {
                return SETUP_FAILED;
            }
            let flags = libc::fcntl(fd, libc::F_GETFL);
            errno_of(libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK))
        }
    });
    assert_eq!(outcome, ChildOutcome::Exited(ALLOWED));
    // Every record signals; none may block on the full, now blocking, eventfd.
    let writer = returns_within(Duration::from_secs(60), move || {
        let mut writer = writer;
        for i in 0u64..10 {
            writer.write(SAMPLE, 0, &i.to_ne_bytes()).unwrap();
        }
        writer
    });
    let stats = writer.stats();
    assert_eq!(stats.records, 10);
    assert_eq!(stats.wakeups, 10);
    assert_eq!(
        stats.wakeups_refused, 10,
        "every signal refused and counted"
    );
    // The reader still finds the records (its wait never depended on the signal).
    let m = Arc::new(buf.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    let mut reader = m.reader().unwrap();
    let outcome = returns_within(Duration::from_secs(60), move || {
        let o = reader.wait(Some(Duration::from_millis(10)));
        (o, reader)
    });
    assert_eq!(outcome.0, Ok(perf_ringbuf::WaitOutcome::Ready));
    assert_eq!(outcome.1.available(), Ok(10 * 16));
    drop(writer); // its final wakeup is refused too, without blocking
}

#[test]
fn a_producer_that_clears_o_nonblock_on_the_shared_eventfd_cannot_block_the_readers_wait() {
    let buf = buffer(4);
    let (link, remote) = handed_to_ourselves(&buf);
    let m = Arc::new(remote.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    let mut reader = m.reader().unwrap();
    let wake = std::os::fd::AsFd::as_fd(buf.wakeup_fd().unwrap()).as_raw_fd();
    // The producer (a process holding the same open file description) makes it blocking
    // after the consumer received it. Only fcntl runs in the forked child.
    let outcome = probe::in_child(Duration::from_secs(20), move || {
        // SAFETY: fcntl on an inherited descriptor; async-signal-safe.
        unsafe {
            let flags = libc::fcntl(wake, libc::F_GETFL);
            errno_of(libc::fcntl(wake, libc::F_SETFL, flags & !libc::O_NONBLOCK))
        }
    })
    .unwrap();
    assert_eq!(outcome, ChildOutcome::Exited(ALLOWED));
    // SAFETY: fcntl on a descriptor we hold.
    let flags = unsafe { libc::fcntl(wake, libc::F_GETFL) };
    assert_eq!(flags & libc::O_NONBLOCK, 0, "the description is shared");
    let (outcome, reader) = returns_within(Duration::from_secs(60), move || {
        let o = reader.wait(Some(Duration::from_millis(100)));
        (o, reader)
    });
    assert_eq!(outcome, Ok(perf_ringbuf::WaitOutcome::TimedOut));
    drop((reader, link));
}

// ---- The soak (perf-client soak), short ----

#[test]
fn soak_with_killed_consumers_and_a_killed_producer_keeps_exact_accounting() {
    let records: u64 = 5_000_000;
    let out = std::process::Command::new(common::perf_client_bin())
        .args(["soak", "--records", &records.to_string(), "--kills", "3"])
        .args(["--seed", "12345", "--json"])
        .output()
        .expect("run perf-client soak");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "soak failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let n = |path: &[&str]| {
        let mut v = &r;
        for p in path {
            v = &v[*p];
        }
        v.as_u64().unwrap_or_else(|| panic!("{path:?} in {r}"))
    };
    eprintln!("{r}");
    assert_eq!(r["exact"], true, "{r}");
    assert_eq!(n(&["attempted"]), records);
    let (read, lost) = (n(&["consumer", "read"]), n(&["consumer", "lost"]));
    assert_eq!(read + lost, records, "written == read + lost");
    assert_eq!(n(&["written"]), read);
    assert_eq!(n(&["consumer", "gaps"]), lost);
    assert_eq!(n(&["consumer", "duplicates"]), 0);
    assert_eq!(n(&["consumer", "corrupt"]), 0);
    assert_eq!(n(&["kills"]), 3);
    assert_eq!(n(&["consumer", "sessions"]), 4);
    // One kill lands between a state commit and the tail release: its batch comes back.
    assert!(n(&["consumer", "redeliveries"]) > 0, "{r}");
    assert_eq!(r["producer_exit"], "died");
    assert!(n(&["consumer", "drained_after_death"]) > 0, "{r}");
    assert_eq!(r["consumer_before"], r["consumer_after"], "consumer leaked");
    assert_eq!(r["producer_min"], r["producer_max"], "producer leaked");
}

// ---- Capture under pressure (perf-client record) ----

/// Processes whose command line mentions `needle` (the soak's role processes carry its
/// working directory).
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

#[test]
fn soak_of_zero_records_is_refused_at_once_and_leaves_no_directory() {
    let dir = std::env::temp_dir().join(format!("perf-ringbuf-soak-n0-{}", std::process::id()));
    let mut child = std::process::Command::new(common::perf_client_bin())
        .args(["soak", "-n", "0", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("at least 1 record"), "{err}");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn soak_stopped_by_sigterm_kills_its_processes_and_removes_its_directory() {
    let dir = std::env::temp_dir().join(format!("perf-ringbuf-soak-term-{}", std::process::id()));
    let mut child = std::process::Command::new(common::perf_client_bin())
        .args(["soak", "-n", "1000000000", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Running: the producer has published its statistics file.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while !dir.join("producer.stats").exists() {
        assert!(std::time::Instant::now() < until, "the soak never started");
        assert!(child.try_wait().unwrap().is_none(), "the soak ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("interrupted"), "{err}");
    assert!(!dir.exists(), "{} left behind", dir.display());
    let left = processes_mentioning(&dir.to_string_lossy());
    assert!(left.is_empty(), "role processes left: {left:?}");
}

fn perf_report_samples(path: &std::path::Path) -> Result<u64, String> {
    let o = std::process::Command::new("perf")
        .args(["report", "--stats", "-i"])
        .arg(path)
        .output()
        .map_err(|e| format!("cannot run perf: {e}"))?;
    let out = String::from_utf8_lossy(&o.stdout);
    if !o.status.success() {
        return Err(format!(
            "perf report failed: {}{out}",
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(out
        .lines()
        .find_map(|l| l.trim().strip_prefix("SAMPLE events:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0))
}

/// Waits for `child` at most `limit`; kills it and fails if it does not end.
fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("perf-client record did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (at most 10 s, a bound for a loaded machine) until process `pid` has a handler
/// for `sig` (its bit in `SigCgt:` of /proc/PID/status).
fn wait_until_catching(pid: u32, sig: libc::c_int) {
    let bit = 1u64 << (sig - 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let caught = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|st| {
                st.lines()
                    .find_map(|l| l.strip_prefix("SigCgt:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            });
        if caught.is_some_and(|mask| mask & bit != 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("process {pid} installed no handler for signal {sig} within 10 s");
}

#[test]
fn record_stopped_by_sigint_or_sigterm_ends_its_command_and_leaves_a_file_perf_reads() {
    let bin = common::perf_client_bin();
    let dir = std::env::temp_dir().join(format!("hardening-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (sig, after_ms) in [
        (libc::SIGINT, 150),
        (libc::SIGTERM, 400),
        (libc::SIGINT, 20),
    ] {
        let path = dir.join(format!("sig{sig}-{after_ms}.data"));
        // The storm alone would run for minutes: the signal must end it.
        let mut child = std::process::Command::new(&bin)
            .args([
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "10000",
                "-m",
                "1",
                "-o",
            ])
            .arg(&path)
            .arg("--")
            .arg(&bin)
            .args(["storm", "-n", "10000000000"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The delay counts from when the recorder catches the signal: before its handler
        // is installed (a loaded machine may take longer than 20 ms to exec it), the
        // signal's default action would end it, which says nothing about the recorder.
        wait_until_catching(child.id(), sig);
        std::thread::sleep(Duration::from_millis(after_ms));
        // SAFETY: kill(2) on our own child, not yet waited for.
        unsafe { libc::kill(child.id() as libc::pid_t, sig) };
        let status = wait_bounded(&mut child, Duration::from_secs(60));
        assert!(
            status.success(),
            "signal {sig} after {after_ms} ms: {status}"
        );
        match perf_report_samples(&path) {
            Ok(_) => {}
            Err(e) if e.starts_with("cannot run perf") => return common::skip(&e),
            Err(e) => panic!("signal {sig} after {after_ms} ms: {e}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_to_a_full_disk_says_so_and_leaves_a_truncated_file_perf_reads() {
    let dir = std::env::temp_dir().join(format!("hardening-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&dir)
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        let _ = std::fs::remove_dir(&dir);
        return common::skip("cannot mount a 2 MiB tmpfs (needs root)");
    }
    let path = dir.join("full.data");
    let bin = common::perf_client_bin();
    let out = std::process::Command::new(&bin)
        .args([
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-F",
            "20000",
            "-g",
            "-m",
            "1",
            "-o",
        ])
        .arg(&path)
        .arg("--")
        .arg(&bin)
        .args(["storm", "-n", "10000000000"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let samples = perf_report_samples(&path);
    let _ = std::process::Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    assert!(!out.status.success(), "a full disk must fail the recording");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(size > 0 && size <= 2 << 20, "{size} bytes");
    match samples {
        Ok(n) => assert!(n > 0, "the truncated file has no samples"),
        Err(e) if e.starts_with("cannot run perf") => common::skip(&e),
        Err(e) => panic!("the truncated file is unreadable: {e}"),
    }
}

#[test]
fn a_writer_refused_for_a_damaged_layout_can_be_made_once_the_layout_is_restored() {
    let buf = buffer(4);
    let m = buf.map(MapOptions::new(Strategy::InsertPages)).unwrap();
    store_word(m.control_ptr(), DATA_SIZE_OFFSET, 2 * 4096);
    let err = buf.writer(Default::default()).unwrap_err();
    assert!(
        matches!(
            err,
            perf_ringbuf::emulation::EmulationError::LayoutMismatch { .. }
        ),
        "{err}"
    );
    // A refused writer neither keeps the claim nor tells readers the producer is gone.
    let reader_side = Arc::new(buf.map(MapOptions::new(Strategy::InsertPages)).unwrap());
    store_word(m.control_ptr(), DATA_SIZE_OFFSET, 4 * 4096);
    let mut reader = reader_side.reader().unwrap();
    assert_eq!(
        reader.wait(Some(Duration::from_millis(1))).unwrap(),
        perf_ringbuf::WaitOutcome::TimedOut
    );
    let mut writer = buf.writer(Default::default()).unwrap();
    writer.write(SAMPLE, 0, &7u64.to_ne_bytes()).unwrap();
}

#[test]
fn a_demo_record_larger_than_the_ring_is_an_error_not_a_hang() {
    let mut child = std::process::Command::new(common::perf_client_bin())
        .args(["demo", "-s", "8192", "--data-size", "4096"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It used to spin for ever retrying a record that can never fit.
    let status = wait_bounded(&mut child, Duration::from_secs(60));
    assert!(!status.success(), "{status}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("exceeds the largest record"), "{err}");
}
