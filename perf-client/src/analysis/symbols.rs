//! Address → symbol with blazesym, from files verified by build id (DESIGN.md §8, perf's
//! rule): a name is only ever read from bytes that are the bytes that ran.
//!
//! **User objects.** The recorded build id of a mapped file comes from its MMAP2 record
//! (`PERF_RECORD_MISC_MMAP_BUILD_ID`) or the file's BUILD_ID feature. The file on disk is
//! used when its own build-id note equals it; else a copy from the build-id cache
//! (`~/.debug/.build-id/xx/yyyy…/elf`, which `record` fills); else the address stays raw
//! (`[unknown]`, as perf prints it) and the object is counted as not verified. Names come
//! from the ELF symbol table of the detached debug file when there is one with the same
//! build id (`/usr/lib/debug/.build-id/xx/yyyy.debug`, `.gnu_debuglink`), as perf prefers
//! it, else of the verified file itself; file offsets are turned into addresses through
//! the verified file's load segments.
//!
//! **No recorded build id.** perf lists build ids only for objects that sample ips hit,
//! so an object seen only in callchains often has none. Such a file is trusted when its
//! MMAP2 record's device and inode are the file's on disk and its content has not been
//! modified (mtime) since the perf.data was last written — the same file, untouched (a
//! tool that rewrites a file in place and then sets an older mtime would defeat this);
//! or, as perf does, when the recording has no BUILD_ID feature at all (an unfinished
//! file, or one of `perf record -z`, which skips build ids). The kernel without a recorded
//! build id only in that second case, and only when the recorded release (OSRELEASE) is
//! the running one. Anything else stays an address.
//!
//! **Kernel.** Kernel addresses are named only from a symbol table of the recorded kernel
//! build: the copy in the build-id cache (`~/.debug/[kernel.kallsyms]/<build id>/kallsyms`,
//! which `record` writes), else the running kernel's `/proc/kallsyms` when its build id
//! (`/sys/kernel/notes`) equals the recorded `[kernel.kallsyms]` one. Addresses are relocated by the
//! difference between the reference symbol (`_text`) in that table and the recorded
//! kernel map's `pgoff` (where `_text` was when recording: KASLR moves it every boot).
//!
//! Results are cached per (file, offset).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use blazesym::MaybeDefault;

use super::debuginfo::{self, ElfInfo};
use super::machine::{Machine, Map};
use crate::perf_data::{misc, BuildId, PerfData};

/// One resolved address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The address.
    pub addr: u64,
    /// The function, if found.
    pub symbol: Option<String>,
    /// Offset of `addr` from the function's start.
    pub offset: u64,
    /// The DSO perf would name (`libc.so.6`, `[kernel.kallsyms]`, `[unknown]`).
    pub dso: String,
    /// True for a kernel address.
    pub kernel: bool,
}

impl Frame {
    /// `symbol+0xoff`, or `[unknown]` like perf.
    pub fn symbol_or_unknown(&self) -> String {
        match &self.symbol {
            Some(s) => format!("{s}+{:#x}", self.offset),
            None => "[unknown]".to_owned(),
        }
    }

    /// The function name, or `[unknown]`.
    pub fn function(&self) -> &str {
        self.symbol.as_deref().unwrap_or("[unknown]")
    }
}

/// One resolved address, borrowing the symbolizer's cache and the machine's map: what
/// the hot path of `script` prints without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRef<'a> {
    /// The address.
    pub addr: u64,
    /// The function, if found.
    pub symbol: Option<&'a str>,
    /// Offset of `addr` from the function's start.
    pub offset: u64,
    /// The DSO perf would name.
    pub dso: &'a str,
    /// True for a kernel address.
    pub kernel: bool,
}

impl FrameRef<'_> {
    /// An owned [`Frame`].
    pub fn to_frame(&self) -> Frame {
        Frame {
            addr: self.addr,
            symbol: self.symbol.map(str::to_owned),
            offset: self.offset,
            dso: self.dso.to_owned(),
            kernel: self.kernel,
        }
    }
}

