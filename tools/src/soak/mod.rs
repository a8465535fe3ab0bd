//! The soak and fault test of the emulated kernel buffer across processes
//! (`perf-client soak`): a producer process and a consumer process exchange checksummed,
//! numbered records through a buffer handed over a Unix socket; the consumer is killed
//! with `SIGKILL` and restarted several times while the producer keeps going; finally
//! the producer is killed and the last consumer drains what it had committed. The
//! accounting must come out exact: every sequence number attempted is read once or
//! reported lost (`attempted == read + lost`), no duplicate, no corrupt record, and no
//! descriptor, memfd or mapping leaked.
//!
//! [`run`] is the orchestrator; [`producer::run`] and [`consumer::run`] are the two
//! roles, each run in its own process by re-executing the binary (`perf-client soak
//! --role ...`).

pub mod consumer;
pub mod procfs;
pub mod producer;
pub mod record;
pub mod slots;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use perf_ringbuf::emulation::EmulationError;
use perf_ringbuf::{ReadError, WriteError};
use serde::Serialize;

use self::consumer::ConsumerFinal;
use self::procfs::Resources;
use self::producer::ProducerCounts;
use self::slots::Slots;

/// What can stop a soak (a failed accounting is not an error: see [`SoakReport::exact`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SoakError {
    /// A system call or file operation failed.
    #[error("{0}: {1}")]
    Io(&'static str, #[source] std::io::Error),
    /// The emulated buffer refused something.
    #[error(transparent)]
    Emulation(#[from] EmulationError),
    /// The ring was unreadable.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The writer failed for another reason than a full ring.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A role process misbehaved.
    #[error("{0}")]
    Process(String),
    /// The settings cannot make a soak.
    #[error("{0}")]
    Config(&'static str),
    /// SIGINT or SIGTERM arrived ([`SoakConfig::stop`]); the role processes were killed
    /// and the working directory removed.
    #[error("interrupted: the role processes were killed and the working directory removed")]
    Interrupted,
}

/// Settings of a soak.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The binary to re-execute for the two roles (`perf-client`).
    pub exe: PathBuf,
    /// Records to exchange.
    pub records: u64,
    /// Times the consumer is killed and restarted.
    pub kills: u32,
    /// Data pages of the buffer.
    pub data_pages: usize,
    /// Seed of the kill timing.
    pub seed: u64,
    /// Working directory for the socket and state files (created, then removed on every
    /// way out of [`run`]).
    pub dir: PathBuf,
    /// Set (by a SIGINT/SIGTERM handler) to stop the soak early, cleaning up.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// Removes the soak's working directory when dropped: on success, on error, and when a
/// stop signal ends the soak.
struct RemoveDir<'a>(&'a Path);

impl Drop for RemoveDir<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}

/// Figures of a finished soak.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Sequence numbers the producer handed out.
    pub attempted: u64,
    /// Records it wrote into the ring.
    pub written: u64,
    /// Records it dropped (consumer dead or slow).
    pub producer_lost: u64,
    /// Consumer killed with `SIGKILL` and restarted (including one killed between commit
    /// and release).
    pub kills: u32,
    /// The consumer's counters over all its incarnations.
    pub consumer: consumer::ConsumerState,
    /// How the last consumer saw the producer end ("died").
    pub producer_exit: String,
    /// Seconds from start to the final report.
    pub seconds: f64,
    /// The producer's resources after each handoff: smallest and largest.
    pub producer_min: Resources,
    /// See `producer_min`.
    pub producer_max: Resources,
    /// The last consumer before receiving and after releasing the buffer.
    pub consumer_before: Resources,
    /// See `consumer_before`.
    pub consumer_after: Resources,
    /// The orchestrator itself, before and after.
    pub orchestrator_before: Resources,
    /// See `orchestrator_before`.
    pub orchestrator_after: Resources,
    /// Every check passed.
    pub exact: bool,
    /// The checks that failed, in words.
    pub failures: Vec<String>,
}

