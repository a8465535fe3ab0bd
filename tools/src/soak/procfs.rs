//! Resource counts of this process from `/proc/self` (`proc(5)`): open descriptors, memfds
//! among them, mappings, and mappings of memfds. Compared before and after to find leaks.

use serde::{Deserialize, Serialize};

/// What this process holds right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Entries of `/proc/self/fd`.
    pub fds: u64,
    /// Of those, links to a memfd (`/memfd:...`).
    pub memfds: u64,
    /// Lines of `/proc/self/maps`.
    pub maps: u64,
    /// Of those, mappings of a memfd.
    pub memfd_maps: u64,
}

impl Resources {
    /// Counts now. A `/proc` read that fails counts as zero (and then differs from a real
    /// count, so a leak check fails loudly rather than passing).
    pub fn now() -> Resources {
        let mut r = Resources::default();
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            for entry in dir.flatten() {
                r.fds += 1;
                if std::fs::read_link(entry.path())
                    .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:"))
                {
                    r.memfds += 1;
                }
            }
        }
        if let Ok(maps) = std::fs::read_to_string("/proc/self/maps") {
            for line in maps.lines() {
                r.maps += 1;
                if line.contains("/memfd:") {
                    r.memfd_maps += 1;
                }
            }
        }
        r
    }
}

impl Resources {
    pub(crate) fn to_words(self) -> [u64; 4] {
        [self.fds, self.memfds, self.maps, self.memfd_maps]
    }

    pub(crate) fn from_words(w: &[u64]) -> Resources {
        let get = |i: usize| w.get(i).copied().unwrap_or(0);
        Resources {
            fds: get(0),
            memfds: get(1),
            maps: get(2),
            memfd_maps: get(3),
        }
    }
}