/// Where one address is in the source, from the DWARF of a verified object (its debug
/// file, or the object itself): perf's `srcline`, with the inlined calls at it (what
/// perf's `inline_node` holds, from libdw/addr2line's inline chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    /// The function the address is in (the outermost, not inlined, one), as DWARF
    /// names it.
    pub function: String,
    /// The source file of the outermost function's location: where the address is, or
    /// with inlined calls, where the outermost inlined call is made. Empty when the
    /// object has DWARF lines but none for the address (addr2line's `??:0`).
    pub file: PathBuf,
    /// That line.
    pub line: Option<u32>,
    /// The calls inlined at the address, outermost first; the last one's location is
    /// where the address itself is.
    pub inlined: Vec<InlinedCall>,
}

/// One call inlined at an address (a `DW_TAG_inlined_subroutine`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinedCall {
    /// The inlined function.
    pub name: String,
    /// The source file of its location at the address (the next inner call, or the
    /// address itself for the innermost).
    pub file: Option<PathBuf>,
    /// That line.
    pub line: Option<u32>,
}

impl SourceLine {
    /// Where the address itself is (the innermost location): perf's `srcline` of a
    /// sampled address, `file:line` of addr2line without inline frames.
    pub fn innermost(&self) -> (Option<&Path>, Option<u32>) {
        match self.inlined.last() {
            Some(c) => (c.file.as_deref(), c.line),
            None => (Some(self.file.as_path()), self.line),
        }
    }

    /// The location shown for frame `depth` of the address's chain counted from the
    /// innermost (0 is the innermost inlined call, `inlined.len()` the function itself).
    pub fn location(&self, depth: usize) -> (Option<&Path>, Option<u32>) {
        let n = self.inlined.len();
        match n.checked_sub(depth + 1) {
            Some(i) => (self.inlined[i].file.as_deref(), self.inlined[i].line),
            None => (Some(self.file.as_path()), self.line),
        }
    }

    /// The name of frame `depth` counted from the innermost, as [`SourceLine::location`].
    pub fn name(&self, depth: usize) -> &str {
        let n = self.inlined.len();
        match n.checked_sub(depth + 1) {
            Some(i) => &self.inlined[i].name,
            None => &self.function,
        }
    }
}

/// Function name and offset of one address, or `None` when unknown.
type Found = Option<(Box<str>, u64)>;

/// Why the symbols of an object were not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Unverified {
    /// The file on disk has another build id, and no cache has the recorded one.
    Mismatch,
    /// The file is gone, and no cache has the recorded build id.
    Missing,
    /// The file is there but cannot be read as ELF (permissions, not ELF).
    Unreadable,
    /// The recording lists build ids, but none for this file, and the file on disk is
    /// not the one mapped (device and inode of its MMAP2 record) unmodified since.
    NotRecorded,
    /// Kernel: the running kernel is another build, and the build-id cache has no
    /// kallsyms of the recorded one.
    OtherKernel,
    /// Kernel: the recording has no kernel build id.
    KernelNotRecorded,
    /// Kernel: the reference symbol (`_text`) could not be found in the symbol table or
    /// the recording, so addresses cannot be relocated.
    NoRelocation,
}

impl Unverified {
    /// A short explanation.
    pub fn reason(self) -> &'static str {
        match self {
            Unverified::Mismatch => {
                "the file on disk has another build id and no build-id cache has the recorded one"
            }
            Unverified::Missing => {
                "the file is gone and no build-id cache has the recorded build id"
            }
            Unverified::Unreadable => "the file cannot be read as ELF",
            Unverified::NotRecorded => {
                "the recording has no build id for it, and the file on disk is not the mapped \
                 one unmodified since the recording (device, inode, mtime)"
            }
            Unverified::OtherKernel => {
                "recorded on another kernel build, whose kallsyms is not in the build-id cache"
            }
            Unverified::KernelNotRecorded => "the recording has no kernel build id",
            Unverified::NoRelocation => "the kernel map or _text is unknown, cannot relocate",
        }
    }
}

