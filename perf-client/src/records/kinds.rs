//! The non-SAMPLE record bodies (`enum perf_event_type` in the uapi). Each parser gets a
//! cursor over the body with the `sample_id` trailer already cut off.

use super::cursor::Cursor;
use super::error::ParseError;
use super::read_values::ReadValues;
use super::types::misc;

/// `PERF_RECORD_MMAP`: `{ u32 pid, tid; u64 addr, len, pgoff; char filename[]; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mmap<'a> {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// File offset.
    pub pgoff: u64,
    /// `misc & MMAP_DATA`: a data mapping (`attr.mmap_data`), not executable.
    pub data: bool,
    /// The file name (bytes before the NUL padding).
    pub filename: &'a [u8],
}

/// The identity of an MMAP2 mapping's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileId {
    /// `{ u32 maj, min; u64 ino; u64 ino_generation; }`
    Inode {
        /// Device major.
        maj: u32,
        /// Device minor.
        min: u32,
        /// Inode number.
        ino: u64,
        /// Inode generation.
        ino_generation: u64,
    },
    /// `misc & MMAP_BUILD_ID` (`attr.build_id`): `{ u8 build_id_size; u8 res[3];
    /// u8 build_id[20]; }`.
    BuildId(BuildId),
}

/// A build id of up to 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildId {
    len: u8,
    bytes: [u8; 20],
}

impl BuildId {
    /// A build id from its bytes, or `None` if longer than 20.
    pub fn new(id: &[u8]) -> Option<Self> {
        let len = u8::try_from(id.len()).ok().filter(|&l| l <= 20)?;
        let mut bytes = [0u8; 20];
        bytes[..id.len()].copy_from_slice(id);
        Some(BuildId { len, bytes })
    }

    /// The build id bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// `PERF_RECORD_MMAP2`: `{ u32 pid, tid; u64 addr, len, pgoff; <file id>; u32 prot,
/// flags; char filename[]; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mmap2<'a> {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Start address.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
    /// File offset.
    pub pgoff: u64,
    /// Device/inode or build id.
    pub file_id: FileId,
    /// `PROT_*` of the mapping.
    pub prot: u32,
    /// `MAP_*` flags of the mapping.
    pub flags: u32,
    /// `misc & MMAP_DATA`: a data mapping.
    pub data: bool,
    /// The file name (bytes before the NUL padding).
    pub filename: &'a [u8],
}

/// `PERF_RECORD_LOST`: `{ u64 id; u64 lost; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lost {
    /// Id of the event whose records were dropped.
    pub id: u64,
    /// How many records were dropped.
    pub lost: u64,
}

/// `PERF_RECORD_COMM`: `{ u32 pid, tid; char comm[]; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Comm<'a> {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// `misc & COMM_EXEC`: the name changed because of exec.
    pub exec: bool,
    /// The new name (at most 15 bytes from the kernel).
    pub comm: &'a [u8],
}

/// `PERF_RECORD_FORK` and `PERF_RECORD_EXIT`: `{ u32 pid, ppid, tid, ptid; u64 time; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskEvent {
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Thread id.
    pub tid: u32,
    /// Parent thread id.
    pub ptid: u32,
    /// Timestamp.
    pub time: u64,
}

/// `PERF_RECORD_THROTTLE` / `UNTHROTTLE`: `{ u64 time, id, stream_id; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Timestamp.
    pub time: u64,
    /// Event id.
    pub id: u64,
    /// Stream id.
    pub stream_id: u64,
}

/// `PERF_RECORD_READ`: `{ u32 pid, tid; struct read_format values; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The values, in `attr.read_format`'s layout.
    pub values: ReadValues,
}

/// `PERF_RECORD_AUX`: `{ u64 aux_offset, aux_size, flags; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aux {
    /// Offset of the new data in the AUX area.
    pub aux_offset: u64,
    /// Its size.
    pub aux_size: u64,
    /// `PERF_AUX_FLAG_*`: TRUNCATED 1, OVERWRITE 2, PARTIAL 4, COLLISION 8, PMU format in
    /// bits 8..16.
    pub flags: u64,
}

