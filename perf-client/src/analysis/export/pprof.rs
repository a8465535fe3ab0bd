//! pprof export: a gzipped `perftools.profiles.Profile` (`profile.proto`), what `go tool
//! pprof`, Pyroscope and Parca read.
//!
//! - Sample types: `samples/count` (1 per sample), then the period: `cpu/nanoseconds` when
//!   every sampled event is `cpu-clock` or `task-clock` (their period is CPU time in ns),
//!   else `events/count`. The period is the default sample type, so `go tool pprof -top`
//!   totals `perf-client report`'s "Event count".
//! - Locations carry their mapping (file, build id from the BUILD_ID feature, address
//!   range, file offset) and one line per function the analysis named ([`Symbols`]);
//!   an address no symbol covers keeps its address and mapping and no line, so a
//!   symbolizer downstream may still name it (`has_functions` is set only on mappings
//!   whose every location was named).
//! - Inlined calls: where the verified object's DWARF has the address, a Location has
//!   one Line per function at it, the innermost inlined call first and the function
//!   itself last (profile.proto: "the last entry is the caller into which the preceding
//!   entries were inlined"), each with its source line, and the Function's `filename`
//!   is the source file (from [`SourceLine`]; the DSO where DWARF has none). Every frame
//!   with DWARF is expanded, not only the frames perf unwinds (a Location is an
//!   address, whatever found it); the outermost function keeps the ELF symbol's name,
//!   as `report` shows it. Without [`ExportOptions::inline`] (`--no-inline`) a Location
//!   has one Line: the function, at its own source line.
//! - Labels: `comm`, `pid`, `tid`, `cpu` (and `event` when the file has several events),
//!   all string labels: Go's pprof reader drops a numeric label whose value is 0 (cpu 0),
//!   and Pyroscope keeps string labels only.
//!
//! [`Symbols`]: crate::analysis::symbols::Symbols
//! [`SourceLine`]: crate::analysis::symbols::SourceLine

use std::collections::HashMap;
use std::io::Write;

use prost::Message;

use super::proto;
use super::{is_clock_event, walk, ExportError, ExportOptions, Item};
use crate::analysis::event_names;
use crate::perf_data::PerfData;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PprofSummary {
    /// Samples in the profile.
    pub samples: u64,
    /// Sum of their periods (the second value of every sample).
    pub period: u64,
    /// Distinct locations.
    pub locations: usize,
    /// Distinct functions.
    pub functions: usize,
    /// Distinct mappings.
    pub mappings: usize,
    /// Sample timestamps' span in nanoseconds (0 without PERF_SAMPLE_TIME).
    pub duration_nanos: u64,
}

/// Interns strings into the profile's string table (entry 0 is "").
#[derive(Debug, Default)]
struct Strings {
    table: Vec<String>,
    index: HashMap<String, i64>,
}

impl Strings {
    fn new() -> Self {
        let mut s = Strings::default();
        s.get("");
        s
    }

    fn get(&mut self, s: &str) -> i64 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = self.table.len() as i64;
        self.table.push(s.to_owned());
        self.index.insert(s.to_owned(), i);
        i
    }
}

