//! What went wrong parsing a record, and where.

use super::types::RecordType;

/// A record that could not be parsed. Every variant says which record and, where it
/// applies, the byte offset inside the record (header included) at which parsing failed.
/// Kernel and file input is untrusted: these are returned, never panicked on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Fewer than the 8 bytes of `struct perf_event_header` were given.
    #[error("record of {len} bytes is shorter than its 8-byte header")]
    ShortHeader {
        /// Bytes given.
        len: usize,
    },
    /// `header.size` is below 8 or beyond the bytes given.
    #[error("{record} record: header.size {size} is impossible for the {len} bytes given")]
    BadSize {
        /// The record's type.
        record: RecordType,
        /// `header.size`.
        size: u16,
        /// Bytes given.
        len: usize,
    },
    /// A field runs past the end of the record (or into its `sample_id` trailer).
    #[error(
        "{record} record truncated: {field} needs {needed} bytes at offset {offset}, \
         only {available} remain"
    )]
    Truncated {
        /// The record's type.
        record: RecordType,
        /// The field being read.
        field: &'static str,
        /// Offset of the field in the record, header included.
        offset: usize,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the record's body.
        available: usize,
    },
    /// The bytes are all there but disagree with each other or with the attr.
    #[error("{record} record inconsistent at offset {offset}: {detail}")]
    Inconsistent {
        /// The record's type.
        record: RecordType,
        /// Offset in the record, header included.
        offset: usize,
        /// What disagrees.
        detail: String,
    },
    /// The record's sample id matches no event of the [`ParseContext`](super::ParseContext).
    #[error("{record} record carries sample id {id}, which no event of the parse context has")]
    UnknownId {
        /// The record's type.
        record: RecordType,
        /// The id found in the record.
        id: u64,
    },
    /// The parse context has several events but records carry no id to tell them apart.
    #[error(
        "{record} record: the parse context has {events} events but their sample_type has \
         neither PERF_SAMPLE_IDENTIFIER nor PERF_SAMPLE_ID"
    )]
    NoId {
        /// The record's type.
        record: RecordType,
        /// Number of events in the context.
        events: usize,
    },
    /// The parse context has no event at all.
    #[error("the parse context has no event; add one with ParseContext::add_event")]
    EmptyContext,
}

/// An attr whose layout the parser cannot follow, or events that cannot share a context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// `PERF_SAMPLE_WEIGHT` and `PERF_SAMPLE_WEIGHT_STRUCT` are both set (the kernel
    /// refuses this attr with EINVAL).
    #[error("sample_type sets both PERF_SAMPLE_WEIGHT and PERF_SAMPLE_WEIGHT_STRUCT")]
    BothWeights,
    /// Events in one context put the sample id at different places, so a record cannot be
    /// attributed (perf requires the same; set PERF_SAMPLE_IDENTIFIER on every event).
    #[error(
        "event {index} puts the sample id elsewhere than event 0 (sample_type {sample_type:#x} \
         vs {first:#x}); set PERF_SAMPLE_IDENTIFIER on every event"
    )]
    IdPositionMismatch {
        /// Index of the new event.
        index: usize,
        /// Its sample_type.
        sample_type: u64,
        /// sample_type of event 0.
        first: u64,
    },
    /// Events in one context disagree on `sample_id_all`.
    #[error("event {index} has sample_id_all={value}, event 0 has the opposite")]
    SampleIdAllMismatch {
        /// Index of the new event.
        index: usize,
        /// Its `sample_id_all`.
        value: bool,
    },
    /// The id is already attributed to another event.
    #[error("sample id {id} already belongs to event {existing}")]
    DuplicateId {
        /// The id.
        id: u64,
        /// The event that has it.
        existing: usize,
    },
    /// No event with this index.
    #[error("no event {0} in the parse context")]
    NoSuchEvent(usize),
    /// Several events share a ring but their records carry no sample id to tell them
    /// apart.
    #[error(
        "{events} events share the rings but sample_type {sample_type:#x} carries no sample \
         id: add PERF_SAMPLE_IDENTIFIER (or ID) to every event"
    )]
    NoIdForSeveralEvents {
        /// Number of events.
        events: usize,
        /// sample_type of event 0.
        sample_type: u64,
    },
}
