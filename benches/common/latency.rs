//! Latency: one message in flight between two CPUs, echoed back.
//!
//! The requester stamps `CLOCK_MONOTONIC` nanoseconds into the first 8 bytes of an
//! `N`-byte message and sends it; the responder, on receipt, reads the clock, writes the
//! difference (the one-way latency, producer timestamp to consumer) into the first 8
//! bytes and sends the message back; the requester reads the clock again on receipt (the
//! round trip). The rest of the message is the fixed pattern, copied in and out on both
//! sides like the throughput subjects; in the verification pass the responder checks
//! every byte of it. `CLOCK_MONOTONIC` is one clock for every process on the machine, so
//! the one-way figure also holds across processes; each figure includes one clock read
//! (about 20 ns here, the same for every subject and for the ping-pong floor).
//!
//! Subjects: a bare cache-line ping-pong (the floor: one line each way, no queue), and
//! two queues of each kind (request, echo): perf-ringbuf heap rings, perf-ringbuf
//! emulated kernel buffers across two processes (`perf_ringbuf::emulation::handoff`, the
//! responder a child process), rtrb, crossbeam `ArrayQueue`, and the commit-word variant
//! of our framing (`commit_word.rs`), which shows what perf's control layout costs here.

use std::hint::spin_loop;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use crossbeam::utils::CachePadded;
use perf_ringbuf::emulation::handoff::{self, RemoteBuffer};
use perf_ringbuf::emulation::{BufferConfig, KernelBuffer, MapOptions, Mapping, Strategy};
use perf_ringbuf::{Reader, Ring, WakeupPolicy, Writer, WriterConfig};

use super::affinity::{cpu_pair, pin_current_thread, run_pair};
use super::commit_word::{CommitWordConsumer, CommitWordProducer, CommitWordRing};
use super::pattern;

/// Record sizes of the latency group.
pub const SIZES: [usize; 3] = [16, 64, 256];
/// The environment variable that makes the `compare` binary the echo process of the
/// cross-process subject: `"<request fd>,<echo fd>"`.
pub const ECHO_ENV: &str = "PERF_RINGBUF_BENCH_ECHO";
/// First word of the message that ends a run.
const STOP: u64 = u64::MAX;
/// `perf_event_header::type` of the messages.
const RECORD_TYPE: u32 = 9;
/// Data bytes of each ring or queue.
const CAPACITY: usize = 1 << 20;
/// A wait longer than this means the other side is gone: the run panics.
const STALL: Duration = Duration::from_secs(10);

/// What runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LatKind {
    /// Two cache lines: request (timestamp) and echo (one-way, timestamp echoed).
    PingPong,
    /// Two perf-ringbuf heap rings; the reader stores `data_tail` after every drain.
    HeapRing,
    /// As [`LatKind::HeapRing`], `data_tail` stored once per 64 KiB consumed.
    HeapRingDeferred,
    /// Two emulated kernel buffers, one per process, handed over with
    /// `perf_ringbuf::emulation::handoff`; the responder is a child process.
    Emulated,
    /// Two `rtrb::RingBuffer<[u8; N]>`.
    Rtrb,
    /// Two crossbeam `ArrayQueue<[u8; N]>`.
    ArrayQueue,
    /// Two [`super::commit_word::CommitWordRing`]s: our framing with the header word as
    /// the commit flag and the consumer's position on its own line.
    CommitWord,
}

/// One latency subject at one record size.
#[derive(Debug, Clone)]
pub struct LatSpec {
    /// Message bytes (the record, header included, for perf-ringbuf).
    pub size: usize,
    /// Row name.
    pub name: &'static str,
    /// Ours, peer or the floor.
    pub role: super::subjects::Role,
    /// What runs.
    pub kind: LatKind,
}

/// The ping-pong floor's row name.
pub const PING_PONG: &str = "cache-line ping-pong (floor)";

