//! Samples that carry counter values (`PERF_SAMPLE_READ`, perf's `:S` leader sampling)
//! stand for one sample per counter, as perf's `evlist__deliver_sample` delivers them:
//! each value's period is its increase since the previous sample of the same event
//! instance (its id), and a value that did not move gives no sample.

use std::collections::HashMap;

use crate::perf_data::PerfData;
use crate::records::Sample;

/// The last value seen per event id, and which event each id belongs to.
#[derive(Debug, Default)]
pub(crate) struct SampleReads {
    event_of_id: HashMap<u64, usize>,
    last: HashMap<u64, u64>,
    /// Values whose id is in no attr (perf's `nr_unknown_id`): not shown.
    pub unknown_ids: u64,
}

impl SampleReads {
    /// The ids of `file`'s attrs.
    pub fn new(file: &PerfData) -> Self {
        let mut event_of_id = HashMap::new();
        for (i, a) in file.attrs().iter().enumerate() {
            for &id in &a.ids {
                event_of_id.insert(id, i);
            }
        }
        SampleReads {
            event_of_id,
            ..Self::default()
        }
    }

    /// The (event, period) pairs that sample `s` of `event` stands for, into `out`
    /// (cleared first): itself with `period` when it carries no values, else one per
    /// value that grew.
    pub fn deliver(
        &mut self,
        event: Option<usize>,
        s: &Sample<'_>,
        period: u64,
        out: &mut Vec<(Option<usize>, u64)>,
    ) {
        out.clear();
        let Some(read) = &s.read else {
            out.push((event, period));
            return;
        };
        for v in &read.values {
            let Some(id) = v.id else {
                // Without PERF_FORMAT_ID a value cannot be told apart: the sample stands
                // for itself.
                out.push((event, period));
                return;
            };
            let Some(&ev) = self.event_of_id.get(&id) else {
                self.unknown_ids += 1;
                continue;
            };
            let prev = self.last.insert(id, v.value).unwrap_or(0);
            let grew = v.value.wrapping_sub(prev);
            if grew != 0 {
                out.push((Some(ev), grew));
            }
        }
    }
}
