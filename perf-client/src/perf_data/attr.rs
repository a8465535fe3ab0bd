//! `struct perf_event_attr` as bytes in a file: a fixed [`ATTR_SIZE`] image with typed
//! accessors for the fields a reader needs.

use super::{PerfDataError, ATTR_SIZE, ATTR_SIZE_VER0};

/// Offsets of `perf_event_attr` fields (`include/uapi/linux/perf_event.h`).
mod off {
    pub const TYPE: usize = 0;
    pub const SIZE: usize = 4;
    pub const CONFIG: usize = 8;
    pub const SAMPLE_PERIOD: usize = 16;
    pub const SAMPLE_TYPE: usize = 24;
    pub const READ_FORMAT: usize = 32;
    pub const FLAGS: usize = 40;
}

/// Bits of the flags word at offset 40.
pub mod flag {
    /// `disabled`.
    pub const DISABLED: u64 = 1 << 0;
    /// `inherit`.
    pub const INHERIT: u64 = 1 << 1;
    /// `exclude_user`.
    pub const EXCLUDE_USER: u64 = 1 << 4;
    /// `exclude_kernel`.
    pub const EXCLUDE_KERNEL: u64 = 1 << 5;
    /// `exclude_hv`.
    pub const EXCLUDE_HV: u64 = 1 << 6;
    /// `mmap`.
    pub const MMAP: u64 = 1 << 8;
    /// `comm`.
    pub const COMM: u64 = 1 << 9;
    /// `freq`: `sample_period` is a frequency.
    pub const FREQ: u64 = 1 << 10;
    /// `enable_on_exec`.
    pub const ENABLE_ON_EXEC: u64 = 1 << 12;
    /// `task`.
    pub const TASK: u64 = 1 << 13;
    /// `sample_id_all`.
    pub const SAMPLE_ID_ALL: u64 = 1 << 18;
    /// `mmap2`.
    pub const MMAP2: u64 = 1 << 23;
    /// `comm_exec`.
    pub const COMM_EXEC: u64 = 1 << 24;
    /// `write_backward`.
    pub const WRITE_BACKWARD: u64 = 1 << 27;
}

/// `PERF_TYPE_TRACEPOINT`.
pub const TYPE_TRACEPOINT: u32 = 2;

/// A `perf_event_attr` image of exactly [`ATTR_SIZE`] bytes, `size` field included.
#[derive(Clone, PartialEq, Eq)]
pub struct FileAttr {
    raw: [u8; ATTR_SIZE],
}

impl core::fmt::Debug for FileAttr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FileAttr")
            .field("type", &self.type_())
            .field("config", &self.config())
            .field("sample_period", &self.sample_period())
            .field("sample_type", &format_args!("{:#x}", self.sample_type()))
            .field("read_format", &format_args!("{:#x}", self.read_format()))
            .field("flags", &format_args!("{:#x}", self.flags()))
            .finish()
    }
}

impl FileAttr {
    /// An all-zero attr with `size` = [`ATTR_SIZE`].
    pub fn zeroed() -> Self {
        let mut a = FileAttr {
            raw: [0; ATTR_SIZE],
        };
        a.put_u32(off::SIZE, ATTR_SIZE as u32);
        a
    }

    /// Takes the attr bytes the kernel was given (any `size`), truncating them to
    /// [`ATTR_SIZE`] and setting `size` accordingly.
    ///
    /// # Errors
    ///
    /// [`PerfDataError::Invalid`] when a byte past [`ATTR_SIZE`] is set (a field that
    /// perf 6.1 would not know), or the image is shorter than `PERF_ATTR_SIZE_VER0`.
    pub fn from_kernel_bytes(bytes: &[u8]) -> Result<Self, PerfDataError> {
        if bytes.len() < ATTR_SIZE_VER0 {
            return Err(PerfDataError::Invalid(format!(
                "perf_event_attr of {} bytes is shorter than PERF_ATTR_SIZE_VER0",
                bytes.len()
            )));
        }
        if let Some(pos) = bytes.iter().skip(ATTR_SIZE).position(|&b| b != 0) {
            return Err(PerfDataError::Invalid(format!(
                "perf_event_attr byte {} is set; files carry only the first {ATTR_SIZE}",
                ATTR_SIZE + pos
            )));
        }
        let mut a = FileAttr::zeroed();
        let n = bytes.len().min(ATTR_SIZE);
        a.raw[..n].copy_from_slice(&bytes[..n]);
        a.put_u32(off::SIZE, ATTR_SIZE as u32);
        Ok(a)
    }

    /// Decodes an attr of `size` bytes read from a file (fields past [`ATTR_SIZE`] are
    /// dropped, missing ones are zero).
    pub(crate) fn from_file_bytes(bytes: &[u8]) -> Self {
        let mut a = FileAttr::zeroed();
        let n = bytes.len().min(ATTR_SIZE);
        a.raw[..n].copy_from_slice(&bytes[..n]);
        a.put_u32(off::SIZE, ATTR_SIZE as u32);
        a
    }

    /// The bytes as written to a file.
    pub fn as_bytes(&self) -> &[u8; ATTR_SIZE] {
        &self.raw
    }