/// `PERF_RECORD_ITRACE_START`: `{ u32 pid, tid; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItraceStart {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
}

/// `PERF_RECORD_LOST_SAMPLES`: `{ u64 lost; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LostSamples {
    /// Samples lost.
    pub lost: u64,
}

/// `PERF_RECORD_SWITCH` (no body) and `PERF_RECORD_SWITCH_CPU_WIDE`
/// (`{ u32 next_prev_pid, next_prev_tid; }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    /// `misc & SWITCH_OUT`: switched out (else in).
    pub out: bool,
    /// `misc & SWITCH_OUT_PREEMPT`: switched out while runnable.
    pub preempt: bool,
    /// CPU-wide only: the task switched to (when out) or from (when in), as (pid, tid).
    pub next_prev: Option<(u32, u32)>,
}

/// One namespace of a NAMESPACES record: `{ u64 dev; u64 inode; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamespaceLink {
    /// Device of nsfs.
    pub dev: u64,
    /// Inode of the namespace.
    pub inode: u64,
}

/// `PERF_RECORD_NAMESPACES`: `{ u32 pid, tid; u64 nr_namespaces; { u64 dev, inode; }
/// link_info[nr_namespaces]; }`, indexed by `NET_NS_INDEX` (0), UTS, IPC, PID, USER, MNT,
/// CGROUP, TIME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespaces {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// The namespaces.
    pub links: Vec<NamespaceLink>,
}

/// `PERF_RECORD_KSYMBOL`: `{ u64 addr; u32 len; u16 ksym_type; u16 flags; char name[]; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ksymbol<'a> {
    /// Symbol address.
    pub addr: u64,
    /// Symbol length.
    pub len: u32,
    /// `PERF_RECORD_KSYMBOL_TYPE_*`: 1 BPF, 2 out-of-line code.
    pub ksym_type: u16,
    /// `PERF_RECORD_KSYMBOL_FLAGS_UNREGISTER` (1).
    pub flags: u16,
    /// Symbol name.
    pub name: &'a [u8],
}

/// `PERF_RECORD_BPF_EVENT`: `{ u16 type; u16 flags; u32 id; u8 tag[8]; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfEvent {
    /// `PERF_BPF_EVENT_*`: 1 PROG_LOAD, 2 PROG_UNLOAD.
    pub event_type: u16,
    /// Flags.
    pub flags: u16,
    /// BPF program id.
    pub id: u32,
    /// BPF program tag.
    pub tag: [u8; 8],
}

/// `PERF_RECORD_CGROUP`: `{ u64 id; char path[]; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cgroup<'a> {
    /// Cgroup id.
    pub id: u64,
    /// Cgroup path.
    pub path: &'a [u8],
}

/// `PERF_RECORD_TEXT_POKE`: `{ u64 addr; u16 old_len; u16 new_len; u8 bytes[]; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextPoke<'a> {
    /// Address of the change.
    pub addr: u64,
    /// The bytes before.
    pub old_bytes: &'a [u8],
    /// The bytes after.
    pub new_bytes: &'a [u8],
}

/// `PERF_RECORD_AUX_OUTPUT_HW_ID`: `{ u64 hw_id; }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxOutputHwId {
    /// The hardware id.
    pub hw_id: u64,
}

/// `PERF_RECORD_CALLCHAIN_DEFERRED`: `{ u64 cookie; u64 nr; u64 ips[nr]; }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallchainDeferred {
    /// Matches the cookie of the samples this chain completes.
    pub cookie: u64,
    /// The user callchain.
    pub ips: Vec<u64>,
}

/// Bytes at the end of a string-carrying record: the kernel pads to 8 bytes.
fn padding_ok(c: &Cursor<'_>) -> Result<(), ParseError> {
    if c.remaining() < 8 {
        Ok(())
    } else {
        c.finish("the record body")
    }
}

