//! A live capture: events opened on a target, one ring per CPU (further events on that
//! CPU redirected into it with `PERF_EVENT_IOC_SET_OUTPUT`), one epoll over every event,
//! drains on wakeup or timeout, POLLHUP when the traced tasks are gone, a final drain, and
//! lost accounting from `PERF_RECORD_LOST` (per ring) and `PERF_FORMAT_LOST` (the kernel's
//! own counter, read at the end).
//!
//! ```no_run
//! use perf_client::kernel::capture::{Capture, CaptureError, CaptureOptions, RunOptions, Target};
//! use perf_client::kernel::event::{EventConfig, Sampling};
//! use perf_client::records::Record;
//!
//! let faults = EventConfig::parse("page-faults")?
//!     .sampling(Sampling::Period(1))
//!     .tracking(true); // COMM, MMAP2, FORK, EXIT of the command
//! let cmd = vec!["dd".into(), "if=/dev/zero".into(), "of=/dev/null".into(), "bs=4M".into(), "count=1".into()];
//! let mut capture = Capture::start(CaptureOptions::new(vec![faults], Target::Command(cmd)))?;
//! let ctx = capture.parse_context().clone();
//! let mut samples = 0;
//! let summary = capture.run(&RunOptions::default(), |rec| -> Result<(), CaptureError> {
//!     if let Ok(p) = ctx.parse(rec.bytes) {
//!         if let Record::Sample(_) = p.record {
//!             samples += 1;
//!         }
//!     }
//!     Ok(())
//! })?;
//! println!("{samples} samples, {} lost", summary.lost());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use perf_ringbuf::{ReadError, RecordIter};

use crate::kernel::child::{Child, ExitStatus, PendingChild, SpawnError};
pub use crate::kernel::cpus::online_cpus;
use crate::kernel::event::{EventConfig, EventFd, OpenError};
use crate::kernel::ring::{KernelRing, KernelRingError, SnapshotError};
use crate::kernel::sys::{Epoll, Ready};
use crate::records::{FormatError, ParseContext, ReadValues};

/// What to trace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// The calling thread (`pid = 0`), and with `inherit` the threads it creates later.
    CurrentThread,
    /// Every thread of a running process (listed from `/proc/PID/task` at start).
    Process(i32),
    /// One running thread.
    Thread(i32),
    /// A command started under the events: forked, held until the events are open on its
    /// pid, enabled when it execs (`enable_on_exec`), followed into its children
    /// (`inherit`).
    Command(Vec<OsString>),
    /// Every task on the given CPUs (`None`: all online CPUs), `pid = -1`. Optionally runs
    /// a command meanwhile and stops when it exits. Needs root or CAP_PERFMON (or
    /// `perf_event_paranoid` ≤ 0).
    Cpus {
        /// CPUs to watch; `None` for system-wide.
        cpus: Option<Vec<u32>>,
        /// A command to run during the capture.
        command: Option<Vec<OsString>>,
    },
}

/// How to capture.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// The events; each opened once per (thread, CPU). All share the per-CPU rings.
    pub events: Vec<EventConfig>,
    /// What to trace.
    pub target: Target,
    /// Data pages per ring (a power of two; the ring maps one more for the control page).
    pub data_pages: usize,
    /// Overwrite rings (`write_backward`, mapped read-only): a flight recorder read at
    /// the end with output paused.
    pub overwrite: bool,
    /// `attr.inherit` for task targets (follow children created after the start).
    pub inherit: bool,
    /// A command to run meanwhile with a task target (`Process`, `Thread`,
    /// `CurrentThread`), as `perf record -p PID -- CMD`: started once the events are
    /// enabled, not traced itself, and the capture ends when it exits. (`Target::Cpus`
    /// carries its own; `Target::Command` is the command.)
    pub command: Option<Vec<OsString>>,
}

impl CaptureOptions {
    /// One event on a target, 128 data pages (perf's default, 512 KiB) per ring, inherit.
    pub fn new(events: Vec<EventConfig>, target: Target) -> Self {
        CaptureOptions {
            events,
            target,
            data_pages: 128,
            overwrite: false,
            inherit: true,
            command: None,
        }
    }
}