/// The arguments that make `exe` run the producer role.
pub fn producer_args(dir: &Path, records: u64, data_pages: usize, gate_at: u64) -> Vec<String> {
    vec![
        "soak".into(),
        "--role".into(),
        "producer".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--records".into(),
        records.to_string(),
        "--pages".into(),
        data_pages.to_string(),
        "--gate-at".into(),
        gate_at.to_string(),
    ]
}

/// The arguments that make `exe` run the consumer role.
pub fn consumer_args(dir: &Path, die_after_commit: Option<u64>) -> Vec<String> {
    let mut v = vec![
        "soak".into(),
        "--role".into(),
        "consumer".into(),
        "--dir".into(),
        dir.display().to_string(),
    ];
    if let Some(n) = die_after_commit {
        v.push("--die-after-commit".into());
        v.push(n.to_string());
    }
    v
}

/// The socket path in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("producer.sock")
}
/// The producer's stats file in `dir`.
pub fn producer_stats_path(dir: &Path) -> PathBuf {
    dir.join("producer.stats")
}
/// The file whose creation lets the producer write its last records.
pub fn gate_path(dir: &Path) -> PathBuf {
    dir.join("gate")
}
/// The consumer's state file in `dir`.
pub fn consumer_state_path(dir: &Path) -> PathBuf {
    dir.join("consumer.state")
}

struct Kids {
    producer: Option<Child>,
    consumer: Option<Child>,
}