/// Every latency subject: the floor once (its size is that of a cache line), then each
/// queue at each size.
pub fn lat_catalogue() -> Vec<LatSpec> {
    use super::subjects::Role;
    let mut out = vec![LatSpec {
        size: 64,
        name: PING_PONG,
        role: Role::Limit,
        kind: LatKind::PingPong,
    }];
    for size in SIZES {
        for (name, role, kind) in [
            ("perf-ringbuf heap ring", Role::Ours, LatKind::HeapRing),
            (
                "perf-ringbuf heap ring, deferred tail",
                Role::Ours,
                LatKind::HeapRingDeferred,
            ),
            (
                "perf-ringbuf emulated buffer, 2 processes",
                Role::Ours,
                LatKind::Emulated,
            ),
            ("rtrb [u8; N]", Role::Peer, LatKind::Rtrb),
            (
                "crossbeam ArrayQueue<[u8; N]>",
                Role::Peer,
                LatKind::ArrayQueue,
            ),
            (
                "commit-word ring (our framing, separate lines)",
                Role::Variant,
                LatKind::CommitWord,
            ),
        ] {
            out.push(LatSpec {
                size,
                name,
                role,
                kind,
            });
        }
    }
    out
}

/// Nanoseconds of `CLOCK_MONOTONIC` (one clock for every process).
#[inline(always)]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One run's samples, in nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct LatSample {
    /// Round trips.
    pub rtt: Vec<u64>,
    /// Requester's timestamp to the responder's receipt.
    pub one_way: Vec<u64>,
}

/// A sending end: spins until the message is in.
trait Tx {
    fn send(&mut self, msg: &[u8]);
}

/// A receiving end: copies one message into `buf` (its length is the message's) and
/// returns true, or returns false when there is none yet.
trait Rx {
    fn recv(&mut self, buf: &mut [u8]) -> bool;
}

impl<T: Tx + ?Sized> Tx for &mut T {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) {
        (**self).send(msg)
    }
}

impl<R: Rx + ?Sized> Rx for &mut R {
    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> bool {
        (**self).recv(buf)
    }
}

/// perf-ringbuf ends: the message is the record's payload (the 8-byte header is the
/// ring's), so an `N`-byte record carries an `N - 8`-byte message.
impl Tx for Writer {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) {
        while !self
            .try_write(RECORD_TYPE, 0, msg)
            .expect("write a latency record")
        {
            spin_loop();
        }
    }
}

impl Rx for Reader {
    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> bool {
        let mut drain = self.drain().expect("drain");
        let mut got = 0;
        drain
            .for_each_record(|record| {
                assert_eq!(record.header.record_type, RECORD_TYPE, "record type");
                assert_eq!(record.header.size as usize, buf.len() + 8, "record size");
                let (a, b) = record.payload().parts();
                buf[..a.len()].copy_from_slice(a);
                buf[a.len()..].copy_from_slice(b);
                got += 1;
            })
            .expect("read a latency record");
        assert!(got <= 1, "one message in flight, {got} read");
        got == 1
    }
}

/// Commit-word ring ends: like perf-ringbuf, the message is the record's payload.
impl Tx for CommitWordProducer<'_> {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) {
        while !self.try_write(RECORD_TYPE, msg) {
            spin_loop();
        }
    }
}

impl Rx for CommitWordConsumer<'_> {
    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> bool {
        let got = self.drain(|record_type, payload| {
            assert_eq!(record_type, RECORD_TYPE, "record type");
            payload.copy_to(buf);
        });
        assert!(got <= 1, "one message in flight, {got} read");
        got == 1
    }
}

/// `rtrb` ends of `[u8; N]`.
impl<const N: usize> Tx for rtrb::Producer<[u8; N]> {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) {
        let v: [u8; N] = msg.try_into().expect("message size");
        while self.push(v).is_err() {
            spin_loop();
        }
    }
}

