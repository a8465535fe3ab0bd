//! Inlined calls as frames of their own, as perf 6.1 shows them with inlining on (its
//! default for `script` and `report`; `--no-inline` turns it off).
//!
//! perf asks the DWARF of the object (libdw/addr2line's inline chain, its
//! `inline_node`) for every frame its DWARF unwinder produced (`unwind_entry` →
//! `append_inlines`) and shows each `DW_TAG_inlined_subroutine` at the address as a frame
//! of its own above the function, innermost first, marked ` (inlined)`, all at the
//! function's address. Frames from the kernel's callchain (the kernel part of a
//! `--call-graph dwarf` sample, every frame of `--call-graph fp`) and the ip of a sample
//! without a callchain are not expanded. The lookups come from
//! [`Symbols::source_line`], cached per (object, file offset), from verified objects
//! only; an address without DWARF stays one frame.

use std::path::Path;
use std::sync::Arc;

use super::machine::Machine;
use super::symbols::{SourceLine, Symbols};

/// One frame of a chain after expansion.
#[derive(Debug, Clone)]
pub(crate) struct ChainFrame {
    /// The address (an inlined call shows its function's).
    pub ip: u64,
    /// Index in the expanded `ips` of that address (the frames of one address share it).
    pub index: usize,
    /// The source line of the address, when looked up and known.
    pub line: Option<Arc<SourceLine>>,
    /// For an expanded frame, its depth in the address's chain counted from the
    /// innermost (`0`); the function itself is at `line.inlined.len()`. `None`: not
    /// expanded (its location is the innermost one, as addr2line gives it).
    pub depth: Option<usize>,
}

impl ChainFrame {
    /// The inlined function's name, when this frame is an inlined call.
    pub fn inlined_name(&self) -> Option<&str> {
        let (line, depth) = (self.line.as_deref()?, self.depth?);
        (depth < line.inlined.len()).then(|| line.name(depth))
    }

    /// The source location shown for this frame: its own in the inline chain when
    /// expanded, else the innermost one.
    pub fn location(&self) -> Option<(Option<&Path>, Option<u32>)> {
        let line = self.line.as_deref()?;
        Some(match self.depth {
            Some(d) => line.location(d),
            None => line.innermost(),
        })
    }
}

/// What to expand and look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expand {
    /// Show inlined calls as frames (perf's `--inline`, on by default).
    pub inline: bool,
    /// Look up the source line of frames that are not expanded too (`srcline`).
    pub all_lines: bool,
}

/// The frames of `ips` (innermost first, of process `pid`; those from `unwound_from` on
/// were unwound from the user stack copy) into `out` (cleared first).
pub(crate) fn expand(
    ips: &[u64],
    unwound_from: usize,
    how: Expand,
    pid: u32,
    machine: &Machine,
    symbols: &mut Symbols,
    out: &mut Vec<ChainFrame>,
) {
    out.clear();
    for (i, &ip) in ips.iter().enumerate() {
        let expanded = how.inline && i >= unwound_from;
        let line = if expanded || how.all_lines {
            symbols.source_line(machine, pid, ip)
        } else {
            None
        };
        match line {
            Some(l) if expanded => {
                for depth in 0..=l.inlined.len() {
                    out.push(ChainFrame {
                        ip,
                        index: i,
                        line: Some(l.clone()),
                        depth: Some(depth),
                    });
                }
            }
            line => out.push(ChainFrame {
                ip,
                index: i,
                line,
                depth: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::symbols::InlinedCall;
    use std::path::PathBuf;

    /// `work` (hot.c:21) inlines `step` (hot.c:14), which inlines `mix` (hot.c:8).
    fn work_step_mix() -> Arc<SourceLine> {
        let call = |name: &str, line| InlinedCall {
            name: name.to_owned(),
            file: Some(PathBuf::from("/src/hot.c")),
            line: Some(line),
        };
        Arc::new(SourceLine {
            function: "work".to_owned(),
            file: PathBuf::from("/src/hot.c"),
            line: Some(21),
            inlined: vec![call("step", 14), call("mix", 8)],
        })
    }

    #[test]
    fn expanded_frames_go_innermost_first_each_with_its_own_line() {
        let l = work_step_mix();
        let frames: Vec<ChainFrame> = (0..=2)
            .map(|d| ChainFrame {
                ip: 0x11c2,
                index: 0,
                line: Some(l.clone()),
                depth: Some(d),
            })
            .collect();
        let names: Vec<_> = frames.iter().map(ChainFrame::inlined_name).collect();
        assert_eq!(names, [Some("mix"), Some("step"), None]);
        let lines: Vec<_> = frames.iter().map(|f| f.location().unwrap().1).collect();
        assert_eq!(lines, [Some(8), Some(14), Some(21)]);
        // Not expanded: one frame, the innermost location (perf's srcline of an ip).
        let flat = ChainFrame {
            ip: 0x11c2,
            index: 0,
            line: Some(l),
            depth: None,
        };
        assert_eq!(flat.inlined_name(), None);
        assert_eq!(flat.location().unwrap().1, Some(8));
    }
}
