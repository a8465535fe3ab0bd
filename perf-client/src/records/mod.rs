//! Typed perf records: every `PERF_RECORD_*` type of the current uapi, parsed from the
//! bytes of one record (header included) with no unsafe code.
//!
//! The layout of a SAMPLE, of READ values and of the `sample_id` trailer on other records
//! depends on the attr of the event that wrote it; a [`ParseContext`] holds those formats
//! and finds the right one through the record's sample id when several events share a
//! ring or a file.
//!
//! ```
//! use perf_client::records::{bits::sample, EventFormat, ParseContext, Record};
//!
//! let ctx = ParseContext::single(EventFormat {
//!     sample_type: sample::IP | sample::TID,
//!     ..Default::default()
//! })?;
//! // header { type 9 (SAMPLE), misc 2 (USER), size 24 }, ip, pid, tid
//! let mut rec = Vec::new();
//! rec.extend_from_slice(&9u32.to_ne_bytes());
//! rec.extend_from_slice(&2u16.to_ne_bytes());
//! rec.extend_from_slice(&24u16.to_ne_bytes());
//! rec.extend_from_slice(&0x401000u64.to_ne_bytes());
//! rec.extend_from_slice(&42u32.to_ne_bytes());
//! rec.extend_from_slice(&43u32.to_ne_bytes());
//! let parsed = ctx.parse(&rec)?;
//! let Record::Sample(s) = parsed.record else { panic!("not a sample") };
//! assert_eq!((s.ip, s.pid, s.tid), (Some(0x401000), Some(42), Some(43)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Untrusted input (a ring, a file) never panics the parser: every length is checked and
//! a bad record gives a [`ParseError`] naming the record type, the field and the offset.

#![forbid(unsafe_code)]

pub mod bits;
mod cursor;
mod error;
mod format;
mod kinds;
mod read_values;
mod sample;
mod sample_id;
mod types;

#[cfg(test)]
mod tests;

pub use perf_ringbuf::RecordHeader;

pub use error::{FormatError, ParseError};
pub use format::{EventFormat, ParseContext};
pub use kinds::{
    Aux, AuxOutputHwId, BpfEvent, BuildId, CallchainDeferred, Cgroup, Comm, FileId, ItraceStart,
    Ksymbol, Lost, LostSamples, Mmap, Mmap2, NamespaceLink, Namespaces, Read, Switch, TaskEvent,
    TextPoke, Throttle,
};
pub use read_values::{ReadValue, ReadValues};
pub use sample::{BranchEntry, BranchStack, Regs, Sample, StackUser, Weight};
pub use sample_id::SampleId;
pub use types::{misc, RecordType};

use cursor::Cursor;