impl<const N: usize> Rx for rtrb::Consumer<[u8; N]> {
    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> bool {
        match self.pop() {
            Ok(v) => {
                buf.copy_from_slice(&v);
                true
            }
            Err(_) => false,
        }
    }
}

/// `ArrayQueue` ends (both sides share the queue).
struct AqEnd<'a, const N: usize>(&'a ArrayQueue<[u8; N]>);

impl<const N: usize> Tx for AqEnd<'_, N> {
    #[inline(always)]
    fn send(&mut self, msg: &[u8]) {
        let mut v: [u8; N] = msg.try_into().expect("message size");
        while let Err(back) = self.0.push(v) {
            v = back;
            spin_loop();
        }
    }
}

impl<const N: usize> Rx for AqEnd<'_, N> {
    #[inline(always)]
    fn recv(&mut self, buf: &mut [u8]) -> bool {
        match self.0.pop() {
            Some(v) => {
                buf.copy_from_slice(&v);
                true
            }
            None => false,
        }
    }
}

/// Spins until `rx` yields a message; panics after [`STALL`].
#[inline(always)]
fn wait_recv(rx: &mut impl Rx, buf: &mut [u8]) {
    let mut spins = 0u32;
    let mut since: Option<Instant> = None;
    while !rx.recv(buf) {
        spin_loop();
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(1 << 20) {
            let t = *since.get_or_insert_with(Instant::now);
            assert!(
                t.elapsed() < STALL,
                "latency: the other side stopped answering"
            );
        }
    }
}

/// The requester: `warm + n` round trips, the last `n` recorded, then [`STOP`].
fn requester(tx: &mut impl Tx, rx: &mut impl Rx, size: usize, n: usize, warm: usize) -> LatSample {
    let mut msg = pattern(size);
    let mut back = vec![0u8; size];
    let mut out = LatSample {
        rtt: Vec::with_capacity(n),
        one_way: Vec::with_capacity(n),
    };
    for i in 0..warm + n {
        let t0 = now_ns();
        msg[..8].copy_from_slice(&t0.to_ne_bytes());
        tx.send(&msg);
        wait_recv(rx, &mut back);
        let t1 = now_ns();
        if i >= warm {
            out.rtt.push(t1 - t0);
            out.one_way
                .push(u64::from_ne_bytes(back[..8].try_into().unwrap()));
        }
    }
    msg[..8].copy_from_slice(&STOP.to_ne_bytes());
    tx.send(&msg);
    out
}

/// The responder: echoes every message with its one-way latency until [`STOP`]; with
/// `verify`, checks every byte after the timestamp against the pattern.
fn responder(tx: &mut impl Tx, rx: &mut impl Rx, size: usize, verify: bool) -> u64 {
    let expected = pattern(size);
    let mut buf = vec![0u8; size];
    let mut echoed = 0;
    loop {
        wait_recv(rx, &mut buf);
        let t = now_ns();
        let t0 = u64::from_ne_bytes(buf[..8].try_into().unwrap());
        if t0 == STOP {
            return echoed;
        }
        if verify {
            assert_eq!(buf[8..], expected[8..], "latency message bytes differ");
        }
        buf[..8].copy_from_slice(&t.saturating_sub(t0).to_ne_bytes());
        tx.send(&buf);
        echoed += 1;
    }
}

/// The in-process pair: the responder on the producer CPU, the requester (timed) on the
/// consumer CPU. `requester` and `responder` are each side's (send, receive) ends.
fn echo_pair<T1, R1, T2, R2>(
    (mut req_tx, mut req_rx): (T1, R1),
    (mut resp_tx, mut resp_rx): (T2, R2),
    size: usize,
    n: usize,
    warm: usize,
    verify: bool,
) -> LatSample
where
    T1: Tx + Send,
    R1: Rx + Send,
    T2: Tx + Send,
    R2: Rx + Send,
{
    let mut sample = LatSample::default();
    let total = (warm + n) as u64;
    run_pair(
        total,
        0,
        || {
            let echoed = responder(&mut resp_tx, &mut resp_rx, size, verify);
            assert_eq!(echoed, total, "responder echoed every message");
        },
        || {
            sample = requester(&mut req_tx, &mut req_rx, size, n, warm);
            total
        },
    );
    sample
}