/// Where the symbols of one mapped file come from, decided once per path.
#[derive(Debug)]
enum Object {
    /// Verified (or trusted by the no-BUILD_ID rule).
    Named {
        /// The verified file's load segments (offset → address).
        elf: Box<ElfInfo>,
        /// The verified file (on disk or the cache copy).
        elf_path: PathBuf,
        /// Its detached debug file, when there is one.
        debug: Option<PathBuf>,
        /// perf's pick where symbols share an address, in the symbol file.
        aliases: HashMap<u64, String>,
    },
    /// Not a file (`[vdso]`, `//anon`, a relative path): no symbols, not counted.
    NotAFile,
    /// Not verified: addresses stay raw.
    Refused(Unverified),
}

/// Where kernel symbols come from.
#[derive(Debug, Clone)]
enum KernelSyms {
    /// `/proc/kallsyms` (the running kernel is the recorded build).
    Live,
    /// A kallsyms copy of the recorded build.
    Copy(PathBuf),
    /// None.
    Refused(Unverified),
}

/// The text of a kallsyms table and its aliases.
type KernelTable = (String, HashMap<u64, String>);

/// Reads the kallsyms table at `path` and finds its aliases.
fn read_kernel_table(path: &Path) -> Option<KernelTable> {
    let text = std::fs::read_to_string(path).ok()?;
    let aliases = debuginfo::kallsyms_aliases(&text);
    Some((text, aliases))
}

/// A caching symbolizer.
#[derive(Debug)]
pub struct Symbols {
    symbolizer: Symbolizer,
    /// DWARF lines and inlined calls ([`Symbols::source_line`]), made on first use.
    lines: Option<Symbolizer>,
    /// Per file path: file offset → its source line (the one cache every output uses).
    source_lines: HashMap<String, HashMap<u64, Option<Arc<SourceLine>>>>,
    /// Build ids of the BUILD_ID feature, by path.
    recorded: HashMap<String, Vec<u8>>,
    /// Whether the recording has a BUILD_ID feature at all.
    has_build_ids: bool,
    /// When the recording was last written (the perf.data's mtime), if known.
    written: Option<std::time::SystemTime>,
    /// Where kernel names come from.
    kernel_syms: KernelSyms,
    /// Relocation of recorded kernel addresses into the symbol table's (added), once the
    /// kernel map has been seen; `Err` when it cannot be computed.
    kernel_delta: Option<Result<u64, Unverified>>,
    /// perf's pick where kernel symbols share an address, loaded with `kernel_delta`.
    kernel_aliases: HashMap<u64, String>,
    /// The text of the kernel's kallsyms table and its aliases
    /// ([`debuginfo::kallsyms_aliases`]), being read on a helper thread since
    /// [`Symbols::for_file`] (reading `/proc/kallsyms` makes the kernel format every
    /// symbol: tens of ms that overlap the start of the walk); taken by the first
    /// kernel address.
    kernel_text: Option<std::thread::JoinHandle<Option<KernelTable>>>,
    /// Kernel addresses.
    kernel: HashMap<u64, Found>,
    /// Per file path: how its symbols are read.
    objects: HashMap<String, Object>,
    /// Per file path: file offset → symbol. Looked up by `&str`, so a hit allocates
    /// nothing.
    files: HashMap<String, HashMap<u64, Found>>,
}

impl Symbols {
    /// A symbolizer that knows no build ids: files at their recorded paths are trusted
    /// (the rule for a recording without a BUILD_ID feature). Kernel addresses are named
    /// from `/proc/kallsyms` only when `running_kernel_verified` says the addresses were
    /// recorded on the running kernel build and boot; otherwise they stay unnamed.
    pub fn new(running_kernel_verified: bool) -> Self {
        Symbols {
            symbolizer: Symbolizer::new(),
            lines: None,
            source_lines: HashMap::new(),
            recorded: HashMap::new(),
            has_build_ids: false,
            written: None,
            kernel_syms: if running_kernel_verified {
                KernelSyms::Live
            } else {
                KernelSyms::Refused(Unverified::KernelNotRecorded)
            },
            kernel_delta: None,
            kernel_aliases: HashMap::new(),
            kernel_text: None,
            kernel: HashMap::new(),
            objects: HashMap::new(),
            files: HashMap::new(),
        }
    }