/// Lower-case hex, as pprof and perf print build ids.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds the profile of `file` (not yet encoded).
fn build(
    file: &PerfData,
    opts: ExportOptions,
) -> Result<(proto::Profile, PprofSummary), ExportError> {
    let names = event_names(file);
    let build_ids: HashMap<String, String> = file
        .build_ids()?
        .into_iter()
        .map(|b| (b.filename, hex(&b.id)))
        .collect();
    let several_events = file.attrs().len() > 1;
    let mut strings = Strings::new();
    let k_comm = strings.get("comm");
    let k_pid = strings.get("pid");
    let k_tid = strings.get("tid");
    let k_cpu = strings.get("cpu");
    let k_event = strings.get("event");

    // (path, start, end, pgoff) → mapping index.
    let mut mapping_ids: HashMap<(String, u64, u64, u64), usize> = HashMap::new();
    let mut mappings: Vec<proto::Mapping> = Vec::new();
    // (mapping id, address) → location id.
    let mut location_ids: HashMap<(u64, u64), u64> = HashMap::new();
    let mut locations: Vec<proto::Location> = Vec::new();
    // (function name, file) → function id.
    let mut function_ids: HashMap<(i64, i64), u64> = HashMap::new();
    let mut functions: Vec<proto::Function> = Vec::new();
    // Mappings with a location no symbol named.
    let mut unnamed: std::collections::HashSet<u64> = std::collections::HashSet::new();
    // (locations, labels) → index into `samples`: identical stacks of one thread merge.
    let mut sample_index: HashMap<(Vec<u64>, Vec<proto::Label>), usize> = HashMap::new();
    let mut samples: Vec<proto::Sample> = Vec::new();
    let mut sampled_events: Vec<bool> = vec![false; names.len()];
    // Samples whose innermost frame is in each mapping (by index).
    let mut leaf_hits: Vec<u64> = Vec::new();
    let mut sum = PprofSummary::default();
    let (mut first, mut last) = (u64::MAX, 0u64);

    walk(file, opts, |item| {
        let Item::Sample(s, machine) = item else {
            return Ok(());
        };
        if let Some(seen) = sampled_events.get_mut(s.event) {
            *seen = true;
        }
        if let Some(t) = s.time {
            first = first.min(t);
            last = last.max(t);
        }
        let mut stack = Vec::with_capacity(s.frames.len());
        for (i, f) in s.frames.iter().enumerate() {
            let mapping_id = match machine.find_map(s.pid, f.addr) {
                Some(m) => {
                    let key = (m.path.clone(), m.start, m.end, m.pgoff);
                    let next = mappings.len();
                    let i = *mapping_ids.entry(key).or_insert(next);
                    if i == next {
                        let path = if m.path.starts_with("[kernel.kallsyms]") {
                            "[kernel.kallsyms]"
                        } else {
                            m.path.as_str()
                        };
                        let build_id = build_ids.get(path).map_or(0, |b| strings.get(b));
                        mappings.push(proto::Mapping {
                            id: next as u64 + 1,
                            memory_start: m.start,
                            memory_limit: m.end,
                            file_offset: m.pgoff,
                            filename: strings.get(path),
                            build_id,
                            has_functions: true,
                            ..Default::default()
                        });
                    }
                    i as u64 + 1
                }
                None => 0,
            };
            let next = locations.len() as u64 + 1;
            let loc = *location_ids.entry((mapping_id, f.addr)).or_insert(next);
            if loc == next {
                let mut line = Vec::new();
                match &f.symbol {
                    Some(name) => {
                        let source = s.lines.get(i).and_then(Option::as_deref);
                        let depths = source.map_or(0, |l| l.inlined.len());
                        let mut function = |name: &str, file: &str| {
                            let key = (strings.get(name), strings.get(file));
                            let next_fn = functions.len() as u64 + 1;
                            let id = *function_ids.entry(key).or_insert(next_fn);
                            if id == next_fn {
                                functions.push(proto::Function {
                                    id,
                                    name: key.0,
                                    system_name: key.0,
                                    filename: key.1,
                                    start_line: 0,
                                });
                            }
                            id
                        };
                        let innermost = if opts.inline { 0 } else { depths };
                        for depth in innermost..=depths {
                            let (file, no) = source.map_or((None, None), |l| l.location(depth));
                            let file = file
                                .filter(|p| !p.as_os_str().is_empty())
                                .map(|p| p.to_string_lossy());
                            let file = file.as_deref().unwrap_or(&f.dso);
                            let name = match source {
                                Some(l) if depth < depths => l.name(depth),
                                _ => name.as_str(),
                            };
                            line.push(proto::Line {
                                function_id: function(name, file),
                                line: i64::from(no.unwrap_or(0)),
                                column: 0,
                            });
                        }
                    }
                    None => {
                        unnamed.insert(mapping_id);
                    }
                }
                locations.push(proto::Location {
                    id: loc,
                    mapping_id,
                    address: f.addr,
                    line,
                    is_folded: false,
                });
            }
            if stack.is_empty() && mapping_id > 0 {
                let i = mapping_id as usize - 1;
                leaf_hits.resize(leaf_hits.len().max(i + 1), 0);
                leaf_hits[i] += 1;
            }
            stack.push(loc);
        }
        let mut labels = vec![
            proto::Label {
                key: k_comm,
                str: strings.get(s.comm),
                ..Default::default()
            },
            proto::Label {
                key: k_pid,
                str: strings.get(&s.pid.to_string()),
                ..Default::default()
            },
            proto::Label {
                key: k_tid,
                str: strings.get(&s.tid.to_string()),
                ..Default::default()
            },
        ];
        if let Some(cpu) = s.cpu {
            labels.push(proto::Label {
                key: k_cpu,
                str: strings.get(&cpu.to_string()),
                ..Default::default()
            });
        }
        if several_events {
            let name = names.get(s.event).map_or("", String::as_str);
            labels.push(proto::Label {
                key: k_event,
                str: strings.get(name),
                ..Default::default()
            });
        }
        let period = i64::try_from(s.period).unwrap_or(i64::MAX);
        let key = (stack, labels);
        let i = match sample_index.get(&key) {
            Some(&i) => i,
            None => {
                samples.push(proto::Sample {
                    location_id: key.0.clone(),
                    value: vec![0, 0],
                    label: key.1.clone(),
                });
                sample_index.insert(key, samples.len() - 1);
                samples.len() - 1
            }
        };
        let v = &mut samples[i].value;
        v[0] += 1;
        v[1] = v[1].saturating_add(period);
        sum.samples += 1;
        sum.period = sum.period.saturating_add(s.period);
        Ok(())
    })?;
    if sum.samples == 0 {
        return Err(ExportError::NoSamples);
    }
    for m in &mut mappings {
        m.has_functions = !unnamed.contains(&m.id);
    }
    main_mapping_first(&mut mappings, &mut locations, &leaf_hits);
    let all_clock = sampled_events
        .iter()
        .enumerate()
        .filter(|(_, &seen)| seen)
        .all(|(i, _)| is_clock_event(file, i));
    let (kind, unit) = if all_clock {
        ("cpu", "nanoseconds")
    } else {
        ("events", "count")
    };
    let counted = proto::ValueType {
        r#type: strings.get(kind),
        unit: strings.get(unit),
    };
    let sample_type = vec![
        proto::ValueType {
            r#type: strings.get("samples"),
            unit: strings.get("count"),
        },
        counted,
    ];
    // The sampling period, when every attr has a fixed one (not -F).
    let fixed = file
        .attrs()
        .iter()
        .all(|a| a.attr.flags() & crate::perf_data::attr::flag::FREQ == 0);
    let period = if fixed {
        file.attrs().first().map_or(0, |a| a.attr.sample_period())
    } else {
        0
    };
    sum.duration_nanos = last.saturating_sub(first.min(last));
    sum.locations = locations.len();
    sum.functions = functions.len();
    sum.mappings = mappings.len();
    let profile = proto::Profile {
        sample_type,
        default_sample_type: counted.r#type,
        sample: samples,
        mapping: mappings,
        location: locations,
        function: functions,
        period_type: Some(counted),
        period: i64::try_from(period).unwrap_or(0),
        duration_nanos: i64::try_from(sum.duration_nanos).unwrap_or(0),
        string_table: strings.table,
        ..Default::default()
    };
    Ok((profile, sum))
}

