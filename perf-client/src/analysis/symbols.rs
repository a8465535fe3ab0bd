//! Address → symbol with blazesym: user addresses through the ELF file of their map (by
//! file offset, so the process need not be alive), kernel addresses through
//! `/proc/kallsyms`. Results are cached per (file, offset).

use std::collections::HashMap;
use std::path::Path;

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use blazesym::MaybeDefault;

use super::machine::Machine;
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

/// Function name and offset of one address, or `None` when unknown.
type Found = Option<(Box<str>, u64)>;

/// A caching symbolizer.
#[derive(Debug)]
pub struct Symbols {
    symbolizer: Symbolizer,
    /// Whether kernel addresses may be named from the running kernel's kallsyms.
    kernel_verified: bool,
    /// Kernel addresses.
    kernel: HashMap<u64, Found>,
    /// Per file path: file offset → symbol. Looked up by `&str`, so a hit allocates
    /// nothing.
    files: HashMap<String, HashMap<u64, Found>>,
}

impl Symbols {
    /// A symbolizer with empty caches. Kernel addresses are named from `/proc/kallsyms`
    /// only when `running_kernel_verified` says the addresses were recorded on the running
    /// kernel build; otherwise they stay unnamed, as `perf script` leaves them.
    pub fn new(running_kernel_verified: bool) -> Self {
        Symbols {
            symbolizer: Symbolizer::new(),
            kernel_verified: running_kernel_verified,
            kernel: HashMap::new(),
            files: HashMap::new(),
        }
    }

    /// A symbolizer for `file`: its kernel addresses are named only when the kernel build
    /// id the file recorded (BUILD_ID feature, `[kernel.kallsyms]`) equals the running
    /// kernel's (`/sys/kernel/notes`). A file from another kernel build, or one that
    /// recorded no kernel build id, gets no kernel names: a name from another build would
    /// be a wrong name.
    pub fn for_file(file: &PerfData) -> Self {
        let recorded = file.build_ids().ok().and_then(|ids| {
            ids.into_iter()
                .find(|b| b.cpumode == misc::KERNEL && b.filename == "[kernel.kallsyms]")
        });
        let running = BuildId::running_kernel();
        let verified = matches!((recorded, running), (Some(r), Some(k)) if r.id == k.id);
        Self::new(verified)
    }

    fn lookup(&self, src: &Source<'_>, input: Input<u64>) -> Found {
        match self.symbolizer.symbolize_single(src, input).ok()? {
            Symbolized::Sym(s) => Some((s.name.into(), s.offset as u64)),
            Symbolized::Unknown(_) => None,
        }
    }

    fn lookup_kernel(&self, addr: u64) -> Found {
        if !self.kernel_verified {
            return None;
        }
        let src = Source::Kernel(Kernel {
            kallsyms: MaybeDefault::Default,
            vmlinux: MaybeDefault::None,
            kaslr_offset: Some(0),
            debug_syms: false,
            ..Default::default()
        });
        self.lookup(&src, Input::AbsAddr(addr))
    }

    fn lookup_file(&self, path: &str, offset: u64) -> Found {
        if !Path::new(path).is_absolute() {
            return None;
        }
        let mut elf = Elf::new(path);
        elf.debug_syms = false;
        self.lookup(&Source::Elf(elf), Input::FileOffset(offset))
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
