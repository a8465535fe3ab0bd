//! Threads and memory maps rebuilt from COMM, FORK, EXIT, MMAP and MMAP2 records, as
//! perf's `struct machine` does.

use std::collections::HashMap;

use crate::records::{misc, Record};

/// One mapping of a file (or anonymous memory) into a process or the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// Start address.
    pub start: u64,
    /// End address (exclusive).
    pub end: u64,
    /// File offset of `start`.
    pub pgoff: u64,
    /// File path, `[vdso]`, `//anon`, or `[kernel.kallsyms]`.
    pub path: String,
}

impl Map {
    /// The file offset of `addr` inside this map.
    pub fn file_offset(&self, addr: u64) -> u64 {
        addr.wrapping_sub(self.start).wrapping_add(self.pgoff)
    }

    /// The name perf shows in the Shared Object column (the file name).
    pub fn dso_name(&self) -> &str {
        if self.path.starts_with('[') {
            return self.path.split(']').next().map_or(&self.path, |s| {
                &self.path[..(s.len() + 1).min(self.path.len())]
            });
        }
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// Threads and maps known so far.
#[derive(Debug, Default)]
pub struct Machine {
    comms: HashMap<u32, String>,
    maps: HashMap<u32, Vec<Map>>,
    kernel: Vec<Map>,
    /// The file identity the last MMAP2 record of each path carried: a build id
    /// (`PERF_RECORD_MISC_MMAP_BUILD_ID`) or device and inode.
    file_ids: HashMap<String, crate::records::FileId>,
    /// How many times a map list changed ([`Machine::map_changes`]).
    map_changes: u64,
}

fn name_of(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Machine {
    /// An empty machine.
    pub fn new() -> Self {
        Self::default()
    }

    fn add_map(&mut self, pid: u32, kernel: bool, map: Map) {
        self.map_changes += 1;
        let list = if kernel {
            &mut self.kernel
        } else {
            self.maps.entry(pid).or_default()
        };
        // A new mapping replaces whatever it overlaps (mmap semantics).
        list.retain(|m| m.end <= map.start || m.start >= map.end);
        let at = list.partition_point(|m| m.start < map.start);
        list.insert(at, map);
    }

    /// Updates the machine with one record (non-task records are ignored).
    pub fn apply(&mut self, misc_bits: u16, record: &Record<'_>) {
        let kernel_mode = misc_bits & misc::CPUMODE_MASK == misc::KERNEL;
        match record {
            Record::Comm(c) => {
                if c.exec && self.maps.remove(&c.pid).is_some() {
                    self.map_changes += 1;
                }
                self.comms.insert(c.tid, name_of(c.comm));
            }
            Record::Fork(f) => {
                if let Some(parent) = self.comms.get(&f.ptid).cloned() {
                    self.comms.entry(f.tid).or_insert(parent);
                }
                if f.pid != f.ppid {
                    if let Some(m) = self.maps.get(&f.ppid).cloned() {
                        self.maps.insert(f.pid, m);
                        self.map_changes += 1;
                    }
                }
            }
            Record::Mmap(m) => self.add_map(
                m.pid,
                kernel_mode,
                Map {
                    start: m.addr,
                    end: m.addr.saturating_add(m.len),
                    pgoff: m.pgoff,
                    path: name_of(m.filename),
                },
            ),
            Record::Mmap2(m) => {
                self.file_ids.insert(name_of(m.filename), m.file_id);
                self.add_map(
                    m.pid,
                    kernel_mode,
                    Map {
                        start: m.addr,
                        end: m.addr.saturating_add(m.len),
                        pgoff: m.pgoff,
                        path: name_of(m.filename),
                    },
                )
            }
            _ => {}
        }
    }

    /// The build id an MMAP2 record gave for `path`, if any.
    pub fn build_id(&self, path: &str) -> Option<&[u8]> {
        match self.file_ids.get(path)? {
            crate::records::FileId::BuildId(id) => Some(id.as_bytes()),
            crate::records::FileId::Inode { .. } => None,
        }
    }

    /// The device (major, minor) and inode an MMAP2 record gave for `path`, if any.
    pub fn inode(&self, path: &str) -> Option<(u32, u32, u64)> {
        match self.file_ids.get(path)? {
            crate::records::FileId::Inode { maj, min, ino, .. } => Some((*maj, *min, *ino)),
            crate::records::FileId::BuildId(_) => None,
        }
    }

    /// The command name of a thread (perf shows `:tid` when unknown).
    pub fn comm(&self, pid: u32, tid: u32) -> String {
        self.comms
            .get(&tid)
            .or_else(|| self.comms.get(&pid))
            .cloned()
            .unwrap_or_else(|| format!(":{tid}"))
    }

    /// The command name of a thread, if a COMM (or FORK) named it; by reference.
    pub fn comm_ref(&self, pid: u32, tid: u32) -> Option<&str> {
        self.comms
            .get(&tid)
            .or_else(|| self.comms.get(&pid))
            .map(String::as_str)
    }

    /// A count of the changes to any process's (or the kernel's) maps so far: while it
    /// stays the same, so do the maps, and what was derived from them can be kept.
    pub fn map_changes(&self) -> u64 {
        self.map_changes
    }

    /// The user maps of process `pid`, by start address.
    pub fn maps_of(&self, pid: u32) -> &[Map] {
        self.maps.get(&pid).map_or(&[], Vec::as_slice)
    }

    /// The map containing `addr`: the kernel's for kernel addresses, else the process's.
    pub fn find_map(&self, pid: u32, addr: u64) -> Option<&Map> {
        let find = |list: &'_ [Map]| -> Option<usize> {
            let i = list.partition_point(|m| m.start <= addr);
            i.checked_sub(1).filter(|&i| addr < list[i].end)
        };
        if let Some(i) = find(&self.kernel) {
            return Some(&self.kernel[i]);
        }
        let list = self.maps.get(&pid)?;
        find(list).map(|i| &list[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dso_names_are_file_names_or_bracketed_names() {
        let m = |p: &str| Map {
            start: 0,
            end: 1,
            pgoff: 0,
            path: p.into(),
        };
        assert_eq!(m("/usr/lib/libc.so.6").dso_name(), "libc.so.6");
        assert_eq!(m("[kernel.kallsyms]_text").dso_name(), "[kernel.kallsyms]");
        assert_eq!(m("[vdso]").dso_name(), "[vdso]");
    }
}