/// A latency subject with its queues built.
pub struct LatSubject {
    /// What it is.
    pub spec: LatSpec,
    state: LatState,
}

enum LatState {
    PingPong(Box<PingPongLines>),
    /// Request ring, echo ring: each end on its own lines (the two threads' hot fields
    /// never share one).
    Heap(Box<[(CachePadded<Writer>, CachePadded<Reader>); 2]>),
    Emulated,
    Rtrb,
    ArrayQueue,
    CommitWord(Box<[CommitWordRing; 2]>),
}

/// Request line: the timestamp. Echo line: one-way latency, then the timestamp echoed
/// (the flag the requester waits for), both on one line.
struct PingPongLines {
    ping: CachePadded<AtomicU64>,
    pong: CachePadded<[AtomicU64; 2]>,
}

impl LatSubject {
    /// Builds `spec`.
    pub fn new(spec: LatSpec) -> LatSubject {
        let heap = |deferred: bool| {
            let ring = || {
                let (w, mut r) = Ring::builder(CAPACITY as u64)
                    .wakeup_fd(false)
                    .build()
                    .expect("heap ring");
                if deferred {
                    r.set_release_every(64 << 10);
                }
                (CachePadded::new(w), CachePadded::new(r))
            };
            LatState::Heap(Box::new([ring(), ring()]))
        };
        let state = match spec.kind {
            LatKind::PingPong => LatState::PingPong(Box::new(PingPongLines {
                ping: CachePadded::new(AtomicU64::new(0)),
                pong: CachePadded::new([AtomicU64::new(0), AtomicU64::new(0)]),
            })),
            LatKind::HeapRing => heap(false),
            LatKind::HeapRingDeferred => heap(true),
            LatKind::Emulated => LatState::Emulated,
            // Built per run: `rtrb` and `ArrayQueue` ends are cheap to make.
            LatKind::Rtrb => LatState::Rtrb,
            LatKind::ArrayQueue => LatState::ArrayQueue,
            LatKind::CommitWord => LatState::CommitWord(Box::new([
                CommitWordRing::new(CAPACITY),
                CommitWordRing::new(CAPACITY),
            ])),
        };
        LatSubject { spec, state }
    }

    /// `n` recorded round trips after `warm` unrecorded ones; `verify` checks every
    /// message byte in the responder.
    pub fn run(&mut self, n: usize, warm: usize, verify: bool) -> LatSample {
        let size = self.spec.size;
        match &mut self.state {
            LatState::PingPong(lines) => ping_pong(lines, n, warm),
            LatState::Heap(rings) => {
                let [(w_req, r_req), (w_echo, r_echo)] = &mut **rings;
                echo_pair(
                    (&mut **w_req, &mut **r_echo),
                    (&mut **w_echo, &mut **r_req),
                    size - 8,
                    n,
                    warm,
                    verify,
                )
            }
            LatState::Emulated => emulated(size, n, warm, verify),
            LatState::Rtrb => sized(size, n, warm, verify, SizedLat::Rtrb),
            LatState::ArrayQueue => sized(size, n, warm, verify, SizedLat::ArrayQueue),
            LatState::CommitWord(rings) => {
                let [req, echo] = &**rings;
                echo_pair(
                    (req.producer(), echo.consumer()),
                    (echo.producer(), req.consumer()),
                    size - 8,
                    n,
                    warm,
                    verify,
                )
            }
        }
    }
}

enum SizedLat {
    Rtrb,
    ArrayQueue,
}