/// Why a capture failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// No events were given.
    #[error("no events to capture")]
    NoEvents,
    /// Opening an event.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// Mapping a ring.
    #[error(transparent)]
    Ring(#[from] KernelRingError),
    /// Starting the command.
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    /// The events cannot share a parse context.
    #[error("events cannot be told apart in one ring: {0}")]
    Format(#[from] FormatError),
    /// A ring is corrupt (the reader's error is the source).
    #[error("ring {ring} is corrupt")]
    Read {
        /// Ring index.
        ring: usize,
        /// The reader's error.
        source: ReadError,
    },
    /// An overwrite snapshot failed (the cause is the source).
    #[error("snapshot of overwrite ring {ring} failed")]
    Snapshot {
        /// Ring index.
        ring: usize,
        /// The error.
        source: SnapshotError,
    },
    /// A system call around the capture failed (the errno is the source).
    #[error("{what} failed")]
    Sys {
        /// What was done.
        what: String,
        /// The error.
        source: io::Error,
    },
}

impl From<ReadError> for CaptureError {
    fn from(source: ReadError) -> Self {
        CaptureError::Read {
            ring: usize::MAX,
            source,
        }
    }
}

fn sys_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> CaptureError {
    let what = what.into();
    move |source| CaptureError::Sys { what, source }
}

/// One opened event fd.
#[derive(Debug)]
pub struct OpenedEvent {
    /// The fd.
    pub fd: EventFd,
    /// Index into [`CaptureOptions::events`] (and the parse context's event index).
    pub config: usize,
    /// The CPU it is bound to (-1: any).
    pub cpu: i32,
    /// The pid/tid it was opened on (0 this thread, -1 all).
    pub pid: i32,
    /// The ring its records go to.
    pub ring: usize,
    /// POLLHUP seen: its task (and inherited children) are gone.
    pub hung_up: bool,
}

/// A record as read: ring, CPU, bytes (header included).
#[derive(Debug, Clone, Copy)]
pub struct RecordRef<'a> {
    /// Ring index.
    pub ring: usize,
    /// The ring's CPU.
    pub cpu: i32,
    /// The record, header included, contiguous.
    pub bytes: &'a [u8],
}

/// Per-ring totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingTotals {
    /// The ring's CPU.
    pub cpu: i32,
    /// Records read (LOST records included).
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Sum of the `lost` fields of the PERF_RECORD_LOST records read from this ring.
    pub lost_reported: u64,
    /// Sum of `PERF_FORMAT_LOST` over the events writing to this ring (the kernel's count
    /// of every record it could not write; reports may lag it).
    pub lost_kernel: Option<u64>,
    /// Overwrite snapshots only: bytes after a corrupt record, which could not be split
    /// into records and were not handed out (0 for an intact ring).
    pub snapshot_unreadable_bytes: u64,
}

/// Per-event totals read at the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTotals {
    /// Index into the events.
    pub config: usize,
    /// CPU.
    pub cpu: i32,
    /// pid/tid opened on.
    pub pid: i32,
    /// The counter values (`read(2)`).
    pub values: ReadValues,
}

/// What a capture did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Summary {
    /// Per ring.
    pub rings: Vec<RingTotals>,
    /// Per event fd.
    pub events: Vec<EventTotals>,
    /// Times epoll woke us with data.
    pub wakeups: u64,
    /// Timeout drains (epoll returned nothing).
    pub timeouts: u64,
    /// The command's exit status, if one was run.
    pub exit_status: Option<ExitStatus>,
}

impl Summary {
    /// Records read across rings.
    pub fn records(&self) -> u64 {
        self.rings.iter().map(|r| r.records).sum()
    }

    /// Records lost: the kernel's `PERF_FORMAT_LOST` counters when every event has one,
    /// else the PERF_RECORD_LOST reports.
    pub fn lost(&self) -> u64 {
        let kernel: Option<u64> = self.rings.iter().map(|r| r.lost_kernel).sum();
        kernel.unwrap_or_else(|| self.lost_reported())
    }

    /// Sum of the PERF_RECORD_LOST records read.
    pub fn lost_reported(&self) -> u64 {
        self.rings.iter().map(|r| r.lost_reported).sum()
    }

    /// Bytes of overwrite snapshots that followed a corrupt record and could not be read
    /// (see [`RingTotals::snapshot_unreadable_bytes`]).
    pub fn snapshot_unreadable_bytes(&self) -> u64 {
        self.rings.iter().map(|r| r.snapshot_unreadable_bytes).sum()
    }
}

