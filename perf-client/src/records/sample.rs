//! `PERF_RECORD_SAMPLE`, parsed field by field in the uapi's order.

use super::bits::{branch, sample as st};
use super::cursor::Cursor;
use super::error::ParseError;
use super::format::EventFormat;
use super::read_values::ReadValues;

/// A sample. Each field is `Some` exactly when its `sample_type` bit is set. The record
/// lays them out in this order (which is not bit order): IDENTIFIER, IP, TID, TIME, ADDR,
/// ID, STREAM_ID, CPU, PERIOD, READ, CALLCHAIN, RAW, BRANCH_STACK, REGS_USER, STACK_USER,
/// WEIGHT / WEIGHT_STRUCT, DATA_SRC, TRANSACTION, REGS_INTR, PHYS_ADDR, CGROUP,
/// DATA_PAGE_SIZE, CODE_PAGE_SIZE, AUX.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample<'a> {
    /// `PERF_SAMPLE_IDENTIFIER`: the event's id, first.
    pub identifier: Option<u64>,
    /// `PERF_SAMPLE_IP`: instruction pointer.
    pub ip: Option<u64>,
    /// `PERF_SAMPLE_TID`: process id.
    pub pid: Option<u32>,
    /// `PERF_SAMPLE_TID`: thread id.
    pub tid: Option<u32>,
    /// `PERF_SAMPLE_TIME`: timestamp.
    pub time: Option<u64>,
    /// `PERF_SAMPLE_ADDR`: the data address (page fault address, memory access).
    pub addr: Option<u64>,
    /// `PERF_SAMPLE_ID`: the event's id.
    pub id: Option<u64>,
    /// `PERF_SAMPLE_STREAM_ID`: id of the event this one was inherited from.
    pub stream_id: Option<u64>,
    /// `PERF_SAMPLE_CPU`: the CPU.
    pub cpu: Option<u32>,
    /// `PERF_SAMPLE_PERIOD`: the sample period.
    pub period: Option<u64>,
    /// `PERF_SAMPLE_READ`: counter values in `attr.read_format`'s layout.
    pub read: Option<ReadValues>,
    /// `PERF_SAMPLE_CALLCHAIN`: return addresses, interleaved with `PERF_CONTEXT_*`
    /// markers (values ≥ `(u64)-4095`).
    pub callchain: Option<Vec<u64>>,
    /// `PERF_SAMPLE_RAW`: raw data (a tracepoint's fields), padding included.
    pub raw: Option<&'a [u8]>,
    /// `PERF_SAMPLE_BRANCH_STACK`: last branch records.
    pub branch_stack: Option<BranchStack>,
    /// `PERF_SAMPLE_REGS_USER`: user registers selected by `attr.sample_regs_user`.
    pub regs_user: Option<Regs>,
    /// `PERF_SAMPLE_STACK_USER`: a copy of the user stack.
    pub stack_user: Option<StackUser<'a>>,
    /// `PERF_SAMPLE_WEIGHT` or `PERF_SAMPLE_WEIGHT_STRUCT`.
    pub weight: Option<Weight>,
    /// `PERF_SAMPLE_DATA_SRC`: `union perf_mem_data_src`.
    pub data_src: Option<u64>,
    /// `PERF_SAMPLE_TRANSACTION`: transaction abort flags and code.
    pub transaction: Option<u64>,
    /// `PERF_SAMPLE_REGS_INTR`: registers at the interrupt, selected by
    /// `attr.sample_regs_intr`.
    pub regs_intr: Option<Regs>,
    /// `PERF_SAMPLE_PHYS_ADDR`: physical address of `addr`.
    pub phys_addr: Option<u64>,
    /// `PERF_SAMPLE_CGROUP`: cgroup id (of the perf_event cgroup hierarchy).
    pub cgroup: Option<u64>,
    /// `PERF_SAMPLE_DATA_PAGE_SIZE`: page size backing `addr`.
    pub data_page_size: Option<u64>,
    /// `PERF_SAMPLE_CODE_PAGE_SIZE`: page size backing `ip`.
    pub code_page_size: Option<u64>,
    /// `PERF_SAMPLE_AUX`: a snapshot of the AUX area, last in the record.
    pub aux: Option<&'a [u8]>,
}

