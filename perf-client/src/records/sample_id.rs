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

impl SampleId {
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