    fn u64_at(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.raw[at..at + 8]);
        u64::from_ne_bytes(b)
    }

    fn u32_at(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.raw[at..at + 4]);
        u32::from_ne_bytes(b)
    }

    fn put_u64(&mut self, at: usize, v: u64) {
        self.raw[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.raw[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    /// `type` (`PERF_TYPE_*`).
    pub fn type_(&self) -> u32 {
        self.u32_at(off::TYPE)
    }
    /// Sets `type`.
    pub fn set_type(&mut self, v: u32) -> &mut Self {
        self.put_u32(off::TYPE, v);
        self
    }
    /// `config`.
    pub fn config(&self) -> u64 {
        self.u64_at(off::CONFIG)
    }
    /// Sets `config`.
    pub fn set_config(&mut self, v: u64) -> &mut Self {
        self.put_u64(off::CONFIG, v);
        self
    }
    /// `sample_period` (or `sample_freq` with [`flag::FREQ`]).
    pub fn sample_period(&self) -> u64 {
        self.u64_at(off::SAMPLE_PERIOD)
    }
    /// Sets `sample_period` / `sample_freq`.
    pub fn set_sample_period(&mut self, v: u64) -> &mut Self {
        self.put_u64(off::SAMPLE_PERIOD, v);
        self
    }
    /// `sample_type` (`PERF_SAMPLE_*`).
    pub fn sample_type(&self) -> u64 {
        self.u64_at(off::SAMPLE_TYPE)
    }
    /// Sets `sample_type`.
    pub fn set_sample_type(&mut self, v: u64) -> &mut Self {
        self.put_u64(off::SAMPLE_TYPE, v);
        self
    }
    /// `read_format` (`PERF_FORMAT_*`).
    pub fn read_format(&self) -> u64 {
        self.u64_at(off::READ_FORMAT)
    }
    /// Sets `read_format`.
    pub fn set_read_format(&mut self, v: u64) -> &mut Self {
        self.put_u64(off::READ_FORMAT, v);
        self
    }
    /// The bitfield word (`disabled` ... ), see [`flag`].
    pub fn flags(&self) -> u64 {
        self.u64_at(off::FLAGS)
    }
    /// Sets the bitfield word.
    pub fn set_flags(&mut self, v: u64) -> &mut Self {
        self.put_u64(off::FLAGS, v);
        self
    }
    /// `sample_id_all`: non-sample records carry a `sample_id` trailer.
    pub fn sample_id_all(&self) -> bool {
        self.flags() & flag::SAMPLE_ID_ALL != 0
    }
    /// True for `PERF_TYPE_TRACEPOINT`.
    pub fn is_tracepoint(&self) -> bool {
        self.type_() == TYPE_TRACEPOINT
    }

    /// `branch_sample_type` (offset 72, `PERF_ATTR_SIZE_VER2`).
    pub fn branch_sample_type(&self) -> u64 {
        self.u64_at(72)
    }
    /// `sample_regs_user` (offset 80, `PERF_ATTR_SIZE_VER3`).
    pub fn sample_regs_user(&self) -> u64 {
        self.u64_at(80)
    }
    /// `sample_regs_intr` (offset 96, `PERF_ATTR_SIZE_VER4`).
    pub fn sample_regs_intr(&self) -> u64 {
        self.u64_at(96)
    }

    /// The layout-relevant fields, for the record parser.
    pub fn event_format(&self) -> crate::records::EventFormat {
        crate::records::EventFormat {
            sample_type: self.sample_type(),
            read_format: self.read_format(),
            sample_regs_user: self.sample_regs_user(),
            sample_regs_intr: self.sample_regs_intr(),
            branch_sample_type: self.branch_sample_type(),
            sample_id_all: self.sample_id_all(),
        }
    }

    /// Size of the `sample_id` trailer of non-sample records (`struct sample_id`):
    /// TID, TIME, ID, STREAM_ID, CPU, IDENTIFIER, 8 bytes each when selected.
    pub fn sample_id_size(&self) -> usize {
        self.event_format().sample_id_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_attr_is_truncated_to_the_file_size_with_its_size_field_rewritten() {
        let mut k = vec![0u8; 136];
        k[4..8].copy_from_slice(&136u32.to_ne_bytes());
        k[24..32].copy_from_slice(&0x107u64.to_ne_bytes());
        let a = FileAttr::from_kernel_bytes(&k).unwrap();
        assert_eq!(a.sample_type(), 0x107);
        assert_eq!(&a.as_bytes()[4..8], &(ATTR_SIZE as u32).to_ne_bytes());
    }

    #[test]
    fn kernel_attr_with_a_field_past_the_file_size_is_refused() {
        let mut k = vec![0u8; 136];
        k[130] = 1;
        assert!(FileAttr::from_kernel_bytes(&k).is_err());
    }

    #[test]
    fn sample_id_size_counts_the_selected_trailer_fields() {
        let mut a = FileAttr::zeroed();
        a.set_sample_type(sample_type_all());
        assert_eq!(a.sample_id_size(), 0, "no trailer without sample_id_all");
        a.set_flags(flag::SAMPLE_ID_ALL);
        assert_eq!(a.sample_id_size(), 5 * 8);
    }

    fn sample_type_all() -> u64 {
        use crate::perf_data::sample_type as st;
        st::IP | st::TID | st::TIME | st::CPU | st::PERIOD | st::IDENTIFIER | st::ID
    }
}
