//! Describing and opening one perf event: [`EventKind`] says what to count, [`EventConfig`]
//! builds the `perf_event_attr` (each setter names the field it sets), and
//! [`EventConfig::open`] calls `perf_event_open(2)` with errors that say what to change.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::str::FromStr;

use perf_event_open_sys::bindings as b;
use perf_event_open_sys::bindings::perf_event_attr;

use crate::kernel::sys;
use crate::kernel::tracefs::{self, TracepointError};
use crate::perf_data::{FileAttr, PerfDataError};
use crate::records::bits::{read_format as rf, sample as st};
use crate::records::{EventFormat, ReadValues};

/// A software event (`PERF_TYPE_SOFTWARE`), counted by the kernel on every CPU model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Software {
    /// `PERF_COUNT_SW_CPU_CLOCK`: a per-CPU high-resolution timer (ns).
    CpuClock,
    /// `PERF_COUNT_SW_TASK_CLOCK`: time the task runs (ns).
    TaskClock,
    /// `PERF_COUNT_SW_PAGE_FAULTS`: every page fault.
    PageFaults,
    /// `PERF_COUNT_SW_PAGE_FAULTS_MIN`: faults served without I/O.
    MinorFaults,
    /// `PERF_COUNT_SW_PAGE_FAULTS_MAJ`: faults that needed I/O.
    MajorFaults,
    /// `PERF_COUNT_SW_CONTEXT_SWITCHES`: counted in the kernel (with `exclude_kernel` it
    /// stays 0: use [`EventConfig::context_switch`] records instead).
    ContextSwitches,
    /// `PERF_COUNT_SW_CPU_MIGRATIONS`.
    CpuMigrations,
    /// `PERF_COUNT_SW_ALIGNMENT_FAULTS`.
    AlignmentFaults,
    /// `PERF_COUNT_SW_EMULATION_FAULTS`.
    EmulationFaults,
    /// `PERF_COUNT_SW_DUMMY`: counts nothing; carries side-band records (mmap, comm,
    /// task, context_switch).
    Dummy,
}

/// A generalized hardware event (`PERF_TYPE_HARDWARE`). Needs a PMU the kernel exposes;
/// virtual machines often have none (the kernel then answers ENOENT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Hardware {
    /// `PERF_COUNT_HW_CPU_CYCLES`.
    CpuCycles,
    /// `PERF_COUNT_HW_INSTRUCTIONS`.
    Instructions,
    /// `PERF_COUNT_HW_CACHE_REFERENCES`.
    CacheReferences,
    /// `PERF_COUNT_HW_CACHE_MISSES`.
    CacheMisses,
    /// `PERF_COUNT_HW_BRANCH_INSTRUCTIONS`.
    BranchInstructions,
    /// `PERF_COUNT_HW_BRANCH_MISSES`.
    BranchMisses,
    /// `PERF_COUNT_HW_BUS_CYCLES`.
    BusCycles,
    /// `PERF_COUNT_HW_REF_CPU_CYCLES`.
    RefCycles,
}

/// What an event counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A software event.
    Software(Software),
    /// A hardware event.
    Hardware(Hardware),
    /// A tracepoint `subsystem:name`; its id is read from tracefs when the config is built.
    Tracepoint(String),
    /// Any `type`/`config` pair (`perf_event_attr.type`, `.config`).
    Raw {
        /// `attr.type`.
        type_: u32,
        /// `attr.config`.
        config: u64,
    },
}

