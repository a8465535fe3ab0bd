//! The `sample_id` trailer of non-SAMPLE records (`attr.sample_id_all`).

use super::bits::sample as st;
use super::cursor::Cursor;
use super::error::ParseError;

/// `struct sample_id`: the fields selected by `sample_type` among TID, TIME, ID,
/// STREAM_ID, CPU, IDENTIFIER, in that order, appended to every non-SAMPLE record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleId {
    /// `PERF_SAMPLE_TID`: process id.
    pub pid: Option<u32>,
    /// `PERF_SAMPLE_TID`: thread id.
    pub tid: Option<u32>,
    /// `PERF_SAMPLE_TIME`: timestamp (the event's clock, `perf_clock` by default).
    pub time: Option<u64>,
    /// `PERF_SAMPLE_ID`: the event's id.
    pub id: Option<u64>,
    /// `PERF_SAMPLE_STREAM_ID`: the id of the event the counter was inherited from.
    pub stream_id: Option<u64>,
    /// `PERF_SAMPLE_CPU`: the CPU.
    pub cpu: Option<u32>,
    /// `PERF_SAMPLE_IDENTIFIER`: the event's id, at a fixed place (last).
    pub identifier: Option<u64>,
}

/// The fields of `struct sample_id` in their order: the `sample_type` bit that selects
/// each, and its size in bytes. Reading, sizing and writing the trailer all follow it.
const LAYOUT: [(u64, usize); 6] = [
    (st::TID, 8),
    (st::TIME, 8),
    (st::ID, 8),
    (st::STREAM_ID, 8),
    (st::CPU, 8),
    (st::IDENTIFIER, 8),
];

impl SampleId {
    /// Bytes of the trailer for `sample_type`.
    pub fn size(sample_type: u64) -> usize {
        LAYOUT
            .iter()
            .filter(|(bit, _)| sample_type & bit != 0)
            .map(|(_, n)| n)
            .sum()
    }

    /// Appends the trailer for `sample_type` (absent fields as zero), as the kernel lays
    /// it out: what [`SampleId`]'s reader takes back.
    pub fn write(&self, sample_type: u64, out: &mut Vec<u8>) {
        let start = out.len();
        for (bit, _) in LAYOUT {
            if sample_type & bit == 0 {
                continue;
            }
            match bit {
                st::TID => {
                    out.extend_from_slice(&self.pid.unwrap_or(0).to_ne_bytes());
                    out.extend_from_slice(&self.tid.unwrap_or(0).to_ne_bytes());
                }
                st::TIME => out.extend_from_slice(&self.time.unwrap_or(0).to_ne_bytes()),
                st::ID => out.extend_from_slice(&self.id.unwrap_or(0).to_ne_bytes()),
                st::STREAM_ID => out.extend_from_slice(&self.stream_id.unwrap_or(0).to_ne_bytes()),
                st::CPU => {
                    out.extend_from_slice(&self.cpu.unwrap_or(0).to_ne_bytes());
                    out.extend_from_slice(&0u32.to_ne_bytes());
                }
                _ => out.extend_from_slice(&self.identifier.unwrap_or(0).to_ne_bytes()),
            }
        }
        debug_assert_eq!(out.len() - start, Self::size(sample_type));
    }

    pub(crate) fn read(c: &mut Cursor<'_>, sample_type: u64) -> Result<Self, ParseError> {
        let has = |b: u64| sample_type & b != 0;
        let mut s = SampleId::default();
        if has(st::TID) {
            s.pid = Some(c.u32("sample_id pid")?);
            s.tid = Some(c.u32("sample_id tid")?);
        }
        if has(st::TIME) {
            s.time = Some(c.u64("sample_id time")?);
        }
        if has(st::ID) {
            s.id = Some(c.u64("sample_id id")?);
        }
        if has(st::STREAM_ID) {
            s.stream_id = Some(c.u64("sample_id stream_id")?);
        }
        if has(st::CPU) {
            s.cpu = Some(c.u32("sample_id cpu")?);
            c.u32("sample_id res")?;
        }
        if has(st::IDENTIFIER) {
            s.identifier = Some(c.u64("sample_id identifier")?);
        }
        c.finish("the sample_id trailer")?;
        Ok(s)
    }
}
