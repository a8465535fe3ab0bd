//! Bit values of `attr.sample_type` (`PERF_SAMPLE_*`), `attr.read_format`
//! (`PERF_FORMAT_*`) and the `attr.branch_sample_type` bits that change the sample
//! layout, from `include/uapi/linux/perf_event.h`.

/// `attr.sample_type` bits. The SAMPLE record carries the selected fields in the uapi's
/// order, which is *not* bit order (see [`crate::records::Sample`]).
pub mod sample {
    /// `{ u64 ip; }`
    pub const IP: u64 = 1 << 0;
    /// `{ u32 pid, tid; }`
    pub const TID: u64 = 1 << 1;
    /// `{ u64 time; }`
    pub const TIME: u64 = 1 << 2;
    /// `{ u64 addr; }`
    pub const ADDR: u64 = 1 << 3;
    /// `{ struct read_format values; }`
    pub const READ: u64 = 1 << 4;
    /// `{ u64 nr; u64 ips[nr]; }`
    pub const CALLCHAIN: u64 = 1 << 5;
    /// `{ u64 id; }`
    pub const ID: u64 = 1 << 6;
    /// `{ u32 cpu, res; }`
    pub const CPU: u64 = 1 << 7;
    /// `{ u64 period; }`
    pub const PERIOD: u64 = 1 << 8;
    /// `{ u64 stream_id; }`
    pub const STREAM_ID: u64 = 1 << 9;
    /// `{ u32 size; char data[size]; }`
    pub const RAW: u64 = 1 << 10;
    /// `{ u64 nr; [u64 hw_idx;] { u64 from, to, flags; } lbr[nr]; [u64 cntr[nr]]; }`
    pub const BRANCH_STACK: u64 = 1 << 11;
    /// `{ u64 abi; u64 regs[weight(sample_regs_user)]; }`
    pub const REGS_USER: u64 = 1 << 12;
    /// `{ u64 size; char data[size]; u64 dyn_size; }`
    pub const STACK_USER: u64 = 1 << 13;
    /// `{ u64 weight; }`
    pub const WEIGHT: u64 = 1 << 14;
    /// `{ u64 data_src; }`
    pub const DATA_SRC: u64 = 1 << 15;
    /// `{ u64 id; }` first in a SAMPLE and last in a `sample_id` trailer.
    pub const IDENTIFIER: u64 = 1 << 16;
    /// `{ u64 transaction; }`
    pub const TRANSACTION: u64 = 1 << 17;
    /// `{ u64 abi; u64 regs[weight(sample_regs_intr)]; }`
    pub const REGS_INTR: u64 = 1 << 18;
    /// `{ u64 phys_addr; }`
    pub const PHYS_ADDR: u64 = 1 << 19;
    /// `{ u64 size; char data[size]; }`, last in the record.
    pub const AUX: u64 = 1 << 20;
    /// `{ u64 cgroup; }`
    pub const CGROUP: u64 = 1 << 21;
    /// `{ u64 data_page_size; }`
    pub const DATA_PAGE_SIZE: u64 = 1 << 22;
    /// `{ u64 code_page_size; }`
    pub const CODE_PAGE_SIZE: u64 = 1 << 23;
    /// `{ u32 var1_dw; u16 var2_w; u16 var3_w; }` in the WEIGHT slot.
    pub const WEIGHT_STRUCT: u64 = 1 << 24;
    /// `PERF_SAMPLE_WEIGHT_TYPE`: either weight form.
    pub const WEIGHT_TYPE: u64 = WEIGHT | WEIGHT_STRUCT;
    /// Every bit this parser knows (`PERF_SAMPLE_MAX - 1`).
    pub const ALL: u64 = (1 << 25) - 1;
}

/// `attr.read_format` bits (the layout of `read(2)` on the event fd, of READ records and
/// of the READ part of samples).
pub mod read_format {
    /// `{ u64 time_enabled; }`
    pub const TOTAL_TIME_ENABLED: u64 = 1 << 0;
    /// `{ u64 time_running; }`
    pub const TOTAL_TIME_RUNNING: u64 = 1 << 1;
    /// `{ u64 id; }` after each value.
    pub const ID: u64 = 1 << 2;
    /// Read the whole group: `{ u64 nr; ...; { value, id, lost } cntr[nr]; }`.
    pub const GROUP: u64 = 1 << 3;
    /// `{ u64 lost; }` after each value: samples the kernel could not write (Linux 6.0).
    pub const LOST: u64 = 1 << 4;
    /// Every bit this parser knows.
    pub const ALL: u64 = (1 << 5) - 1;
}

/// `attr.branch_sample_type` bits that change the BRANCH_STACK layout.
pub mod branch {
    /// `PERF_SAMPLE_BRANCH_HW_INDEX`: a `u64 hw_idx` follows `nr`.
    pub const HW_INDEX: u64 = 1 << 17;
    /// `PERF_SAMPLE_BRANCH_COUNTERS`: `u64 cntr[nr]` follows the entries (Linux 6.8).
    pub const COUNTERS: u64 = 1 << 19;
}

/// `abi` values of REGS_USER / REGS_INTR (`enum perf_sample_regs_abi`).
pub mod regs_abi {
    /// No registers were captured (e.g. a kernel thread for REGS_USER); no values follow.
    pub const NONE: u64 = 0;
    /// 32-bit registers.
    pub const ABI_32: u64 = 1;
    /// 64-bit registers.
    pub const ABI_64: u64 = 2;
}

/// `sample_type` bit names (lower-case uapi names without `PERF_SAMPLE_`), in bit order.
pub const SAMPLE_NAMES: &[(&str, u64)] = &[
    ("ip", sample::IP),
    ("tid", sample::TID),
    ("time", sample::TIME),
    ("addr", sample::ADDR),
    ("read", sample::READ),
    ("callchain", sample::CALLCHAIN),
    ("id", sample::ID),
    ("cpu", sample::CPU),
    ("period", sample::PERIOD),
    ("stream_id", sample::STREAM_ID),
    ("raw", sample::RAW),
    ("branch_stack", sample::BRANCH_STACK),
    ("regs_user", sample::REGS_USER),
    ("stack_user", sample::STACK_USER),
    ("weight", sample::WEIGHT),
    ("data_src", sample::DATA_SRC),
    ("identifier", sample::IDENTIFIER),
    ("transaction", sample::TRANSACTION),
    ("regs_intr", sample::REGS_INTR),
    ("phys_addr", sample::PHYS_ADDR),
    ("aux", sample::AUX),
    ("cgroup", sample::CGROUP),
    ("data_page_size", sample::DATA_PAGE_SIZE),
    ("code_page_size", sample::CODE_PAGE_SIZE),
    ("weight_struct", sample::WEIGHT_STRUCT),
];

/// `read_format` bit names (lower-case uapi names without `PERF_FORMAT_`).
pub const READ_FORMAT_NAMES: &[(&str, u64)] = &[
    ("total_time_enabled", read_format::TOTAL_TIME_ENABLED),
    ("total_time_running", read_format::TOTAL_TIME_RUNNING),
    ("id", read_format::ID),
    ("group", read_format::GROUP),
    ("lost", read_format::LOST),
];

/// Parses a comma-separated list of names from `table` into bits; the unknown name on
/// failure.
pub fn parse_names(list: &str, table: &[(&str, u64)]) -> Result<u64, String> {
    let mut bits = 0;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let lower = name.to_ascii_lowercase();
        let (_, b) = table
            .iter()
            .find(|(n, _)| *n == lower)
            .ok_or_else(|| name.to_string())?;
        bits |= b;
    }
    Ok(bits)
}