/// Names accepted by [`EventKind::from_str`] (perf's names), with their kind.
pub const EVENT_NAMES: &[(&str, EventKind)] = &[
    ("cpu-clock", EventKind::Software(Software::CpuClock)),
    ("task-clock", EventKind::Software(Software::TaskClock)),
    ("page-faults", EventKind::Software(Software::PageFaults)),
    ("faults", EventKind::Software(Software::PageFaults)),
    ("minor-faults", EventKind::Software(Software::MinorFaults)),
    ("major-faults", EventKind::Software(Software::MajorFaults)),
    (
        "context-switches",
        EventKind::Software(Software::ContextSwitches),
    ),
    ("cs", EventKind::Software(Software::ContextSwitches)),
    (
        "cpu-migrations",
        EventKind::Software(Software::CpuMigrations),
    ),
    ("migrations", EventKind::Software(Software::CpuMigrations)),
    (
        "alignment-faults",
        EventKind::Software(Software::AlignmentFaults),
    ),
    (
        "emulation-faults",
        EventKind::Software(Software::EmulationFaults),
    ),
    ("dummy", EventKind::Software(Software::Dummy)),
    ("cycles", EventKind::Hardware(Hardware::CpuCycles)),
    ("cpu-cycles", EventKind::Hardware(Hardware::CpuCycles)),
    ("instructions", EventKind::Hardware(Hardware::Instructions)),
    (
        "cache-references",
        EventKind::Hardware(Hardware::CacheReferences),
    ),
    ("cache-misses", EventKind::Hardware(Hardware::CacheMisses)),
    (
        "branches",
        EventKind::Hardware(Hardware::BranchInstructions),
    ),
    (
        "branch-instructions",
        EventKind::Hardware(Hardware::BranchInstructions),
    ),
    ("branch-misses", EventKind::Hardware(Hardware::BranchMisses)),
    ("bus-cycles", EventKind::Hardware(Hardware::BusCycles)),
    ("ref-cycles", EventKind::Hardware(Hardware::RefCycles)),
];

/// An event name that is neither a known name nor `subsystem:name`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown event {0:?}: use a software event (cpu-clock, task-clock, page-faults, \
     minor-faults, major-faults, context-switches, cpu-migrations, dummy), a hardware event \
     (cycles, instructions, ...), or a tracepoint subsystem:name"
)]
pub struct UnknownEvent(pub String);

impl FromStr for EventKind {
    type Err = UnknownEvent;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((_, k)) = EVENT_NAMES.iter().find(|(n, _)| *n == s) {
            return Ok(k.clone());
        }
        if tracefs::split_name(s).is_ok() {
            return Ok(EventKind::Tracepoint(s.to_string()));
        }
        Err(UnknownEvent(s.to_string()))
    }
}

impl EventKind {
    fn type_config(&self) -> Result<(u32, u64), TracepointError> {
        Ok(match self {
            EventKind::Software(s) => (
                b::PERF_TYPE_SOFTWARE,
                u64::from(match s {
                    Software::CpuClock => b::PERF_COUNT_SW_CPU_CLOCK,
                    Software::TaskClock => b::PERF_COUNT_SW_TASK_CLOCK,
                    Software::PageFaults => b::PERF_COUNT_SW_PAGE_FAULTS,
                    Software::MinorFaults => b::PERF_COUNT_SW_PAGE_FAULTS_MIN,
                    Software::MajorFaults => b::PERF_COUNT_SW_PAGE_FAULTS_MAJ,
                    Software::ContextSwitches => b::PERF_COUNT_SW_CONTEXT_SWITCHES,
                    Software::CpuMigrations => b::PERF_COUNT_SW_CPU_MIGRATIONS,
                    Software::AlignmentFaults => b::PERF_COUNT_SW_ALIGNMENT_FAULTS,
                    Software::EmulationFaults => b::PERF_COUNT_SW_EMULATION_FAULTS,
                    Software::Dummy => b::PERF_COUNT_SW_DUMMY,
                }),
            ),
            EventKind::Hardware(h) => (
                b::PERF_TYPE_HARDWARE,
                u64::from(match h {
                    Hardware::CpuCycles => b::PERF_COUNT_HW_CPU_CYCLES,
                    Hardware::Instructions => b::PERF_COUNT_HW_INSTRUCTIONS,
                    Hardware::CacheReferences => b::PERF_COUNT_HW_CACHE_REFERENCES,
                    Hardware::CacheMisses => b::PERF_COUNT_HW_CACHE_MISSES,
                    Hardware::BranchInstructions => b::PERF_COUNT_HW_BRANCH_INSTRUCTIONS,
                    Hardware::BranchMisses => b::PERF_COUNT_HW_BRANCH_MISSES,
                    Hardware::BusCycles => b::PERF_COUNT_HW_BUS_CYCLES,
                    Hardware::RefCycles => b::PERF_COUNT_HW_REF_CPU_CYCLES,
                }),
            ),
            EventKind::Tracepoint(spec) => (b::PERF_TYPE_TRACEPOINT, tracefs::tracepoint_id(spec)?),
            EventKind::Raw { type_, config } => (*type_, *config),
        })
    }

