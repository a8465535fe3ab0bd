//! The soak's producer process: owns an emulated kernel buffer, hands it to whichever
//! consumer connects (one at a time, again after each consumer death), and writes
//! `records` checksummed records. While a consumer is connected it waits for room
//! (backpressure); while none is, records that do not fit are dropped and counted, and a
//! `PERF_RECORD_LOST` reports them in the ring as soon as there is room — the kernel's
//! behaviour. When done it commits its final counts and waits to be killed.

use std::io;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use perf_ringbuf::emulation::handoff::{self, ConsumerLink};
use perf_ringbuf::emulation::{BufferConfig, KernelBuffer};
use perf_ringbuf::{WriteError, Writer, WriterConfig};

use super::procfs::Resources;
use super::record::{payload, RECORD_SIZE, SAMPLE};
use super::slots::{Slots, WORDS};
use super::SoakError;

/// Records per `data_head` store.
const BATCH: u64 = 64;
/// The size of a `PERF_RECORD_LOST`.
const LOST_SIZE: u64 = 24;
/// Records between two commits of the producer's counters.
const STATS_EVERY: u64 = 1 << 10;

/// Where the producer listens and reports.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// Unix socket path to listen on.
    pub socket: PathBuf,
    /// Its counters file (see [`ProducerCounts`]).
    pub stats: PathBuf,
    /// Records to write (sequence numbers `0..records`).
    pub records: u64,
    /// Data pages of the buffer (a power of two).
    pub data_pages: usize,
    /// How long to wait to be killed once done before exiting by itself.
    pub linger: Duration,
    /// Stop before this sequence number until `gate_file` exists (the orchestrator's cue
    /// that the consumer is stopped, so the last records are still unread at the death).
    pub gate_at: Option<u64>,
    /// See `gate_at`.
    pub gate_file: PathBuf,
}

/// The producer's counters, committed to its stats file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerCounts {
    /// Sequence numbers handed out (records attempted).
    pub attempted: u64,
    /// Records written into the ring.
    pub written: u64,
    /// Records dropped.
    pub lost: u64,
    /// Dropped records not yet reported by a `PERF_RECORD_LOST`.
    pub lost_pending: u64,
    /// All records attempted and every loss reported in the ring.
    pub done: bool,
    /// Consumers the buffer was handed to.
    pub consumers: u64,
    /// Smallest and largest resource counts seen right after each handoff.
    pub min: Resources,
    /// See `min`.
    pub max: Resources,
}

impl ProducerCounts {
    pub(crate) fn to_words(self) -> [u64; WORDS] {
        let mut w = [0u64; WORDS];
        w[..6].copy_from_slice(&[
            self.attempted,
            self.written,
            self.lost,
            self.lost_pending,
            u64::from(self.done),
            self.consumers,
        ]);
        w[6..10].copy_from_slice(&self.min.to_words());
        w[10..14].copy_from_slice(&self.max.to_words());
        w
    }

    pub(crate) fn from_words(w: &[u64; WORDS]) -> ProducerCounts {
        ProducerCounts {
            attempted: w[0],
            written: w[1],
            lost: w[2],
            lost_pending: w[3],
            done: w[4] != 0,
            consumers: w[5],
            min: Resources::from_words(&w[6..10]),
            max: Resources::from_words(&w[10..14]),
        }
    }
}

