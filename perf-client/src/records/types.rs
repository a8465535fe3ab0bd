//! Record type numbers (`enum perf_event_type`) and `misc` flags
//! (`PERF_RECORD_MISC_*`) from `include/uapi/linux/perf_event.h`.

use std::fmt;

/// A `perf_event_header.type` value. An open newtype: any `u32` is representable, the
/// kernel's types have named constants, and [`RecordType::name`] knows their names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordType(pub u32);

/// Defines the named record types and their names from one table.
macro_rules! record_types {
    ($($(#[$doc:meta])* $name:ident = $n:literal,)*) => {
        impl RecordType {
            $($(#[$doc])* pub const $name: Self = Self($n);)*

            /// The uapi name without the `PERF_RECORD_` prefix, or `None` for a type this
            /// crate does not know.
            pub fn name(self) -> Option<&'static str> {
                match self {
                    $(Self::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

record_types! {
    /// `PERF_RECORD_MMAP`: an executable mapping (`attr.mmap`).
    MMAP = 1,
    /// `PERF_RECORD_LOST`: records the kernel dropped because the ring was full.
    LOST = 2,
    /// `PERF_RECORD_COMM`: a task changed its name (`attr.comm`; exec sets `COMM_EXEC`).
    COMM = 3,
    /// `PERF_RECORD_EXIT`: a task exited (`attr.task`).
    EXIT = 4,
    /// `PERF_RECORD_THROTTLE`: sampling was throttled (`perf_event_max_sample_rate`).
    THROTTLE = 5,
    /// `PERF_RECORD_UNTHROTTLE`: sampling resumed.
    UNTHROTTLE = 6,
    /// `PERF_RECORD_FORK`: a task was created (`attr.task`).
    FORK = 7,
    /// `PERF_RECORD_READ`: counter values of an exiting inherited task (`attr.inherit_stat`).
    READ = 8,
    /// `PERF_RECORD_SAMPLE`: a sample laid out by `attr.sample_type`.
    SAMPLE = 9,
    /// `PERF_RECORD_MMAP2`: a mapping with inode or build id (`attr.mmap2`).
    MMAP2 = 10,
    /// `PERF_RECORD_AUX`: new data in the AUX area.
    AUX = 11,
    /// `PERF_RECORD_ITRACE_START`: instruction tracing started for a task.
    ITRACE_START = 12,
    /// `PERF_RECORD_LOST_SAMPLES`: samples lost inside the PMU driver (or, in perf.data,
    /// synthesized from `PERF_FORMAT_LOST`).
    LOST_SAMPLES = 13,
    /// `PERF_RECORD_SWITCH`: a context switch of the traced task (`attr.context_switch`).
    SWITCH = 14,
    /// `PERF_RECORD_SWITCH_CPU_WIDE`: a context switch seen by a per-CPU event, with the
    /// other task's pid/tid.
    SWITCH_CPU_WIDE = 15,
    /// `PERF_RECORD_NAMESPACES`: the namespaces of a new task (`attr.namespaces`).
    NAMESPACES = 16,
    /// `PERF_RECORD_KSYMBOL`: a kernel symbol was (un)registered (`attr.ksymbol`).
    KSYMBOL = 17,
    /// `PERF_RECORD_BPF_EVENT`: a BPF program was loaded or unloaded (`attr.bpf_event`).
    BPF_EVENT = 18,
    /// `PERF_RECORD_CGROUP`: a cgroup was created (`attr.cgroup`).
    CGROUP = 19,
    /// `PERF_RECORD_TEXT_POKE`: kernel text was modified (`attr.text_poke`).
    TEXT_POKE = 20,
    /// `PERF_RECORD_AUX_OUTPUT_HW_ID`: the hardware id of an AUX output event.
    AUX_OUTPUT_HW_ID = 21,
    /// `PERF_RECORD_CALLCHAIN_DEFERRED`: a user callchain delivered after the sample
    /// (`attr.defer_callchain`, Linux 6.19).
    CALLCHAIN_DEFERRED = 22,
}

impl RecordType {
    /// True for the types the kernel writes into rings (1..=22). Only these carry a
    /// `sample_id` trailer when `attr.sample_id_all` is set (SAMPLE excepted: its fields
    /// are already the sample's).
    pub fn is_kernel(self) -> bool {
        (1..=22).contains(&self.0)
    }
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "type {}", self.0),
        }
    }
}

/// `perf_event_header.misc` flags (`PERF_RECORD_MISC_*`). Several bits are reused with a
/// meaning that depends on the record type.
pub mod misc {
    /// Mask of the CPU-mode field.
    pub const CPUMODE_MASK: u16 = 7;
    /// CPU mode unknown.
    pub const CPUMODE_UNKNOWN: u16 = 0;
    /// The sample was taken in the kernel.
    pub const KERNEL: u16 = 1;
    /// The sample was taken in user space.
    pub const USER: u16 = 2;
    /// The sample was taken in the hypervisor.
    pub const HYPERVISOR: u16 = 3;
    /// Guest kernel.
    pub const GUEST_KERNEL: u16 = 4;
    /// Guest user space.
    pub const GUEST_USER: u16 = 5;
    /// perf.data only: /proc map parsing timed out during synthesis.
    pub const PROC_MAP_PARSE_TIMEOUT: u16 = 1 << 12;
    /// MMAP/MMAP2: a data (non-executable) mapping (`attr.mmap_data`).
    pub const MMAP_DATA: u16 = 1 << 13;
    /// COMM: the name changed because of exec.
    pub const COMM_EXEC: u16 = 1 << 13;
    /// FORK: (perf.data) the fork was an exec.
    pub const FORK_EXEC: u16 = 1 << 13;
    /// SWITCH/SWITCH_CPU_WIDE: the task is switched out (otherwise in).
    pub const SWITCH_OUT: u16 = 1 << 13;
    /// SAMPLE: `ip` is the exact instruction (precise_ip).
    pub const EXACT_IP: u16 = 1 << 14;
    /// SWITCH out: the task was preempted (still runnable).
    pub const SWITCH_OUT_PREEMPT: u16 = 1 << 14;
    /// MMAP2: the record carries a build id instead of device/inode.
    pub const MMAP_BUILD_ID: u16 = 1 << 14;
    /// Reserved for future extensions.
    pub const EXT_RESERVED: u16 = 1 << 15;
}
