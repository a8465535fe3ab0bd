//! `perf-client semantics`: how ring mappings behave on the running kernel, measured live.
//!
//! Rows: the real perf ring (`perf_event_open` of a software dummy event, then mmap), the
//! real BPF ringbuf (`bpf(BPF_MAP_CREATE, BPF_MAP_TYPE_RINGBUF)`, needs root), and the
//! emulated buffer mapped with each [`Strategy`]. Columns: what userspace can observe.
//! Every value is measured; where the emulation cannot do what the kernel does (DESIGN §4:
//! pfnmap flags, SIGBUS on write, refusal of GUP and of splits, Rss 0), the emulated cell
//! says "not reproducible" next to the kernel's measured value. Nothing is filled in.

mod emulated;
#[allow(unsafe_code)] // perf_event_open and mmap of a live ring
mod kernel;
#[allow(unsafe_code)] // mappings probed in forked children
mod probe;

use std::time::Duration;

use perf_ringbuf::emulation::{PageLayout, Strategy};
use serde::Serialize;

/// What became of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Measured on this kernel.
    Measured,
    /// The measurement itself failed (the value says why).
    Error,
    /// Does not apply to this row (the value says why).
    NotApplicable,
}

/// How an emulated cell compares with the kernel mapping it models.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// The kernel row it is compared with.
    pub kernel_row: String,
    /// The kernel's measured value.
    pub kernel_value: String,
    /// Whether the observable behaviour is the same.
    pub matches: bool,
    /// For a difference: whether userspace could reproduce the kernel at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<bool>,
    /// Why they differ.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One measured value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The value as shown.
    pub value: String,
    /// Measured, failed, or not applicable.
    pub status: Status,
    /// The value as a number, where it is one (KiB, pages, milliseconds, faults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<f64>,
    /// Emulated rows: the comparison with the kernel mapping modelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Comparison>,
    /// The behaviour class compared between rows (errno, signal, "0" / ">0", flags).
    #[serde(skip)]
    key: String,
}

impl Cell {
    pub(crate) fn measured(value: impl Into<String>) -> Cell {
        let value = value.into();
        Cell {
            key: value.clone(),
            value,
            status: Status::Measured,
            number: None,
            kernel: None,
        }
    }

    pub(crate) fn number(value: impl Into<String>, n: f64) -> Cell {
        Cell {
            number: Some(n),
            ..Cell::measured(value)
        }
    }

    pub(crate) fn error(value: impl Into<String>) -> Cell {
        Cell {
            status: Status::Error,
            ..Cell::measured(value)
        }
    }

    pub(crate) fn na(value: impl Into<String>) -> Cell {
        Cell {
            status: Status::NotApplicable,
            ..Cell::measured(value)
        }
    }

    pub(crate) fn with_key(mut self, key: impl Into<String>) -> Cell {
        self.key = key.into();
        self
    }
}

/// The columns, in table order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Columns {
    /// smaps `VmFlags` of the data VMA (and the control VMA when different).
    pub vm_flags: Cell,
    /// smaps `Rss` of the ring's VMAs right after mapping.
    pub rss_after_map: Cell,
    /// Pages `mincore` reports resident right after mapping (resident / mapped).
    pub mincore_resident: Cell,
    /// `process_vm_readv` of a data page (GUP).
    pub gup_process_vm_readv: Cell,
    /// `write(2)` of a data page to an O_DIRECT file (GUP pin).
    pub gup_odirect_write: Cell,
    /// What a write to a data page does (in a forked child with its own mapping).
    pub data_page_write: Cell,
    /// `mprotect` of the read-only data to read-write.
    pub mprotect_ro_to_rw: Cell,
    /// Whether a forked child inherits the mapping.
    pub inherited_by_fork: Cell,
    /// `MADV_DONTNEED` on the data, and what reads do afterwards.
    pub madv_dontneed: Cell,
    /// Wall time of the mmap call(s) for 1 + N pages.
    pub time_to_map: Cell,
    /// Minor faults of a first read of every data page (`getrusage(RUSAGE_THREAD)`).
    pub first_pass_minor_faults: Cell,
    /// Page references the mapping took (emulated bookkeeping; `kpagecount` for the kernel).
    pub page_references: Cell,
}

