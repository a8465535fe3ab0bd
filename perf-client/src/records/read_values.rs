//! `struct read_format`: counter values as `read(2)` returns them, and as READ records
//! and the READ part of samples carry them.

use super::bits::read_format as rf;
use super::cursor::Cursor;
use super::error::ParseError;
use super::types::RecordType;

/// One counter's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadValue {
    /// The count.
    pub value: u64,
    /// `PERF_FORMAT_ID`: the event's id.
    pub id: Option<u64>,
    /// `PERF_FORMAT_LOST`: samples of this event the kernel could not write to its ring.
    pub lost: Option<u64>,
}

/// Counter values in either `read_format` layout.
///
/// Without `PERF_FORMAT_GROUP`: `{ u64 value; [time_enabled]; [time_running]; [id];
/// [lost]; }` — one value. With it: `{ u64 nr; [time_enabled]; [time_running];
/// { u64 value; [id]; [lost]; } cntr[nr]; }`. Note the times come *after* the value in
/// the single layout and *before* the values in the group layout.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadValues {
    /// True for the `PERF_FORMAT_GROUP` layout.
    pub group: bool,
    /// `PERF_FORMAT_TOTAL_TIME_ENABLED`: nanoseconds the event was enabled.
    pub time_enabled: Option<u64>,
    /// `PERF_FORMAT_TOTAL_TIME_RUNNING`: nanoseconds the event was on the PMU.
    pub time_running: Option<u64>,
    /// One value (single layout) or one per group member, leader first.
    pub values: Vec<ReadValue>,
}

impl ReadValues {
    /// Parses the output of `read(2)` on an event fd opened with `read_format`.
    ///
    /// # Errors
    /// Too few bytes, a group count that does not fit, or bytes left over.
    pub fn parse(bytes: &[u8], read_format: u64) -> Result<Self, ParseError> {
        let mut c = Cursor::new(bytes, 0, bytes.len(), RecordType(0));
        let v = Self::read(&mut c, read_format)?;
        c.finish("the read_format values")?;
        Ok(v)
    }

    /// Bytes `read(2)` returns for `read_format` with `members` group members (1 without
    /// GROUP), or `None` on overflow.
    pub fn size(read_format: u64, members: usize) -> Option<usize> {
        let per_value =
            1 + usize::from(read_format & rf::ID != 0) + usize::from(read_format & rf::LOST != 0);
        let times = usize::from(read_format & rf::TOTAL_TIME_ENABLED != 0)
            + usize::from(read_format & rf::TOTAL_TIME_RUNNING != 0);
        let words = if read_format & rf::GROUP != 0 {
            members.checked_mul(per_value)?.checked_add(1 + times)?
        } else {
            per_value + times
        };
        words.checked_mul(8)
    }

    /// Total of the `lost` counters, if `PERF_FORMAT_LOST` was requested.
    pub fn lost(&self) -> Option<u64> {
        self.values
            .iter()
            .map(|v| v.lost)
            .try_fold(0u64, |acc, l| Some(acc.saturating_add(l?)))
    }

    /// The values of event `id` alone: a group read (`PERF_FORMAT_GROUP`) of any member
    /// gives every member's value; this keeps that member's, so that summing over the
    /// group's fds counts each once. Unchanged without a group or without ids.
    pub fn only(mut self, id: u64) -> Self {
        if self.group && self.values.iter().any(|v| v.id == Some(id)) {
            self.values.retain(|v| v.id == Some(id));
        }
        self
    }

    pub(crate) fn read(c: &mut Cursor<'_>, read_format: u64) -> Result<Self, ParseError> {
        let has = |b: u64| read_format & b != 0;
        let read_value = |c: &mut Cursor<'_>| -> Result<ReadValue, ParseError> {
            let value = c.u64("read_format value")?;
            let id = if has(rf::ID) {
                Some(c.u64("read_format id")?)
            } else {
                None
            };
            let lost = if has(rf::LOST) {
                Some(c.u64("read_format lost")?)
            } else {
                None
            };
            Ok(ReadValue { value, id, lost })
        };
        if has(rf::GROUP) {
            let nr = c.u64("read_format nr")?;
            let time_enabled = if has(rf::TOTAL_TIME_ENABLED) {
                Some(c.u64("read_format time_enabled")?)
            } else {
                None
            };
            let time_running = if has(rf::TOTAL_TIME_RUNNING) {
                Some(c.u64("read_format time_running")?)
            } else {
                None
            };
            let per = 1 + u64::from(has(rf::ID)) + u64::from(has(rf::LOST));
            let need = nr
                .checked_mul(per)
                .and_then(|w| w.checked_mul(8))
                .ok_or_else(|| c.inconsistent(format!("read_format nr {nr} overflows")))?;
            if need > c.remaining() as u64 {
                return Err(c.truncated("read_format group values", need));
            }
            // `nr` is now bounded by the record size, so the allocation is too.
            let mut values = Vec::with_capacity(nr as usize);
            for _ in 0..nr {
                values.push(read_value(c)?);
            }
            Ok(ReadValues {
                group: true,
                time_enabled,
                time_running,
                values,
            })
        } else {
            let value = c.u64("read_format value")?;
            let time_enabled = if has(rf::TOTAL_TIME_ENABLED) {
                Some(c.u64("read_format time_enabled")?)
            } else {
                None
            };
            let time_running = if has(rf::TOTAL_TIME_RUNNING) {
                Some(c.u64("read_format time_running")?)
            } else {
                None
            };
            let id = if has(rf::ID) {
                Some(c.u64("read_format id")?)
            } else {
                None
            };
            let lost = if has(rf::LOST) {
                Some(c.u64("read_format lost")?)
            } else {
                None
            };
            Ok(ReadValues {
                group: false,
                time_enabled,
                time_running,
                values: vec![ReadValue { value, id, lost }],
            })
        }
    }
}
