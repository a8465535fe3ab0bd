//! Where `record` output goes besides a plain file: `-o -` (perf's pipe format on
//! stdout) and, with `--push`, the upload of each finished file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use perf_client::perf_data::{pipe, PerfData, PerfDataError};

/// A perf.data staged in the temp directory for `-o -`, removed when dropped.
///
/// The capture is written there first and streamed as pipe mode once it is complete:
/// the pipe carries the same bytes `perf record -o -` would, but at the end of the
/// capture rather than while it runs.
#[derive(Debug)]
pub struct Staged {
    pub path: PathBuf,
}

impl Staged {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!(
            "perf-client-pipe-{}-{}.data",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        Staged { path }
    }

    /// Streams the finished capture to stdout in pipe mode. A reader that goes away
    /// (`| head`) ends the stream quietly: the broken pipe reaches `finish` as success.
    pub fn stream_to_stdout(&self) -> anyhow::Result<()> {
        let file = PerfData::open(&self.path)
            .with_context(|| format!("reading back {}", self.path.display()))?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match pipe::file_to_pipe(&file, &mut out) {
            Err(PerfDataError::Io { error, .. })
                if error.kind() == std::io::ErrorKind::BrokenPipe =>
            {
                Ok(())
            }
            r => Ok(r?),
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let mut old = self.path.clone().into_os_string();
        old.push(".old");
        let _ = std::fs::remove_file(Path::new(&old));
    }
}
