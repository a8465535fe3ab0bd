//! `--switch-output`: continuous capture in complete files, as `perf record` rotates
//! them (`tools/perf/builtin-record.c`, `record__switch_output`).
//!
//! The recording writes to `-o` (perf.data); when a file is due — the signal (SIGUSR2),
//! a size of data, or a time — the rings are drained into it, it is finished like any
//! recording (attrs, features, build ids: readable by perf on its own) and renamed to
//! `perf.data.<YYYYmmddHHMMSScc>` (perf's timestamp, centiseconds; UTC here, local time in perf), and a new
//! file is started with the tasks synthesized again (COMM/MMAP2 from /proc, so each file
//! names its own symbols). Each closed file is announced on a channel, so a consumer can
//! upload it and apply `--switch-max-files` ([`Retention`]) while the capture goes on.
//!
//! With `--overwrite` (the flight recorder) the rings are not drained as they fill; a
//! SIGUSR2 dumps their contents into a timestamped file instead.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use super::synth::Synthesizer;
use super::{
    create_writer, finish_info, scan_data, synthesize, RecordCounts, RecordError, RecordOptions,
};
use crate::kernel::capture::{Capture, Target};
use crate::perf_data::PerfDataWriter;

/// When to switch to a new file (`--switch-output[=signal|SIZE|TIME]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchOutput {
    /// On SIGUSR2 (perf's default when no value is given).
    Signal,
    /// When the file holds this many bytes of records (`100M`, `1G`; suffixes B K M G).
    Size(u64),
    /// After this long (`30s`, `5m`, `1h`, `1d`).
    Time(Duration),
}

impl std::str::FromStr for SwitchOutput {
    type Err = String;

    /// Parses perf's `--switch-output` values: `signal`, a size with a unit
    /// (`B`, `K`, `M`, `G`), or a time with a unit (`s`, `m`, `h`, `d`).
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "signal" {
            return Ok(SwitchOutput::Signal);
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        let n: u64 = num.parse().map_err(|_| {
            format!("--switch-output={s}: expected signal, SIZE (10M) or TIME (30s)")
        })?;
        let bad = || format!("--switch-output={s}: unknown unit {unit:?} (B K M G, or s m h d)");
        let out = match unit {
            "B" | "b" => SwitchOutput::Size(n),
            "K" | "k" => SwitchOutput::Size(n.checked_mul(1 << 10).ok_or_else(bad)?),
            "M" => SwitchOutput::Size(n.checked_mul(1 << 20).ok_or_else(bad)?),
            "G" | "g" => SwitchOutput::Size(n.checked_mul(1 << 30).ok_or_else(bad)?),
            "s" => SwitchOutput::Time(Duration::from_secs(n)),
            "m" => SwitchOutput::Time(Duration::from_secs(n.checked_mul(60).ok_or_else(bad)?)),
            "h" => SwitchOutput::Time(Duration::from_secs(n.checked_mul(3600).ok_or_else(bad)?)),
            "d" => SwitchOutput::Time(Duration::from_secs(n.checked_mul(86400).ok_or_else(bad)?)),
            _ => return Err(bad()),
        };
        match out {
            SwitchOutput::Size(0) | SwitchOutput::Time(Duration::ZERO) => {
                Err(format!("--switch-output={s}: must be more than zero"))
            }
            o => Ok(o),
        }
    }
}

/// A file the recording closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedFile {
    /// Its path (`perf.data.<timestamp>`).
    pub path: PathBuf,
    /// What it holds.
    pub counts: RecordCounts,
}

/// Rotation settings of a recording ([`RecordOptions::switch_output`]).
#[derive(Debug, Clone)]
pub struct Rotation {
    /// When to switch.
    pub when: SwitchOutput,
    /// Where each closed file is announced (the final one is the caller's: see
    /// [`close_final`]).
    pub closed: Option<Sender<ClosedFile>>,
}

/// The rotation state of one recording.
#[derive(Debug)]
pub(super) struct Rotator {
    opened: Instant,
}

