//! Address → symbol with blazesym: user addresses through the ELF file of their map (by
//! file offset, so the process need not be alive), kernel addresses through
//! `/proc/kallsyms`. Results are cached per (file, offset).

use std::collections::HashMap;
use std::path::Path;

use blazesym::symbolize::source::{Elf, Kernel, Source};
use blazesym::symbolize::{Input, Symbolized, Symbolizer};
use blazesym::MaybeDefault;

use super::machine::Machine;

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

/// A caching symbolizer.
#[derive(Debug)]
pub struct Symbols {
    symbolizer: Symbolizer,
    cache: HashMap<(String, u64), Option<(String, u64)>>,
}

impl Default for Symbols {
    fn default() -> Self {
        Self::new()
    }
}

impl Symbols {
    /// A symbolizer with empty caches.
    pub fn new() -> Self {
        Symbols {
            symbolizer: Symbolizer::new(),
            cache: HashMap::new(),
        }
    }

    fn lookup(&self, src: &Source<'_>, input: Input<u64>) -> Option<(String, u64)> {
        match self.symbolizer.symbolize_single(src, input).ok()? {
            Symbolized::Sym(s) => Some((s.name.into_owned(), s.offset as u64)),
            Symbolized::Unknown(_) => None,
        }
    }

    /// Resolves `addr` of process `pid` using the maps known to `machine`.
    pub fn resolve(&mut self, machine: &Machine, pid: u32, addr: u64) -> Frame {
        let Some(map) = machine.find_map(pid, addr) else {
            return Frame {
                addr,
                symbol: None,
                offset: 0,
                dso: "[unknown]".to_owned(),
                kernel: addr >= 1 << 63,
            };
        };
        let kernel = map.path.starts_with("[kernel.kallsyms]");
        let key = if kernel {
            (String::new(), addr)
        } else {
            (map.path.clone(), map.file_offset(addr))
        };
        let found = match self.cache.get(&key) {
            Some(v) => v.clone(),
            None => {
                let v = if kernel {
                    let src = Source::Kernel(Kernel {
                        kallsyms: MaybeDefault::Default,
                        vmlinux: MaybeDefault::None,
                        kaslr_offset: Some(0),
                        debug_syms: false,
                        ..Default::default()
                    });
                    self.lookup(&src, Input::AbsAddr(addr))
                } else if Path::new(&map.path).is_absolute() {
                    let mut elf = Elf::new(&map.path);
                    elf.debug_syms = false;
                    self.lookup(&Source::Elf(elf), Input::FileOffset(key.1))
                } else {
                    None
                };
                self.cache.insert(key, v.clone());
                v
            }
        };
        Frame {
            addr,
            offset: found.as_ref().map_or(0, |f| f.1),
            symbol: found.map(|f| f.0),
            dso: map.dso_name().to_owned(),
            kernel,
        }
    }
}
