//! The build-id cache, in perf's layout (`tools/perf/util/build-id.c`,
//! `build_id_cache__add`): after a recording, every object it recorded a build id for is
//! kept under `$PERF_BUILDID_DIR` (else `$HOME/.debug`), so that after a rebuild or an
//! upgrade both `perf report` and `perf-client report` still name the functions that
//! really ran:
//!
//! ```text
//! ~/.debug/<path>/<build id>/elf                 the object (hard link, else copy)
//! ~/.debug/[kernel.kallsyms]/<build id>/kallsyms  /proc/kallsyms of the recorded kernel
//! ~/.debug/.build-id/<xx>/<rest> -> ../../<path>/<build id>
//! ```
//!
//! A file is cached only when its own build id still equals the recorded one (it may
//! have been rebuilt during the recording), and the kernel's kallsyms only when the
//! running kernel is the recorded build and `/proc/kallsyms` shows real addresses.
//! Directories are made 0755 as perf makes them; the kallsyms copy is 0400 (it holds
//! kernel addresses).

use std::io;
use std::path::{Path, PathBuf};

use crate::analysis::debuginfo::{self, build_id_link, hex};
use crate::perf_data::BuildId;

/// What [`add`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheSummary {
    /// The cache directory.
    pub dir: PathBuf,
    /// Objects added now.
    pub added: Vec<String>,
    /// Objects that were there already.
    pub present: usize,
    /// Objects not added, with why.
    pub skipped: Vec<(String, String)>,
}

/// Adds the objects of `ids` to the build-id cache at `dir` (see the module docs).
/// Failures for one object are listed in [`CacheSummary::skipped`], not returned.
pub fn add(dir: &Path, ids: &[BuildId]) -> CacheSummary {
    let mut sum = CacheSummary {
        dir: dir.to_path_buf(),
        ..Default::default()
    };
    let running = BuildId::running_kernel();
    for b in ids {
        let result = if b.filename == "[kernel.kallsyms]" {
            if !running
                .as_ref()
                .is_some_and(|k| debuginfo::same_build_id(&k.id, &b.id))
            {
                sum.skipped
                    .push((b.filename.clone(), "not the running kernel".to_owned()));
                continue;
            }
            add_kallsyms(dir, &b.id)
        } else if b.filename.starts_with('/') {
            add_file(dir, Path::new(&b.filename), &b.id)
        } else {
            // `[vdso]` and the like: perf dumps them from memory; we do not.
            continue;
        };
        match result {
            Ok(true) => sum.added.push(b.filename.clone()),
            Ok(false) => sum.present += 1,
            Err(e) => sum.skipped.push((b.filename.clone(), e.to_string())),
        }
    }
    sum
}

/// Adds the objects that the BUILD_ID feature of the perf.data at `file` lists to the
/// build-id cache ([`debuginfo::cache_dir`]); `Ok(None)` when there is no cache
/// directory (neither `$PERF_BUILDID_DIR` nor `$HOME`).
///
/// # Errors
///
/// The file cannot be read, or its BUILD_ID feature is corrupt.
pub fn add_from_file(file: &Path) -> Result<Option<CacheSummary>, crate::perf_data::PerfDataError> {
    let Some(dir) = debuginfo::cache_dir() else {
        return Ok(None);
    };
    let ids = crate::perf_data::PerfData::open(file)?.build_ids()?;
    Ok(Some(add(&dir, &ids)))
}

/// `<dir>/<path without its leading />/<build id>`.
fn entry_dir(dir: &Path, name: &str, id: &[u8]) -> PathBuf {
    dir.join(name.trim_start_matches('/')).join(hex(id))
}

fn mkdirs(p: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(p)
}

/// The `.build-id/<xx>/<rest>` link to `../../<name>/<build id>`.
fn link(dir: &Path, name: &str, id: &[u8]) -> io::Result<()> {
    let link = build_id_link(dir, id);
    if link.symlink_metadata().is_ok() {
        return Ok(());
    }
    if let Some(parent) = link.parent() {
        mkdirs(parent)?;
    }
    let target = Path::new("../..")
        .join(name.trim_start_matches('/'))
        .join(hex(id));
    std::os::unix::fs::symlink(target, &link)
}

/// Caches `path` as `<dir>/<path>/<build id>/elf`. `Ok(false)`: already there.
fn add_file(dir: &Path, path: &Path, id: &[u8]) -> io::Result<bool> {
    let name = path.to_string_lossy();
    let entry = entry_dir(dir, &name, id);
    let elf = entry.join("elf");
    if debuginfo::file_build_id(&elf).is_some_and(|b| debuginfo::same_build_id(&b, id)) {
        link(dir, &name, id)?;
        return Ok(false);
    }
    if !debuginfo::file_build_id(path).is_some_and(|b| debuginfo::same_build_id(&b, id)) {
        return Err(io::Error::other(
            "the file on disk no longer has the recorded build id",
        ));
    }
    mkdirs(&entry)?;
    let _ = std::fs::remove_file(&elf);
    if std::fs::hard_link(path, &elf).is_err() {
        // Another file system, or a file we may not link: copy it (perf's copyfile).
        let tmp = entry.join(".elf.tmp");
        std::fs::copy(path, &tmp)?;
        std::fs::rename(&tmp, &elf)?;
    }
    link(dir, &name, id)?;
    Ok(true)
}

/// Caches `/proc/kallsyms` as `<dir>/[kernel.kallsyms]/<build id>/kallsyms`.
fn add_kallsyms(dir: &Path, id: &[u8]) -> io::Result<bool> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = "[kernel.kallsyms]";
    let entry = entry_dir(dir, name, id);
    let file = entry.join("kallsyms");
    let text = std::fs::read_to_string("/proc/kallsyms")?;
    let hidden = text
        .lines()
        .find(|l| l.ends_with(" _text") || l.ends_with(" _stext"))
        .is_none_or(|l| {
            l.split(' ')
                .next()
                .is_some_and(|a| a.bytes().all(|b| b == b'0'))
        });
    if hidden {
        return Err(io::Error::other(
            "/proc/kallsyms hides the addresses (kptr_restrict)",
        ));
    }
    if std::fs::read_to_string(&file).is_ok_and(|old| old == text) {
        link(dir, name, id)?;
        return Ok(false);
    }
    mkdirs(&entry)?;
    let tmp = entry.join(".kallsyms.tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o400)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    drop(f);
    std::fs::rename(&tmp, &file)?;
    link(dir, name, id)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_laid_out_as_perf_lays_them() {
        assert_eq!(
            entry_dir(Path::new("/h/.debug"), "/usr/bin/x", &[0xab, 0x01]),
            Path::new("/h/.debug/usr/bin/x/ab01")
        );
        assert_eq!(
            entry_dir(Path::new("/h/.debug"), "[kernel.kallsyms]", &[0xab, 0x01]),
            Path::new("/h/.debug/[kernel.kallsyms]/ab01")
        );
    }
}
