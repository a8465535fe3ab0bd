//! Unfinished files: a recorder killed before it wrote its header and features leaves
//! `data.size` at what the header last said (0, or the size at its last update) while
//! records follow to the end of the file. perf warns and reads what it can; we walk the
//! records from the data section to the end of the file, stop before the first record
//! that is cut or impossible, and say so ([`Recovered`]).

use std::borrow::Cow;

use super::header::{FileHeader, FileSection};
use super::stream::{step, Step};
use super::PerfDataError;

/// What the walk of an unfinished file found: the header's data size, and the records walked instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// `data.size` as the header gave it.
    pub declared: u64,
    /// The bytes of whole records from the data section's start to the end of the file
    /// (the data size used instead).
    pub walked: u64,
    /// Bytes after them (a record cut by the kill, or garbage), ignored.
    pub ignored: u64,
}

impl std::fmt::Display for Recovered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the file was not finished (its recorder was killed?): its header gives {} bytes \
             of records; {} bytes of whole records run to the end of the file, and were \
             read{}",
            self.declared,
            self.walked,
            if self.ignored > 0 {
                format!(
                    " ({} bytes of a cut record after them ignored)",
                    self.ignored
                )
            } else {
                String::new()
            }
        )
    }
}

/// Bytes read at a time while walking.
const BLOCK: u64 = 1 << 20;

/// When `header` has no feature section (an unfinished file), walks the records from
/// its data section's start to the end of the file (`len` bytes, read through `read`) and sets
/// `header.data.size` to the whole records found.
///
/// # Errors
///
/// A failed read.
pub(crate) fn recover<'a>(
    header: &mut FileHeader,
    len: u64,
    read: impl Fn(FileSection) -> Result<Cow<'a, [u8]>, PerfDataError>,
) -> Result<Option<Recovered>, PerfDataError> {
    // Every finished file has feature sections (perf's and ours); one without is one
    // whose recorder never got to write them.
    if header.feature_bits().next().is_some() || header.data.offset >= len {
        return Ok(None);
    }
    let start = header.data.offset;
    let mut at = start;
    'walk: while at < len {
        let size = BLOCK.min(len - at);
        let block = read(FileSection { offset: at, size })?;
        let complete = at + size == len;
        let mut pos = 0usize;
        loop {
            match step(&block[pos..], at + pos as u64, complete) {
                Step::Record { step, .. } => pos += step,
                Step::NeedMore(n) if pos == 0 => {
                    // A record larger than a block (AUXTRACE data): read it whole.
                    let need = n as u64;
                    if at + need > len {
                        break 'walk;
                    }
                    let big = read(FileSection {
                        offset: at,
                        size: need,
                    })?;
                    match step(&big, at, true) {
                        Step::Record { step, .. } => at += step as u64,
                        _ => break 'walk,
                    }
                    continue 'walk;
                }
                Step::NeedMore(_) => break,
                Step::End | Step::Bad(_) => {
                    at += pos as u64;
                    break 'walk;
                }
            }
        }
        at += pos as u64;
    }
    let found = Recovered {
        declared: header.data.size,
        walked: at - start,
        ignored: len - at,
    };
    header.data.size = found.walked;
    Ok(Some(found))
}