    /// A display name (perf's name where there is one).
    pub fn name(&self) -> String {
        match self {
            EventKind::Tracepoint(s) => s.clone(),
            EventKind::Raw { type_, config } => format!("raw:{type_}:{config:#x}"),
            k => EVENT_NAMES
                .iter()
                .find(|(_, n)| n == k)
                .map_or_else(|| format!("{k:?}"), |(n, _)| (*n).to_string()),
        }
    }
}

/// Why `perf_event_open` or the setup around it failed, with what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The event name is not known.
    #[error(transparent)]
    UnknownEvent(#[from] UnknownEvent),
    /// The tracepoint id could not be read.
    #[error(transparent)]
    Tracepoint(#[from] TracepointError),
    /// `PERF_TYPE_HARDWARE` answered ENOENT/ENODEV/EOPNOTSUPP.
    #[error(
        "hardware events are not available on this machine ({event}: {cause}); the kernel \
         exposes no hardware PMU here (usual in virtual machines): use a software event \
         such as cpu-clock or task-clock"
    )]
    NoHardware {
        /// The event.
        event: String,
        /// The kernel's answer.
        cause: io::Error,
    },
    /// EACCES/EPERM at open.
    #[error(
        "perf_event_open({event}, pid {pid}, cpu {cpu}) was refused ({cause}): \
         kernel.perf_event_paranoid is {paranoid}, which {allows}. {fix}"
    )]
    NotPermitted {
        /// The event.
        event: String,
        /// Target pid (-1: all tasks).
        pid: i32,
        /// Target CPU (-1: any).
        cpu: i32,
        /// The value of /proc/sys/kernel/perf_event_paranoid ("unknown" if unreadable).
        paranoid: String,
        /// What that value allows.
        allows: &'static str,
        /// What to change.
        fix: &'static str,
        /// The kernel's answer.
        cause: io::Error,
    },
    /// Any other refusal, with the kernel's errno and a hint.
    #[error("perf_event_open({event}, pid {pid}, cpu {cpu}) failed: {cause}{hint}")]
    Kernel {
        /// The event.
        event: String,
        /// Target pid.
        pid: i32,
        /// Target CPU.
        cpu: i32,
        /// A hint for this errno (may be empty).
        hint: String,
        /// The kernel's answer.
        cause: io::Error,
    },
    /// An ioctl on an open event failed.
    #[error("{what} failed: {cause}")]
    Ioctl {
        /// Which ioctl.
        what: &'static str,
        /// The error.
        cause: io::Error,
    },
}

/// Reads `kernel.perf_event_paranoid`.
pub fn perf_event_paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The kernel's `perf_event_attr` seen by the formats: the record layout it gives, and
/// the attr as a perf.data file stores it. (The formats do not depend on the kernel
/// bindings; these conversions are the kernel layer's.)
impl EventFormat {
    /// The layout-relevant fields of a kernel attr.
    pub fn from_attr(attr: &perf_event_attr) -> Self {
        EventFormat {
            sample_type: attr.sample_type,
            read_format: attr.read_format,
            sample_regs_user: attr.sample_regs_user,
            sample_regs_intr: attr.sample_regs_intr,
            branch_sample_type: attr.branch_sample_type,
            sample_id_all: attr.sample_id_all() != 0,
        }
    }
}

impl FileAttr {
    /// The attr the kernel was given (a bindgen `perf_event_attr`), as a file attr.
    ///
    /// # Errors
    ///
    /// As [`FileAttr::from_kernel_bytes`].
    pub fn from_kernel_attr(attr: &perf_event_attr) -> Result<Self, PerfDataError> {
        FileAttr::from_kernel_bytes(&sys::attr_bytes(attr))
    }
}

/// Reads `kernel.perf_event_max_sample_rate`: the highest `attr.sample_freq` the kernel
/// accepts (it lowers this itself when sampling interrupts take too long).
pub fn perf_event_max_sample_rate() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn paranoid_meaning(v: Option<i32>) -> &'static str {
    match v {
        Some(i32::MIN..=-1) => "allows every event for every user",
        Some(0) => {
            "allows CPU-wide and kernel profiling but not raw tracepoint data for \
                    unprivileged users"
        }
        Some(1) => {
            "allows unprivileged users kernel and user profiling of their own \
                    processes, but no CPU-wide (-a) events"
        }
        Some(2) => {
            "allows unprivileged users only user-space profiling (exclude_kernel=1) of \
                    their own processes"
        }
        Some(_) => "forbids perf_event_open to unprivileged users (a distribution patch)",
        None => "could not be read",
    }
}

