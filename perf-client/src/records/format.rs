//! What the parser must know about the attr that produced a record, and the id → attr
//! lookup when several events share a ring or a file.

use std::collections::HashMap;

use super::bits::{read_format as rf, sample as st};
use super::error::FormatError;

/// The `perf_event_attr` fields that decide record layouts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EventFormat {
    /// `attr.sample_type`: which SAMPLE fields are present (and which `sample_id` fields
    /// trail other records).
    pub sample_type: u64,
    /// `attr.read_format`: the layout of READ values.
    pub read_format: u64,
    /// `attr.sample_regs_user`: one u64 per set bit in REGS_USER.
    pub sample_regs_user: u64,
    /// `attr.sample_regs_intr`: one u64 per set bit in REGS_INTR.
    pub sample_regs_intr: u64,
    /// `attr.branch_sample_type`: HW_INDEX and COUNTERS change the BRANCH_STACK layout.
    pub branch_sample_type: u64,
    /// `attr.sample_id_all`: non-SAMPLE records carry a `sample_id` trailer.
    pub sample_id_all: bool,
}

impl EventFormat {
    /// Checks that the layout is one the kernel can produce.
    ///
    /// # Errors
    /// [`FormatError::BothWeights`] when WEIGHT and WEIGHT_STRUCT are both set.
    pub fn validate(&self) -> Result<(), FormatError> {
        if self.sample_type & st::WEIGHT_TYPE == st::WEIGHT_TYPE {
            return Err(FormatError::BothWeights);
        }
        Ok(())
    }

    fn has(&self, bit: u64) -> bool {
        self.sample_type & bit != 0
    }

    /// Bytes of the `sample_id` trailer on non-SAMPLE records (0 without `sample_id_all`):
    /// `{ u32 pid, tid; } { u64 time; } { u64 id; } { u64 stream_id; } { u32 cpu, res; }
    /// { u64 identifier; }`, each present when its `sample_type` bit is set.
    pub fn sample_id_size(&self) -> usize {
        if !self.sample_id_all {
            return 0;
        }
        super::SampleId::size(self.sample_type)
    }

    /// Byte offset of the sample id in a SAMPLE record (from the record start, header
    /// included), as perf's `id_pos`: IDENTIFIER comes first; else ID after IP, TID, TIME,
    /// ADDR. `None` when the sample carries no id.
    pub fn sample_id_offset(&self) -> Option<usize> {
        if self.has(st::IDENTIFIER) {
            return Some(8);
        }
        if !self.has(st::ID) {
            return None;
        }
        let before = [st::IP, st::TID, st::TIME, st::ADDR]
            .iter()
            .filter(|&&b| self.has(b))
            .count();
        Some(8 + before * 8)
    }

    /// Byte offset of the sample id counted back from the end of a non-SAMPLE record with
    /// a `sample_id` trailer, as perf's `is_pos`: IDENTIFIER is the last u64; else ID is
    /// followed by STREAM_ID and CPU. `None` without `sample_id_all` or an id.
    pub fn trailer_id_from_end(&self) -> Option<usize> {
        if !self.sample_id_all {
            return None;
        }
        if self.has(st::IDENTIFIER) {
            return Some(8);
        }
        if !self.has(st::ID) {
            return None;
        }
        let after = [st::STREAM_ID, st::CPU]
            .iter()
            .filter(|&&b| self.has(b))
            .count();
        Some(8 + after * 8)
    }

    /// True when read values are a group (`PERF_FORMAT_GROUP`).
    pub fn reads_group(&self) -> bool {
        self.read_format & rf::GROUP != 0
    }
}

/// Everything needed to parse the records of one capture or file: the format of each
/// event (in the order they were added, the "event index"), and which sample ids belong to
/// which event.
///
/// With one event, every record is parsed with its format. With several, the sample id is
/// located as perf does (all events must put it at the same place: use
/// `PERF_SAMPLE_IDENTIFIER`) and looked up here.
#[derive(Debug, Clone, Default)]
pub struct ParseContext {
    formats: Vec<EventFormat>,
    by_id: HashMap<u64, usize>,
}

impl ParseContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// A context for a single event: no ids needed.
    ///
    /// # Errors
    /// See [`EventFormat::validate`].
    pub fn single(format: EventFormat) -> Result<Self, FormatError> {
        let mut ctx = Self::new();
        ctx.add_event(format, &[])?;
        Ok(ctx)
    }

    /// Adds an event and the sample ids (`PERF_EVENT_IOC_ID`, or the ids section of a
    /// perf.data attr) its records carry; returns its index.
    ///
    /// # Errors
    /// An invalid format, a `sample_id_all` or id position that differs from event 0's,
    /// or an id that already belongs to another event.
    pub fn add_event(&mut self, format: EventFormat, ids: &[u64]) -> Result<usize, FormatError> {
        format.validate()?;
        let index = self.formats.len();
        if let Some(first) = self.formats.first() {
            if first.sample_id_all != format.sample_id_all {
                return Err(FormatError::SampleIdAllMismatch {
                    index,
                    value: format.sample_id_all,
                });
            }
            if first.sample_id_offset() != format.sample_id_offset()
                || first.trailer_id_from_end() != format.trailer_id_from_end()
            {
                return Err(FormatError::IdPositionMismatch {
                    index,
                    sample_type: format.sample_type,
                    first: first.sample_type,
                });
            }
        }
        self.formats.push(format);
        if let Err(e) = self.add_ids(index, ids) {
            self.formats.pop();
            return Err(e);
        }
        Ok(index)
    }

    /// Attributes more sample ids to event `index` (e.g. one per CPU of a per-CPU event).
    ///
    /// # Errors
    /// No such event, or an id that already belongs to another event (nothing is added).
    pub fn add_ids(&mut self, index: usize, ids: &[u64]) -> Result<(), FormatError> {
        if index >= self.formats.len() {
            return Err(FormatError::NoSuchEvent(index));
        }
        for &id in ids {
            if let Some(&existing) = self.by_id.get(&id) {
                if existing != index {
                    return Err(FormatError::DuplicateId { id, existing });
                }
            }
        }
        for &id in ids {
            self.by_id.insert(id, index);
        }
        Ok(())
    }

    /// The events' formats, by index.
    pub fn formats(&self) -> &[EventFormat] {
        &self.formats
    }

    /// The format of event `index`.
    pub fn format(&self, index: usize) -> Option<&EventFormat> {
        self.formats.get(index)
    }

    /// The event a sample id belongs to.
    pub fn event_for_id(&self, id: u64) -> Option<usize> {
        self.by_id.get(&id).copied()
    }
}