pub(crate) fn mmap<'a>(c: &mut Cursor<'a>, misc_bits: u16) -> Result<Mmap<'a>, ParseError> {
    Ok(Mmap {
        pid: c.u32("pid")?,
        tid: c.u32("tid")?,
        addr: c.u64("addr")?,
        len: c.u64("len")?,
        pgoff: c.u64("pgoff")?,
        data: misc_bits & misc::MMAP_DATA != 0,
        filename: c.c_string_rest("filename")?,
    })
}

pub(crate) fn mmap2<'a>(c: &mut Cursor<'a>, misc_bits: u16) -> Result<Mmap2<'a>, ParseError> {
    let pid = c.u32("pid")?;
    let tid = c.u32("tid")?;
    let addr = c.u64("addr")?;
    let len = c.u64("len")?;
    let pgoff = c.u64("pgoff")?;
    let file_id = if misc_bits & misc::MMAP_BUILD_ID != 0 {
        let size = c.u8("build_id_size")?;
        c.take(3, "build_id reserved")?;
        let raw = c.take(20, "build_id")?;
        let id = raw
            .get(..usize::from(size))
            .and_then(BuildId::new)
            .ok_or_else(|| c.inconsistent(format!("build_id_size {size} exceeds 20")))?;
        FileId::BuildId(id)
    } else {
        FileId::Inode {
            maj: c.u32("maj")?,
            min: c.u32("min")?,
            ino: c.u64("ino")?,
            ino_generation: c.u64("ino_generation")?,
        }
    };
    Ok(Mmap2 {
        pid,
        tid,
        addr,
        len,
        pgoff,
        file_id,
        prot: c.u32("prot")?,
        flags: c.u32("flags")?,
        data: misc_bits & misc::MMAP_DATA != 0,
        filename: c.c_string_rest("filename")?,
    })
}

pub(crate) fn lost(c: &mut Cursor<'_>) -> Result<Lost, ParseError> {
    let v = Lost {
        id: c.u64("id")?,
        lost: c.u64("lost")?,
    };
    c.finish("LOST's fields")?;
    Ok(v)
}

pub(crate) fn comm<'a>(c: &mut Cursor<'a>, misc_bits: u16) -> Result<Comm<'a>, ParseError> {
    Ok(Comm {
        pid: c.u32("pid")?,
        tid: c.u32("tid")?,
        exec: misc_bits & misc::COMM_EXEC != 0,
        comm: c.c_string_rest("comm")?,
    })
}

pub(crate) fn task(c: &mut Cursor<'_>) -> Result<TaskEvent, ParseError> {
    let v = TaskEvent {
        pid: c.u32("pid")?,
        ppid: c.u32("ppid")?,
        tid: c.u32("tid")?,
        ptid: c.u32("ptid")?,
        time: c.u64("time")?,
    };
    c.finish("the task fields")?;
    Ok(v)
}

pub(crate) fn throttle(c: &mut Cursor<'_>) -> Result<Throttle, ParseError> {
    let v = Throttle {
        time: c.u64("time")?,
        id: c.u64("id")?,
        stream_id: c.u64("stream_id")?,
    };
    c.finish("the throttle fields")?;
    Ok(v)
}

pub(crate) fn read(c: &mut Cursor<'_>, read_format: u64) -> Result<Read, ParseError> {
    let pid = c.u32("pid")?;
    let tid = c.u32("tid")?;
    let values = ReadValues::read(c, read_format)?;
    c.finish("the read_format values")?;
    Ok(Read { pid, tid, values })
}

pub(crate) fn aux(c: &mut Cursor<'_>) -> Result<Aux, ParseError> {
    let v = Aux {
        aux_offset: c.u64("aux_offset")?,
        aux_size: c.u64("aux_size")?,
        flags: c.u64("flags")?,
    };
    c.finish("AUX's fields")?;
    Ok(v)
}