/// Splits an overwrite snapshot (newest record first) into records, and counts the bytes
/// that could not be split. A corrupt record ends the walk, since the framing of everything
/// older is lost: the records before it are kept, the bytes from it on are counted as
/// unreadable, never dropped silently.
fn split_snapshot(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut recs = Vec::new();
    let mut framed = 0usize;
    for r in RecordIter::new(bytes) {
        let Ok((_, b)) = r else { break };
        framed += b.len();
        recs.push(b);
    }
    (recs, bytes.len() - framed)
}

/// What the caller of [`Capture::run_loop`] does at each step of the loop: how it drains
/// the rings (parsed records, or raw bytes as they are), whether it may sleep, what it
/// does when idle and at its periodic checks.
pub trait RunHooks {
    /// The caller's error (a capture error converts into it).
    type Error: From<CaptureError>;

    /// One pass over the rings (e.g. [`Capture::drain`] or [`Capture::drain_raw`]);
    /// returns how much it drained, 0 for nothing.
    ///
    /// # Errors
    /// The caller's.
    fn pass(&mut self, capture: &mut Capture) -> Result<u64, Self::Error>;

    /// After a pass that drained `n` (> 0), `since` the previous one: true to wait in
    /// epoll before the next pass, false to pass again at once. Default: wait.
    fn may_sleep(&mut self, n: u64, since: Duration) -> bool {
        let _ = (n, since);
        true
    }

    /// epoll timed out with nothing to read.
    ///
    /// # Errors
    /// The caller's.
    fn idle(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// How often [`RunHooks::check`] runs (and the target is checked); default: after
    /// every pass.
    fn check_interval(&self) -> Duration {
        Duration::ZERO
    }

    /// The periodic check (dump requests, progress).
    ///
    /// # Errors
    /// The caller's.
    fn check(&mut self, capture: &mut Capture) -> Result<(), Self::Error> {
        let _ = capture;
        Ok(())
    }
}

/// How [`Capture::run`] stops.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Longest wait before a timeout drain (records below the wakeup threshold are never
    /// stranded). Default 100 ms.
    pub poll_timeout: Option<Duration>,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop when set (e.g. by a signal handler).
    pub stop: Option<Arc<AtomicBool>>,
}

struct RingSlot {
    ring: KernelRing,
    cpu: i32,
    /// Records handed out from overwrite snapshots (the reader's stats count drains).
    snapshot_records: u64,
    snapshot_bytes: u64,
    /// Bytes of snapshots past a corrupt record: counted, not handed out.
    snapshot_unreadable: u64,
    /// Index in `events` of the fd the ring is mapped on.
    owner: usize,
}

/// A running capture.
pub struct Capture {
    configs: Vec<EventConfig>,
    events: Vec<OpenedEvent>,
    rings: Vec<RingSlot>,
    epoll: Epoll,
    ctx: ParseContext,
    child: Option<Child>,
    stops_on_hup: bool,
    wakeups: u64,
    timeouts: u64,
    ready: Vec<Ready>,
}

/// The capture's epoll fd, for an embedding event loop: readable when a ring has data
/// to drain or a traced task hung up (then call [`Capture::poll`] with a zero timeout and
/// drain).
impl AsFd for Capture {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.epoll.as_fd()
    }
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("events", &self.events.len())
            .field("rings", &self.rings.len())
            .field("child", &self.child)
            .finish_non_exhaustive()
    }
}

