//! Where the bytes of a recorded object can be found again, by build id, as perf looks
//! for them (`tools/perf/util/build-id.c`, `dso__read_binary_type_filename` in
//! `tools/perf/util/dso.c`):
//!
//! - the build-id cache that `perf record` (and `perf-client record`) fills:
//!   `$PERF_BUILDID_DIR`, else `$HOME/.debug`, holding `<path>/<build id>/elf` (or
//!   `kallsyms` for `[kernel.kallsyms]`) and the link `.build-id/<xx>/<rest>` →
//!   `../../<path>/<build id>`;
//! - the distribution's detached debug files: `/usr/lib/debug/.build-id/<xx>/<rest>.debug`;
//! - the file a binary's `.gnu_debuglink` names, in the binary's directory, its `.debug`
//!   subdirectory, or under `/usr/lib/debug`, when its build id (or CRC) matches.
//!
//! Every candidate is checked: a file is used only when its own build-id note equals the
//! recorded one.

use std::path::{Path, PathBuf};

use std::collections::HashMap;

use object::{Object, ObjectSection, ObjectSegment, ObjectSymbol, ObjectSymbolTable, SymbolFlags};

/// The system's detached debug files.
pub const SYSTEM_DEBUG_DIR: &str = "/usr/lib/debug";

/// A build id as lower-case hex, as perf names cache entries.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two build ids are the same. perf stores 20 bytes and zero-pads shorter ids
/// when the record does not carry the size, so trailing zeros do not count.
pub fn same_build_id(a: &[u8], b: &[u8]) -> bool {
    let trim = |v: &[u8]| -> usize { v.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1) };
    let (a, b) = (&a[..trim(a)], &b[..trim(b)]);
    !a.is_empty() && a == b
}

/// The build-id cache directory: `$PERF_BUILDID_DIR`, else `$HOME/.debug` (perf's
/// `buildid_dir`). `None` without either variable.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("PERF_BUILDID_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".debug"))
}

/// `<root>/.build-id/<xx>/<rest>` for `id`.
pub fn build_id_link(root: &Path, id: &[u8]) -> PathBuf {
    let h = hex(id);
    let (head, rest) = h.split_at(2.min(h.len()));
    root.join(".build-id").join(head).join(rest)
}

/// What is read from an ELF file to decide whether, and how, to use it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfInfo {
    /// Its `NT_GNU_BUILD_ID` note.
    pub build_id: Option<Vec<u8>>,
    /// `.gnu_debuglink`: the debug file's name and CRC32.
    pub debuglink: Option<(String, u32)>,
    /// PT_LOAD segments with file bytes: (file offset, file size, address).
    pub loads: Vec<(u64, u64, u64)>,
    /// The PLT entries perf names (`dso__synthesize_plt_symbols`): (address, size, name).
    pub plt: Vec<(u64, u64, String)>,
    /// Whether it has DWARF line tables (`.debug_line`).
    pub has_lines: bool,
}

impl ElfInfo {
    /// The address (`p_vaddr` based, as in the symbol table) of file offset `offset`.
    pub fn address_of(&self, offset: u64) -> Option<u64> {
        self.loads
            .iter()
            .find(|&&(off, size, _)| offset >= off && offset - off < size)
            .map(|&(off, _, addr)| offset - off + addr)
    }
}

/// Reads the build id, debuglink and loadable segments of the ELF file at `path`.
/// `None` when it cannot be read or is not ELF.
pub fn read_elf(path: &Path) -> Option<ElfInfo> {
    let data = std::fs::read(path).ok()?;
    let file = object::File::parse(&*data).ok()?;
    let build_id = file.build_id().ok().flatten().map(<[u8]>::to_vec);
    let debuglink = file
        .gnu_debuglink()
        .ok()
        .flatten()
        .map(|(name, crc)| (String::from_utf8_lossy(name).into_owned(), crc));
    let loads = file
        .segments()
        .filter_map(|s| {
            let (off, size) = s.file_range();
            (size > 0).then_some((off, size, s.address()))
        })
        .collect();
    use object::{Object as _, ObjectSection as _};
    let has_lines = file
        .section_by_name(".debug_line")
        .is_some_and(|s| s.size() > 0);
    Some(ElfInfo {
        build_id,
        debuglink,
        loads,
        plt: plt_symbols(&file),
        has_lines,
    })
}

/// The build id of the ELF file at `path`, if it has one.
pub fn file_build_id(path: &Path) -> Option<Vec<u8>> {
    blazesym::helper::read_elf_build_id(path)
        .ok()
        .flatten()
        .map(|b| b.to_vec())
}

fn has_build_id(path: &Path, id: &[u8]) -> bool {
    file_build_id(path).is_some_and(|b| same_build_id(&b, id))
}

