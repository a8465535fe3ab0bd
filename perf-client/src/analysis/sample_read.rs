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
        Self::with_ids(
            file.attrs()
                .iter()
                .enumerate()
                .flat_map(|(i, a)| a.ids.iter().map(move |&id| (id, i))),
        )
    }

    /// From (id, event index) pairs.
    fn with_ids(ids: impl IntoIterator<Item = (u64, usize)>) -> Self {
        SampleReads {
            event_of_id: ids.into_iter().collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{ReadValue, ReadValues};

    fn group(values: &[(u64, u64)]) -> Sample<'static> {
        Sample {
            read: Some(ReadValues {
                group: true,
                values: values
                    .iter()
                    .map(|&(id, value)| ReadValue {
                        value,
                        id: Some(id),
                        lost: None,
                    })
                    .collect(),
                ..ReadValues::default()
            }),
            ..Sample::default()
        }
    }

    #[test]
    fn each_counter_that_moved_is_a_sample_with_its_increase_as_period() {
        // Leader id 10 (event 0), member id 11 (event 1).
        let mut r = SampleReads::with_ids([(10, 0), (11, 1)]);
        let mut out = Vec::new();
        r.deliver(Some(0), &group(&[(10, 1000), (11, 3)]), 250, &mut out);
        assert_eq!(out, [(Some(0), 1000), (Some(1), 3)]);
        // The member did not move: no sample for it, as perf.
        r.deliver(Some(0), &group(&[(10, 2500), (11, 3)]), 250, &mut out);
        assert_eq!(out, [(Some(0), 1500)]);
        // An id in no attr is counted, not shown.
        r.deliver(Some(0), &group(&[(10, 2600), (99, 5)]), 250, &mut out);
        assert_eq!((out.as_slice(), r.unknown_ids), (&[(Some(0), 100)][..], 1));
    }

    #[test]
    fn a_sample_without_values_stands_for_itself() {
        let mut r = SampleReads::with_ids([(10, 0)]);
        let mut out = Vec::new();
        r.deliver(Some(3), &Sample::default(), 250, &mut out);
        assert_eq!(out, [(Some(3), 250)]);
    }
}
