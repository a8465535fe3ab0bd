//! What `script` and `report` could not verify or interpret, counted so that they can
//! say it instead of printing a table that looks complete.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::machine::Machine;
use super::symbols::{Symbols, Unverified};
use crate::records::Record;

/// Counts of what was not verified or not interpreted.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Unread {
    /// Samples whose ip lies in an object (a file, or the kernel) whose symbols were not
    /// read because it could not be verified by build id.
    pub unverified_samples: u64,
    /// Those objects, with the reason (objects that were looked at, for unwinding say,
    /// but on which no sample fell are not listed).
    #[serde(serialize_with = "reasons")]
    pub unverified_objects: BTreeMap<String, Unverified>,
    /// The objects of the unverified samples, for `unverified_objects`.
    #[serde(skip)]
    sampled_objects: BTreeSet<String>,
    /// Records of a type the reader does not interpret and that may change the meaning
    /// of what follows (AUXTRACE data, AUX, an unknown kernel record), by type.
    pub uninterpreted: BTreeMap<u32, u64>,
}

/// Each object with its reason as text, for `--json`.
fn reasons<S: serde::Serializer>(
    objects: &BTreeMap<String, Unverified>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(objects.iter().map(|(k, v)| (k, v.reason())))
}

/// The kernel's object name (`[kernel.kallsyms]`, its maps `[kernel.kallsyms]_text` …).
const KERNEL: &str = "[kernel.kallsyms]";

/// perf.data user record types that carry nothing a sample's meaning depends on in a
/// file-mode perf.data (their content is in the header, or they only describe timing):
/// HEADER_ATTR, HEADER_EVENT_TYPE, HEADER_TRACING_DATA, HEADER_BUILD_ID, FINISHED_ROUND,
/// ID_INDEX, THREAD_MAP, CPU_MAP, STAT_CONFIG, STAT, STAT_ROUND, EVENT_UPDATE,
/// TIME_CONV, HEADER_FEATURE, FINISHED_INIT.
const HARMLESS: &[u32] = &[64, 65, 66, 67, 68, 69, 73, 74, 75, 76, 77, 78, 79, 80, 82];

/// The name of a perf.data user record type.
fn type_name(t: u32) -> &'static str {
    match t {
        11 => "AUX",
        70 => "AUXTRACE_INFO",
        71 => "AUXTRACE",
        72 => "AUXTRACE_ERROR",
        81 => "COMPRESSED",
        83 => "COMPRESSED2",
        _ => "unknown",
    }
}

impl Unread {
    /// Counts `record` (of `record_type`) when it is one the reader does not interpret.
    pub fn note_record(&mut self, record_type: u32, record: &Record<'_>) {
        let counted = match record {
            Record::Aux(_) => true,
            Record::Raw(_) => !HARMLESS.contains(&record_type),
            _ => false,
        };
        if counted {
            *self.uninterpreted.entry(record_type).or_default() += 1;
        }
    }

    /// Counts a sample at `ip` of `pid` whose object could not be verified, and says why.
    pub fn note_sample(
        &mut self,
        symbols: &mut Symbols,
        machine: &Machine,
        pid: u32,
        ip: u64,
    ) -> Option<Unverified> {
        let why = symbols.unverified(machine, pid, ip)?;
        self.unverified_samples += 1;
        if let Some(map) = machine.find_map(pid, ip) {
            let object = if map.path.starts_with(KERNEL) {
                KERNEL
            } else {
                map.path.as_str()
            };
            if !self.sampled_objects.contains(object) {
                self.sampled_objects.insert(object.to_owned());
            }
        }
        Some(why)
    }

    /// Takes the unverified objects samples fell on from `symbols` at the end of a walk.
    pub fn finish(&mut self, symbols: &Symbols) {
        self.unverified_objects = symbols.unverified_objects();
        self.unverified_objects
            .retain(|object, _| self.sampled_objects.contains(object));
    }

    /// The lines to print on stderr (empty when everything was verified and read).
    /// `samples` is the number of samples read.
    pub fn describe(&self, samples: u64) -> Vec<String> {
        let mut out = Vec::new();
        if self.unverified_samples > 0 || !self.unverified_objects.is_empty() {
            let mut s = format!(
                "{} of {samples} samples fell on objects that could not be verified by build id \
                 (their addresses are shown raw):",
                self.unverified_samples
            );
            for (obj, why) in &self.unverified_objects {
                let _ = write!(s, "\n  {obj}: {}", why.reason());
            }
            out.push(s);
        }
        if !self.uninterpreted.is_empty() {
            let list: Vec<String> = self
                .uninterpreted
                .iter()
                .map(|(t, n)| format!("{n} of type {t} ({})", type_name(*t)))
                .collect();
            out.push(format!(
                "records not interpreted (what they carry is missing from the output): {}",
                list.join(", ")
            ));
        }
        out
    }
}