impl Drop for Kids {
    fn drop(&mut self) {
        for c in [self.producer.as_mut(), self.consumer.as_mut()]
            .into_iter()
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs the whole soak and checks the accounting.
///
/// # Errors
///
/// [`SoakError`] when a role process cannot be started or fails on its own.
pub fn run(config: &SoakConfig) -> Result<SoakReport, SoakError> {
    let orchestrator_before = Resources::now();
    let started = Instant::now();
    let io_err = |what: &'static str| move |e: std::io::Error| SoakError::Io(what, e);
    if config.records == 0 {
        return Err(SoakError::Config(
            "a soak needs at least 1 record (-n 0 has nothing to exchange)",
        ));
    }
    std::fs::create_dir_all(&config.dir).map_err(io_err("create soak directory"))?;
    // Declared before the children: dropped after them, once they are killed.
    let _dir = RemoveDir(&config.dir);
    // ATOMICS: Acquire pairs with the signal handler's store.
    let stopped_by_signal = || {
        config
            .stop
            .as_ref()
            .is_some_and(|s| s.load(std::sync::atomic::Ordering::Acquire))
    };
    for p in [
        socket_path(&config.dir),
        producer_stats_path(&config.dir),
        consumer_state_path(&config.dir),
        gate_path(&config.dir),
    ] {
        let _ = std::fs::remove_file(p);
    }
    let mut rng = config.seed | 1;
    // Near the end the consumer is stopped (SIGSTOP) so that the producer's last records
    // are still unread when it dies: the last consumer must drain them after the death.
    let ring_records = (config.data_pages as u64 * 4096) / record::RECORD_SIZE;
    let stop_at = config.records.saturating_sub(ring_records / 2);
    let mut kids = Kids {
        producer: Some(spawn(
            &config.exe,
            &producer_args(&config.dir, config.records, config.data_pages, stop_at),
            false,
        )?),
        consumer: None,
    };
    // One kill lands exactly between a commit and the release of data_tail (a
    // self-inflicted SIGKILL), the others at random moments.
    let self_kill = (config.kills >= 2).then(|| 1 + xorshift(&mut rng) % 64);
    kids.consumer = Some(spawn(
        &config.exe,
        &consumer_args(&config.dir, self_kill),
        true,
    )?);
    let mut self_kill_pending = self_kill.is_some();
    let mut stats: Option<Slots> = None;
    let mut kills = 0u32;
    let span = config.records / (u64::from(config.kills) + 1);
    let mut next_kill = span.saturating_add(jitter(&mut rng, span));
    let mut stopped: Option<Instant> = None;
    let final_counts = loop {
        std::thread::sleep(Duration::from_millis(1));
        if stopped_by_signal() {
            return Err(SoakError::Interrupted);
        }
        if stats.is_none() && producer_stats_path(&config.dir).exists() {
            stats = Some(
                Slots::open(&producer_stats_path(&config.dir))
                    .map_err(io_err("open producer stats"))?,
            );
        }
        let counts = match &stats {
            Some(s) => s
                .load()
                .map_err(io_err("read producer stats"))?
                .map(|w| ProducerCounts::from_words(&w))
                .unwrap_or_default(),
            None => ProducerCounts::default(),
        };
        if let Some(p) = kids.producer.as_mut() {
            if let Some(status) = p.try_wait().map_err(io_err("wait producer"))? {
                return Err(SoakError::Process(format!(
                    "the producer exited on its own: {status}"
                )));
            }
        }
        let Some(c) = kids.consumer.as_mut() else {
            return Err(SoakError::Process("no consumer".into()));
        };
        let exited = c.try_wait().map_err(io_err("wait consumer"))?;
        if let Some(status) = exited {
            use std::os::unix::process::ExitStatusExt;
            if self_kill_pending && status.signal() == Some(libc::SIGKILL) {
                self_kill_pending = false;
                kills += 1;
                kids.consumer = Some(spawn(&config.exe, &consumer_args(&config.dir, None), true)?);
                continue;
            }
            return Err(SoakError::Process(format!(
                "the consumer exited on its own: {status}{}",
                stderr_of(c)
            )));
        }
        if counts.done {
            break counts;
        }
        let at_gate = counts.attempted == stop_at;
        let planned = kills + u32::from(self_kill_pending);
        if stopped.is_none() && planned >= config.kills && !self_kill_pending && at_gate {
            // SAFETY: kill(2) on our own child, which has not been waited for.
            unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGSTOP) };
            std::fs::write(gate_path(&config.dir), b"go").map_err(io_err("open the gate"))?;
            stopped = Some(Instant::now());
            continue;
        }
        let kill_now = counts.attempted >= next_kill || (at_gate && !self_kill_pending);
        if planned < config.kills && kill_now {
            // A random moment within the next few hundred microseconds.
            std::thread::sleep(Duration::from_micros(xorshift(&mut rng) % 500));
            c.kill().map_err(io_err("SIGKILL the consumer"))?;
            c.wait().map_err(io_err("wait consumer"))?;
            kills += 1;
            next_kill = counts
                .attempted
                .saturating_add(span)
                .saturating_add(jitter(&mut rng, span));
            // Leave the producer alone for a moment: it drops records, and must say so.
            std::thread::sleep(Duration::from_millis(xorshift(&mut rng) % 20));
            kids.consumer = Some(spawn(&config.exe, &consumer_args(&config.dir, None), true)?);
        }
    };
    // The producer is done; now it dies without a word.
    if let Some(mut p) = kids.producer.take() {
        p.kill().map_err(io_err("SIGKILL the producer"))?;
        p.wait().map_err(io_err("wait producer"))?;
    }
    let Some(mut c) = kids.consumer.take() else {
        return Err(SoakError::Process("no consumer".into()));
    };
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGCONT) };
    let mut out = String::new();
    if let Some(mut so) = c.stdout.take() {
        so.read_to_string(&mut out)
            .map_err(io_err("read consumer report"))?;
    }
    let status = c.wait().map_err(io_err("wait consumer"))?;
    if !status.success() {
        return Err(SoakError::Process(format!(
            "the last consumer failed: {status}{}",
            stderr_of(&mut c)
        )));
    }
    let last: ConsumerFinalJson = serde_json::from_str(out.trim())
        .map_err(|e| SoakError::Process(format!("bad consumer report {out:?}: {e}")))?;
    drop(c);
    drop(stats);
    drop(_dir);
    let orchestrator_after = Resources::now();
    Ok(check(
        config,
        final_counts,
        kills,
        last,
        started.elapsed(),
        orchestrator_before,
        orchestrator_after,
    ))
}