/// pprof takes the first mapping for the main binary (`File:` in `go tool pprof`): puts
/// the mapping most samples ended in first, renumbering the others after it in order.
fn main_mapping_first(
    mappings: &mut [proto::Mapping],
    locations: &mut [proto::Location],
    leaf_hits: &[u64],
) {
    let Some((main, _)) = leaf_hits
        .iter()
        .enumerate()
        .max_by_key(|&(i, &n)| (n, std::cmp::Reverse(i)))
    else {
        return;
    };
    if main == 0 || main >= mappings.len() {
        return;
    }
    // Old id (index + 1) → new id: `main` becomes 1, those before it move up by one.
    let new_id = |old: u64| -> u64 {
        match (old as usize).checked_sub(1) {
            None => 0,
            Some(i) if i == main => 1,
            Some(i) if i < main => old + 1,
            Some(_) => old,
        }
    };
    for l in locations.iter_mut() {
        l.mapping_id = new_id(l.mapping_id);
    }
    for m in mappings.iter_mut() {
        m.id = new_id(m.id);
    }
    mappings[..=main].rotate_right(1);
}

/// The gzipped profile of `file`, and what it holds.
///
/// # Errors
///
/// A corrupt capture ([`ExportError::Analysis`]), or [`ExportError::NoSamples`].
pub fn encode(
    file: &PerfData,
    opts: ExportOptions,
) -> Result<(Vec<u8>, PprofSummary), ExportError> {
    let (profile, sum) = build(file, opts)?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&profile.encode_to_vec())?;
    Ok((gz.finish()?, sum))
}

/// Writes the gzipped profile of `file` to `out`.
///
/// # Errors
///
/// As [`encode`], and a failed write.
pub fn write(
    file: &PerfData,
    opts: ExportOptions,
    mut out: impl Write,
) -> Result<PprofSummary, ExportError> {
    let (bytes, sum) = encode(file, opts)?;
    out.write_all(&bytes)?;
    out.flush()?;
    Ok(sum)
}
