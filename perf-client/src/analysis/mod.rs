//! Reading a capture back: who ran where ([`machine`]), address → symbol
//! ([`symbols`]), per-event lines like `perf script` ([`script`]), and overhead tables and
//! flame graphs like `perf report` ([`report`]).

pub mod machine;
pub mod report;
pub mod script;
pub mod symbols;

use crate::perf_data::PerfData;

/// `PERF_CONTEXT_MAX` (`-4095` as u64): callchain entries at or above it are context
/// markers (`PERF_CONTEXT_KERNEL`, `PERF_CONTEXT_USER`, ...), not addresses.
pub const PERF_CONTEXT_MAX: u64 = (-4095i64) as u64;
/// `PERF_CONTEXT_KERNEL`.
pub const PERF_CONTEXT_KERNEL: u64 = (-128i64) as u64;
/// `PERF_CONTEXT_USER`.
pub const PERF_CONTEXT_USER: u64 = (-512i64) as u64;

/// Event names by attr index: EVENT_DESC names, else `type:config`.
pub fn event_names(file: &PerfData) -> Vec<String> {
    let names = file.event_names().unwrap_or_default();
    file.attrs()
        .iter()
        .enumerate()
        .map(|(i, a)| {
            names
                .get(i)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("type{}:config{:#x}", a.attr.type_(), a.attr.config()))
        })
        .collect()
}