/// One branch record: `struct perf_branch_entry`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BranchEntry {
    /// Branch source.
    pub from: u64,
    /// Branch target.
    pub to: u64,
    /// Bit field: mispred, predicted, in_tx, abort, cycles, type, spec, ...
    pub flags: u64,
}

/// `PERF_SAMPLE_BRANCH_STACK`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchStack {
    /// `PERF_SAMPLE_BRANCH_HW_INDEX` in `branch_sample_type`: the hardware LBR index
    /// (`(u64)-1` when unknown).
    pub hw_idx: Option<u64>,
    /// The branch entries, most recent first.
    pub entries: Vec<BranchEntry>,
    /// `PERF_SAMPLE_BRANCH_COUNTERS` in `branch_sample_type`: one counter word per entry.
    pub counters: Option<Vec<u64>>,
}

/// REGS_USER / REGS_INTR.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Regs {
    /// `enum perf_sample_regs_abi`: 0 = none captured (and `values` is empty), 1 = 32-bit,
    /// 2 = 64-bit.
    pub abi: u64,
    /// The attr's register mask: bit i set means register i is in `values`, in bit order.
    pub mask: u64,
    /// The register values, lowest mask bit first.
    pub values: Vec<u64>,
}

impl Regs {
    /// The value of register `reg` (its bit number in the mask), if captured.
    pub fn get(&self, reg: u32) -> Option<u64> {
        if reg >= 64 || self.mask & (1 << reg) == 0 {
            return None;
        }
        let below = (self.mask & ((1u64 << reg) - 1)).count_ones() as usize;
        self.values.get(below).copied()
    }
}

/// `PERF_SAMPLE_STACK_USER`: `{ u64 size; char data[size]; u64 dyn_size; }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackUser<'a> {
    /// The copied stack area (`attr.sample_stack_user` bytes; only `dyn_size` are valid).
    pub data: &'a [u8],
    /// Bytes actually copied (absent, 0, when `size` is 0).
    pub dyn_size: u64,
}

impl<'a> StackUser<'a> {
    /// The valid part of the stack copy.
    pub fn valid(&self) -> &'a [u8] {
        let n = usize::try_from(self.dyn_size)
            .unwrap_or(usize::MAX)
            .min(self.data.len());
        &self.data[..n]
    }
}

/// `union perf_sample_weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    /// `PERF_SAMPLE_WEIGHT`: one u64.
    Full(u64),
    /// `PERF_SAMPLE_WEIGHT_STRUCT`: `{ u32 var1_dw; u16 var2_w; u16 var3_w; }` (on x86:
    /// latency, instruction latency, retire latency).
    Struct {
        /// First weight (u32).
        var1_dw: u32,
        /// Second weight (u16).
        var2_w: u16,
        /// Third weight (u16).
        var3_w: u16,
    },
}

