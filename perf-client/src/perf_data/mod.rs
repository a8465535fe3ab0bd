//! perf.data files in file mode (`tools/perf/Documentation/perf.data-file-format.txt`,
//! `tools/perf/util/header.c`): a [`writer`] that stages ring bytes and writes them as they are, and a
//! [`reader`] that checks every size it is given and reports the file offset of whatever
//! is wrong.
//!
//! Layout written here (perf's own order):
//!
//! ```text
//! 0                 perf_file_header (104 bytes, "PERFILE2")
//! 104               ids arrays (u64 per event instance)
//! ..                attrs section: one perf_file_attr {attr (ATTR_SIZE bytes), ids section}
//! data.offset       records, 8-byte aligned
//! data.offset+size  feature table: one perf_file_section per set bit, ascending
//! ..                feature payloads
//! ```

#![forbid(unsafe_code)]

pub mod attr;
pub mod compressed;
mod error;
pub mod features;
pub mod header;
pub mod pipe;
pub mod reader;
pub mod recover;
pub mod source;
mod staged;
pub mod stream;
pub mod tracing_data;
pub mod writer;

pub use attr::FileAttr;
pub use error::PerfDataError;
pub use features::{BuildId, EventDesc, HostFeatures};
pub use header::{FileHeader, FileSection};
pub use reader::{PerfData, RawRecord};
pub use source::ReadAt;
pub use stream::{DataChunk, StreamOptions};
pub use writer::{EventEntry, PerfDataWriter, WriteSummary};

/// `PERF_RECORD_*` types as `u32` (for matching `RecordHeader::record_type`): the record
/// parser's table ([`crate::records::RecordType`]), plus perf-tool types of the file.
pub mod record_type {
    use crate::records::RecordType;

    /// `PERF_RECORD_MMAP`.
    pub const MMAP: u32 = RecordType::MMAP.0;
    /// `PERF_RECORD_LOST`: `{ u64 id; u64 lost; }`.
    pub const LOST: u32 = RecordType::LOST.0;
    /// `PERF_RECORD_COMM`.
    pub const COMM: u32 = RecordType::COMM.0;
    /// `PERF_RECORD_EXIT`.
    pub const EXIT: u32 = RecordType::EXIT.0;
    /// `PERF_RECORD_FORK`.
    pub const FORK: u32 = RecordType::FORK.0;
    /// `PERF_RECORD_SAMPLE`.
    pub const SAMPLE: u32 = RecordType::SAMPLE.0;
    /// `PERF_RECORD_MMAP2`.
    pub const MMAP2: u32 = RecordType::MMAP2.0;
    /// `PERF_RECORD_LOST_SAMPLES`: `{ u64 lost; }`.
    pub const LOST_SAMPLES: u32 = RecordType::LOST_SAMPLES.0;
    /// `PERF_RECORD_FINISHED_ROUND` (perf tool): everything before it may be sorted.
    pub const FINISHED_ROUND: u32 = 68;
}

/// `PERF_RECORD_MISC_*` bits: the record parser's ([`crate::records::misc`]), plus the
/// one the BUILD_ID feature gives a meaning of its own.
pub mod misc {
    pub use crate::records::misc::*;
    /// `PERF_RECORD_MISC_BUILD_ID_SIZE`: the build-id record carries its size byte (the
    /// bit the kernel reserves as `EXT_RESERVED`).
    pub const BUILD_ID_SIZE: u16 = EXT_RESERVED;
}

/// `PERF_SAMPLE_*` bits of `perf_event_attr.sample_type` (the record parser's table).
pub use crate::records::bits::sample as sample_type;

/// Feature bits of the header bitmap (`enum HEADER_*` in `tools/perf/util/header.h`).
pub mod feature {
    /// `HEADER_TRACING_DATA`: tracefs formats; required when tracepoints are recorded.
    pub const TRACING_DATA: u32 = 1;
    /// `HEADER_BUILD_ID`: build-id records for the DSOs.
    pub const BUILD_ID: u32 = 2;
    /// `HEADER_HOSTNAME`.
    pub const HOSTNAME: u32 = 3;
    /// `HEADER_OSRELEASE`.
    pub const OSRELEASE: u32 = 4;
    /// `HEADER_VERSION` (perf's version string).
    pub const VERSION: u32 = 5;
    /// `HEADER_ARCH`.
    pub const ARCH: u32 = 6;
    /// `HEADER_NRCPUS`: `{ u32 nr_cpus_avail; u32 nr_cpus_online; }`.
    pub const NRCPUS: u32 = 7;
    /// `HEADER_CMDLINE`: a string list.
    pub const CMDLINE: u32 = 11;
    /// `HEADER_EVENT_DESC`: attrs with names and ids.
    pub const EVENT_DESC: u32 = 12;
    /// `HEADER_GROUP_DESC`: the event groups (`{a,b}`): name, leader index, members.
    pub const GROUP_DESC: u32 = 17;
    /// The number of bits in the header bitmap.
    pub const BITS: u32 = 256;
}

/// `attr.size` written to files: `PERF_ATTR_SIZE_VER7` (Linux 5.13, `sig_data`). perf
/// rejects attrs larger than its own struct ("more recent and unsupported ABI"), and
/// perf 6.1 knows VER7; nothing this project sets lies past it.
pub const ATTR_SIZE: usize = 128;
/// Bytes per attrs-section entry: the attr and its ids section.
pub const FILE_ATTR_SIZE: usize = ATTR_SIZE + 16;
/// The smallest attr a file may carry (`PERF_ATTR_SIZE_VER0`; `size == 0` means this).
pub const ATTR_SIZE_VER0: usize = 64;
/// perf pads header strings to this (`NAME_ALIGN`).
pub const NAME_ALIGN: usize = 64;
