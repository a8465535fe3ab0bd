//! One module per subcommand: parse flags into library calls, print, nothing else.

use std::process::ExitCode;

mod args;
pub mod demo;
pub mod export;
pub mod push_args;
pub mod record;
pub mod record_out;
pub mod report;
pub mod script;
pub mod semantics;
pub mod soak;
pub mod storm;
pub mod stream;

/// Maps a subcommand's result to the exit code; a broken pipe (`| head`) is success.
pub fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return ExitCode::SUCCESS;
            }
            eprintln!("perf-client: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// An error reading the input perf.data, naming the file once: an I/O error already
/// names it, a format error (with its file offset) gets it as context.
pub fn input_error(
    path: &std::path::Path,
    e: perf_client::perf_data::PerfDataError,
) -> anyhow::Error {
    match e {
        e @ perf_client::perf_data::PerfDataError::Io { .. } => e.into(),
        e => anyhow::Error::new(e).context(format!("reading {}", path.display())),
    }
}

/// Opens the input of report/script/export: `-` reads stdin (perf's pipe format, as
/// `perf record -o -` writes it, or a whole file-mode perf.data), anything else is
/// opened for streaming.
pub fn open_input(path: &std::path::Path) -> anyhow::Result<perf_client::perf_data::PerfData> {
    if path == std::path::Path::new("-") {
        return perf_client::perf_data::pipe::read_any(Box::new(std::io::stdin()))
            .map_err(|e| input_error(path, e));
    }
    perf_client::perf_data::PerfData::open(path).map_err(|e| input_error(path, e))
}