/// Sampling: every `n` events, or `n` times a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampling {
    /// Count only, no samples (`sample_period = 0`).
    None,
    /// `attr.sample_period`: a sample every `n` events (`-c n`).
    Period(u64),
    /// `attr.sample_freq` with `attr.freq = 1`: about `n` samples a second, the kernel
    /// adjusting the period (`-F n`); at most `kernel.perf_event_max_sample_rate`.
    Frequency(u64),
}

/// One event's `perf_event_attr`, built field by field. See `perf_event_open(2)`.
///
/// Defaults: disabled at open (enable with [`EventFd::enable`] or `enable_on_exec`),
/// `sample_id_all = 1`, `sample_type` = IDENTIFIER | IP | TID | TIME | CPU | PERIOD,
/// `read_format` = TOTAL_TIME_ENABLED | TOTAL_TIME_RUNNING | ID | LOST, kernel and user
/// both counted (set [`EventConfig::exclude_kernel`] when `perf_event_paranoid` ≥ 2 and
/// not root).
#[derive(Clone)]
pub struct EventConfig {
    kind: EventKind,
    attr: perf_event_attr,
    /// What perf calls it (`cpu-clock:u`); `None`: the kind's name.
    name: Option<String>,
    /// Index of its group leader among the events opened together; `None`: it leads.
    leader: Option<usize>,
}

impl std::fmt::Debug for EventConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventConfig")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("leader", &self.leader)
            .field("type", &self.attr.type_)
            .field("config", &self.attr.config)
            .field("sample_type", &format_args!("{:#x}", self.attr.sample_type))
            .field("read_format", &format_args!("{:#x}", self.attr.read_format))
            .finish_non_exhaustive()
    }
}

/// Default `sample_type`.
pub const DEFAULT_SAMPLE_TYPE: u64 =
    st::IDENTIFIER | st::IP | st::TID | st::TIME | st::CPU | st::PERIOD;
/// Default `read_format`.
pub const DEFAULT_READ_FORMAT: u64 =
    rf::TOTAL_TIME_ENABLED | rf::TOTAL_TIME_RUNNING | rf::ID | rf::LOST;

