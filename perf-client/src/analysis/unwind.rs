//! `--call-graph dwarf` unwinding: the user stack copy (PERF_SAMPLE_STACK_USER) and
//! registers (PERF_SAMPLE_REGS_USER) of each sample walked with framehop over the
//! `.eh_frame` / `.debug_frame` of the mapped files, as `perf report` does with
//! libunwind or libdw.
//!
//! Each file is read and its unwind sections located once ([`ObjectInfo`], shared by
//! every process that maps it); each process gets one framehop `Module` per mapped
//! object, built once and kept while the process's maps stay the same.

use std::collections::HashMap;
use std::ops::{Deref, Range};
use std::sync::Arc;

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{ExplicitModuleSectionInfo, FrameAddress, Module, Unwinder};
use object::{Object, ObjectSection, ObjectSegment};

use super::machine::{Machine, Map};
use super::symbols::Symbols;
use super::{PERF_CONTEXT_MAX, PERF_CONTEXT_USER};
use crate::records::Sample;

/// x86-64 `PERF_REG_X86_BP` (`arch/x86/include/uapi/asm/perf_regs.h`).
pub const PERF_REG_X86_BP: u32 = 6;
/// `PERF_REG_X86_SP`.
pub const PERF_REG_X86_SP: u32 = 7;
/// `PERF_REG_X86_IP`.
pub const PERF_REG_X86_IP: u32 = 8;
/// The `sample_regs_user` mask perf uses on x86-64 for `--call-graph dwarf`
/// (`PERF_REGS_MASK`: AX..SS and R8..R15, without DS, ES, FS, GS).
pub const X86_64_USER_REGS_MASK: u64 = 0xff0fff;
/// perf's default `--call-graph dwarf` stack copy (`sample_stack_user`).
pub const DEFAULT_STACK_DUMP: u32 = 8192;
/// At most this many frames per sample (perf's default `kernel.perf_event_max_stack`).
const MAX_FRAMES: usize = 127;

/// The file a mapping's unwind tables are read from.
///
/// The path the MMAP2 record names, when it is a file; the tables are then read from the
/// file [`Symbols::verified_object_path`] verified for it (the path itself or a build-id
/// cache copy), never from another build.
pub fn object_path(map: &Map) -> Option<&str> {
    let p = map.path.as_str();
    (p.starts_with('/') && !p.starts_with("//")).then_some(p)
}

/// Section bytes shared between every module built from one file.
#[derive(Debug, Clone)]
pub struct SectionBytes {
    file: Arc<Vec<u8>>,
    range: Range<usize>,
}

impl Deref for SectionBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // `range` was checked against the file's length when the section was found.
        &self.file[self.range.clone()]
    }
}

/// One ELF file, read once: its unwind sections and its PT_LOAD segments.
#[derive(Debug)]
struct ObjectInfo {
    file: Arc<Vec<u8>>,
    /// (file offset, file size, vaddr) of each PT_LOAD segment.
    segments: Vec<(u64, u64, u64)>,
    /// (name, svma range, file range) of the sections framehop reads.
    sections: Vec<(&'static [u8], Range<u64>, Range<usize>)>,
}

impl ObjectInfo {
    fn read(path: &str) -> Option<ObjectInfo> {
        let bytes = Arc::new(std::fs::read(path).ok()?);
        let obj = object::File::parse(&bytes[..]).ok()?;
        let segments = obj
            .segments()
            .map(|s| {
                let (off, size) = s.file_range();
                (off, size, s.address())
            })
            .collect();
        let mut sections = Vec::new();
        for name in [
            &b".eh_frame"[..],
            b".eh_frame_hdr",
            b".debug_frame",
            b".text",
            b".got",
        ] {
            let Some(s) = obj.section_by_name_bytes(name) else {
                continue;
            };
            let svma = s.address()..s.address().saturating_add(s.size());
            let file = s.file_range().and_then(|(off, size)| {
                let start = usize::try_from(off).ok()?;
                let end = start.checked_add(usize::try_from(size).ok()?)?;
                (end <= bytes.len()).then_some(start..end)
            });
            // A section without file bytes (compressed .debug_frame, .got in NOBITS) still
            // gives its address range.
            sections.push((name, svma, file.unwrap_or(0..0)));
        }
        drop(obj);
        Some(ObjectInfo {
            file: bytes,
            segments,
            sections,
        })
    }