impl Columns {
    /// `(header, cell)` pairs in order.
    pub fn iter(&self) -> [(&'static str, &Cell); 12] {
        [
            ("VmFlags", &self.vm_flags),
            ("Rss after map", &self.rss_after_map),
            ("mincore resident", &self.mincore_resident),
            ("GUP process_vm_readv", &self.gup_process_vm_readv),
            ("GUP O_DIRECT write", &self.gup_odirect_write),
            ("write to data page", &self.data_page_write),
            ("mprotect RO->RW", &self.mprotect_ro_to_rw),
            ("inherited by fork", &self.inherited_by_fork),
            ("MADV_DONTNEED", &self.madv_dontneed),
            ("time to map 1+N", &self.time_to_map),
            ("minor faults 1st pass", &self.first_pass_minor_faults),
            ("page references", &self.page_references),
        ]
    }

    fn iter_mut(&mut self) -> [(&'static str, &mut Cell); 12] {
        [
            ("VmFlags", &mut self.vm_flags),
            ("Rss after map", &mut self.rss_after_map),
            ("mincore resident", &mut self.mincore_resident),
            ("GUP process_vm_readv", &mut self.gup_process_vm_readv),
            ("GUP O_DIRECT write", &mut self.gup_odirect_write),
            ("write to data page", &mut self.data_page_write),
            ("mprotect RO->RW", &mut self.mprotect_ro_to_rw),
            ("inherited by fork", &mut self.inherited_by_fork),
            ("MADV_DONTNEED", &mut self.madv_dontneed),
            ("time to map 1+N", &mut self.time_to_map),
            ("minor faults 1st pass", &mut self.first_pass_minor_faults),
            ("page references", &mut self.page_references),
        ]
    }
}

/// One mapping measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// What was mapped.
    pub name: String,
    /// `kernel` or `emulated`.
    pub kind: &'static str,
    /// The measurements, or `None` when the row could not be set up at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Columns>,
    /// Setup details: allocation time, map calls, VMAs, fault mode, or why it failed.
    pub notes: Vec<String>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Data pages per ring (N in 1 + N).
    pub data_pages: usize,
    /// `uname -r`.
    pub kernel: String,
    /// `vm.max_map_count`.
    pub max_map_count: Option<usize>,
    /// The rows.
    pub rows: Vec<Row>,
}

/// Errors that stop the whole report (a row that fails is reported in its notes instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SemanticsError {
    /// N must be a power of two.
    #[error("--pages {0}: need a power of two of at least 1 (1 + N pages are mapped)")]
    BadPages(usize),
}

pub(crate) const PERF_ROW: &str = "perf ring (kernel)";
pub(crate) const BPF_ROW: &str = "BPF ringbuf (kernel)";

pub(crate) fn ms(d: Duration) -> Cell {
    let ms = d.as_secs_f64() * 1e3;
    Cell::number(format!("{ms:.3} ms"), ms)
}

/// Measures every row with rings of 1 + `data_pages` pages.
///
/// # Errors
///
/// [`SemanticsError::BadPages`]; kernel refusals end up in the rows' notes.
pub fn measure(data_pages: usize) -> Result<Report, SemanticsError> {
    measure_with(data_pages, PageLayout::Scattered { seed: 1 })
}

