//! Firefox Profiler export through `fxprof-processed-profile`, the crate samply writes
//! its profiles with: one process per pid, one thread per tid (named by its command),
//! each sample with its stack (frames named by the analysis' [`Symbols`], kernel frames in
//! their own category) and timestamp, CPU time for `cpu-clock`/`task-clock` samples, and a
//! "Lost" marker wherever the kernel reported lost samples or ring records.
//!
//! Inlined calls ([`ExportOptions::inline`], on by default) are frames of their own where
//! `report` shows them (the frames `--call-graph dwarf` unwound, [`inline::expand`]),
//! named by the DWARF, below the function they were inlined in, in the "User" category's
//! "Inlined" subcategory (the profiler shows it in the frame's tooltip and sidebar).
//! The crate (0.8) writes `inlineDepth` 0 and no file name or line for every frame, so
//! the source location is not carried.
//!
//! [`inline::expand`]: crate::analysis::inline::expand
//!
//! Open the JSON at <https://profiler.firefox.com>: "Load a profile from file".
//!
//! [`Symbols`]: crate::analysis::symbols::Symbols

use std::collections::HashMap;
use std::io::Write;

use fxprof_processed_profile::{
    CategoryColor, CategoryHandle, CpuDelta, Frame, FrameFlags, FrameInfo, MarkerFieldFlags,
    MarkerFieldFormat, MarkerTiming, ProcessHandle, Profile, ReferenceTimestamp, SamplingInterval,
    StaticSchemaMarker, StaticSchemaMarkerField, StringHandle, ThreadHandle, Timestamp,
};

use super::{is_clock_event, walk, ExportError, ExportOptions, Item};
use crate::perf_data::attr::flag;
use crate::perf_data::PerfData;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FirefoxSummary {
    /// Samples in the profile.
    pub samples: u64,
    /// Threads (one per tid that has samples or losses).
    pub threads: usize,
    /// Processes (one per pid).
    pub processes: usize,
    /// "Lost" markers.
    pub lost_markers: u64,
}

/// A "Lost" marker: samples or ring records the kernel could not deliver.
#[derive(Debug, Clone)]
struct LostMarker {
    name: StringHandle,
    kind: StringHandle,
    count: u64,
}

impl StaticSchemaMarker for LostMarker {
    const UNIQUE_MARKER_TYPE_NAME: &'static str = "PerfLost";
    const DESCRIPTION: Option<&'static str> =
        Some("The kernel dropped records here (PERF_RECORD_LOST or PERF_RECORD_LOST_SAMPLES)");
    const CHART_LABEL: Option<&'static str> = Some("{marker.data.count} {marker.data.kind}");
    const TABLE_LABEL: Option<&'static str> =
        Some("{marker.name}: {marker.data.count} {marker.data.kind}");
    const FIELDS: &'static [StaticSchemaMarkerField] = &[
        StaticSchemaMarkerField {
            key: "kind",
            label: "What was lost",
            format: MarkerFieldFormat::String,
            flags: MarkerFieldFlags::SEARCHABLE,
        },
        StaticSchemaMarkerField {
            key: "count",
            label: "Count",
            format: MarkerFieldFormat::Integer,
            flags: MarkerFieldFlags::empty(),
        },
    ];

    fn name(&self, _profile: &mut Profile) -> StringHandle {
        self.name
    }

    fn category(&self, _profile: &mut Profile) -> CategoryHandle {
        CategoryHandle::OTHER
    }

    fn string_field_value(&self, _field_index: u32) -> StringHandle {
        self.kind
    }

    fn number_field_value(&self, _field_index: u32) -> f64 {
        self.count as f64
    }
}

/// Processes and threads of the profile, made on first sight.
struct Threads {
    processes: HashMap<u32, ProcessHandle>,
    threads: HashMap<u32, ThreadHandle>,
}

impl Threads {
    fn get(
        &mut self,
        profile: &mut Profile,
        pid: u32,
        tid: u32,
        comm: &str,
        at: Timestamp,
    ) -> ThreadHandle {
        if let Some(&t) = self.threads.get(&tid) {
            return t;
        }
        let process = *self
            .processes
            .entry(pid)
            .or_insert_with(|| profile.add_process(comm, pid, at));
        let t = profile.add_thread(process, tid, at, tid == pid);
        profile.set_thread_name(t, comm);
        self.threads.insert(tid, t);
        t
    }
}

/// The sampling interval the profile declares: `-F` gives a frequency, `-c` on a clock
/// event a period in ns; otherwise perf's default, 1 ms (4000 Hz is perf's default
/// frequency, and it is a frequency attr).
fn interval(file: &PerfData) -> SamplingInterval {
    let Some(a) = file.attrs().first() else {
        return SamplingInterval::from_millis(1);
    };
    let p = a.attr.sample_period();
    if a.attr.flags() & flag::FREQ != 0 && p > 0 {
        SamplingInterval::from_hz(p as f32)
    } else if is_clock_event(file, 0) && p > 0 {
        SamplingInterval::from_nanos(p)
    } else {
        SamplingInterval::from_millis(1)
    }
}