/// A record's typed body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Record<'a> {
    /// `PERF_RECORD_MMAP`.
    Mmap(Mmap<'a>),
    /// `PERF_RECORD_LOST`.
    Lost(Lost),
    /// `PERF_RECORD_COMM`.
    Comm(Comm<'a>),
    /// `PERF_RECORD_EXIT`.
    Exit(TaskEvent),
    /// `PERF_RECORD_THROTTLE`.
    Throttle(Throttle),
    /// `PERF_RECORD_UNTHROTTLE`.
    Unthrottle(Throttle),
    /// `PERF_RECORD_FORK`.
    Fork(TaskEvent),
    /// `PERF_RECORD_READ`.
    Read(Read),
    /// `PERF_RECORD_SAMPLE`.
    Sample(Box<Sample<'a>>),
    /// `PERF_RECORD_MMAP2`.
    Mmap2(Mmap2<'a>),
    /// `PERF_RECORD_AUX`.
    Aux(Aux),
    /// `PERF_RECORD_ITRACE_START`.
    ItraceStart(ItraceStart),
    /// `PERF_RECORD_LOST_SAMPLES`.
    LostSamples(LostSamples),
    /// `PERF_RECORD_SWITCH`.
    Switch(Switch),
    /// `PERF_RECORD_SWITCH_CPU_WIDE`.
    SwitchCpuWide(Switch),
    /// `PERF_RECORD_NAMESPACES`.
    Namespaces(Namespaces),
    /// `PERF_RECORD_KSYMBOL`.
    Ksymbol(Ksymbol<'a>),
    /// `PERF_RECORD_BPF_EVENT`.
    BpfEvent(BpfEvent),
    /// `PERF_RECORD_CGROUP`.
    Cgroup(Cgroup<'a>),
    /// `PERF_RECORD_TEXT_POKE`.
    TextPoke(TextPoke<'a>),
    /// `PERF_RECORD_AUX_OUTPUT_HW_ID`.
    AuxOutputHwId(AuxOutputHwId),
    /// `PERF_RECORD_CALLCHAIN_DEFERRED`.
    CallchainDeferred(CallchainDeferred),
    /// A type this parser does not know (a newer kernel's, or perf.data's user types ≥ 64):
    /// the payload after the header, trailer included.
    Raw(&'a [u8]),
}

impl Record<'_> {
    /// The record's type; `None` for [`Record::Raw`] (the header has it).
    pub fn known_type(&self) -> Option<RecordType> {
        Some(match self {
            Record::Mmap(_) => RecordType::MMAP,
            Record::Lost(_) => RecordType::LOST,
            Record::Comm(_) => RecordType::COMM,
            Record::Exit(_) => RecordType::EXIT,
            Record::Throttle(_) => RecordType::THROTTLE,
            Record::Unthrottle(_) => RecordType::UNTHROTTLE,
            Record::Fork(_) => RecordType::FORK,
            Record::Read(_) => RecordType::READ,
            Record::Sample(_) => RecordType::SAMPLE,
            Record::Mmap2(_) => RecordType::MMAP2,
            Record::Aux(_) => RecordType::AUX,
            Record::ItraceStart(_) => RecordType::ITRACE_START,
            Record::LostSamples(_) => RecordType::LOST_SAMPLES,
            Record::Switch(_) => RecordType::SWITCH,
            Record::SwitchCpuWide(_) => RecordType::SWITCH_CPU_WIDE,
            Record::Namespaces(_) => RecordType::NAMESPACES,
            Record::Ksymbol(_) => RecordType::KSYMBOL,
            Record::BpfEvent(_) => RecordType::BPF_EVENT,
            Record::Cgroup(_) => RecordType::CGROUP,
            Record::TextPoke(_) => RecordType::TEXT_POKE,
            Record::AuxOutputHwId(_) => RecordType::AUX_OUTPUT_HW_ID,
            Record::CallchainDeferred(_) => RecordType::CALLCHAIN_DEFERRED,
            Record::Raw(_) => return None,
        })
    }

    /// The short uapi name of the record's type (`"SAMPLE"`, `"MMAP2"`, ...), `"RAW"` for
    /// an unknown type.
    pub fn kind_name(&self) -> &'static str {
        self.known_type()
            .and_then(RecordType::name)
            .unwrap_or("RAW")
    }
}

/// A parsed record: header, which event wrote it, its body, and its `sample_id` trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRecord<'a> {
    /// The header as found.
    pub header: RecordHeader,
    /// Index (in the [`ParseContext`]) of the event that wrote the record, when it can be
    /// told: always with one event; through the sample id with several.
    pub event: Option<usize>,
    /// The typed body.
    pub record: Record<'a>,
    /// The `sample_id` trailer of a non-SAMPLE kernel record when `sample_id_all` is set.
    pub sample_id: Option<SampleId>,
}

impl ParsedRecord<'_> {
    /// The record's type.
    pub fn record_type(&self) -> RecordType {
        RecordType(self.header.record_type)
    }

    /// The timestamp: a sample's TIME, another record's trailer TIME (or a FORK/EXIT's
    /// own time).
    pub fn time(&self) -> Option<u64> {
        match &self.record {
            Record::Sample(s) => s.time,
            Record::Fork(t) | Record::Exit(t) => {
                self.sample_id.and_then(|s| s.time).or(Some(t.time))
            }
            _ => self.sample_id.and_then(|s| s.time),
        }
    }

    /// The (pid, tid) the sample or trailer carries.
    pub fn pid_tid(&self) -> Option<(u32, u32)> {
        match &self.record {
            Record::Sample(s) => s.pid.zip(s.tid),
            _ => self.sample_id.and_then(|s| s.pid.zip(s.tid)),
        }
    }

    /// The CPU the sample or trailer carries.
    pub fn cpu(&self) -> Option<u32> {
        match &self.record {
            Record::Sample(s) => s.cpu,
            _ => self.sample_id.and_then(|s| s.cpu),
        }
    }

    /// The event id the sample or trailer carries (IDENTIFIER or ID).
    pub fn event_id(&self) -> Option<u64> {
        match &self.record {
            Record::Sample(s) => s.event_id(),
            _ => self.sample_id.and_then(|s| s.identifier.or(s.id)),
        }
    }
}

impl ParseContext {
    /// Parses one record. `bytes` starts with the record's header; only the first
    /// `header.size` bytes are used (so a record may be parsed in place in a larger
    /// buffer).
    ///
    /// # Errors
    /// A header shorter than 8 bytes or a size beyond `bytes`; a field that runs past the
    /// record; bytes left over after the fields the attr announces; a sample id that no
    /// event of the context has.
    pub fn parse<'a>(&self, bytes: &'a [u8]) -> Result<ParsedRecord<'a>, ParseError> {
        let (header, rec) = framed(bytes)?;
        let rtype = RecordType(header.record_type);
        let size = rec.len();
        if !rtype.is_kernel() {
            return Ok(ParsedRecord {
                header,
                event: None,
                record: Record::Raw(&rec[8..]),
                sample_id: None,
            });
        }
        let (event, format) = self.event_of(rtype, rec)?;

        if rtype == RecordType::SAMPLE {
            let mut c = Cursor::new(rec, 8, size, rtype);
            let mut s = Box::<sample::Sample<'a>>::default();
            sample::Sample::read_into(&mut c, format, &mut s)?;
            return Ok(ParsedRecord {
                header,
                event,
                record: Record::Sample(s),
                sample_id: None,
            });
        }

        let trailer = format.sample_id_size();
        let body_end = size
            .checked_sub(trailer)
            .filter(|&e| e >= 8)
            .ok_or_else(|| ParseError::Truncated {
                record: rtype,
                field: "sample_id trailer",
                offset: 8,
                needed: trailer as u64,
                available: size - 8,
            })?;
        let sample_id = if format.sample_id_all {
            let mut t = Cursor::new(rec, body_end, size, rtype);
            Some(SampleId::read(&mut t, format.sample_type)?)
        } else {
            None
        };
        let mut c = Cursor::new(rec, 8, body_end, rtype);
        let m = header.misc;
        let record = match rtype {
            RecordType::MMAP => Record::Mmap(kinds::mmap(&mut c, m)?),
            RecordType::LOST => Record::Lost(kinds::lost(&mut c)?),
            RecordType::COMM => Record::Comm(kinds::comm(&mut c, m)?),
            RecordType::EXIT => Record::Exit(kinds::task(&mut c)?),
            RecordType::THROTTLE => Record::Throttle(kinds::throttle(&mut c)?),
            RecordType::UNTHROTTLE => Record::Unthrottle(kinds::throttle(&mut c)?),
            RecordType::FORK => Record::Fork(kinds::task(&mut c)?),
            RecordType::READ => Record::Read(kinds::read(&mut c, format.read_format)?),
            RecordType::MMAP2 => Record::Mmap2(kinds::mmap2(&mut c, m)?),
            RecordType::AUX => Record::Aux(kinds::aux(&mut c)?),
            RecordType::ITRACE_START => Record::ItraceStart(kinds::itrace_start(&mut c)?),
            RecordType::LOST_SAMPLES => Record::LostSamples(kinds::lost_samples(&mut c)?),
            RecordType::SWITCH => Record::Switch(kinds::switch(&mut c, m, false)?),
            RecordType::SWITCH_CPU_WIDE => Record::SwitchCpuWide(kinds::switch(&mut c, m, true)?),
            RecordType::NAMESPACES => Record::Namespaces(kinds::namespaces(&mut c)?),
            RecordType::KSYMBOL => Record::Ksymbol(kinds::ksymbol(&mut c)?),
            RecordType::BPF_EVENT => Record::BpfEvent(kinds::bpf_event(&mut c)?),
            RecordType::CGROUP => Record::Cgroup(kinds::cgroup(&mut c)?),
            RecordType::TEXT_POKE => Record::TextPoke(kinds::text_poke(&mut c)?),
            RecordType::AUX_OUTPUT_HW_ID => Record::AuxOutputHwId(kinds::aux_output_hw_id(&mut c)?),
            RecordType::CALLCHAIN_DEFERRED => {
                Record::CallchainDeferred(kinds::callchain_deferred(&mut c)?)
            }
            _ => Record::Raw(&rec[8..]),
        };
        Ok(ParsedRecord {
            header,
            event,
            record,
            sample_id,
        })
    }

    /// The timestamp `self.parse(bytes)?.time()` gives, without building the record when
    /// it is a SAMPLE (its TIME field sits at a fixed offset: after IDENTIFIER, IP and
    /// TID). Used to order records before they are parsed for good.
    ///
    /// # Errors
    /// As [`ParseContext::parse`] for other records; for a SAMPLE, a bad size, an unknown
    /// id or a record too short to hold its time (the rest is checked when it is parsed).
    pub fn record_time(&self, bytes: &[u8]) -> Result<Option<u64>, ParseError> {
        let (header, rec) = framed(bytes)?;
        let rtype = RecordType(header.record_type);
        if rtype != RecordType::SAMPLE {
            return Ok(self.parse(bytes)?.time());
        }
        let (_, format) = self.event_of(rtype, rec)?;
        let t = format.sample_type;
        if t & bits::sample::TIME == 0 {
            return Ok(None);
        }
        let before = [
            bits::sample::IDENTIFIER,
            bits::sample::IP,
            bits::sample::TID,
        ];
        let at = 8 + 8 * before.iter().filter(|&&b| t & b != 0).count();
        let mut c = Cursor::new(rec, at, rec.len(), rtype);
        Ok(Some(c.u64("time")?))
    }

    /// Which event wrote `rec`, and its format.
    fn event_of(
        &self,
        rtype: RecordType,
        rec: &[u8],
    ) -> Result<(Option<usize>, &EventFormat), ParseError> {
        let first = self.formats().first().ok_or(ParseError::EmptyContext)?;
        if self.formats().len() == 1 {
            return Ok((Some(0), first));
        }
        // All events share the id position (checked by add_event), so event 0's tells.
        let id_at = if rtype == RecordType::SAMPLE {
            first.sample_id_offset()
        } else if first.sample_id_all {
            first
                .trailer_id_from_end()
                .and_then(|back| rec.len().checked_sub(back))
                .filter(|&at| at >= 8)
        } else {
            // No trailer: nothing tells the events apart; body layouts (READ aside) do
            // not depend on the attr, so parse with event 0's.
            return Ok((None, first));
        };
        let Some(at) = id_at else {
            return Err(ParseError::NoId {
                record: rtype,
                events: self.formats().len(),
            });
        };
        let id = rec
            .get(at..)
            .and_then(|b| b.get(..8))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_ne_bytes)
            .ok_or(ParseError::Truncated {
                record: rtype,
                field: "sample id",
                offset: at,
                needed: 8,
                available: rec.len().saturating_sub(at),
            })?;
        // Id 0: a record the tool synthesized (COMM/MMAP of running processes) with a
        // zero trailer; perf's `evlist__id2evsel` gives it the first event.
        let event = if id == 0 {
            0
        } else {
            self.event_for_id(id)
                .ok_or(ParseError::UnknownId { record: rtype, id })?
        };
        let format = self
            .format(event)
            .ok_or(ParseError::UnknownId { record: rtype, id })?;
        Ok((Some(event), format))
    }
}

/// The header of the record at the start of `bytes`, and the record's `header.size`
/// bytes.
///
/// # Errors
/// A header shorter than 8 bytes, or a size below 8 or beyond `bytes`.
fn framed(bytes: &[u8]) -> Result<(RecordHeader, &[u8]), ParseError> {
    let header = RecordHeader::parse(bytes).ok_or(ParseError::ShortHeader { len: bytes.len() })?;
    let size = usize::from(header.size);
    if size < 8 || size > bytes.len() {
        return Err(ParseError::BadSize {
            record: RecordType(header.record_type),
            size: header.size,
            len: bytes.len(),
        });
    }
    Ok((header, &bytes[..size]))
}