    /// A symbolizer for `file`, verifying every object by the build ids it recorded (see
    /// the module documentation for the rules).
    pub fn for_file(file: &PerfData) -> Self {
        let ids = file.build_ids().unwrap_or_default();
        let has_build_ids = file
            .feature_bits()
            .any(|b| b == crate::perf_data::feature::BUILD_ID);
        let recorded_kernel = ids
            .iter()
            .find(|b| b.cpumode == misc::KERNEL && b.filename == "[kernel.kallsyms]")
            .map(|b| b.id.clone());
        let kernel_syms = match recorded_kernel {
            // The no-BUILD_ID rule, for the kernel: the same release as the running one
            // (`perf record -z` writes no BUILD_ID feature; perf then uses kallsyms).
            None if !has_build_ids && same_release(file) => KernelSyms::Live,
            None => KernelSyms::Refused(Unverified::KernelNotRecorded),
            // The build-id cache's copy of the recorded build's table first (`record`
            // writes it, as perf does): a file reads in milliseconds, where
            // `/proc/kallsyms` makes the kernel format every symbol, and it holds the
            // modules loaded when recording. Then the running kernel's, if it is that build.
            Some(r) => match debuginfo::cached_kallsyms(&r) {
                Some(copy) => KernelSyms::Copy(copy),
                None => match BuildId::running_kernel() {
                    Some(k) if debuginfo::same_build_id(&k.id, &r) => KernelSyms::Live,
                    _ => KernelSyms::Refused(Unverified::OtherKernel),
                },
            },
        };
        let table = match &kernel_syms {
            KernelSyms::Live => Some(PathBuf::from("/proc/kallsyms")),
            KernelSyms::Copy(p) => Some(p.clone()),
            KernelSyms::Refused(_) => None,
        };
        // Without the thread, the table is read when first needed.
        let kernel_text = table.and_then(|t| {
            std::thread::Builder::new()
                .name("kallsyms".to_owned())
                .spawn(move || read_kernel_table(&t))
                .ok()
        });
        let recorded = ids
            .into_iter()
            .filter(|b| b.filename.starts_with('/'))
            .map(|b| (b.filename, b.id))
            .collect();
        Symbols {
            symbolizer: Symbolizer::new(),
            lines: None,
            source_lines: HashMap::new(),
            recorded,
            has_build_ids,
            written: file.written(),
            kernel_syms,
            kernel_delta: None,
            kernel_aliases: HashMap::new(),
            kernel_text,
            kernel: HashMap::new(),
            objects: HashMap::new(),
            files: HashMap::new(),
        }
    }

    /// Decides where the symbols of `path` come from.
    fn object(&self, machine: &Machine, path: &str) -> Object {
        let p = Path::new(path);
        if !p.is_absolute() {
            return Object::NotAFile;
        }
        let disk = debuginfo::read_elf(p);
        let recorded = machine
            .build_id(path)
            .or(self.recorded.get(path).map(Vec::as_slice));
        let Some(id) = recorded else {
            if self.has_build_ids && !self.unchanged_since_recording(machine, path) {
                return Object::Refused(Unverified::NotRecorded);
            }
            return match disk {
                Some(elf) => {
                    let debug = elf
                        .build_id
                        .clone()
                        .and_then(|own| debuginfo::debug_file(&own, Some((p, &elf))));
                    let aliases = debuginfo::perf_aliases(debug.as_deref().unwrap_or(p));
                    Object::Named {
                        elf: Box::new(elf),
                        elf_path: p.to_path_buf(),
                        debug,
                        aliases,
                    }
                }
                None if p.exists() => Object::Refused(Unverified::Unreadable),
                None => Object::Refused(Unverified::Missing),
            };
        };
        let readable = disk.is_some();
        let verified = disk
            .filter(|d| {
                d.build_id
                    .as_deref()
                    .is_some_and(|b| debuginfo::same_build_id(b, id))
            })
            .map(|d| (p.to_path_buf(), d))
            .or_else(|| {
                let copy = debuginfo::cached_elf(id)?;
                let info = debuginfo::read_elf(&copy)?;
                Some((copy, info))
            });
        match verified {
            Some((elf_path, elf)) => {
                let debug = debuginfo::debug_file(id, Some((&elf_path, &elf)));
                let aliases = debuginfo::perf_aliases(debug.as_deref().unwrap_or(&elf_path));
                Object::Named {
                    elf: Box::new(elf),
                    elf_path,
                    debug,
                    aliases,
                }
            }
            None if readable => Object::Refused(Unverified::Mismatch),
            None if p.exists() => Object::Refused(Unverified::Unreadable),
            None => Object::Refused(Unverified::Missing),
        }
    }