    /// The framehop module of this file mapped by `map`: the process address of svma 0
    /// is found through the PT_LOAD segment that holds the map's file offset.
    fn module(&self, map: &Map) -> Option<Module<SectionBytes>> {
        let &(off, _, vaddr) = self
            .segments
            .iter()
            .find(|&&(off, size, _)| map.pgoff >= off && map.pgoff < off.saturating_add(size))?;
        let svma_of_start = vaddr.checked_add(map.pgoff - off)?;
        let base_avma = map.start.checked_sub(svma_of_start)?;
        let bytes = |name: &[u8]| {
            self.sections
                .iter()
                .find(|s| s.0 == name && !s.2.is_empty())
                .map(|s| SectionBytes {
                    file: Arc::clone(&self.file),
                    range: s.2.clone(),
                })
        };
        let svma = |name: &[u8]| {
            self.sections
                .iter()
                .find(|s| s.0 == name)
                .map(|s| s.1.clone())
        };
        let info = ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma: svma(b".text"),
            text: bytes(b".text"),
            got_svma: svma(b".got"),
            eh_frame_svma: svma(b".eh_frame"),
            eh_frame: bytes(b".eh_frame"),
            eh_frame_hdr_svma: svma(b".eh_frame_hdr"),
            eh_frame_hdr: bytes(b".eh_frame_hdr"),
            debug_frame: bytes(b".debug_frame"),
            stubs_svma: None,
            stub_helper_svma: None,
            unwind_info: None,
            text_segment_svma: None,
            text_segment: None,
        };
        Some(Module::new(
            map.path.clone(),
            map.start..map.end,
            base_avma,
            info,
        ))
    }
}

/// One process's unwinder, rebuilt when the maps of the process change.
struct Process {
    /// The maps the unwinder was built from: (start, end, pgoff, path).
    maps: Vec<(u64, u64, u64, String)>,
    /// [`Machine::map_changes`] when `maps` was last found equal to the machine's.
    checked_at: u64,
    unwinder: UnwinderX86_64<SectionBytes>,
}

/// Counts of what the unwinder did, for stderr and `--json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UnwindStats {
    /// Samples with a user register set and stack copy.
    pub samples: u64,
    /// Of them, unwound until the stack ended (the outermost frame's unwind rule said
    /// so, or the frame pointer reached zero).
    pub complete: u64,
    /// Unwound part of the way: a frame the unwind tables did not cover, a read beyond
    /// the copied stack, or more than 127 frames.
    pub truncated: u64,
    /// Not unwound at all: only the sampled ip is kept.
    pub first_frame_only: u64,
}

impl UnwindStats {
    /// One line for stderr when some samples were not unwound to their end, else `None`.
    pub fn describe(&self) -> Option<String> {
        (self.samples > 0 && self.complete < self.samples).then(|| {
            format!(
                "{} of {} samples with a user stack were not unwound to their end \
                 ({} stopped part way, {} kept only their first frame)",
                self.samples - self.complete,
                self.samples,
                self.truncated,
                self.first_frame_only
            )
        })
    }
}

/// The frames of samples: the kernel's callchain, and for samples with a user stack
/// copy the user frames unwound from it.
pub struct ChainBuilder {
    objects: HashMap<String, Option<Arc<ObjectInfo>>>,
    /// Modules by (pid, map start, path), built once.
    modules: HashMap<(u32, u64, String), Option<Module<SectionBytes>>>,
    processes: HashMap<u32, Process>,
    cache: CacheX86_64,
    stats: UnwindStats,
    /// Where the frames of the last [`ChainBuilder::frames`] call unwound from the user
    /// stack copy begin (its length when none were).
    unwound_from: usize,
}