/// The consumer's JSON line, read back.
#[derive(Debug, serde::Deserialize)]
struct ConsumerFinalJson {
    state: consumer::ConsumerState,
    producer: String,
    before: Resources,
    after: Resources,
}

/// Prints the consumer's final report as the one JSON line the orchestrator reads.
///
/// # Errors
///
/// A serialisation error (none expected).
pub fn consumer_report_line(f: &ConsumerFinal) -> Result<String, SoakError> {
    serde_json::to_string(f).map_err(|e| SoakError::Process(e.to_string()))
}

fn check(
    config: &SoakConfig,
    p: ProducerCounts,
    kills: u32,
    last: ConsumerFinalJson,
    elapsed: Duration,
    orchestrator_before: Resources,
    orchestrator_after: Resources,
) -> SoakReport {
    let c = last.state;
    let mut failures = Vec::new();
    let mut expect = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    expect(
        p.attempted == config.records,
        format!("producer attempted {} of {}", p.attempted, config.records),
    );
    expect(
        p.attempted == c.read + c.lost,
        format!(
            "attempted {} != read {} + lost {}",
            p.attempted, c.read, c.lost
        ),
    );
    expect(
        p.written == c.read,
        format!("written {} != read {}", p.written, c.read),
    );
    expect(
        p.lost == c.lost,
        format!("producer lost {} != reported lost {}", p.lost, c.lost),
    );
    expect(
        c.gaps == c.lost,
        format!("sequence gaps {} != reported lost {}", c.gaps, c.lost),
    );
    expect(
        p.lost_pending == 0,
        format!("{} losses unreported", p.lost_pending),
    );
    expect(c.duplicates == 0, format!("{} duplicates", c.duplicates));
    expect(c.corrupt == 0, format!("{} corrupt records", c.corrupt));
    expect(
        kills == config.kills,
        format!("{kills} kills of {}", config.kills),
    );
    expect(
        c.sessions == u64::from(kills) + 1,
        format!("{} consumer sessions for {kills} kills", c.sessions),
    );
    expect(
        last.producer == "died",
        format!("the consumer saw the producer {}", last.producer),
    );
    expect(
        p.min == p.max,
        format!(
            "producer resources changed across handoffs: {:?} .. {:?}",
            p.min, p.max
        ),
    );
    let (cb, ca) = (last.before, last.after);
    expect(
        cb == ca,
        format!("consumer leaked: {cb:?} before, {ca:?} after"),
    );
    expect(
        orchestrator_before.fds == orchestrator_after.fds,
        format!(
            "orchestrator leaked descriptors: {orchestrator_before:?} -> {orchestrator_after:?}"
        ),
    );
    SoakReport {
        attempted: p.attempted,
        written: p.written,
        producer_lost: p.lost,
        kills,
        consumer: c,
        producer_exit: last.producer,
        seconds: elapsed.as_secs_f64(),
        producer_min: p.min,
        producer_max: p.max,
        consumer_before: cb,
        consumer_after: ca,
        orchestrator_before,
        orchestrator_after,
        exact: failures.is_empty(),
        failures,
    }
}

fn spawn(exe: &Path, args: &[String], stdout: bool) -> Result<Child, SoakError> {
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(if stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| SoakError::Io("spawn a soak role", e))
}

fn stderr_of(c: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut e) = c.stderr.take() {
        let _ = e.read_to_string(&mut s);
    }
    if s.is_empty() {
        s
    } else {
        format!(": {}", s.trim())
    }
}

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// Uniform in `0..span/2`.
fn jitter(rng: &mut u64, span: u64) -> u64 {
    match span / 2 {
        0 => 0,
        half => xorshift(rng) % half,
    }
}