macro_rules! flag_setter {
    ($(#[$doc:meta])* $name:ident, $setter:ident) => {
        $(#[$doc])*
        pub fn $name(mut self, on: bool) -> Self {
            self.attr.$setter(u64::from(on));
            self
        }
    };
}

impl EventConfig {
    /// A config for `kind` (reads a tracepoint's id from tracefs now).
    ///
    /// # Errors
    /// [`OpenError::Tracepoint`] when a tracepoint id cannot be found.
    pub fn new(kind: EventKind) -> Result<Self, OpenError> {
        let (type_, config) = kind.type_config()?;
        let mut attr = perf_event_attr {
            size: std::mem::size_of::<perf_event_attr>() as u32,
            type_,
            config,
            sample_type: DEFAULT_SAMPLE_TYPE,
            read_format: DEFAULT_READ_FORMAT,
            ..Default::default()
        };
        attr.set_disabled(1);
        attr.set_sample_id_all(1);
        Ok(EventConfig {
            kind,
            attr,
            name: None,
            leader: None,
        })
    }

    /// The name perf gives the event (`perf evlist`, EVENT_DESC): as set with
    /// [`EventConfig::named`], else the kind's name.
    pub fn name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.kind.name())
    }

    /// Names the event as the user wrote it (`cpu-clock:u`).
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Its group leader: the index, among the events opened together, of the event whose
    /// fd is passed as `group_fd` to `perf_event_open` (perf's `{a,b}`); `None` when it
    /// leads (or is alone).
    pub fn group_leader(&self) -> Option<usize> {
        self.leader
    }

    /// Makes it a member of the group led by event `leader` (see
    /// [`EventConfig::group_leader`]), or a leader with `None`.
    pub fn member_of(mut self, leader: Option<usize>) -> Self {
        self.leader = leader;
        self
    }

    /// `attr.precise_ip`: 0 (arbitrary skid) to 3 (must have zero skid), perf's `:p`,
    /// `:pp`, `:ppp`.
    pub fn precise_ip(mut self, level: u8) -> Self {
        self.attr.set_precise_ip(u64::from(level.min(3)));
        self
    }

    /// Parses an event name (see [`EventKind::from_str`]) and builds its config.
    ///
    /// # Errors
    /// An unknown name, or a tracepoint that cannot be found.
    pub fn parse(name: &str) -> Result<Self, OpenError> {
        Self::new(name.parse::<EventKind>()?)
    }

    /// What the event counts.
    pub fn kind(&self) -> &EventKind {
        &self.kind
    }

    /// The attr as it will be passed to the kernel.
    pub fn attr(&self) -> &perf_event_attr {
        &self.attr
    }

    /// The attr, for fields this builder has no setter for.
    pub fn attr_mut(&mut self) -> &mut perf_event_attr {
        &mut self.attr
    }

    /// The layout its records will have, for [`crate::records::ParseContext`].
    pub fn format(&self) -> EventFormat {
        EventFormat::from_attr(&self.attr)
    }

    /// `attr.sample_period` or `attr.sample_freq` + `attr.freq`.
    pub fn sampling(mut self, s: Sampling) -> Self {
        match s {
            Sampling::None => {
                self.attr.set_freq(0);
                self.attr.__bindgen_anon_1.sample_period = 0;
            }
            Sampling::Period(n) => {
                self.attr.set_freq(0);
                self.attr.__bindgen_anon_1.sample_period = n;
            }
            Sampling::Frequency(n) => {
                self.attr.set_freq(1);
                self.attr.__bindgen_anon_1.sample_freq = n;
            }
        }
        self
    }

    /// `attr.sample_type`: the `PERF_SAMPLE_*` fields samples carry (any bits; the kernel
    /// refuses combinations it cannot produce with EINVAL).
    pub fn sample_type(mut self, bits: u64) -> Self {
        self.attr.sample_type = bits;
        self
    }

    /// `attr.read_format`: the `PERF_FORMAT_*` layout of `read(2)` and READ values.
    pub fn read_format(mut self, bits: u64) -> Self {
        self.attr.read_format = bits;
        self
    }

    /// Adds or removes `PERF_SAMPLE_CALLCHAIN`; `max_stack` sets
    /// `attr.sample_max_stack` (0: kernel default, `kernel.perf_event_max_stack`).
    pub fn callchain(mut self, on: bool, max_stack: u16) -> Self {
        if on {
            self.attr.sample_type |= st::CALLCHAIN;
            self.attr.sample_max_stack = max_stack;
        } else {
            self.attr.sample_type &= !st::CALLCHAIN;
        }
        self
    }

    /// `attr.sample_regs_user` (adds `PERF_SAMPLE_REGS_USER` when non-zero).
    pub fn regs_user(mut self, mask: u64) -> Self {
        self.attr.sample_regs_user = mask;
        if mask != 0 {
            self.attr.sample_type |= st::REGS_USER;
        }
        self
    }

    /// `attr.sample_stack_user` (adds `PERF_SAMPLE_STACK_USER` when non-zero; a multiple
    /// of 8).
    pub fn stack_user(mut self, bytes: u32) -> Self {
        self.attr.sample_stack_user = bytes;
        if bytes != 0 {
            self.attr.sample_type |= st::STACK_USER;
        }
        self
    }

    /// `attr.wakeup_events` (`watermark = 0`): wake pollers every `n` records (0: the
    /// kernel's default, half the ring).
    pub fn wakeup_events(mut self, n: u32) -> Self {
        self.attr.set_watermark(0);
        self.attr.__bindgen_anon_2.wakeup_events = n;
        self
    }

    /// `attr.wakeup_watermark` (`watermark = 1`): wake pollers every `bytes` bytes.
    pub fn wakeup_watermark(mut self, bytes: u32) -> Self {
        self.attr.set_watermark(1);
        self.attr.__bindgen_anon_2.wakeup_watermark = bytes;
        self
    }

    flag_setter!(
        /// `attr.disabled`: start disabled (the default; enable with an ioctl or at exec).
        disabled, set_disabled
    );
    flag_setter!(
        /// `attr.inherit`: count in children created after the event is opened.
        inherit, set_inherit
    );
    flag_setter!(
        /// `attr.enable_on_exec`: enable when the target calls exec (for a started command).
        enable_on_exec, set_enable_on_exec
    );
    flag_setter!(
        /// `attr.exclude_kernel`: do not count in the kernel (required for unprivileged
        /// users when `perf_event_paranoid` ≥ 2).
        exclude_kernel, set_exclude_kernel
    );
    flag_setter!(
        /// `attr.exclude_user`: do not count in user space.
        exclude_user, set_exclude_user
    );
    flag_setter!(
        /// `attr.exclude_hv`: do not count in the hypervisor.
        exclude_hv, set_exclude_hv
    );
    flag_setter!(
        /// `attr.exclude_guest`: do not count while a guest runs (perf's default; `:G`
        /// clears it).
        exclude_guest, set_exclude_guest
    );
    flag_setter!(
        /// `attr.exclude_host`: count only while a guest runs (perf's `:G`).
        exclude_host, set_exclude_host
    );
    flag_setter!(
        /// `attr.pinned`: always on the PMU, or in error state (perf's `:D`).
        pinned, set_pinned
    );
    flag_setter!(
        /// `attr.sample_id_all`: put a `sample_id` trailer on non-sample records.
        sample_id_all, set_sample_id_all
    );
    flag_setter!(
        /// `attr.comm` + `attr.comm_exec`: COMM records (exec flagged).
        comm, set_comm
    );
    flag_setter!(
        /// `attr.task`: FORK and EXIT records.
        task, set_task
    );
    flag_setter!(
        /// `attr.mmap2`: MMAP2 records for executable mappings (with `attr.mmap`).
        mmap2, set_mmap2
    );
    flag_setter!(
        /// `attr.mmap_data`: also MMAP records for data mappings.
        mmap_data, set_mmap_data
    );
    flag_setter!(
        /// `attr.context_switch`: SWITCH records (SWITCH_CPU_WIDE for per-CPU events).
        context_switch, set_context_switch
    );
    flag_setter!(
        /// `attr.write_backward`: the ring is written backwards (overwrite rings, mapped
        /// read-only).
        write_backward, set_write_backward
    );
    flag_setter!(
        /// `attr.inherit_stat`: per-task counts of inherited events; an exiting child
        /// writes a READ record with its values.
        inherit_stat, set_inherit_stat
    );
    flag_setter!(
        /// `attr.mmap`: MMAP records for executable mappings (without `mmap2`).
        mmap, set_mmap
    );
    flag_setter!(
        /// `attr.text_poke`: TEXT_POKE records when kernel text is modified.
        text_poke, set_text_poke
    );
    flag_setter!(
        /// `attr.namespaces`: NAMESPACES records.
        namespaces, set_namespaces
    );
    flag_setter!(
        /// `attr.cgroup`: CGROUP records.
        cgroup, set_cgroup
    );
    flag_setter!(
        /// `attr.ksymbol`: KSYMBOL records.
        ksymbol, set_ksymbol
    );
    flag_setter!(
        /// `attr.bpf_event`: BPF_EVENT records.
        bpf_event, set_bpf_event
    );

    /// Side-band tracking as `perf record` puts on its first event: `mmap` + `mmap2`,
    /// `comm` + `comm_exec`, `task`.
    pub fn tracking(mut self, on: bool) -> Self {
        let v = u64::from(on);
        self.attr.set_mmap(v);
        self.attr.set_mmap2(v);
        self.attr.set_comm(v);
        self.attr.set_comm_exec(v);
        self.attr.set_task(v);
        self
    }

    /// `attr.build_id` (Linux 5.12+): MMAP2 records carry the mapped file's build id
    /// (`PERF_RECORD_MISC_MMAP_BUILD_ID`) instead of its device and inode.
    pub fn mmap_build_ids(mut self, on: bool) -> Self {
        self.attr.set_build_id(u64::from(on));
        self
    }

    /// Opens the event on `pid` (0: this thread, -1: all tasks) and `cpu` (-1: any),
    /// optionally in `group`.
    ///
    /// Privilege: tasks of other users, `pid = -1` (CPU-wide) and kernel profiling depend
    /// on `kernel.perf_event_paranoid` and CAP_PERFMON (see `perf_event_open(2)`).
    ///
    /// # Errors
    /// [`OpenError`], saying what to change.
    pub fn open(
        &self,
        pid: i32,
        cpu: i32,
        group: Option<BorrowedFd<'_>>,
    ) -> Result<EventFd, OpenError> {
        let mut attr = self.attr;
        let event = self.name();
        let mut opened = sys::perf_event_open(&mut attr, pid, cpu, group);
        if attr.build_id() != 0
            && matches!(&opened, Err(e) if e.raw_os_error() == Some(libc::EINVAL))
        {
            // Kernels before 5.12 do not know `attr.build_id`: MMAP2 records then carry
            // the file's device and inode, as before.
            attr = self.attr;
            attr.set_build_id(0);
            opened = sys::perf_event_open(&mut attr, pid, cpu, group);
        }
        let fd = opened.map_err(|cause| self.explain(event, pid, cpu, cause))?;
        let id = sys::event_id(fd.as_fd()).map_err(|cause| OpenError::Ioctl {
            what: "PERF_EVENT_IOC_ID",
            cause,
        })?;
        Ok(EventFd {
            fd,
            id,
            read_format: self.attr.read_format,
        })
    }

    fn explain(&self, event: String, pid: i32, cpu: i32, cause: io::Error) -> OpenError {
        let errno = cause.raw_os_error().unwrap_or(0);
        if matches!(self.kind, EventKind::Hardware(_))
            && matches!(errno, libc::ENOENT | libc::ENODEV | libc::EOPNOTSUPP)
        {
            return OpenError::NoHardware { event, cause };
        }
        if matches!(errno, libc::EACCES | libc::EPERM) {
            let p = perf_event_paranoid();
            return OpenError::NotPermitted {
                event,
                pid,
                cpu,
                paranoid: p.map_or_else(|| "unknown".into(), |v| v.to_string()),
                allows: paranoid_meaning(p),
                fix: "Run as root or with CAP_PERFMON, profile only your own processes, \
                      set exclude_kernel (user-space only), or lower it: \
                      `sysctl kernel.perf_event_paranoid=1` (or -1 for everything).",
                cause,
            };
        }
        let hint = match errno {
            libc::ENOENT => format!(
                ": the kernel does not support this event (type {}, config {:#x})",
                self.attr.type_, self.attr.config
            ),
            libc::ESRCH => format!(": no process or thread {pid}"),
            libc::EINVAL => {
                let max = std::fs::read_to_string("/proc/sys/kernel/perf_event_max_sample_rate")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "?".into());
                format!(
                    ": the kernel rejected the attr (sample_type {:#x}, read_format {:#x}; \
                     a frequency above kernel.perf_event_max_sample_rate={max}, cpu {cpu} \
                     offline, or a flag this kernel lacks)",
                    self.attr.sample_type, self.attr.read_format
                )
            }
            libc::EMFILE => ": too many open files: raise `ulimit -n`".into(),
            libc::E2BIG => ": this kernel is older than the attr layout".into(),
            libc::EOPNOTSUPP => ": this event cannot sample (no overflow interrupt); use it \
                                 for counting only"
                .into(),
            libc::EBUSY => ": another user holds the PMU exclusively".into(),
            _ => String::new(),
        };
        OpenError::Kernel {
            event,
            pid,
            cpu,
            hint,
            cause,
        }
    }
}