impl std::fmt::Debug for ChainBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainBuilder")
            .field("objects", &self.objects.len())
            .field("processes", &self.processes.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Default for ChainBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// Is `ip` a context marker (`PERF_CONTEXT_*`)?
fn is_marker(ip: u64) -> bool {
    ip >= PERF_CONTEXT_MAX
}

impl ChainBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        ChainBuilder {
            objects: HashMap::new(),
            modules: HashMap::new(),
            processes: HashMap::new(),
            cache: CacheX86_64::new(),
            stats: UnwindStats::default(),
            unwound_from: 0,
        }
    }

    /// The index of the first frame of the last [`ChainBuilder::frames`] result that was
    /// unwound from the user stack copy (`--call-graph dwarf`); the frames before it came
    /// from the kernel's callchain. perf 6.1 shows inlined calls only for unwound frames
    /// (its `unwind_entry` appends them, `add_callchain_ip` does not).
    pub fn unwound_from(&self) -> usize {
        self.unwound_from
    }

    /// What unwinding did so far.
    pub fn stats(&self) -> UnwindStats {
        self.stats
    }

    /// The addresses of `sample`'s frames, innermost first, into `out` (cleared first):
    /// the callchain without context markers (or the ip alone); for a sample with a user
    /// stack copy, the kernel part of the callchain and then the user frames unwound
    /// from the copy. A caller frame's address is its return address minus one (the
    /// call instruction, as perf's libdw unwinder reports it).
    pub fn frames(
        &mut self,
        sample: &Sample<'_>,
        machine: &Machine,
        symbols: &mut Symbols,
        out: &mut Vec<u64>,
    ) {
        out.clear();
        let user_regs = sample
            .regs_user
            .as_ref()
            .filter(|r| r.abi == 2)
            .zip(sample.stack_user.as_ref());
        match &sample.callchain {
            Some(chain) if !chain.is_empty() => {
                for &ip in chain.iter() {
                    if user_regs.is_some() && ip == PERF_CONTEXT_USER {
                        break;
                    }
                    if !is_marker(ip) {
                        out.push(ip);
                    }
                }
            }
            _ if user_regs.is_none() => out.extend(sample.ip),
            _ => {}
        }
        self.unwound_from = out.len();
        let Some((regs, stack)) = user_regs else {
            return;
        };
        let (Some(ip), Some(sp), Some(bp)) = (
            regs.get(PERF_REG_X86_IP),
            regs.get(PERF_REG_X86_SP),
            regs.get(PERF_REG_X86_BP),
        ) else {
            return;
        };
        self.stats.samples += 1;
        let pid = sample.pid.unwrap_or(0);
        self.refresh(pid, machine, symbols);
        let Some(proc_) = self.processes.get(&pid) else {
            return;
        };
        let stack = stack.valid();
        let mut read_stack = |addr: u64| -> Result<u64, ()> {
            let off = usize::try_from(addr.checked_sub(sp).ok_or(())?).map_err(|_| ())?;
            let b = stack.get(off..off.checked_add(8).ok_or(())?).ok_or(())?;
            let mut w = [0u8; 8];
            w.copy_from_slice(b);
            Ok(u64::from_le_bytes(w))
        };
        let before = out.len();
        let mut it = proc_.unwinder.iter_frames(
            ip,
            UnwindRegsX86_64::new(ip, sp, bp),
            &mut self.cache,
            &mut read_stack,
        );
        let complete = loop {
            if out.len() - before >= MAX_FRAMES {
                break false;
            }
            match it.next() {
                Ok(Some(FrameAddress::InstructionPointer(a))) => out.push(a),
                Ok(Some(FrameAddress::ReturnAddress(a))) => out.push(a.get() - 1),
                Ok(None) => break true,
                Err(_) => break false,
            }
        };
        if out.len() == before {
            out.push(ip);
        }
        if complete {
            self.stats.complete += 1;
        } else if out.len() - before == 1 {
            self.stats.first_frame_only += 1;
        } else {
            self.stats.truncated += 1;
        }
    }

    /// Makes the unwinder of `pid` match the maps `machine` knows for it.
    fn refresh(&mut self, pid: u32, machine: &Machine, symbols: &mut Symbols) {
        let maps = machine.maps_of(pid);
        let changes = machine.map_changes();
        if let Some(p) = self.processes.get_mut(&pid) {
            // No map changed since the last check: no need to compare them.
            if p.checked_at == changes {
                return;
            }
            let same = p.maps.len() == maps.len()
                && p.maps.iter().zip(maps).all(|(a, m)| {
                    a.0 == m.start && a.1 == m.end && a.2 == m.pgoff && a.3 == m.path
                });
            if same {
                p.checked_at = changes;
                return;
            }
        }
        let mut unwinder = UnwinderX86_64::new();
        for map in maps {
            let Some(path) = object_path(map) else {
                continue;
            };
            let key = (pid, map.start, map.path.clone());
            if !self.modules.contains_key(&key) {
                // Unwind tables only from the file verified by build id (the one symbols
                // are read from): another build's tables would unwind to wrong frames.
                let info = self.objects.entry(path.to_owned()).or_insert_with(|| {
                    let verified = symbols.verified_object_path(machine, path)?;
                    ObjectInfo::read(verified.to_str()?).map(Arc::new)
                });
                let module = info.as_ref().and_then(|o| o.module(map));
                self.modules.insert(key.clone(), module);
            }
            if let Some(m) = &self.modules[&key] {
                unwinder.add_module(m.clone());
            }
        }
        self.processes.insert(
            pid,
            Process {
                maps: maps
                    .iter()
                    .map(|m| (m.start, m.end, m.pgoff, m.path.clone()))
                    .collect(),
                checked_at: changes,
                unwinder,
            },
        );
    }
}