impl Rotator {
    pub(super) fn new() -> Self {
        Rotator {
            opened: Instant::now(),
        }
    }

    /// Whether the current file is due to be closed.
    pub(super) fn due(&self, rotation: &Rotation, opts: &RecordOptions, data_bytes: u64) -> bool {
        match rotation.when {
            // Under --overwrite SIGUSR2 is the flight recorder's dump, not a switch.
            SwitchOutput::Signal => !opts.overwrite && opts.dump.swap(false, Ordering::Relaxed),
            SwitchOutput::Size(n) => data_bytes >= n,
            SwitchOutput::Time(t) => self.opened.elapsed() >= t,
        }
    }

    /// Closes the current file and starts the next one at `opts.output`, staging up to
    /// `stage` bytes as the first one did.
    pub(super) fn switch(
        &mut self,
        w: &mut PerfDataWriter,
        capture: &mut Capture,
        opts: &RecordOptions,
        rotation: &Rotation,
        stage: usize,
    ) -> Result<(), RecordError> {
        capture.drain_raw(&mut |_, _, bytes| -> Result<(), RecordError> {
            w.write_ring_bytes(bytes)?;
            Ok(())
        })?;
        w.finished_round()?;
        w.write_pending(usize::MAX)?;
        let closed = timestamped(&opts.output);
        std::fs::rename(&opts.output, &closed)
            .map_err(|e| crate::perf_data::PerfDataError::io(&opts.output, e))?;
        // The old file keeps its descriptor: it is finished under its new name.
        let mut next = create_writer(&opts.output, capture)?;
        let first = next.first_attr().clone();
        let mut pre = synthesize(&first, &opts.target);
        if let (Target::Command(_), Some(pid)) = (&opts.target, capture.child_pid()) {
            // The command's exec and maps were in the first file's ring records only.
            Synthesizer::new(&first).process(&mut pre, pid as u32);
        }
        next.write_records(&pre)?;
        next.finished_round()?;
        next.stage_up_to(stage);
        let old = std::mem::replace(w, next);
        let scanned = scan_data(
            &closed,
            old.data_offset(),
            old.data_bytes(),
            Some(capture.parse_context()),
        );
        let mut info = finish_info(&opts.cmdline);
        if let Ok((_, ids)) = &scanned {
            info.build_ids.extend(ids.iter().cloned());
        }
        old.finish(&info)?;
        let (counts, _) = scanned?;
        self.opened = Instant::now();
        if let Some(tx) = &rotation.closed {
            // A consumer that went away does not stop the capture.
            let _ = tx.send(ClosedFile {
                path: closed,
                counts,
            });
        }
        Ok(())
    }
}

/// `base.<YYYYmmddHHMMSScc>`, as perf names switched files, but in UTC where perf uses
/// local time (the library has no unsafe code, and `localtime_r` is the only way to the
/// time zone); a suffix `-N` when that name exists already (two switches within a
/// centisecond).
pub fn timestamped(base: &Path) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let t = secs % 86_400;
    let stamp = format!(
        "{year:04}{month:02}{day:02}{:02}{:02}{:02}{:02}",
        t / 3600,
        t / 60 % 60,
        t % 60,
        now.subsec_millis() / 10
    );
    let mut name = base.as_os_str().to_owned();
    name.push(format!(".{stamp}"));
    let mut path = PathBuf::from(&name);
    let mut n = 1;
    while path.exists() {
        let mut again = name.clone();
        again.push(format!("-{n}"));
        path = PathBuf::from(again);
        n += 1;
    }
    path
}

/// Where a flight-recorder dump (`--overwrite`, SIGUSR2) goes: `output.<timestamp>` as
/// perf names it with `--switch-output`, else `output.<unix milliseconds>`.
pub(super) fn dump_path(opts: &RecordOptions) -> PathBuf {
    if opts.switch_output.is_some() {
        return timestamped(&opts.output);
    }
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut p = opts.output.as_os_str().to_owned();
    p.push(format!(".{stamp}"));
    PathBuf::from(p)
}

