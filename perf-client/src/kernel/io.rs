//! Files mapped into memory: the one unsafe step of reading a perf.data file without
//! copying it (the file format itself has no unsafe code).

use std::path::Path;

use crate::perf_data::{PerfData, PerfDataError};

impl PerfData {
    /// Maps `path` read-only instead of reading it: no copy and no zeroed memory, which
    /// is most of the cost of opening a large file (perf maps its input too).
    ///
    /// # Errors
    ///
    /// As [`PerfData::open`].
    ///
    /// # Safety
    ///
    /// Nothing may modify or truncate the file while the returned value lives: the
    /// records are borrowed straight from the mapping (a truncation would raise SIGBUS,
    /// a write would change bytes already checked). A finished perf.data that no
    /// recorder is writing meets this.
    pub unsafe fn open_mapped(path: &Path) -> Result<Self, PerfDataError> {
        let f = std::fs::File::open(path).map_err(|e| PerfDataError::io(path, e))?;
        // SAFETY: the caller promises that nothing modifies or truncates the file while
        // the mapping (owned by the returned value) lives.
        let map = unsafe { memmap2::Mmap::map(&f) }.map_err(|e| PerfDataError::io(path, e))?;
        // Sequential access: let the kernel read ahead and fault around generously.
        let _ = map.advise(memmap2::Advice::Sequential);
        PerfData::from_map(map, f.metadata().and_then(|m| m.modified()).ok())
    }
}