/// As [`measure`], with the emulated buffers' pages laid out as `layout` (scattered like
/// `rb_alloc`, or contiguous: one map call per copy of the data).
///
/// # Errors
///
/// As [`measure`].
pub fn measure_with(data_pages: usize, layout: PageLayout) -> Result<Report, SemanticsError> {
    if data_pages == 0 || !data_pages.is_power_of_two() {
        return Err(SemanticsError::BadPages(data_pages));
    }
    let mut rows = vec![
        kernel::perf_ring(data_pages),
        kernel::bpf_ringbuf(data_pages),
    ];
    for s in Strategy::ALL {
        let mut row = emulated::row(s, data_pages, layout);
        compare(&mut row, s, &rows);
        rows.push(row);
    }
    Ok(Report {
        data_pages,
        kernel: kernel_release(),
        max_map_count: crate::mm::max_map_count(),
        rows,
    })
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// Which kernel row an emulated strategy models.
fn model(s: Strategy) -> Option<&'static str> {
    match s {
        Strategy::PfnMap => Some(PERF_ROW),
        Strategy::InsertPages => Some(BPF_ROW),
        Strategy::Fault => None,
    }
}

fn compare(row: &mut Row, s: Strategy, kernel_rows: &[Row]) {
    let Some(model_name) = model(s) else {
        row.notes.push(
            "models pre-6.14 perf_mmap_fault: no such kernel ring on this kernel to compare with"
                .into(),
        );
        return;
    };
    let Some(kcols) = kernel_rows
        .iter()
        .find(|r| r.name == model_name)
        .and_then(|r| r.columns.clone())
    else {
        row.notes
            .push(format!("{model_name} could not be measured: no comparison"));
        return;
    };
    let Some(cols) = row.columns.as_mut() else {
        return;
    };
    for ((header, cell), (_, kcell)) in cols.iter_mut().into_iter().zip(kcols.iter()) {
        if cell.status != Status::Measured
            || kcell.status != Status::Measured
            || ["time to map 1+N", "page references"].contains(&header)
        {
            continue;
        }
        let (matches, reproducible, note) = judge(header, s, &cell.key, &kcell.key);
        cell.kernel = Some(Comparison {
            kernel_row: model_name.to_owned(),
            kernel_value: kcell.value.clone(),
            matches,
            reproducible: if matches { None } else { Some(reproducible) },
            note,
        });
    }
}

/// Decides whether an emulated behaviour matches the kernel's, and if not, whether a
/// userspace emulation could match it (DESIGN §4).
fn judge(header: &str, s: Strategy, emu: &str, kern: &str) -> (bool, bool, Option<String>) {
    let not = |why: &str| (false, false, Some(format!("not reproducible: {why}")));
    match header {
        "VmFlags" => {
            let emu_set: Vec<&str> = emu.split_whitespace().collect();
            let kern_set: Vec<&str> = kern.split_whitespace().collect();
            let missing: Vec<&str> = kern_set.iter().filter(|f| !emu_set.contains(f)).copied().collect();
            let extra: Vec<&str> = emu_set.iter().filter(|f| !kern_set.contains(f)).copied().collect();
            if missing.is_empty() && extra.is_empty() {
                return (true, true, None);
            }
            let mut why = Vec::new();
            let driver: Vec<&str> = missing.iter().filter(|f| ["pf", "io", "mm", "de"].contains(f)).copied().collect();
            if !driver.is_empty() {
                why.push(format!("not reproducible: {} (set only by a kernel driver's mmap)", driver.join(" ")));
            }
            if missing.contains(&"wr") || missing.contains(&"mw") {
                why.push("perf keeps data in the control page's RW VMA (pfn_mkwrite refuses data writes); the emulation gives data its own read-only VMA".into());
            }
            if extra.contains(&"dc") {
                why.push("dc on purpose: emulated mappings are never inherited".into());
            }
            if extra.contains(&"me") {
                why.push("me: memfd mappings may become executable; driver mappings may not".into());
            }
            (false, driver.is_empty(), Some(why.join("; ")))
        }
        "time to map 1+N" => (true, true, None),
        _ if emu == kern => (true, true, None),
        "Rss after map" | "mincore resident" => {
            not("a pfnmap is skipped by page walkers; memfd pages are ordinary mapped pages")
        }
        "GUP process_vm_readv" | "GUP O_DIRECT write" => {
            not("only VM_PFNMAP|VM_IO makes real GUP refuse; the emulated GUP (Mapping::pin) refuses instead")
        }
        "write to data page" => not("SIGBUS comes from pfn_mkwrite inside one RW VMA; a read-only memfd VMA faults with SIGSEGV"),
        "mprotect RO->RW" => (
            false,
            false,
            Some(
                "differs on purpose: the kernel keeps VM_MAYWRITE but SIGBUSes data writes; a memfd cannot, so the seal refuses the upgrade".into(),
            ),
        ),
        "inherited by fork" => (
            false,
            true,
            Some("differs on purpose: every emulated mapping is MADV_DONTFORK, like perf's VM_DONTCOPY".into()),
        ),
        "MADV_DONTNEED" => match s {
            Strategy::PfnMap => not("madvise refuses VM_PFNMAP (EINVAL); a memfd mapping allows it"),
            _ => not("the BPF ringbuf has no .fault handler, so zapped pages SIGBUS; memfd pages refault"),
        },
        "page references" => (true, true, None),
        _ => (false, true, None),
    }
}