/// Announces a finished dump on the rotation's channel, when there is one.
pub(super) fn announce(opts: &RecordOptions, path: &Path) -> Result<(), RecordError> {
    if let Some(tx) = opts.switch_output.as_ref().and_then(|r| r.closed.as_ref()) {
        let counts = super::count_records(path)?;
        let _ = tx.send(ClosedFile {
            path: path.to_owned(),
            counts,
        });
    }
    Ok(())
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, proleptic Gregorian).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Renames the recording's last file (`opts.output`, finished) to a timestamped name, as
/// perf does on exit with `--switch-output`; returns the new name.
///
/// # Errors
///
/// The rename's error.
pub fn close_final(output: &Path) -> Result<PathBuf, crate::perf_data::PerfDataError> {
    let closed = timestamped(output);
    std::fs::rename(output, &closed).map_err(|e| crate::perf_data::PerfDataError::io(output, e))?;
    Ok(closed)
}

/// `--switch-max-files N`: keeps the newest `N` files, deleting older ones as new ones
/// arrive. Files are only counted once handed to [`Retention::keep`], so a caller that
/// withholds a file (an upload that failed) keeps it whatever the limit.
#[derive(Debug)]
pub struct Retention {
    max: usize,
    files: VecDeque<PathBuf>,
}

impl Retention {
    /// Keeps at most `max` files (at least 1).
    pub fn new(max: usize) -> Self {
        Retention {
            max: max.max(1),
            files: VecDeque::new(),
        }
    }

    /// Counts `path` as kept, and deletes the oldest files past the limit; returns
    /// the deleted paths.
    pub fn keep(&mut self, path: PathBuf) -> Vec<PathBuf> {
        self.files.push_back(path);
        let mut removed = Vec::new();
        while self.files.len() > self.max {
            if let Some(old) = self.files.pop_front() {
                if std::fs::remove_file(&old).is_ok() {
                    removed.push(old);
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switch_output_values_parse_like_perf() {
        assert_eq!("signal".parse(), Ok(SwitchOutput::Signal));
        assert_eq!("".parse(), Ok(SwitchOutput::Signal));
        assert_eq!("10M".parse(), Ok(SwitchOutput::Size(10 << 20)));
        assert_eq!("512K".parse(), Ok(SwitchOutput::Size(512 << 10)));
        assert_eq!(
            "30s".parse(),
            Ok(SwitchOutput::Time(Duration::from_secs(30)))
        );
        assert_eq!(
            "2m".parse(),
            Ok(SwitchOutput::Time(Duration::from_secs(120)))
        );
        assert!("0s".parse::<SwitchOutput>().is_err());
        assert!("10x".parse::<SwitchOutput>().is_err());
        assert!("fast".parse::<SwitchOutput>().is_err());
    }

    #[test]
    fn timestamped_names_are_unique_and_perf_shaped() {
        let dir = std::env::temp_dir().join(format!("rotate-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("perf.data");
        let a = timestamped(&base);
        std::fs::write(&a, b"x").unwrap();
        let b = timestamped(&base);
        assert_ne!(a, b);
        let stamp = a.extension().unwrap().to_str().unwrap().to_owned();
        assert_eq!(stamp.len(), 16, "{stamp}");
        assert!(stamp.chars().all(|c| c.is_ascii_digit()), "{stamp}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn civil_dates_are_right_across_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(civil_from_days(20_788), (2026, 12, 1));
    }

    #[test]
    fn retention_keeps_the_newest_files() {
        let dir = std::env::temp_dir().join(format!("rotate-keep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Retention::new(2);
        let paths: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("f{i}"))).collect();
        let mut removed = Vec::new();
        for p in &paths {
            std::fs::write(p, b"x").unwrap();
            removed.extend(r.keep(p.clone()));
        }
        assert_eq!(removed, paths[..2].to_vec());
        assert!(paths[2].exists() && paths[3].exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