fn sized(size: usize, n: usize, warm: usize, verify: bool, kind: SizedLat) -> LatSample {
    fn of<const N: usize>(n: usize, warm: usize, verify: bool, kind: SizedLat) -> LatSample {
        let slots = CAPACITY / N;
        match kind {
            SizedLat::Rtrb => {
                let req = rtrb::RingBuffer::<[u8; N]>::new(slots);
                let echo = rtrb::RingBuffer::<[u8; N]>::new(slots);
                // (requester's tx, requester's rx), (responder's tx, responder's rx)
                let (req_tx, req_rx) = req;
                let (echo_tx, echo_rx) = echo;
                echo_pair((req_tx, echo_rx), (echo_tx, req_rx), N, n, warm, verify)
            }
            SizedLat::ArrayQueue => {
                let req = ArrayQueue::<[u8; N]>::new(slots);
                let echo = ArrayQueue::<[u8; N]>::new(slots);
                echo_pair(
                    (AqEnd(&req), AqEnd(&echo)),
                    (AqEnd(&echo), AqEnd(&req)),
                    N,
                    n,
                    warm,
                    verify,
                )
            }
        }
    }
    match size {
        16 => of::<16>(n, warm, verify, kind),
        64 => of::<64>(n, warm, verify, kind),
        256 => of::<256>(n, warm, verify, kind),
        _ => unreachable!("latency sizes are 16, 64, 256"),
    }
}

fn ping_pong(lines: &PingPongLines, n: usize, warm: usize) -> LatSample {
    let mut sample = LatSample::default();
    let total = (warm + n) as u64;
    run_pair(
        total,
        0,
        || loop {
            // ATOMICS: Acquire pairs with the requester's Release store of `ping`.
            let mut t0 = lines.ping.load(Ordering::Acquire);
            // ATOMICS: Relaxed: only the responder writes `pong`; it reads its own store.
            while t0 == lines.pong[1].load(Ordering::Relaxed) {
                spin_loop();
                t0 = lines.ping.load(Ordering::Acquire);
            }
            let t = now_ns();
            if t0 == STOP {
                // ATOMICS: Release pairs with the requester's Acquire load.
                lines.pong[1].store(STOP, Ordering::Release);
                break;
            }
            // ATOMICS: Relaxed, published by the Release store of the echo below.
            lines.pong[0].store(t.saturating_sub(t0), Ordering::Relaxed);
            // ATOMICS: Release pairs with the requester's Acquire load of `pong[1]`.
            lines.pong[1].store(t0, Ordering::Release);
        },
        || {
            sample.rtt.reserve(n);
            sample.one_way.reserve(n);
            for i in 0..warm + n {
                let t0 = now_ns();
                // ATOMICS: Release pairs with the responder's Acquire load.
                lines.ping.store(t0, Ordering::Release);
                // ATOMICS: Acquire pairs with the responder's Release store of the echo.
                while lines.pong[1].load(Ordering::Acquire) != t0 {
                    spin_loop();
                }
                let t1 = now_ns();
                if i >= warm {
                    sample.rtt.push(t1 - t0);
                    // ATOMICS: Relaxed after the Acquire load above that published it.
                    sample.one_way.push(lines.pong[0].load(Ordering::Relaxed));
                }
            }
            // ATOMICS: Release pairs with the responder's Acquire load.
            lines.ping.store(STOP, Ordering::Release);
            while lines.pong[1].load(Ordering::Acquire) != STOP {
                spin_loop();
            }
            // Reset for the next run.
            lines.ping.store(0, Ordering::Relaxed);
            lines.pong[1].store(0, Ordering::Relaxed);
            total
        },
    );
    sample
}

/// The emulated buffer's writer settings: wake the (busy-spinning) reader as rarely as
/// the protocol allows, once per data area's worth of bytes.
fn emulated_writer(buf: &KernelBuffer) -> Writer {
    buf.writer(WriterConfig {
        wakeup: WakeupPolicy::Watermark(u64::MAX),
        ..Default::default()
    })
    .expect("writer of the emulated buffer")
}

/// Data pages of each emulated buffer (1 MiB, like the other subjects' capacity).
const EMULATED_PAGES: usize = CAPACITY / 4096;