impl Report {
    /// The report as pretty-printed JSON (what `--json` prints).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The report as an aligned text table (columns of the report as lines, rows across)
    /// followed by notes.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Mapping semantics on Linux {}: rings of 1 + {} pages; vm.max_map_count = {}\n\n",
            self.kernel,
            self.data_pages,
            self.max_map_count.map_or("?".to_owned(), |m| m.to_string())
        ));
        let mut grid: Vec<Vec<String>> = vec![std::iter::once(String::new())
            .chain(self.rows.iter().map(|r| r.name.clone()))
            .collect()];
        let mut footnotes: Vec<String> = Vec::new();
        let headers = [
            "VmFlags",
            "Rss after map",
            "mincore resident",
            "GUP process_vm_readv",
            "GUP O_DIRECT write",
            "write to data page",
            "mprotect RO->RW",
            "inherited by fork",
            "MADV_DONTNEED",
            "time to map 1+N",
            "minor faults 1st pass",
            "page references",
        ];
        for (i, h) in headers.iter().enumerate() {
            let mut line = vec![(*h).to_owned()];
            for r in &self.rows {
                let text = match &r.columns {
                    None => "(not measured)".to_owned(),
                    Some(c) => {
                        let cell = c.iter()[i].1;
                        let mut t = cell.value.clone();
                        if cell.status == Status::Error {
                            t = format!("error: {t}");
                        }
                        if let Some(k) = &cell.kernel {
                            if !k.matches {
                                footnotes.push(format!(
                                    "{} / {h}: {} [kernel {}: {}]",
                                    r.name,
                                    k.note.clone().unwrap_or_default(),
                                    k.kernel_row,
                                    k.kernel_value
                                ));
                                t = format!("{t} [{}]", footnotes.len());
                            } else {
                                t.push_str(" =");
                            }
                        }
                        t
                    }
                };
                line.push(text);
            }
            grid.push(line);
        }
        let cols = grid[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| grid.iter().map(|l| l[c].chars().count()).max().unwrap_or(0))
            .collect();
        for line in &grid {
            let cells: Vec<String> = line
                .iter()
                .zip(&widths)
                .map(|(t, w)| format!("{t:<w$}"))
                .collect();
            out.push_str(cells.join(" | ").trim_end());
            out.push('\n');
        }
        out.push_str("\n'=' emulated value matches the kernel row it models (PfnMap: perf ring, InsertPages: BPF ringbuf).\n");
        for (i, f) in footnotes.iter().enumerate() {
            out.push_str(&format!("[{}] {f}\n", i + 1));
        }
        out.push('\n');
        for r in &self.rows {
            for n in &r.notes {
                out.push_str(&format!("{}: {n}\n", r.name));
            }
        }
        out
    }
}