/// A copy of the object with build id `id` in the build-id cache
/// (`.build-id/<xx>/<rest>/elf`), checked.
pub fn cached_elf(id: &[u8]) -> Option<PathBuf> {
    let p = build_id_link(&cache_dir()?, id).join("elf");
    has_build_id(&p, id).then_some(p)
}

/// The kernel symbol table of the kernel build `id` in the build-id cache
/// (`[kernel.kallsyms]/<build id>/kallsyms`, or through the `.build-id` link).
pub fn cached_kallsyms(id: &[u8]) -> Option<PathBuf> {
    let root = cache_dir()?;
    [
        root.join("[kernel.kallsyms]")
            .join(hex(id))
            .join("kallsyms"),
        build_id_link(&root, id).join("kallsyms"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The detached debug file of the object with build id `id` whose file is `binary`
/// (with `info` read from it, when there is one): `/usr/lib/debug/.build-id/…​.debug`,
/// else its `.gnu_debuglink` target. Only a file whose build id is `id` is returned.
pub fn debug_file(id: &[u8], binary: Option<(&Path, &ElfInfo)>) -> Option<PathBuf> {
    let by_id = build_id_link(Path::new(SYSTEM_DEBUG_DIR), id);
    let by_id = by_id.with_file_name(format!("{}.debug", by_id.file_name()?.to_string_lossy()));
    if has_build_id(&by_id, id) {
        return Some(by_id);
    }
    let (path, info) = binary?;
    let (name, _crc) = info.debuglink.as_ref()?;
    let dir = path.parent()?;
    let rel = dir.strip_prefix("/").unwrap_or(dir);
    [
        dir.join(name),
        dir.join(".debug").join(name),
        Path::new(SYSTEM_DEBUG_DIR).join(rel).join(name),
    ]
    .into_iter()
    .find(|p| p.as_path() != path && has_build_id(p, id))
}

/// Where several function symbols share an address (`fstatat64` and
/// `__GI___fstatat64`), the one perf shows: perf keeps one per address
/// (`symbols__fixup_duplicate` and `choose_best_symbol` in `tools/perf/util/symbol.c`):
/// a sized one over a zero-sized one, then non-weak over weak, global over local, fewer
/// leading underscores, the longer name, and else the first in the table. Reads the
/// `.symtab` of the ELF file at `path` (`.dynsym` when it has none, as perf does).
/// Addresses with a single symbol are left out.
pub fn perf_aliases(path: &Path) -> HashMap<u64, String> {
    let Ok(data) = std::fs::read(path) else {
        return HashMap::new();
    };
    let Ok(file) = object::File::parse(&*data) else {
        return HashMap::new();
    };
    let symtab: Vec<_> = if file.symbols().next().is_some() {
        file.symbols().collect()
    } else {
        file.dynamic_symbols().collect()
    };
    // (size, weak, global, name) per address, in table order.
    let mut at: HashMap<u64, Vec<(u64, bool, bool, String)>> = HashMap::new();
    for sym in symtab {
        // STT_FUNC and STT_GNU_IFUNC, as perf's `elf_sym__is_function`.
        let func = match sym.flags() {
            SymbolFlags::Elf { st_info, .. } => matches!(st_info & 0xf, 2 | 10),
            _ => false,
        };
        if !func || sym.is_undefined() || sym.address() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        if name.is_empty() {
            continue;
        }
        at.entry(sym.address()).or_default().push((
            sym.size(),
            sym.is_weak(),
            sym.is_global() && !sym.is_weak(),
            name.to_owned(),
        ));
    }
    at.into_iter()
        .filter(|(_, v)| v.len() > 1)
        .filter_map(|(addr, v)| {
            let best = v
                .into_iter()
                .reduce(|a, b| if prefer_second(&a, &b) { b } else { a })?;
            Some((addr, best.3))
        })
        .collect()
}

/// The same for the text of a kallsyms-format table: perf gives every kallsyms symbol
/// the size up to the next one (`symbols__fixup_end`), so of the symbols at one address
/// only the last in the table is sized, and that is the one perf keeps. Text, weak, data
/// and bss symbols count, as perf loads them (`symbol_type__filter`).
pub fn kallsyms_aliases(text: &str) -> HashMap<u64, String> {
    // Names borrowed from `text`: only the shared addresses' picks are copied.
    let mut at: rustc_hash::FxHashMap<u64, (usize, &str)> = Default::default();
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let (Some(addr), Some(kind), Some(name)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        if !matches!(kind, "T" | "t" | "W" | "w" | "D" | "d" | "B" | "b") {
            continue;
        }
        let Ok(addr) = u64::from_str_radix(addr, 16) else {
            continue;
        };
        let e = at.entry(addr).or_insert((0, name));
        e.0 += 1;
        e.1 = name;
    }
    at.into_iter()
        .filter(|(_, (n, _))| *n > 1)
        .map(|(a, (_, name))| (a, name.to_owned()))
        .collect()
}

/// The PLT entries perf makes up for an x86-64 ELF file (`dso__synthesize_plt_symbols`
/// in `tools/perf/util/symbol-elf.c`): one 16-byte `<name>@plt` per `.rela.plt` entry,
/// named after its dynamic symbol (`@plt` alone for an IRELATIVE entry), after a
/// 16-byte `.plt` header unless `.plt` holds exactly one entry per relocation; in
/// `.plt.sec` when there is one. (address, size, name).
fn plt_symbols(file: &object::File<'_>) -> Vec<(u64, u64, String)> {
    let mut out = Vec::new();
    if file.architecture() != object::Architecture::X86_64 {
        return out;
    }
    let (Some(plt), Some(rela)) = (
        file.section_by_name(".plt"),
        file.section_by_name(".rela.plt"),
    ) else {
        return out;
    };
    let Ok(rela) = rela.data() else { return out };
    let dynsym = file.dynamic_symbol_table();
    let entries = rela.len() / 24;
    const ENTRY: u64 = 16;
    let (mut at, sec) = match file.section_by_name(".plt.sec") {
        Some(sec) => (sec.address(), true),
        None => (plt.address(), false),
    };
    if !sec && (entries as u64) * ENTRY != plt.size() {
        out.push((at, ENTRY, ".plt".to_owned()));
        at += ENTRY;
    }
    for r in rela.chunks_exact(24) {
        let info = u64::from_le_bytes(r[8..16].try_into().unwrap_or_default());
        let index = (info >> 32) as usize;
        let name = dynsym
            .as_ref()
            .filter(|_| index != 0)
            .and_then(|t| t.symbol_by_index(object::SymbolIndex(index)).ok())
            .and_then(|s| s.name().ok().map(str::to_owned))
            .unwrap_or_default();
        out.push((at, ENTRY, format!("{name}@plt")));
        at += ENTRY;
    }
    out
}

/// perf's `choose_best_symbol(a, b) == SYMBOL_B`.
fn prefer_second(a: &(u64, bool, bool, String), b: &(u64, bool, bool, String)) -> bool {
    let underscores = |s: &str| s.bytes().take_while(|&c| c == b'_').count();
    if (a.0 == 0) != (b.0 == 0) {
        return a.0 == 0;
    }
    if a.1 != b.1 {
        return a.1;
    }
    if a.2 != b.2 {
        return b.2;
    }
    let (ua, ub) = (underscores(&a.3), underscores(&b.3));
    if ua != ub {
        return ua > ub;
    }
    b.3.len() > a.3.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_ids_compare_without_perfs_zero_padding() {
        assert!(same_build_id(&[1, 2, 3], &[1, 2, 3, 0, 0]));
        assert!(!same_build_id(&[1, 2, 3], &[1, 2, 4]));
        assert!(
            !same_build_id(&[0; 20], &[0; 20]),
            "an all-zero id identifies nothing"
        );
    }

    #[test]
    fn aliases_resolve_as_perf_chooses() {
        let s = |size, weak, global, name: &str| (size, weak, global, name.to_owned());
        // Global over local, then fewer underscores, then the longer name.
        assert!(prefer_second(
            &s(8, false, false, "__GI___fstatat64"),
            &s(8, false, true, "fstatat64")
        ));
        assert!(!prefer_second(
            &s(8, false, true, "fstatat64"),
            &s(8, false, true, "__fstatat64")
        ));
        assert!(prefer_second(
            &s(8, false, true, "mmap"),
            &s(8, false, true, "mmap64")
        ));
        // Non-weak over weak; sized over zero-sized.
        assert!(prefer_second(
            &s(8, true, false, "access"),
            &s(8, false, false, "__access")
        ));
        assert!(prefer_second(
            &s(0, false, true, "a"),
            &s(8, false, false, "__b")
        ));
        // Ties keep the first.
        assert!(!prefer_second(
            &s(8, false, true, "ab"),
            &s(8, false, true, "cd")
        ));
    }

    #[test]
    fn cache_links_split_the_first_byte_as_perf_does() {
        let p = build_id_link(Path::new("/h/.debug"), &[0xab, 0xcd, 0xef]);
        assert_eq!(p, Path::new("/h/.debug/.build-id/ab/cdef"));
    }

    #[test]
    fn file_offsets_map_to_addresses_through_the_load_segments() {
        let info = ElfInfo {
            loads: vec![(0, 0x1000, 0), (0x1000, 0x2000, 0x401000)],
            ..Default::default()
        };
        assert_eq!(info.address_of(0x1234), Some(0x401234));
        assert_eq!(info.address_of(0x10), Some(0x10));
        assert_eq!(info.address_of(0x3000), None);
    }
}
