//! perf.data compatibility: files we write are read by `/usr/bin/perf` and by the
//! `linux-perf-data` crate with the same counts; our reader reads real perf's files.

mod fixtures;
pub(crate) mod handmade;
mod hard_files;
pub(crate) mod recorded;
mod streaming;