    /// Whether the file at `path` is the one an MMAP2 record named (same device and
    /// inode) and its content has not been modified (mtime) since the recording was
    /// written.
    fn unchanged_since_recording(&self, machine: &Machine, path: &str) -> bool {
        use std::os::unix::fs::MetadataExt;
        let (Some((maj, min, ino)), Some(written)) = (machine.inode(path), self.written) else {
            return false;
        };
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        let dev = meta.dev();
        let same_file = meta.ino() == ino && libc::major(dev) == maj && libc::minor(dev) == min;
        // mtime, not ctime: hard links into a build-id cache (perf's and ours) change
        // the ctime of system libraries without changing a byte.
        same_file && meta.modified().is_ok_and(|m| m <= written)
    }

    /// The file the symbols (and unwind tables) of the mapped `path` are read from: the
    /// path itself when its build id is the recorded one (or the no-build-id rule trusts
    /// it), a build-id cache copy, or `None` when nothing verified exists.
    pub fn verified_object_path(&mut self, machine: &Machine, path: &str) -> Option<PathBuf> {
        match self.object_of(machine, path) {
            Object::Named { elf_path, .. } => Some(elf_path.clone()),
            Object::NotAFile | Object::Refused(_) => None,
        }
    }

    fn object_of<'s>(&'s mut self, machine: &Machine, path: &str) -> &'s Object {
        if !self.objects.contains_key(path) {
            let o = self.object(machine, path);
            self.objects.insert(path.to_owned(), o);
        }
        &self.objects[path]
    }

    fn lookup(symbolizer: &Symbolizer, src: &Source<'_>, input: Input<u64>) -> Found {
        match symbolizer.symbolize_single(src, input).ok()? {
            Symbolized::Sym(s) => Some((s.name.into(), s.offset as u64)),
            Symbolized::Unknown(_) => None,
        }
    }

    /// The kallsyms-format table kernel names come from, unless refused.
    fn kernel_table(&self) -> Result<&Path, Unverified> {
        match &self.kernel_syms {
            KernelSyms::Refused(why) => Err(*why),
            KernelSyms::Live => Ok(Path::new("/proc/kallsyms")),
            KernelSyms::Copy(p) => Ok(p.as_path()),
        }
    }

    /// The relocation of recorded kernel addresses, from the kernel map `map` and the
    /// text of the kallsyms table (`None` when it could not be read).
    fn kernel_delta(&self, map: &Map, table: Option<&str>) -> Result<u64, Unverified> {
        self.kernel_table()?;
        // `[kernel.kallsyms]_text`: pgoff is where `_text` was when recording.
        let reference = map
            .path
            .strip_prefix("[kernel.kallsyms]")
            .filter(|r| !r.is_empty())
            .ok_or(Unverified::NoRelocation)?;
        let now = table
            .and_then(|t| kallsyms_address(t, reference))
            .ok_or(Unverified::NoRelocation)?;
        Ok(now.wrapping_sub(map.pgoff))
    }

    fn lookup_kernel(&self, addr: u64) -> Found {
        let delta = self.kernel_delta?.ok()?;
        let kallsyms = match &self.kernel_syms {
            KernelSyms::Live => MaybeDefault::Default,
            KernelSyms::Copy(p) => MaybeDefault::Some(p.clone()),
            KernelSyms::Refused(_) => return None,
        };
        let src = Source::Kernel(Kernel {
            kallsyms,
            vmlinux: MaybeDefault::None,
            kaslr_offset: Some(0),
            debug_syms: false,
            ..Default::default()
        });
        let at = addr.wrapping_add(delta);
        let (name, off) = Self::lookup(&self.symbolizer, &src, Input::AbsAddr(at))?;
        match self.kernel_aliases.get(&at.wrapping_sub(off)) {
            Some(best) => Some((best.as_str().into(), off)),
            None => Some((name, off)),
        }
    }

    fn lookup_file(&self, path: &str, offset: u64) -> Found {
        let Some(Object::Named {
            elf,
            elf_path,
            debug,
            aliases,
        }) = self.objects.get(path)
        else {
            return None;
        };
        let addr = elf.address_of(offset)?;
        if let Some((start, _, name)) = elf
            .plt
            .iter()
            .find(|(start, size, _)| addr >= *start && addr - start < *size)
        {
            return Some((name.as_str().into(), addr - start));
        }
        let by = |file: &Path| {
            let mut src = Elf::new(file);
            src.debug_syms = false;
            Self::lookup(&self.symbolizer, &Source::Elf(src), Input::VirtOffset(addr))
        };
        // The debug file's full symbol table first (perf prefers it), then the file's.
        let (name, off) = debug.as_deref().and_then(by).or_else(|| by(elf_path))?;
        // Where symbols share the address, the one perf shows (a mangled name keeps
        // blazesym's demangled spelling).
        match aliases.get(&addr.wrapping_sub(off)) {
            Some(best) if !best.starts_with("_Z") && !best.starts_with("_R") => {
                Some((best.as_str().into(), off))
            }
            _ => Some((name, off)),
        }
    }

    /// The source line of `addr` of `pid` and the calls inlined there, from DWARF
    /// (blazesym's reader), when it falls in a verified object with line information.
    /// Kernel addresses have none here (kallsyms carries no lines). Cached per (object,
    /// file offset): script, report and the exports all ask here.
    pub fn source_line(
        &mut self,
        machine: &Machine,
        pid: u32,
        addr: u64,
    ) -> Option<Arc<SourceLine>> {
        let map = machine.find_map(pid, addr)?;
        if map.path.starts_with("[kernel.kallsyms]") {
            return None;
        }
        let offset = map.file_offset(addr);
        if let Some(hit) = self
            .source_lines
            .get(map.path.as_str())
            .and_then(|m| m.get(&offset))
        {
            return hit.clone();
        }
        self.object_of(machine, &map.path);
        let found = self.lookup_source_line(&map.path, offset).map(Arc::new);
        self.source_lines
            .entry(map.path.clone())
            .or_default()
            .insert(offset, found.clone());
        found
    }

    fn lookup_source_line(&mut self, path: &str, offset: u64) -> Option<SourceLine> {
        if self.lines.is_none() {
            self.lines = Some(
                Symbolizer::builder()
                    .enable_code_info(true)
                    .enable_inlined_fns(true)
                    .build(),
            );
        }
        let (
            Some(Object::Named {
                elf,
                elf_path,
                debug,
                ..
            }),
            Some(lines),
        ) = (self.objects.get(path), self.lines.as_ref())
        else {
            return None;
        };
        let at = elf.address_of(offset)?;
        let mut src = Elf::new(debug.as_deref().unwrap_or(elf_path));
        src.debug_syms = true;
        let Symbolized::Sym(sym) = lines
            .symbolize_single(&Source::Elf(src), Input::VirtOffset(at))
            .ok()?
        else {
            return None;
        };
        let Some(code) = sym.code_info.as_deref() else {
            // DWARF that does not cover the address (startup code from crt1.o): addr2line's
            // `??:0`, as perf prints it. An object without line tables has no source line.
            return (debug.is_some() || elf.has_lines).then(|| SourceLine {
                function: sym.name.to_string(),
                file: PathBuf::new(),
                line: None,
                inlined: Vec::new(),
            });
        };
        Some(SourceLine {
            function: sym.name.to_string(),
            file: code.to_path().into_owned(),
            line: code.line,
            inlined: sym
                .inlined
                .iter()
                .map(|f| InlinedCall {
                    name: f.name.to_string(),
                    file: f.code_info.as_ref().map(|c| c.to_path().into_owned()),
                    line: f.code_info.as_ref().and_then(|c| c.line),
                })
                .collect(),
        })
    }

    /// Whether `addr` of `pid` falls in an object (a file, or the kernel) whose symbols
    /// were not read because it could not be verified; with the reason.
    pub fn unverified(&mut self, machine: &Machine, pid: u32, addr: u64) -> Option<Unverified> {
        let map = machine.find_map(pid, addr)?;
        if map.path.starts_with("[kernel.kallsyms]") {
            self.ensure_kernel_delta(map);
            return self.kernel_delta?.err();
        }
        match self.object_of(machine, &map.path) {
            Object::Refused(why) => Some(*why),
            _ => None,
        }
    }

    /// The objects whose symbols were not read, with the reason (`[kernel.kallsyms]` for
    /// the kernel).
    pub fn unverified_objects(&self) -> BTreeMap<String, Unverified> {
        let mut out: BTreeMap<String, Unverified> = self
            .objects
            .iter()
            .filter_map(|(p, o)| match o {
                Object::Refused(why) => Some((p.clone(), *why)),
                _ => None,
            })
            .collect();
        if let Some(Err(why)) = &self.kernel_delta {
            out.insert("[kernel.kallsyms]".to_owned(), *why);
        }
        out
    }

    fn ensure_kernel_delta(&mut self, map: &Map) {
        if self.kernel_delta.is_none() {
            // One read of the table for the relocation and the aliases: reading
            // `/proc/kallsyms` makes the kernel format every symbol (tens of ms).
            let table = match self.kernel_text.take() {
                Some(reading) => reading.join().ok().flatten(),
                None => self.kernel_table().ok().and_then(read_kernel_table),
            };
            let delta = self.kernel_delta(map, table.as_ref().map(|t| t.0.as_str()));
            if let (Ok(_), Some((_, aliases))) = (&delta, table) {
                self.kernel_aliases = aliases;
            }
            self.kernel_delta = Some(delta);
        }
    }

    /// Resolves `addr` of process `pid` using the maps known to `machine`.
    pub fn resolve(&mut self, machine: &Machine, pid: u32, addr: u64) -> Frame {
        self.resolve_ref(machine, pid, addr).to_frame()
    }

    /// As [`Symbols::resolve`], borrowing: a cached address costs two hash lookups and
    /// no allocation.
    pub fn resolve_ref<'a>(
        &'a mut self,
        machine: &'a Machine,
        pid: u32,
        addr: u64,
    ) -> FrameRef<'a> {
        let Some(map) = machine.find_map(pid, addr) else {
            return FrameRef {
                addr,
                symbol: None,
                offset: 0,
                dso: "[unknown]",
                kernel: addr >= 1 << 63,
            };
        };
        let kernel = map.path.starts_with("[kernel.kallsyms]");
        let found: &Found = if kernel {
            if !self.kernel.contains_key(&addr) {
                self.ensure_kernel_delta(map);
                let v = self.lookup_kernel(addr);
                self.kernel.insert(addr, v);
            }
            &self.kernel[&addr]
        } else {
            let offset = map.file_offset(addr);
            let known = self
                .files
                .get(map.path.as_str())
                .is_some_and(|m| m.contains_key(&offset));
            if !known {
                self.object_of(machine, &map.path);
                let v = self.lookup_file(&map.path, offset);
                self.files
                    .entry(map.path.clone())
                    .or_default()
                    .insert(offset, v);
            }
            &self.files[map.path.as_str()][&offset]
        };
        FrameRef {
            addr,
            symbol: found.as_ref().map(|f| &*f.0),
            offset: found.as_ref().map_or(0, |f| f.1),
            dso: map.dso_name(),
            kernel,
        }
    }
}

/// Whether `file` was recorded on the running kernel release (OSRELEASE feature).
fn same_release(file: &PerfData) -> bool {
    let running = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok();
    match (file.osrelease().ok().flatten(), running) {
        (Some(r), Some(k)) => r.trim_end_matches('\0').trim() == k.trim(),
        _ => false,
    }
}

/// The address of `symbol` in the text of a kallsyms-format file, when it is there and
/// not hidden (`kptr_restrict` shows zeros).
fn kallsyms_address(text: &str, symbol: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut f = line.split_ascii_whitespace();
        let (addr, _, name) = (f.next()?, f.next()?, f.next()?);
        (name == symbol)
            .then(|| u64::from_str_radix(addr, 16).ok())
            .flatten()
            .filter(|&a| a != 0)
    })
}
