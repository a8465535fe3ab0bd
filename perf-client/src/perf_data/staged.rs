//! The perf.data writer's output: a file (or, in pipe mode, any byte stream such as
//! stdout) and a first-in first-out stage of bytes not yet written to it.
//!
//! A recorder copies each ring drain into the stage and releases the ring at once; the
//! file is then written in bounded pieces between drain passes
//! ([`StagedFile::write_some`]), so no ring waits for a `write(2)` to return. `perf
//! record` writes each drain straight from the ring and stores `data_tail` afterwards
//! (`perf_mmap__push`), so its ring stays full for as long as the page cache takes.
//! Without [`StagedFile::write_some`] the stage behaves like a `BufWriter`: it never
//! holds more than [`StagedFile::limit`] bytes, writing out the oldest to make room.

use std::fs::File;
use std::io::{self, Write};

/// Where the staged bytes go: a perf.data file (its header is rewritten at the end), or a
/// stream that is only ever appended to (`perf record -o -`'s pipe mode).
pub(crate) enum Output {
    /// A seekable file.
    File(File),
    /// An append-only stream.
    Pipe(Box<dyn Write + Send>),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::File(file) => f.debug_tuple("File").field(file).finish(),
            Output::Pipe(_) => f.write_str("Pipe"),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::File(f) => f.write(buf),
            Output::Pipe(p) => p.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::File(f) => f.flush(),
            Output::Pipe(p) => p.flush(),
        }
    }
}

/// An output behind a growable stage.
#[derive(Debug)]
pub(crate) struct StagedFile {
    file: Output,
    /// `stage[start..]` is waiting for the file.
    stage: Vec<u8>,
    start: usize,
    /// Above this many waiting bytes, [`Write::write`] writes the stage out first.
    limit: usize,
}

impl StagedFile {
    /// Stages up to `limit` bytes before writing.
    pub(crate) fn new(file: Output, limit: usize) -> Self {
        StagedFile {
            file,
            stage: Vec::with_capacity(limit.min(1 << 20)),
            start: 0,
            limit,
        }
    }

    /// Bytes waiting for the file.
    pub(crate) fn pending(&self) -> usize {
        self.stage.len() - self.start
    }

    /// How many bytes may wait before a write writes them out.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Lets up to `limit` bytes wait (for a caller that empties the stage with
    /// [`Self::write_some`]).
    pub(crate) fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Writes up to `max` waiting bytes, oldest first; returns how many.
    ///
    /// # Errors
    ///
    /// The file's write error; the bytes not written stay staged.
    pub(crate) fn write_some(&mut self, max: usize) -> io::Result<usize> {
        let end = self.start + max.min(self.pending());
        let mut at = self.start;
        while at < end {
            match self.file.write(&self.stage[at..end]) {
                Ok(0) => {
                    self.start = at;
                    return Err(io::ErrorKind::WriteZero.into());
                }
                Ok(n) => at += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.start = at;
                    return Err(e);
                }
            }
        }
        let written = at - self.start;
        self.start = at;
        if self.start == self.stage.len() {
            self.stage.clear();
            self.start = 0;
        } else if self.start >= self.stage.len() / 2 {
            // Move the rest (no longer than what was written) to the front: amortised
            // over the bytes written, each byte moves at most once.
            self.stage.drain(..self.start);
            self.start = 0;
        }
        Ok(written)
    }

    /// The file, and the staged bytes that never reached it.
    pub(crate) fn into_parts(mut self) -> (Output, Vec<u8>) {
        let rest = self.stage.split_off(self.start);
        (self.file, rest)
    }

    /// The output, after writing everything staged.
    ///
    /// # Errors
    ///
    /// As [`Self::write_some`].
    pub(crate) fn file_flushed(&mut self) -> io::Result<&mut Output> {
        self.flush()?;
        Ok(&mut self.file)
    }
}

impl Write for StagedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending() + buf.len() > self.limit {
            if buf.len() > self.limit {
                self.write_some(usize::MAX)?;
                return self.file.write(buf);
            }
            // Only the oldest bytes that do not fit: a full stage costs one write of
            // what overflows, not of everything staged.
            let excess = self.pending() + buf.len() - self.limit;
            let mut done = 0;
            while done < excess {
                done += self.write_some(excess - done)?;
            }
        }
        self.stage.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_some(usize::MAX)?;
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::{Output, StagedFile};
    use std::io::{Read, Seek, SeekFrom, Write};

    fn contents(f: &mut std::fs::File) -> Vec<u8> {
        let mut v = Vec::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn bytes_reach_the_file_in_order_whatever_the_piece_sizes() {
        let file = tempfile_in_tmp();
        let mut s = StagedFile::new(Output::File(file.try_clone().unwrap()), 1 << 20);
        let mut expected = Vec::new();
        for i in 0..1000u32 {
            let piece: Vec<u8> = (0..(i % 37) as u8).map(|b| b ^ i as u8).collect();
            s.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
            if i % 7 == 0 {
                s.write_some(50).unwrap();
            }
        }
        assert!(s.pending() > 0, "pieces outpace 50-byte writes");
        s.flush().unwrap();
        assert_eq!(s.pending(), 0);
        let mut file = file;
        assert_eq!(contents(&mut file), expected);
    }

    #[test]
    fn a_full_stage_writes_itself_out_like_a_buffered_writer() {
        let file = tempfile_in_tmp();
        let mut s = StagedFile::new(Output::File(file.try_clone().unwrap()), 64);
        s.write_all(&[1; 40]).unwrap();
        assert_eq!(s.pending(), 40);
        s.write_all(&[2; 40]).unwrap(); // 80 > 64: the oldest 16 go out
        assert_eq!(s.pending(), 64);
        s.write_all(&[3; 100]).unwrap(); // larger than the limit: everything, then it
        assert_eq!(s.pending(), 0);
        let mut file = file;
        let mut expected = vec![1; 40];
        expected.extend([2; 40]);
        expected.extend([3; 100]);
        assert_eq!(contents(&mut file), expected);
    }

    #[test]
    fn unwritten_bytes_are_handed_back() {
        let file = tempfile_in_tmp();
        let mut s = StagedFile::new(Output::File(file), 1 << 10);
        s.write_all(&[7; 30]).unwrap();
        s.write_some(10).unwrap();
        let (_, rest) = s.into_parts();
        assert_eq!(rest, vec![7; 20]);
    }

    fn tempfile_in_tmp() -> std::fs::File {
        let path = std::env::temp_dir().join(format!(
            "perf-client-staged-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        f
    }
}