/// Runs the producer until every record is attempted and every loss reported, then waits
/// up to `linger` to be killed.
///
/// # Errors
///
/// [`SoakError`] for a failing socket, buffer or stats file.
pub fn run(config: &ProducerConfig) -> Result<(), SoakError> {
    let io_err = |what: &'static str| move |e: io::Error| SoakError::Io(what, e);
    let listener = UnixListener::bind(&config.socket).map_err(io_err("bind soak socket"))?;
    listener
        .set_nonblocking(true)
        .map_err(io_err("O_NONBLOCK"))?;
    let mut stats = Slots::open(&config.stats).map_err(io_err("open producer stats"))?;
    let buffer = KernelBuffer::new(BufferConfig::new(config.data_pages))?;
    let mut writer = buffer.writer(WriterConfig::default())?;
    let mut counts = ProducerCounts::default();
    let mut link: Option<ConsumerLink> = None;
    let mut seq = 0u64;
    let mut batches = 0u64;
    let mut idle = 0u32;
    let (mut gate_announced, mut gate_open) = (false, false);
    let n = config.records;
    loop {
        // Is the consumer still there? Checked often when it matters (no consumer, or no
        // room), rarely otherwise.
        let check = link.is_none() || batches.is_multiple_of(256) || idle > 0;
        if check && link.as_ref().is_some_and(|l| !l.is_alive()) {
            link = None;
        }
        if link.is_none() {
            match listener.accept() {
                Ok((sock, _)) => {
                    sock.set_nonblocking(false)
                        .map_err(io_err("O_NONBLOCK off"))?;
                    match handoff::send(&buffer, sock) {
                        Ok(l) => {
                            link = Some(l);
                            counts.consumers += 1;
                            let r = Resources::now();
                            if counts.consumers == 1 {
                                counts.min = r;
                                counts.max = r;
                            } else {
                                counts.min = min_res(counts.min, r);
                                counts.max = max_res(counts.max, r);
                            }
                        }
                        // The consumer died during the handoff: wait for the next one.
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                        Err(e) => return Err(SoakError::Io("hand the buffer over", e)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(SoakError::Io("accept", e)),
            }
        }
        writer.publish();
        if seq == n {
            if writer.flush_lost() {
                break;
            }
            backoff(&mut idle);
            continue;
        }
        if config.gate_at == Some(seq) && !gate_open {
            // Announce arrival once a consumer has read everything, then wait (still
            // serving reconnections above) for the orchestrator's cue.
            let mem = writer.memory();
            // ATOMICS: Acquire loads (inside); only equality is used.
            let empty = mem.load_tail() == mem.load_head();
            if !gate_announced && link.is_some() && empty {
                commit(&mut stats, &mut counts, &writer, seq, false)?;
                gate_announced = true;
            }
            if gate_announced && config.gate_file.exists() {
                gate_open = true;
            } else {
                backoff(&mut idle);
                continue;
            }
        }
        let gate = config.gate_at.filter(|&g| g > seq).unwrap_or(n);
        let batch = BATCH.min(gate - seq);
        if link.is_some() {
            let mem = writer.memory();
            // ATOMICS: both loads Acquire (inside); head is our own, tail the consumer's
            // Release store. A hostile tail only makes this estimate wrong, never unsafe:
            // the writer checks the tail itself.
            let used = mem.load_head().wrapping_sub(mem.load_tail());
            let free = mem.data_size().saturating_sub(used);
            if free < batch * RECORD_SIZE + LOST_SIZE {
                backoff(&mut idle);
                continue;
            }
        }
        idle = 0;
        for _ in 0..batch {
            write_one(&mut writer, seq)?;
            seq += 1;
        }
        writer.publish();
        batches += 1;
        if seq.is_multiple_of(STATS_EVERY) && config.gate_at != Some(seq) {
            commit(&mut stats, &mut counts, &writer, seq, false)?;
        }
    }
    writer.flush();
    commit(&mut stats, &mut counts, &writer, seq, true)?;
    // Done: wait for the orchestrator's SIGKILL, keeping the buffer (and the consumer's
    // view of a live producer) until then.
    let until = Instant::now() + config.linger;
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(link);
    Ok(())
}

fn write_one(writer: &mut Writer, seq: u64) -> Result<(), SoakError> {
    match writer.write_deferred(SAMPLE, 0, &payload(seq)) {
        // Dropped records are counted by the writer and reported in the ring.
        Ok(()) | Err(WriteError::NoSpace { .. } | WriteError::CorruptTail { .. }) => Ok(()),
        Err(e) => Err(SoakError::Write(e)),
    }
}

fn commit(
    stats: &mut Slots,
    counts: &mut ProducerCounts,
    writer: &Writer,
    seq: u64,
    done: bool,
) -> Result<(), SoakError> {
    let s = writer.stats();
    counts.attempted = seq;
    counts.written = s.records;
    counts.lost = s.lost;
    counts.lost_pending = writer.lost_pending();
    counts.done = done;
    stats
        .commit(&counts.to_words())
        .map_err(|e| SoakError::Io("commit producer stats", e))
}

fn backoff(idle: &mut u32) {
    *idle = idle.saturating_add(1);
    if *idle < 64 {
        std::thread::yield_now();
    } else {
        std::thread::sleep(Duration::from_micros(50));
    }
}

fn min_res(a: Resources, b: Resources) -> Resources {
    Resources {
        fds: a.fds.min(b.fds),
        memfds: a.memfds.min(b.memfds),
        maps: a.maps.min(b.maps),
        memfd_maps: a.memfd_maps.min(b.memfd_maps),
    }
}

fn max_res(a: Resources, b: Resources) -> Resources {
    Resources {
        fds: a.fds.max(b.fds),
        memfds: a.memfds.max(b.memfds),
        maps: a.maps.max(b.maps),
        memfd_maps: a.memfd_maps.max(b.memfd_maps),
    }
}
