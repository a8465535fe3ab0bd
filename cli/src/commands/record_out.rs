//! Where `record` output goes besides a plain file: `--switch-output` with
//! `--switch-max-files` and `--push`: the rotated files' retention and upload.

use std::path::{Path, PathBuf};

use perf_client::analysis::export::push::{self, PushTarget};
use perf_client::perf_data::PerfData;
use perf_client::record::rotate::{self, ClosedFile, Retention, Rotation, SwitchOutput};

/// `--switch-output`, `--switch-max-files` and `--push` of `record`.
#[derive(Debug, Clone, clap::Args)]
pub struct ContinuousArgs {
    /// Rotate the output as perf does: on SIGUSR2 (`signal`, the default), at a size
    /// (`100M`) or a time (`30s`, `5m`); files are named perf.data.<timestamp>, each one
    /// complete. With --overwrite, SIGUSR2 dumps the flight recorder into such a file.
    #[arg(long, value_name = "signal|SIZE|TIME", num_args = 0..=1, require_equals = true,
          default_missing_value = "signal", value_parser = clap::value_parser!(SwitchOutput))]
    pub switch_output: Option<SwitchOutput>,
    /// With --switch-output: keep only the newest N files.
    #[arg(long, value_name = "N", requires = "switch_output")]
    pub switch_max_files: Option<usize>,
    #[command(flatten)]
    pub push: super::push_args::PushArgs,
}

/// Takes the closed files of a rotating recording: uploads each (with `--push`), applies
/// `--switch-max-files`, and says what it did.
#[derive(Debug)]
pub struct Consumer {
    tx: std::sync::mpsc::Sender<ClosedFile>,
    thread: std::thread::JoinHandle<Vec<(PathBuf, String)>>,
}

impl ContinuousArgs {
    /// Checks the flags and, when rotating, starts the consumer and sets
    /// `opts.switch_output`.
    pub fn start(
        &self,
        opts: &mut perf_client::record::RecordOptions,
        quiet: bool,
    ) -> anyhow::Result<Option<Consumer>> {
        let target = self.push.target();
        let Some(when) = self.switch_output else {
            if target.is_some() {
                anyhow::bail!("record --push uploads rotated files: add --switch-output=TIME");
            }
            return Ok(None);
        };
        if opts.output == Path::new("-") {
            anyhow::bail!("--switch-output writes files: it cannot go with -o -");
        }
        let (tx, rx) = std::sync::mpsc::channel::<ClosedFile>();
        opts.switch_output = Some(Rotation {
            when,
            closed: Some(tx.clone()),
        });
        let mut retention = self.switch_max_files.map(Retention::new);
        let thread = std::thread::spawn(move || {
            let mut failed = Vec::new();
            for f in rx {
                if !quiet {
                    eprintln!(
                        "[ perf-client record: Dump {} ({} samples) ]",
                        f.path.display(),
                        f.counts.samples
                    );
                }
                if let Some(t) = &target {
                    match push_file(t, &f) {
                        Ok(Some(msg)) if !quiet => eprintln!("[ perf-client record: {msg} ]"),
                        Ok(_) => {}
                        Err(e) => {
                            eprintln!(
                                "perf-client record: upload of {} failed, the file is kept: {e:#}",
                                f.path.display()
                            );
                            failed.push((f.path, format!("{e:#}")));
                            continue;
                        }
                    }
                }
                if let Some(r) = retention.as_mut() {
                    for old in r.keep(f.path) {
                        if !quiet {
                            eprintln!(
                                "[ perf-client record: Removed {} (--switch-max-files) ]",
                                old.display()
                            );
                        }
                    }
                }
            }
            failed
        });
        Ok(Some(Consumer { tx, thread }))
    }
}

/// Uploads one closed file; `None` when it has no samples (nothing to upload).
fn push_file(t: &PushTarget, f: &ClosedFile) -> anyhow::Result<Option<String>> {
    if f.counts.samples == 0 {
        return Ok(None);
    }
    let file = PerfData::open(&f.path)?;
    let until = std::fs::metadata(&f.path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| std::time::SystemTime::now());
    let r = push::push_perf_data(t, &file, Default::default(), until)?;
    Ok(Some(format!(
        "Pushed {} to {} (HTTP {}, {} attempt{})",
        f.path.display(),
        t.ingest_url(),
        r.status,
        r.attempts,
        if r.attempts == 1 { "" } else { "s" }
    )))
}

impl Consumer {
    /// After the recording: renames the last file as perf does, hands it to the
    /// consumer, waits for every upload, and fails when one did (the files stay).
    pub fn finish(
        self,
        opts: perf_client::record::RecordOptions,
        samples: u64,
    ) -> anyhow::Result<()> {
        let Consumer { tx, thread } = self;
        let output = opts.output.clone();
        drop(opts); // the recorder's sender
        if output.exists() {
            let path = rotate::close_final(&output)?;
            let counts = perf_client::record::RecordCounts {
                samples,
                ..Default::default()
            };
            let _ = tx.send(ClosedFile { path, counts });
        }
        drop(tx);
        let failed = thread
            .join()
            .map_err(|_| anyhow::anyhow!("the upload thread panicked"))?;
        if !failed.is_empty() {
            let list: Vec<String> = failed
                .iter()
                .map(|(p, _)| p.display().to_string())
                .collect();
            anyhow::bail!(
                "{} upload{} failed; kept on disk: {}",
                failed.len(),
                if failed.len() == 1 { "" } else { "s" },
                list.join(", ")
            );
        }
        Ok(())
    }
}
