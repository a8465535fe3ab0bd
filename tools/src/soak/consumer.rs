//! The soak's consumer process: receives the buffer over the Unix socket, verifies every
//! record, and survives its own `SIGKILL`.
//!
//! Exactly-once accounting across kills: the consumer's counters and the ring position
//! they cover (`tail_pos`) are committed to a crash-safe file ([`super::slots`]) *before*
//! `data_tail` is released. A consumer killed before the commit re-reads the batch from
//! the old counters (nothing was counted). A consumer killed between the commit and the
//! release sees the batch again after restart: every record below the committed
//! `tail_pos` is a *redelivery*, skipped and counted apart. So `read` counts each
//! sequence number once, and a record below the expected sequence number that is *not* a
//! redelivery is a true duplicate.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use perf_ringbuf::emulation::handoff::{ProducerExit, RemoteBuffer};
use perf_ringbuf::emulation::{MapOptions, Strategy};
use perf_ringbuf::layout::PERF_RECORD_LOST;
use perf_ringbuf::WaitOutcome;
use serde::{Deserialize, Serialize};

use super::procfs::Resources;
use super::record::{verify, SAMPLE};
use super::slots::{Slots, WORDS};
use super::SoakError;

/// Where the consumer connects and keeps its state.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The producer's socket.
    pub socket: PathBuf,
    /// The consumer's crash-safe state file (shared by all its incarnations).
    pub state: PathBuf,
    /// Fault injection: after this many committed batches, kill ourselves with `SIGKILL`
    /// between the commit and the release of `data_tail` (forces redeliveries).
    pub die_after_commit: Option<u64>,
}

/// The consumer's counters, carried across incarnations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerState {
    /// The next sequence number expected.
    pub next_seq: u64,
    /// Ring position up to which everything is counted (the next `data_tail`).
    pub tail_pos: u64,
    /// Records read, each sequence number once.
    pub read: u64,
    /// Sum of the `lost` fields of the `PERF_RECORD_LOST` records.
    pub lost: u64,
    /// `PERF_RECORD_LOST` records seen.
    pub lost_records: u64,
    /// Sequence numbers skipped (must equal `lost`).
    pub gaps: u64,
    /// Records whose sequence number was already read, not redeliveries.
    pub duplicates: u64,
    /// Records with a wrong type, size or checksum.
    pub corrupt: u64,
    /// Records seen again after a restart (below the committed `tail_pos`), skipped.
    pub redeliveries: u64,
    /// Incarnations of the consumer.
    pub sessions: u64,
    /// Records read after the producer was seen dead.
    pub drained_after_death: u64,
}

impl ConsumerState {
    fn to_words(self) -> [u64; WORDS] {
        let mut w = [0u64; WORDS];
        w[..11].copy_from_slice(&[
            self.next_seq,
            self.tail_pos,
            self.read,
            self.lost,
            self.lost_records,
            self.gaps,
            self.duplicates,
            self.corrupt,
            self.redeliveries,
            self.sessions,
            self.drained_after_death,
        ]);
        w
    }

    fn from_words(w: &[u64; WORDS]) -> ConsumerState {
        ConsumerState {
            next_seq: w[0],
            tail_pos: w[1],
            read: w[2],
            lost: w[3],
            lost_records: w[4],
            gaps: w[5],
            duplicates: w[6],
            corrupt: w[7],
            redeliveries: w[8],
            sessions: w[9],
            drained_after_death: w[10],
        }
    }

    /// Accounts one record at ring position `pos`.
    fn account(&mut self, pos: u64, record_type: u32, bytes: &[u8]) {
        // Positions are free-running: "before tail_pos" is a wrapping comparison.
        if (self.tail_pos.wrapping_sub(pos) as i64) > 0 {
            self.redeliveries += 1;
            return;
        }
        match record_type {
            PERF_RECORD_LOST if bytes.len() >= 24 => {
                let mut w = [0u8; 8];
                w.copy_from_slice(&bytes[16..24]);
                self.lost = self.lost.wrapping_add(u64::from_ne_bytes(w));
                self.lost_records += 1;
            }
            SAMPLE => match verify(bytes) {
                None => self.corrupt += 1,
                Some(seq) if seq < self.next_seq => self.duplicates += 1,
                Some(seq) => {
                    self.gaps += seq - self.next_seq;
                    self.next_seq = seq + 1;
                    self.read += 1;
                }
            },
            _ => self.corrupt += 1,
        }
    }
}

/// What the last incarnation prints (one JSON line) once the producer is gone.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerFinal {
    /// The counters over all incarnations.
    pub state: ConsumerState,
    /// "died" or "finished".
    pub producer: &'static str,
    /// This incarnation's resources before receiving the buffer.
    pub before: Resources,
    /// And after dropping the reader, mapping and buffer.
    pub after: Resources,
}

/// Runs one incarnation: resumes the state, reads until the producer is gone, prints
/// the final report.
///
/// # Errors
///
/// [`SoakError`] if the producer cannot be reached, the buffer is refused, the ring is
/// corrupt or the state file fails.
pub fn run(config: &ConsumerConfig) -> Result<ConsumerFinal, SoakError> {
    let io_err = |what: &'static str| move |e: io::Error| SoakError::Io(what, e);
    let mut slots = Slots::open(&config.state).map_err(io_err("open consumer state"))?;
    let mut st = slots
        .load()
        .map_err(io_err("read consumer state"))?
        .map(|w| ConsumerState::from_words(&w))
        .unwrap_or_default();
    st.sessions += 1;
    slots
        .commit(&st.to_words())
        .map_err(io_err("commit consumer state"))?;
    let before = Resources::now();
    let sock = connect(&config.socket)?;
    let remote = RemoteBuffer::receive(sock, Duration::from_secs(30))?;
    let mapping = Arc::new(remote.map(MapOptions::new(Strategy::InsertPages))?);
    let mut reader = mapping.reader()?;
    let mut scratch = Vec::with_capacity(64);
    let mut batches = 0u64;
    let exit = loop {
        let outcome = reader.wait(Some(Duration::from_millis(100)))?;
        let dead = remote.producer() != ProducerExit::Running;
        let mut drain = reader.drain()?;
        let read_before = st.read;
        let mut any = false;
        while let Some(rec) = drain.next() {
            let rec = rec?;
            scratch.clear();
            rec.bytes.extend_into(&mut scratch);
            st.account(rec.position, rec.header.record_type, &scratch);
            any = true;
        }
        if dead {
            st.drained_after_death += st.read - read_before;
        }
        if any {
            st.tail_pos = drain.head();
            slots
                .commit(&st.to_words())
                .map_err(io_err("commit consumer state"))?;
            batches += 1;
            if config.die_after_commit == Some(batches) {
                // SAFETY: raise(3) has no memory-safety preconditions; SIGKILL ends us
                // here, after the commit and before the release.
                unsafe { libc::raise(libc::SIGKILL) };
            }
        }
        // Dropping the drain releases data_tail (after the commit above).
        drop(drain);
        if outcome == WaitOutcome::ProducerGone {
            break remote.producer();
        }
    };
    drop(reader);
    drop(mapping);
    drop(remote);
    Ok(ConsumerFinal {
        state: st,
        producer: match exit {
            ProducerExit::Finished { .. } => "finished",
            _ => "died",
        },
        before,
        after: Resources::now(),
    })
}

/// Connects to the producer, retrying while it is not listening yet (up to 30 s).
fn connect(path: &std::path::Path) -> Result<UnixStream, SoakError> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match UnixStream::connect(path) {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(SoakError::Io("connect to the producer", e)),
        }
    }
}