pub(crate) fn itrace_start(c: &mut Cursor<'_>) -> Result<ItraceStart, ParseError> {
    let v = ItraceStart {
        pid: c.u32("pid")?,
        tid: c.u32("tid")?,
    };
    c.finish("ITRACE_START's fields")?;
    Ok(v)
}

pub(crate) fn lost_samples(c: &mut Cursor<'_>) -> Result<LostSamples, ParseError> {
    let v = LostSamples {
        lost: c.u64("lost")?,
    };
    c.finish("LOST_SAMPLES's fields")?;
    Ok(v)
}

pub(crate) fn switch(
    c: &mut Cursor<'_>,
    misc_bits: u16,
    cpu_wide: bool,
) -> Result<Switch, ParseError> {
    let next_prev = if cpu_wide {
        Some((c.u32("next_prev_pid")?, c.u32("next_prev_tid")?))
    } else {
        None
    };
    c.finish("the switch fields")?;
    Ok(Switch {
        out: misc_bits & misc::SWITCH_OUT != 0,
        preempt: misc_bits & misc::SWITCH_OUT_PREEMPT != 0,
        next_prev,
    })
}

pub(crate) fn namespaces(c: &mut Cursor<'_>) -> Result<Namespaces, ParseError> {
    let pid = c.u32("pid")?;
    let tid = c.u32("tid")?;
    let nr = c.u64("nr_namespaces")?;
    let words = nr
        .checked_mul(2)
        .ok_or_else(|| c.inconsistent(format!("nr_namespaces {nr} overflows")))?;
    let flat = c.u64_array(words, "link_info")?;
    c.finish("the namespaces")?;
    let links = flat
        .chunks_exact(2)
        .map(|l| NamespaceLink {
            dev: l[0],
            inode: l[1],
        })
        .collect();
    Ok(Namespaces { pid, tid, links })
}

pub(crate) fn ksymbol<'a>(c: &mut Cursor<'a>) -> Result<Ksymbol<'a>, ParseError> {
    Ok(Ksymbol {
        addr: c.u64("addr")?,
        len: c.u32("len")?,
        ksym_type: c.u16("ksym_type")?,
        flags: c.u16("flags")?,
        name: c.c_string_rest("name")?,
    })
}

pub(crate) fn bpf_event(c: &mut Cursor<'_>) -> Result<BpfEvent, ParseError> {
    let v = BpfEvent {
        event_type: c.u16("type")?,
        flags: c.u16("flags")?,
        id: c.u32("id")?,
        tag: c.bytes8("tag")?,
    };
    c.finish("BPF_EVENT's fields")?;
    Ok(v)
}

pub(crate) fn cgroup<'a>(c: &mut Cursor<'a>) -> Result<Cgroup<'a>, ParseError> {
    Ok(Cgroup {
        id: c.u64("id")?,
        path: c.c_string_rest("path")?,
    })
}

pub(crate) fn text_poke<'a>(c: &mut Cursor<'a>) -> Result<TextPoke<'a>, ParseError> {
    let addr = c.u64("addr")?;
    let old_len = c.u16("old_len")?;
    let new_len = c.u16("new_len")?;
    let old_bytes = c.take(usize::from(old_len), "old bytes")?;
    let new_bytes = c.take(usize::from(new_len), "new bytes")?;
    padding_ok(c)?;
    Ok(TextPoke {
        addr,
        old_bytes,
        new_bytes,
    })
}

pub(crate) fn aux_output_hw_id(c: &mut Cursor<'_>) -> Result<AuxOutputHwId, ParseError> {
    let v = AuxOutputHwId {
        hw_id: c.u64("hw_id")?,
    };
    c.finish("AUX_OUTPUT_HW_ID's fields")?;
    Ok(v)
}

pub(crate) fn callchain_deferred(c: &mut Cursor<'_>) -> Result<CallchainDeferred, ParseError> {
    let cookie = c.u64("cookie")?;
    let nr = c.u64("nr")?;
    let ips = c.u64_array(nr, "ips")?;
    c.finish("the deferred callchain")?;
    Ok(CallchainDeferred { cookie, ips })
}