fn threads_of(pid: i32) -> Result<Vec<i32>, CaptureError> {
    let dir = format!("/proc/{pid}/task");
    let mut tids: Vec<i32> = std::fs::read_dir(&dir)
        .map_err(sys_err(format!(
            "listing the threads of process {pid} ({dir})"
        )))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

impl Capture {
    /// Opens every event on the target, maps the rings, and starts: enables the events,
    /// or releases the command (whose events enable at exec).
    ///
    /// # Errors
    /// [`CaptureError`] naming the step and what to change.
    pub fn start(opts: CaptureOptions) -> Result<Capture, CaptureError> {
        if opts.events.is_empty() {
            return Err(CaptureError::NoEvents);
        }
        if opts.events.len() > 1 {
            let f = opts.events[0].format();
            if f.sample_id_offset().is_none() {
                return Err(FormatError::NoIdForSeveralEvents {
                    events: opts.events.len(),
                    sample_type: f.sample_type,
                }
                .into());
            }
        }
        let cpus = match &opts.target {
            Target::Cpus {
                cpus: Some(list), ..
            } => list.clone(),
            _ => online_cpus().map_err(sys_err("reading /sys/devices/system/cpu/online"))?,
        };
        let mut pending = None;
        let (pids, task_target, command) = match &opts.target {
            Target::CurrentThread => (vec![0], true, opts.command.clone()),
            Target::Thread(t) => (vec![*t], true, opts.command.clone()),
            Target::Process(p) => (threads_of(*p)?, true, opts.command.clone()),
            Target::Command(argv) => {
                let child = PendingChild::spawn(argv)?;
                let pid = child.pid();
                pending = Some(child);
                (vec![pid], true, None)
            }
            Target::Cpus { command, .. } => (vec![-1], false, command.clone()),
        };
        let by_exec = matches!(opts.target, Target::Command(_));

        let configs: Vec<EventConfig> = opts
            .events
            .iter()
            .map(|c| {
                // As perf (`evsel__config`): a group member follows its leader (enabled
                // with it, never on its own), and a group read as one
                // (`PERF_FORMAT_GROUP`, leader sampling) is not inherited.
                let member = c.group_leader().is_some();
                let group_read =
                    c.attr().read_format & crate::records::bits::read_format::GROUP != 0;
                let mut c = c
                    .clone()
                    .disabled(!member)
                    .enable_on_exec(by_exec && !member)
                    .inherit(task_target && opts.inherit && !group_read);
                if opts.overwrite {
                    c = c.write_backward(true);
                }
                c
            })
            .collect();

        let epoll = Epoll::new().map_err(sys_err("epoll_create1"))?;
        let mut events: Vec<OpenedEvent> = Vec::new();
        let mut rings: Vec<RingSlot> = Vec::new();
        let mut ring_of_cpu: BTreeMap<i32, usize> = BTreeMap::new();
        let mut mapped = 0usize;
        let mut ids: Vec<Vec<u64>> = vec![Vec::new(); configs.len()];
        for &cpu in &cpus {
            let cpu = i32::try_from(cpu).map_err(|_| {
                sys_err(format!("cpu {cpu}"))(io::Error::from(io::ErrorKind::InvalidInput))
            })?;
            for &pid in &pids {
                // The index in `events` of each config opened on this (cpu, pid): a group
                // member is opened with its leader's fd as group_fd.
                let mut here: Vec<Option<usize>> = vec![None; configs.len()];
                for (ci, config) in configs.iter().enumerate() {
                    let group = match config.group_leader() {
                        Some(l) => match here.get(l).copied().flatten() {
                            Some(i) => Some(events[i].fd.as_fd()),
                            // Its leader's thread exited meanwhile.
                            None => continue,
                        },
                        None => None,
                    };
                    let fd = match config.open(pid, cpu, group) {
                        Ok(fd) => fd,
                        // A thread of a process may exit while we open its events.
                        Err(OpenError::Kernel { cause, .. })
                            if matches!(opts.target, Target::Process(_))
                                && cause.raw_os_error() == Some(libc::ESRCH) =>
                        {
                            continue
                        }
                        Err(e) => return Err(e.into()),
                    };
                    let index = events.len();
                    let ring = match ring_of_cpu.get(&cpu) {
                        Some(&r) => {
                            fd.set_output(&events[rings[r].owner].fd)?;
                            r
                        }
                        None => {
                            let ring =
                                KernelRing::map(&fd, opts.data_pages, opts.overwrite, mapped)?;
                            mapped += ring.mapped_len();
                            rings.push(RingSlot {
                                ring,
                                cpu,
                                snapshot_records: 0,
                                snapshot_bytes: 0,
                                snapshot_unreadable: 0,
                                owner: index,
                            });
                            ring_of_cpu.insert(cpu, rings.len() - 1);
                            rings.len() - 1
                        }
                    };
                    epoll
                        .add(fd.as_fd(), index as u64)
                        .map_err(sys_err("epoll_ctl(ADD) of an event fd"))?;
                    ids[ci].push(fd.id());
                    here[ci] = Some(index);
                    events.push(OpenedEvent {
                        fd,
                        config: ci,
                        cpu,
                        pid,
                        ring,
                        hung_up: false,
                    });
                }
            }
        }
        if events.is_empty() {
            return Err(sys_err(format!("opening events on {:?}", opts.target))(
                io::Error::from_raw_os_error(libc::ESRCH),
            ));
        }
        let mut ctx = ParseContext::new();
        for (config, ids) in configs.iter().zip(&ids) {
            ctx.add_event(config.format(), ids)?;
        }

        let mut child = None;
        if let Some(p) = pending {
            child = Some(p.release()?);
        } else {
            for e in &events {
                e.fd.enable()?;
            }
            if let Some(argv) = command {
                child = Some(PendingChild::spawn(&argv)?.release()?);
            }
        }
        Ok(Capture {
            configs,
            events,
            rings,
            epoll,
            ctx,
            child,
            stops_on_hup: task_target,
            wakeups: 0,
            timeouts: 0,
            ready: Vec::new(),
        })
    }

    /// How to parse the records (one event index per configured event).
    pub fn parse_context(&self) -> &ParseContext {
        &self.ctx
    }

    /// The events as opened (with `disabled`, `inherit`, `enable_on_exec`, `write_backward`
    /// as the capture set them).
    pub fn configs(&self) -> &[EventConfig] {
        &self.configs
    }

    /// Every opened fd.
    pub fn events(&self) -> &[OpenedEvent] {
        &self.events
    }

    /// Number of rings (one per CPU).
    pub fn ring_count(&self) -> usize {
        self.rings.len()
    }

    /// The command's pid, if one was started.
    pub fn child_pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.pid())
    }

    /// Waits up to `timeout` for a wakeup or POLLHUP. Returns true if epoll reported
    /// anything (false: a timeout; drain anyway).
    ///
    /// # Errors
    /// The epoll error.
    pub fn poll(&mut self, timeout: Duration) -> Result<bool, CaptureError> {
        self.ready.clear();
        // Rounded up: a sub-millisecond wait must not become a busy 0 ms poll.
        let ms = i32::try_from(timeout.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        self.epoll
            .wait(&mut self.ready, ms)
            .map_err(sys_err("epoll_wait"))?;
        if self.ready.is_empty() {
            self.timeouts += 1;
            return Ok(false);
        }
        let mut data = false;
        for r in &self.ready {
            let Some(e) = usize::try_from(r.token)
                .ok()
                .and_then(|i| self.events.get_mut(i))
            else {
                continue;
            };
            if r.events & (libc::EPOLLHUP | libc::EPOLLERR) as u32 != 0 && !e.hung_up {
                e.hung_up = true;
                // Level-triggered HUP would report forever.
                let _ = self.epoll.delete(e.fd.as_fd());
            }
            if r.events & libc::EPOLLIN as u32 != 0 {
                data = true;
            }
        }
        if data {
            self.wakeups += 1;
        }
        Ok(true)
    }

    /// True once every traced task is gone (every event saw POLLHUP), or the command was
    /// reaped.
    pub fn target_gone(&mut self) -> bool {
        if let Some(c) = &mut self.child {
            if matches!(c.try_wait(), Ok(Some(_))) {
                return true;
            }
        }
        self.hung_up()
    }

    /// True once every event saw POLLHUP (every traced task is gone), for a capture that
    /// ends then: the part of [`Capture::target_gone`] that needs no system call.
    pub fn hung_up(&self) -> bool {
        self.stops_on_hup && !self.events.is_empty() && self.events.iter().all(|e| e.hung_up)
    }

    /// Drains every forward ring once, handing each record to `f`.
    ///
    /// # Errors
    /// A corrupt ring, or `f`'s error.
    pub fn drain<E: From<CaptureError>>(
        &mut self,
        f: &mut impl FnMut(RecordRef<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut n = 0;
        for (i, slot) in self.rings.iter_mut().enumerate() {
            let cpu = slot.cpu;
            n += slot
                .ring
                .drain(|bytes| -> Result<(), DrainError<E>> {
                    f(RecordRef {
                        ring: i,
                        cpu,
                        bytes,
                    })
                    .map_err(DrainError::User)
                })
                .map_err(|e| match e {
                    DrainError::User(e) => e,
                    DrainError::Read(source) => E::from(CaptureError::Read { ring: i, source }),
                })?;
        }
        Ok(n)
    }

    /// Reads the overwrite rings (output paused meanwhile), oldest record first.
    ///
    /// # Errors
    /// A snapshot failure or `f`'s error.
    pub fn snapshot<E: From<CaptureError>>(
        &mut self,
        f: &mut impl FnMut(RecordRef<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut n = 0;
        for (i, slot) in self.rings.iter_mut().enumerate() {
            if !slot.ring.is_overwrite() {
                continue;
            }
            let owner = &self.events[slot.owner].fd;
            let (_, bytes) = slot
                .ring
                .snapshot(owner)
                .map_err(|source| E::from(CaptureError::Snapshot { ring: i, source }))?;
            let (recs, unreadable) = split_snapshot(bytes);
            slot.snapshot_records += recs.len() as u64;
            slot.snapshot_bytes += (bytes.len() - unreadable) as u64;
            slot.snapshot_unreadable += unreadable as u64;
            for bytes in recs.into_iter().rev() {
                n += 1;
                f(RecordRef {
                    ring: i,
                    cpu: slot.cpu,
                    bytes,
                })?;
            }
        }
        Ok(n)
    }

    /// Disables every event (no new records).
    ///
    /// # Errors
    /// The ioctl error.
    pub fn disable(&self) -> Result<(), CaptureError> {
        for e in &self.events {
            // A task that exited may have taken its event with it: ignore ESRCH-like errors
            // only for hung-up events.
            if let Err(err) = e.fd.disable() {
                if !e.hung_up {
                    return Err(err.into());
                }
            }
        }
        Ok(())
    }

    /// Runs until the target is gone, `duration` passes or `stop` is set, handing every
    /// record to `on_record` as it is read; then disables the events, drains (or
    /// snapshots overwrite rings) one last time, reads the counters, reaps the command
    /// (sending it SIGTERM first if it still runs).
    ///
    /// # Errors
    /// A ring or syscall failure, or `on_record`'s error (the command is killed then).
    pub fn run<E: From<CaptureError>>(
        &mut self,
        opts: &RunOptions,
        on_record: impl FnMut(RecordRef<'_>) -> Result<(), E>,
    ) -> Result<Summary, E> {
        self.run_with_rounds(opts, on_record, || Ok(()))
    }

    /// [`Capture::run`], calling `on_round` after every pass over the rings that handed
    /// out at least one record (where perf writes a `PERF_RECORD_FINISHED_ROUND`: every
    /// record of later passes is newer than those of earlier ones on the same ring).
    ///
    /// # Errors
    /// As [`Capture::run`], or `on_round`'s error.
    pub fn run_with_rounds<E: From<CaptureError>>(
        &mut self,
        opts: &RunOptions,
        mut on_record: impl FnMut(RecordRef<'_>) -> Result<(), E>,
        mut on_round: impl FnMut() -> Result<(), E>,
    ) -> Result<Summary, E> {
        let result = self.run_inner(opts, &mut on_record, &mut on_round);
        if let Some(c) = &mut self.child {
            if result.is_err() {
                let _ = c.kill(libc::SIGKILL);
            } else if matches!(c.try_wait(), Ok(None)) {
                // Stopped by `duration` or `stop` while the command still runs.
                let _ = c.kill(libc::SIGTERM);
            }
        }
        let summary_result = result.and_then(|()| self.finish(&mut on_record, &mut on_round));
        if let Some(c) = &mut self.child {
            let _ = c.wait();
        }
        summary_result
    }

    fn run_inner<E: From<CaptureError>>(
        &mut self,
        opts: &RunOptions,
        on_record: &mut impl FnMut(RecordRef<'_>) -> Result<(), E>,
        on_round: &mut impl FnMut() -> Result<(), E>,
    ) -> Result<(), E> {
        struct Parsed<'a, R, F> {
            on_record: &'a mut R,
            on_round: &'a mut F,
        }
        impl<E, R, F> RunHooks for Parsed<'_, R, F>
        where
            E: From<CaptureError>,
            R: FnMut(RecordRef<'_>) -> Result<(), E>,
            F: FnMut() -> Result<(), E>,
        {
            type Error = E;
            fn pass(&mut self, capture: &mut Capture) -> Result<u64, E> {
                let n = capture.drain(self.on_record)?;
                if n > 0 {
                    (self.on_round)()?;
                }
                Ok(n)
            }
        }
        self.run_loop(
            opts,
            &mut Parsed {
                on_record,
                on_round,
            },
        )
    }

    /// The capture loop, driven by `hooks`: a pass over the rings; then, when it found
    /// nothing or [`RunHooks::may_sleep`] allows, a wait in epoll (at most
    /// [`RunOptions::poll_timeout`], default 100 ms) and another pass; every
    /// [`RunHooks::check_interval`] (or at once when every traced task hung up) a
    /// [`RunHooks::check`]. It returns when `stop` is set, `duration` has passed, or the
    /// target is gone. The events stay enabled: the final drain is the caller's
    /// ([`Capture::run`] does it).
    ///
    /// # Errors
    ///
    /// The epoll error, or a hook's error.
    pub fn run_loop<H: RunHooks>(
        &mut self,
        opts: &RunOptions,
        hooks: &mut H,
    ) -> Result<(), H::Error> {
        let started = Instant::now();
        let step = opts.poll_timeout.unwrap_or(Duration::from_millis(100));
        let stopped = || {
            opts.stop
                .as_ref()
                // Polled flag: Relaxed (set by a signal handler).
                .is_some_and(|s| s.load(Ordering::Relaxed))
        };
        let interval = hooks.check_interval();
        let mut last_pass = Instant::now();
        let mut next_check = started;
        loop {
            let mut wait = step;
            if let Some(d) = opts.duration {
                match d.checked_sub(started.elapsed()) {
                    Some(left) => wait = wait.min(left),
                    None => return Ok(()),
                }
            }
            let n = hooks.pass(self)?;
            let now = Instant::now();
            let since = now.duration_since(last_pass);
            last_pass = now;
            if n == 0 || hooks.may_sleep(n, since) {
                if !self.poll(wait)? {
                    hooks.idle()?;
                }
                hooks.pass(self)?;
            }
            // Between checks, only the stop flag (a load) and hang-ups (no syscall): a
            // wakeup costs one epoll_wait, not also a waitpid.
            if stopped() {
                return Ok(());
            }
            if Instant::now() < next_check && !self.hung_up() {
                continue;
            }
            next_check = Instant::now() + interval;
            hooks.check(self)?;
            if self.target_gone() || stopped() {
                return Ok(());
            }
        }
    }

    /// Final drain and accounting (called by [`Capture::run`]).
    fn finish<E: From<CaptureError>>(
        &mut self,
        on_record: &mut impl FnMut(RecordRef<'_>) -> Result<(), E>,
        on_round: &mut impl FnMut() -> Result<(), E>,
    ) -> Result<Summary, E> {
        self.disable()?;
        if self.drain(on_record)? + self.snapshot(on_record)? > 0 {
            on_round()?;
        }
        let exit_status = match &mut self.child {
            Some(c) => c.wait().ok(),
            None => None,
        };
        Ok(self.summary(exit_status))
    }

    /// Totals so far: rings, and each event's counter values read now.
    pub fn summary(&self, exit_status: Option<ExitStatus>) -> Summary {
        // One read(2) per fd, parallel to `self.events`.
        let values: Vec<Option<ReadValues>> = self
            .events
            .iter()
            // A group member's read gives the whole group: keep its own value.
            .map(|e| e.fd.read_values().ok().map(|v| v.only(e.fd.id())))
            .collect();
        let rings = self
            .rings
            .iter()
            .enumerate()
            .map(|(i, slot)| {
                let stats = slot.ring.stats();
                // Every event writing into this ring must report PERF_FORMAT_LOST.
                let lost_kernel = self
                    .events
                    .iter()
                    .zip(&values)
                    .filter(|(e, _)| e.ring == i)
                    .map(|(_, v)| v.as_ref().and_then(ReadValues::lost))
                    .sum();
                RingTotals {
                    cpu: slot.cpu,
                    records: stats.records + slot.snapshot_records,
                    bytes: stats.bytes + slot.snapshot_bytes,
                    lost_reported: stats.lost,
                    lost_kernel,
                    snapshot_unreadable_bytes: slot.snapshot_unreadable,
                }
            })
            .collect();
        let events = self
            .events
            .iter()
            .zip(values)
            .filter_map(|(e, v)| {
                Some(EventTotals {
                    config: e.config,
                    cpu: e.cpu,
                    pid: e.pid,
                    values: v?,
                })
            })
            .collect();
        Summary {
            rings,
            events,
            wakeups: self.wakeups,
            timeouts: self.timeouts,
            exit_status,
        }
    }
}

enum DrainError<E> {
    User(E),
    Read(ReadError),
}

impl<E> From<ReadError> for DrainError<E> {
    fn from(e: ReadError) -> Self {
        DrainError::Read(e)
    }
}

/// Raw access for writers that store ring bytes as they are (perf.data): no per-record
/// work on the hot path.
impl Capture {
    /// Drains every forward ring once as raw bytes: each ring's `[data_tail, data_head)`
    /// handed to `f` as at most two slices ([`perf_ringbuf::Drain::take_remaining`]), then
    /// `data_tail` published. Records are not parsed or counted; the kernel's
    /// `PERF_FORMAT_LOST` counters (in [`Capture::summary`]) count what was lost.
    ///
    /// # Errors
    /// An impossible `data_head` (the ring is resynced), or `f`'s error.
    pub fn drain_raw<E: From<CaptureError>>(
        &mut self,
        f: &mut impl FnMut(usize, i32, perf_ringbuf::RecordBytes<'_>) -> Result<(), E>,
    ) -> Result<u64, E> {
        let mut total = 0u64;
        for (i, slot) in self.rings.iter_mut().enumerate() {
            let cpu = slot.cpu;
            let Some(reader) = slot.ring.reader() else {
                continue;
            };
            let source = match reader.drain() {
                Ok(mut drain) => {
                    let bytes = drain.take_remaining();
                    total += bytes.len() as u64;
                    if !bytes.is_empty() {
                        f(i, cpu, bytes)?;
                    }
                    continue;
                }
                Err(source) => source,
            };
            // The error returned is the drain's; a failed resync (misaligned head) only
            // means the next drain reports it again.
            let _ = reader.resync();
            return Err(E::from(CaptureError::Read { ring: i, source }));
        }
        Ok(total)
    }

    /// Waits for the command started by the capture, if any, and returns its status.
    pub fn wait_child(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.wait().ok())
    }

    /// Sends `signal` to the command started by the capture, if it still runs.
    pub fn signal_child(&self, signal: i32) {
        if let Some(c) = &self.child {
            let _ = c.kill(signal);
        }
    }

    /// Times epoll reported data so far.
    pub fn wakeups(&self) -> u64 {
        self.wakeups
    }
}

impl Drop for Capture {
    /// A command still running when the capture is dropped (without [`Capture::run`]) is
    /// killed and reaped: it must not run on untraced, nor stay a zombie.
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            if matches!(c.try_wait(), Ok(None)) {
                let _ = c.kill(libc::SIGKILL);
                let _ = c.wait();
            }
        }
    }
}

/// Installs a SIGINT (and SIGTERM) handler that sets the returned flag, for
/// [`RunOptions::stop`]: the capture then ends with its final drain and summary instead of
/// dying. The flag is process-wide; installing twice returns the same flag.
///
/// # Errors
/// The `sigaction` error.
pub fn stop_on_interrupt() -> io::Result<Arc<AtomicBool>> {
    crate::kernel::sys::install_stop_handler()
}

/// Installs a SIGUSR2 handler that sets the returned flag: a request to dump the
/// flight-recorder (overwrite) rings now, for [`crate::record::RecordOptions::dump`]. The
/// flag is process-wide; installing twice returns the same flag.
///
/// # Errors
/// The `sigaction` error.
pub fn dump_on_sigusr2() -> io::Result<Arc<AtomicBool>> {
    crate::kernel::sys::install_dump_handler()
}

#[cfg(test)]
mod tests {
    use super::split_snapshot;

    fn record(kind: u32, size: u16) -> Vec<u8> {
        let mut r = Vec::with_capacity(usize::from(size));
        r.extend_from_slice(&kind.to_ne_bytes());
        r.extend_from_slice(&0u16.to_ne_bytes());
        r.extend_from_slice(&size.to_ne_bytes());
        r.resize(usize::from(size).max(8), 0xab);
        r
    }

    #[test]
    fn a_corrupt_snapshot_record_keeps_the_newer_records_and_counts_the_rest() {
        let mut bytes = record(9, 16);
        bytes.extend(record(9, 24));
        let corrupt_at = bytes.len();
        bytes.extend(record(9, 3)); // size below the header: corrupt
        bytes.extend(record(9, 16));
        let (recs, unreadable) = split_snapshot(&bytes);
        assert_eq!(recs.iter().map(|r| r.len()).collect::<Vec<_>>(), [16, 24]);
        assert_eq!(unreadable, bytes.len() - corrupt_at);
    }

    #[test]
    fn an_intact_snapshot_has_no_unreadable_bytes() {
        let mut bytes = record(9, 16);
        bytes.extend(record(2, 40));
        let (recs, unreadable) = split_snapshot(&bytes);
        assert_eq!(recs.len(), 2);
        assert_eq!(unreadable, 0);
    }
}