impl<'a> Sample<'a> {
    /// Parses a SAMPLE's body (`c` starts right after the header) with `format`.
    ///
    /// Reads into `s` (all `None`): the parser reads straight into the record's box, so
    /// the large struct is never moved.
    pub(crate) fn read_into(
        c: &mut Cursor<'a>,
        format: &EventFormat,
        s: &mut Sample<'a>,
    ) -> Result<(), ParseError> {
        let has = |b: u64| format.sample_type & b != 0;
        if has(st::IDENTIFIER) {
            s.identifier = Some(c.u64("identifier")?);
        }
        if has(st::IP) {
            s.ip = Some(c.u64("ip")?);
        }
        if has(st::TID) {
            s.pid = Some(c.u32("pid")?);
            s.tid = Some(c.u32("tid")?);
        }
        if has(st::TIME) {
            s.time = Some(c.u64("time")?);
        }
        if has(st::ADDR) {
            s.addr = Some(c.u64("addr")?);
        }
        if has(st::ID) {
            s.id = Some(c.u64("id")?);
        }
        if has(st::STREAM_ID) {
            s.stream_id = Some(c.u64("stream_id")?);
        }
        if has(st::CPU) {
            s.cpu = Some(c.u32("cpu")?);
            c.u32("cpu res")?;
        }
        if has(st::PERIOD) {
            s.period = Some(c.u64("period")?);
        }
        if has(st::READ) {
            s.read = Some(ReadValues::read(c, format.read_format)?);
        }
        if has(st::CALLCHAIN) {
            let nr = c.u64("callchain nr")?;
            s.callchain = Some(c.u64_array(nr, "callchain ips")?);
        }
        if has(st::RAW) {
            let size = c.u32("raw size")?;
            s.raw = Some(c.take_u64_len(u64::from(size), "raw data")?);
        }
        if has(st::BRANCH_STACK) {
            s.branch_stack = Some(read_branch_stack(c, format.branch_sample_type)?);
        }
        if has(st::REGS_USER) {
            s.regs_user = Some(read_regs(c, format.sample_regs_user, "regs_user")?);
        }
        if has(st::STACK_USER) {
            let size = c.u64("stack_user size")?;
            let data = c.take_u64_len(size, "stack_user data")?;
            let dyn_size = if size != 0 {
                c.u64("stack_user dyn_size")?
            } else {
                0
            };
            if dyn_size > size {
                return Err(c.inconsistent(format!(
                    "stack_user dyn_size {dyn_size} exceeds its size {size}"
                )));
            }
            s.stack_user = Some(StackUser { data, dyn_size });
        }
        if has(st::WEIGHT) {
            s.weight = Some(Weight::Full(c.u64("weight")?));
        } else if has(st::WEIGHT_STRUCT) {
            let b = c.bytes8("weight struct")?;
            s.weight = Some(Weight::Struct {
                var1_dw: u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                var2_w: u16::from_ne_bytes([b[4], b[5]]),
                var3_w: u16::from_ne_bytes([b[6], b[7]]),
            });
        }
        if has(st::DATA_SRC) {
            s.data_src = Some(c.u64("data_src")?);
        }
        if has(st::TRANSACTION) {
            s.transaction = Some(c.u64("transaction")?);
        }
        if has(st::REGS_INTR) {
            s.regs_intr = Some(read_regs(c, format.sample_regs_intr, "regs_intr")?);
        }
        if has(st::PHYS_ADDR) {
            s.phys_addr = Some(c.u64("phys_addr")?);
        }
        if has(st::CGROUP) {
            s.cgroup = Some(c.u64("cgroup")?);
        }
        if has(st::DATA_PAGE_SIZE) {
            s.data_page_size = Some(c.u64("data_page_size")?);
        }
        if has(st::CODE_PAGE_SIZE) {
            s.code_page_size = Some(c.u64("code_page_size")?);
        }
        if has(st::AUX) {
            let size = c.u64("aux size")?;
            s.aux = Some(c.take_u64_len(size, "aux data")?);
        }
        c.finish("every sample_type field")?;
        Ok(())
    }

    /// The event id, from IDENTIFIER or ID.
    pub fn event_id(&self) -> Option<u64> {
        self.identifier.or(self.id)
    }
}

fn read_regs(c: &mut Cursor<'_>, mask: u64, field: &'static str) -> Result<Regs, ParseError> {
    let abi = c.u64(field)?;
    let values = if abi == super::bits::regs_abi::NONE {
        Vec::new()
    } else {
        c.u64_array(u64::from(mask.count_ones()), field)?
    };
    Ok(Regs { abi, mask, values })
}

fn read_branch_stack(
    c: &mut Cursor<'_>,
    branch_sample_type: u64,
) -> Result<BranchStack, ParseError> {
    let nr = c.u64("branch_stack nr")?;
    let hw_idx = if branch_sample_type & branch::HW_INDEX != 0 {
        Some(c.u64("branch_stack hw_idx")?)
    } else {
        None
    };
    let words = nr
        .checked_mul(3)
        .ok_or_else(|| c.inconsistent(format!("branch_stack nr {nr} overflows")))?;
    let flat = c.u64_array(words, "branch_stack entries")?;
    let entries = flat
        .chunks_exact(3)
        .map(|e| BranchEntry {
            from: e[0],
            to: e[1],
            flags: e[2],
        })
        .collect();
    let counters = if branch_sample_type & branch::COUNTERS != 0 {
        Some(c.u64_array(nr, "branch_stack counters")?)
    } else {
        None
    };
    Ok(BranchStack {
        hw_idx,
        entries,
        counters,
    })
}