/// Maps a received buffer and returns its reader (which keeps the mapping alive).
fn remote_reader(sock: UnixStream) -> (RemoteBuffer, Reader) {
    let remote = RemoteBuffer::receive(sock, Duration::from_secs(30)).expect("receive buffer");
    let mapping: Arc<Mapping> =
        Arc::new(remote.map(MapOptions::new(Strategy::PfnMap)).expect("map"));
    let reader = mapping.reader().expect("reader");
    (remote, reader)
}

/// The cross-process subject: this process owns the request buffer and writes it; a
/// child (this binary, [`ECHO_ENV`] set) owns the echo buffer. Each maps the other's
/// with `PfnMap`. The child is made per run so that it never spins while other subjects
/// run.
fn emulated(size: usize, n: usize, warm: usize, verify: bool) -> LatSample {
    let (req_ours, req_theirs) = UnixStream::pair().expect("socketpair");
    let (echo_ours, echo_theirs) = UnixStream::pair().expect("socketpair");
    let fds = [req_theirs.as_raw_fd(), echo_theirs.as_raw_fd()];
    let exe = std::env::current_exe().expect("bench binary path");
    let mut cmd = std::process::Command::new(exe);
    cmd.env(ECHO_ENV, format!("{},{}", fds[0], fds[1]))
        .env("PERF_RINGBUF_BENCH_ECHO_SIZE", size.to_string())
        .env(
            "PERF_RINGBUF_BENCH_ECHO_VERIFY",
            if verify { "1" } else { "0" },
        )
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    // SAFETY: only async-signal-safe fcntl calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for fd in fds {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn the echo process");
    drop((req_theirs, echo_theirs));
    let req_buf = KernelBuffer::new(BufferConfig::new(EMULATED_PAGES)).expect("request buffer");
    let mut writer = emulated_writer(&req_buf);
    let link = handoff::send(&req_buf, req_ours).expect("hand the request buffer over");
    let (_remote, mut reader) = remote_reader(echo_ours);
    let (_, cpu) = cpu_pair();
    let sample = std::thread::scope(|s| {
        s.spawn(|| {
            pin_current_thread(cpu);
            requester(&mut writer, &mut reader, size - 8, n, warm)
        })
        .join()
        .expect("requester panicked")
    });
    let status = child.wait().expect("wait for the echo process");
    assert!(status.success(), "echo process failed: {status}");
    drop(link);
    sample
}

/// The echo process of the cross-process subject (`compare` started with [`ECHO_ENV`]):
/// receives the request buffer, hands over its own echo buffer, pins itself to the
/// producer CPU and echoes until [`STOP`].
pub fn echo_process(fds: &str) {
    let mut it = fds.split(',').map(|f| f.parse::<i32>().expect("fd"));
    let (req, echo) = (it.next().expect("fd"), it.next().expect("fd"));
    // SAFETY: the parent passed these two descriptors to this process alone.
    let (req, echo) = unsafe {
        (
            UnixStream::from(OwnedFd::from_raw_fd(req)),
            UnixStream::from(OwnedFd::from_raw_fd(echo)),
        )
    };
    let size: usize = std::env::var("PERF_RINGBUF_BENCH_ECHO_SIZE")
        .expect("size")
        .parse()
        .expect("size");
    let verify = std::env::var("PERF_RINGBUF_BENCH_ECHO_VERIFY").as_deref() == Ok("1");
    let (_remote, mut reader) = remote_reader(req);
    let echo_buf = KernelBuffer::new(BufferConfig::new(EMULATED_PAGES)).expect("echo buffer");
    let mut writer = emulated_writer(&echo_buf);
    let _link = handoff::send(&echo_buf, echo).expect("hand the echo buffer over");
    let (cpu, _) = cpu_pair();
    pin_current_thread(cpu);
    responder(&mut writer, &mut reader, size - 8, verify);
    writer.flush();
}
