//! Where a streamed perf.data file's bytes come from: positioned reads (`pread(2)`) of
//! a [`File`], or of bytes already in memory (tests, fuzzing). Positioned reads keep no
//! cursor, so walking a file needs only `&self`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Bytes readable at a file offset: the streaming reader's only access to a file.
pub trait ReadAt: Send + Sync + std::fmt::Debug {
    /// Reads up to `buf.len()` bytes at `offset` (`pread(2)`); 0 means end of file.
    ///
    /// # Errors
    ///
    /// The OS error of the read.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Fills `buf` from `offset`, retrying short reads.
    ///
    /// # Errors
    ///
    /// The OS error of a read, or `UnexpectedEof` when the source ends first (a file
    /// truncated after it was opened).
    fn read_exact_at(&self, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
        while !buf.is_empty() {
            match self.read_at(buf, offset) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the file ends at offset {offset:#x}"),
                    ))
                }
                Ok(n) => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Some(rest) = usize::try_from(offset).ok().and_then(|o| self.get(o..)) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}
