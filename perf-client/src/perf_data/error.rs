//! Errors of the perf.data reader and writer.

use std::path::PathBuf;

/// What went wrong with a perf.data file. Format errors carry the file offset of the
/// bytes that are wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PerfDataError {
    /// Opening, reading or writing the file failed. The message names the file and the
    /// OS error (which is not repeated as a `source`).
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The bytes at `offset` are not what the format allows.
    #[error("corrupt perf.data at offset {offset:#x}: {reason}")]
    Corrupt {
        /// File offset of the offending bytes.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// The file ends before a structure that the header says is there.
    #[error("truncated perf.data: {what} needs bytes {offset:#x}..{end:#x}, file has {len:#x}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: u64,
        /// Where it should end.
        end: u64,
        /// The file's length.
        len: u64,
    },
    /// A valid file of a kind this reader does not handle (pipe mode, other endianness).
    #[error("unsupported perf.data at offset {offset:#x}: {reason}")]
    Unsupported {
        /// File offset of the field that says so.
        offset: u64,
        /// What is not supported.
        reason: &'static str,
    },
    /// A round of the data section (the records up to a FINISHED_ROUND) needs more
    /// buffer than the streaming reader may use ([`super::StreamOptions::max_buffer`]).
    #[error("perf.data round at offset {offset:#x} needs at least {needs} bytes of buffer, more than the limit of {limit}")]
    RoundTooLarge {
        /// File offset of the round's first record.
        offset: u64,
        /// Bytes of the round (so far) that had to be held at once.
        needs: u64,
        /// The limit.
        limit: u64,
    },
    /// The writer was given something it cannot encode.
    #[error("cannot write perf.data: {0}")]
    Invalid(String),
}

impl PerfDataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PerfDataError::Io {
            path: path.into(),
            error: source,
        }
    }

    pub(crate) fn corrupt(offset: u64, reason: impl Into<String>) -> Self {
        PerfDataError::Corrupt {
            offset,
            reason: reason.into(),
        }
    }

    /// The file offset the error is about, if it is a format error.
    pub fn offset(&self) -> Option<u64> {
        match self {
            PerfDataError::Corrupt { offset, .. }
            | PerfDataError::Truncated { offset, .. }
            | PerfDataError::Unsupported { offset, .. }
            | PerfDataError::RoundTooLarge { offset, .. } => Some(*offset),
            PerfDataError::Io { .. } | PerfDataError::Invalid(_) => None,
        }
    }
}