/// Builds the profile of `file`.
fn build(file: &PerfData, opts: ExportOptions) -> Result<(Profile, FirefoxSummary), ExportError> {
    let product = file
        .cmdline()
        .ok()
        .flatten()
        .map_or_else(|| "perf-client".to_owned(), |c| c.join(" "));
    // Sample times are the event's clock (perf_clock, CLOCK_MONOTONIC-like), not wall
    // time: the profile starts at the first record's time.
    let mut profile = Profile::new(
        &product,
        ReferenceTimestamp::from_millis_since_unix_epoch(0.0),
        interval(file),
    );
    let user = profile.add_category("User", CategoryColor::Yellow);
    let kernel = profile.add_category("Kernel", CategoryColor::Orange);
    let inlined = profile.add_subcategory(user, "Inlined");
    let lost_name = profile.intern_string("Lost");
    let lost_ring = profile.intern_string("ring records (PERF_RECORD_LOST)");
    let lost_samples = profile.intern_string("samples (PERF_RECORD_LOST_SAMPLES)");
    let mut threads = Threads {
        processes: HashMap::new(),
        threads: HashMap::new(),
    };
    let mut sum = FirefoxSummary::default();
    let mut start: Option<u64> = None;
    let mut last_time = 0u64;
    // Losses that name no thread wait for the first thread.
    let mut orphan_losses: Vec<(Timestamp, LostMarker)> = Vec::new();
    let rel = |t: Option<u64>, start: &mut Option<u64>, last: &mut u64| {
        let t = t.unwrap_or(*last);
        *last = t;
        let s = *start.get_or_insert(t);
        Timestamp::from_nanos_since_reference(t.saturating_sub(s))
    };
    walk(file, opts, |item| {
        match item {
            Item::Sample(s, _) => {
                let at = rel(s.time, &mut start, &mut last_time);
                let thread = threads.get(&mut profile, s.pid, s.tid, s.comm, at);
                // The stack goes from the root: the chain reversed.
                let frames: Vec<FrameInfo> = s
                    .chain
                    .iter()
                    .rev()
                    .filter_map(|cf| {
                        let f = s.frames.get(cf.index)?;
                        let (name, category_pair) = match (cf.inlined_name(), &f.symbol) {
                            (Some(call), _) => (call.to_owned(), inlined),
                            (None, Some(sym)) => (sym.clone(), user.into()),
                            (None, None) => (format!("{:#x} ({})", f.addr, f.dso), user.into()),
                        };
                        Some(FrameInfo {
                            frame: Frame::Label(profile.intern_string(&name)),
                            category_pair: if f.kernel {
                                kernel.into()
                            } else {
                                category_pair
                            },
                            flags: FrameFlags::empty(),
                        })
                    })
                    .collect();
                let stack = profile.intern_stack_frames(thread, frames.into_iter());
                let cpu = if is_clock_event(file, s.event) {
                    CpuDelta::from_nanos(s.period)
                } else {
                    CpuDelta::ZERO
                };
                profile.add_sample(thread, at, stack, cpu, 1);
                sum.samples += 1;
            }
            Item::Lost {
                time,
                pid_tid,
                count,
                ring,
            } => {
                let marker = LostMarker {
                    name: lost_name,
                    kind: if ring { lost_ring } else { lost_samples },
                    count,
                };
                sum.lost_markers += 1;
                let at = rel(time, &mut start, &mut last_time);
                match pid_tid {
                    Some((pid, tid)) => {
                        let comm = format!(":{tid}");
                        let thread = threads.get(&mut profile, pid, tid, &comm, at);
                        profile.add_marker(thread, MarkerTiming::Instant(at), marker);
                    }
                    None => orphan_losses.push((at, marker)),
                }
            }
        }
        Ok(())
    })?;
    if sum.samples == 0 {
        return Err(ExportError::NoSamples);
    }
    if let Some(&first) = threads.threads.values().min() {
        for (at, marker) in orphan_losses {
            profile.add_marker(first, MarkerTiming::Instant(at), marker);
        }
    }
    profile.set_symbolicated(true);
    sum.threads = threads.threads.len();
    sum.processes = threads.processes.len();
    Ok((profile, sum))
}

/// Writes the Firefox Profiler JSON of `file` to `out`, with `opts`.
///
/// # Errors
///
/// A corrupt capture ([`ExportError::Analysis`]), [`ExportError::NoSamples`], or a failed
/// write.
pub fn write(
    file: &PerfData,
    opts: ExportOptions,
    mut out: impl Write,
) -> Result<FirefoxSummary, ExportError> {
    let (profile, sum) = build(file, opts)?;
    serde_json::to_writer(&mut out, &profile)?;
    out.flush()?;
    Ok(sum)
}