/// An open event.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
    id: u64,
    read_format: u64,
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl EventFd {
    /// The event's id (`PERF_EVENT_IOC_ID`), as samples carry it.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn ioctl(&self, what: &'static str, r: io::Result<()>) -> Result<(), OpenError> {
        r.map_err(|cause| OpenError::Ioctl { what, cause })
    }

    /// `PERF_EVENT_IOC_ENABLE`.
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn enable(&self) -> Result<(), OpenError> {
        self.ioctl("PERF_EVENT_IOC_ENABLE", sys::enable(self.fd.as_fd()))
    }

    /// `PERF_EVENT_IOC_DISABLE`.
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn disable(&self) -> Result<(), OpenError> {
        self.ioctl("PERF_EVENT_IOC_DISABLE", sys::disable(self.fd.as_fd()))
    }

    /// `PERF_EVENT_IOC_SET_OUTPUT`: this event's records go to the ring mapped on
    /// `target` (same CPU, same clock).
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn set_output(&self, target: &EventFd) -> Result<(), OpenError> {
        self.ioctl(
            "PERF_EVENT_IOC_SET_OUTPUT",
            sys::set_output(self.fd.as_fd(), target.fd.as_fd()),
        )
    }

    /// `PERF_EVENT_IOC_PAUSE_OUTPUT`: stop (true) or resume (false) writing to its ring.
    /// Records that arrive while paused are counted as lost.
    ///
    /// # Errors
    /// The ioctl's error.
    pub fn pause_output(&self, pause: bool) -> Result<(), OpenError> {
        self.ioctl(
            "PERF_EVENT_IOC_PAUSE_OUTPUT",
            sys::pause_output(self.fd.as_fd(), pause),
        )
    }

    /// `read(2)`: the counter in the event's `read_format` (with `PERF_FORMAT_LOST`, the
    /// kernel's own count of records it could not write: the truth about losses).
    ///
    /// # Errors
    /// The read error, or a reply that does not parse.
    pub fn read_values(&self) -> Result<ReadValues, OpenError> {
        let mut buf = vec![0u8; 8 * (4 + 3 * 64)];
        let n = sys::read(self.fd.as_fd(), &mut buf).map_err(|cause| OpenError::Ioctl {
            what: "read of the counter",
            cause,
        })?;
        ReadValues::parse(&buf[..n], self.read_format).map_err(|e| OpenError::Ioctl {
            what: "read of the counter",
            cause: io::Error::new(io::ErrorKind::InvalidData, e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The u64 at `offset` of the attr as the kernel reads it (the bindgen unions read
    /// without unsafe): 16 is `sample_period`/`sample_freq`.
    fn attr_u64(a: &perf_event_attr, offset: usize) -> u64 {
        let bytes = crate::kernel::sys::attr_bytes(a);
        u64::from_ne_bytes(bytes[offset..offset + 8].try_into().unwrap())
    }

    /// The u32 at `offset`: 48 is `wakeup_events`/`wakeup_watermark`.
    fn attr_u32(a: &perf_event_attr, offset: usize) -> u32 {
        let bytes = crate::kernel::sys::attr_bytes(a);
        u32::from_ne_bytes(bytes[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn perf_event_names_parse_to_their_kinds() {
        assert_eq!(
            "cpu-clock".parse::<EventKind>(),
            Ok(EventKind::Software(Software::CpuClock))
        );
        assert_eq!(
            "faults".parse::<EventKind>(),
            Ok(EventKind::Software(Software::PageFaults))
        );
        assert_eq!(
            "cycles".parse::<EventKind>(),
            Ok(EventKind::Hardware(Hardware::CpuCycles))
        );
        assert_eq!(
            "sched:sched_switch".parse::<EventKind>(),
            Ok(EventKind::Tracepoint("sched:sched_switch".into()))
        );
        assert!("nope".parse::<EventKind>().is_err());
        assert_eq!(
            EventKind::Software(Software::PageFaults).name(),
            "page-faults"
        );
    }

    #[test]
    fn builder_sets_the_attr_fields_it_names() {
        let c = EventConfig::new(EventKind::Software(Software::PageFaults))
            .unwrap()
            .sampling(Sampling::Frequency(99))
            .callchain(true, 16)
            .wakeup_watermark(4096)
            .inherit(true)
            .context_switch(true)
            .tracking(true);
        let a = c.attr();
        assert_eq!(
            (a.type_, a.config),
            (
                b::PERF_TYPE_SOFTWARE,
                u64::from(b::PERF_COUNT_SW_PAGE_FAULTS)
            )
        );
        assert_eq!(a.freq(), 1);
        assert_eq!(attr_u64(a, 16), 99);
        assert_eq!(a.sample_type & st::CALLCHAIN, st::CALLCHAIN);
        assert_eq!(a.sample_max_stack, 16);
        assert_eq!(a.watermark(), 1);
        assert_eq!(attr_u32(a, 48), 4096);
        assert_eq!(
            (
                a.inherit(),
                a.context_switch(),
                a.mmap2(),
                a.comm_exec(),
                a.task()
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!((a.disabled(), a.sample_id_all()), (1, 1));
        assert_eq!(a.read_format, DEFAULT_READ_FORMAT);
        assert_eq!(c.format().sample_type, a.sample_type);
        let c = c.sampling(Sampling::Period(7));
        assert_eq!(c.attr().freq(), 0);
        assert_eq!(attr_u64(c.attr(), 16), 7);
    }

    #[test]
    fn paranoid_levels_are_explained() {
        assert!(paranoid_meaning(Some(2)).contains("only user-space"));
        assert!(paranoid_meaning(Some(-1)).contains("every event"));
        assert!(paranoid_meaning(Some(1)).contains("no CPU-wide"));
        assert!(paranoid_meaning(Some(4)).contains("forbids"));
    }
}
