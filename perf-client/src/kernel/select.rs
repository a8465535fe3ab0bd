//! perf's command-line choices as library objects, in one place for every subcommand:
//! `-e/-c/-F/-g` become [`EventConfig`]s with perf's defaults ([`EventSpec`]), `-p/-t/-a/-C`
//! and a command become a [`Target`] ([`TargetSpec`]), `-m` becomes a page count
//! ([`parse_mmap_pages`]). The command line only parses strings and prints.

use std::ffi::OsString;
use std::str::FromStr;

use perf_event_open_sys::bindings as b;

use crate::kernel::capture::Target;
use crate::kernel::cpus::{self, CpuListError};
use crate::kernel::event::{EventConfig, EventKind, OpenError, Sampling, DEFAULT_SAMPLE_TYPE};
use crate::kernel::event_syntax::{self, EventText, SyntaxError, Term};
use crate::kernel::{sys, tracefs};
use crate::records::bits::{read_format as rf, sample as st};

/// perf's default sampling frequency (`perf record -F`, `record_opts.freq`): 4000 Hz.
pub const DEFAULT_FREQ: u64 = 4000;

/// Why a choice on the command line was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SelectError {
    /// `-F 0` or `-c 0` (perf refuses them too).
    #[error("frequency and count must be > 0")]
    ZeroRate,
    /// `-F max` without a readable `kernel.perf_event_max_sample_rate`.
    #[error("-F max: cannot read /proc/sys/kernel/perf_event_max_sample_rate")]
    NoMaxRate,
    /// An `-e` string perf's syntax does not allow.
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// An event name that cannot be opened.
    #[error(transparent)]
    Event(#[from] OpenError),
    /// A bad `-C` list.
    #[error(transparent)]
    Cpus(#[from] CpuListError),
    /// No task and no CPU to trace.
    #[error("nothing to trace: give a command (after --), -p PID, -t TID, -a or -C CPUS")]
    NoTarget,
    /// A bad `-m` value.
    #[error("-m {value}: {why}")]
    MmapPages {
        /// The value as given.
        value: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// `-F`: a frequency, or `max` (`kernel.perf_event_max_sample_rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freq {
    /// About this many samples a second.
    Hz(u64),
    /// As many as the kernel allows (`perf_event_max_sample_rate`).
    Max,
}

impl FromStr for Freq {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("max") {
            return Ok(Freq::Max);
        }
        s.parse()
            .map(Freq::Hz)
            .map_err(|_| format!("invalid frequency {s:?}: a number of Hz, or max"))
    }
}

/// The events of a command line, with perf's defaults: `-c N` samples every N events,
/// `-F N` (or perf's 4000 Hz when neither is given) about N times a second, lowered to
/// `kernel.perf_event_max_sample_rate` with a warning; tracepoints sample every event
/// and carry `PERF_SAMPLE_RAW` and `PERF_SAMPLE_PERIOD` (as perf's tracepoints). Other
/// events carry `PERF_SAMPLE_PERIOD` only in frequency mode, where perf sets it: with a
/// fixed period it is useless (the attr has it) and, on software events, makes the
/// kernel sample every event (`perf_swevent_event`).
#[derive(Debug, Clone, Default)]
pub struct EventSpec {
    /// `-e`: event lists in perf's syntax, one per `-e` (`cpu-clock:u,page-faults`,
    /// `{cpu-clock,page-faults}:S`, `sched:*`, `cpu-clock/period=100000/`; see
    /// [`event_syntax`]).
    pub names: Vec<String>,
    /// `-c`: a sample every N events.
    pub count: Option<u64>,
    /// `-F`: about N samples a second.
    pub freq: Option<Freq>,
    /// `-g`: callchains (`PERF_SAMPLE_CALLCHAIN`).
    pub callchain: bool,
    /// `sample_type` bits to use exactly as given instead of the defaults.
    pub sample_type: Option<u64>,
    /// Count user space only (`attr.exclude_kernel`) in the events whose modifiers name
    /// no privilege level (`:u`, `:k`, `:h` decide for themselves): for unprivileged
    /// users when `perf_event_paranoid` is 2 or more.
    pub exclude_kernel: bool,
}

/// The events built from an [`EventSpec`], and what perf would warn about.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Selected {
    /// One config per event (patterns expanded), named as perf names them, group
    /// members pointing at their leader; side-band (`tracking`) on the first.
    pub events: Vec<EventConfig>,
    /// Warnings for stderr (a frequency lowered to the kernel's maximum).
    pub warnings: Vec<String>,
}

impl EventSpec {
    /// Events named `names`, every other choice perf's default.
    pub fn new(names: Vec<String>) -> Self {
        EventSpec {
            names,
            ..Default::default()
        }
    }

    /// The sampling for an event, given the kernel's maximum rate (`None`: unknown), and
    /// a warning when the frequency was lowered to it.
    ///
    /// # Errors
    ///
    /// [`SelectError::ZeroRate`] for `-c 0` or `-F 0`; [`SelectError::NoMaxRate`] for
    /// `-F max` when the maximum is unknown.
    pub fn sampling(
        &self,
        tracepoint: bool,
        max_rate: Option<u64>,
    ) -> Result<(Sampling, Option<String>), SelectError> {
        let hz = match (self.count, self.freq) {
            (Some(0), _) | (_, Some(Freq::Hz(0))) => return Err(SelectError::ZeroRate),
            (Some(n), _) => return Ok((Sampling::Period(n), None)),
            (None, Some(Freq::Max)) => max_rate.ok_or(SelectError::NoMaxRate)?,
            (None, Some(Freq::Hz(n))) => n,
            (None, None) if tracepoint => return Ok((Sampling::Period(1), None)),
            (None, None) => DEFAULT_FREQ,
        };
        Ok(match max_rate {
            Some(max) if hz > max => (
                Sampling::Frequency(max),
                Some(format!(
                    "warning: Maximum frequency rate ({max} Hz) exceeded, throttling from \
                     {hz} Hz to {max} Hz.\n         The limit can be raised via \
                     /proc/sys/kernel/perf_event_max_sample_rate."
                )),
            ),
            _ => (Sampling::Frequency(hz), None),
        })
    }

    /// This spec with `-c`/`-F` checked and `-F` resolved against the kernel's maximum
    /// rate (`None`: unknown): `max` becomes the maximum, a higher frequency is lowered to
    /// it, with perf's warning. Building the result gives no further warning for `-F`.
    ///
    /// # Errors
    ///
    /// As [`EventSpec::sampling`].
    pub fn resolved(
        &self,
        max_rate: Option<u64>,
    ) -> Result<(EventSpec, Option<String>), SelectError> {
        let mut out = self.clone();
        if self.count.is_none() && self.freq.is_none() {
            return Ok((out, None));
        }
        let (sampling, warning) = self.sampling(false, max_rate)?;
        if let Sampling::Frequency(hz) = sampling {
            out.freq = Some(Freq::Hz(hz));
        }
        Ok((out, warning))
    }

    /// Builds the events, reading `kernel.perf_event_max_sample_rate` now.
    ///
    /// # Errors
    ///
    /// As [`EventSpec::sampling`], or an event name that cannot be built
    /// ([`SelectError::Event`]).
    pub fn build(&self) -> Result<Selected, SelectError> {
        self.build_with_max_rate(crate::kernel::event::perf_event_max_sample_rate())
    }

    /// [`EventSpec::build`] with the kernel's maximum rate given (`None`: unknown).
    ///
    /// Every `-e` argument is parsed with perf's syntax ([`event_syntax`]); tracepoint
    /// patterns are expanded from tracefs; groups become leaders and members
    /// ([`EventConfig::group_leader`]). A group whose leader has `:S` samples the leader
    /// only, as `perf record` does: every member gets `PERF_SAMPLE_READ` and
    /// `PERF_FORMAT_GROUP`, the members sample nothing (`sample_period = 0`) and take the
    /// leader's `sample_type`, so the leader's samples carry every member's count.
    ///
    /// # Errors
    ///
    /// As [`EventSpec::build`].
    pub fn build_with_max_rate(&self, max_rate: Option<u64>) -> Result<Selected, SelectError> {
        let mut events: Vec<EventConfig> = Vec::new();
        let mut warnings = Vec::new();
        for arg in &self.names {
            for group in event_syntax::parse_event_list(arg)? {
                let mut members = Vec::new();
                for e in &group.events {
                    if tracefs::is_pattern(&e.base) {
                        let found = tracefs::matching_tracepoints(&e.base)
                            .map_err(|t| SelectError::Event(t.into()))?;
                        for tp in found {
                            members.push((EventKind::Tracepoint(tp.clone()), tp, e));
                        }
                    } else {
                        let kind: EventKind = e.base.parse().map_err(OpenError::from)?;
                        let name = match kind {
                            // perf names a tracepoint without its modifiers.
                            EventKind::Tracepoint(_) => e.base.clone(),
                            _ => e.display.clone(),
                        };
                        members.push((kind, name, e));
                    }
                }
                // An unbraced pattern is a list of lone events, not a group.
                let grouped = group.braced;
                let leader_sampling =
                    grouped && members.len() > 1 && members[0].2.modifiers.sample_read;
                let leader = events.len();
                for (j, (kind, name, text)) in members.into_iter().enumerate() {
                    let first = events.is_empty();
                    let mut c = self.config(kind, name, text, max_rate, &mut warnings)?;
                    if grouped && j > 0 {
                        c = c.member_of(Some(leader)).pinned(false);
                    }
                    if leader_sampling {
                        let f = c.attr().read_format | rf::GROUP;
                        c = c.read_format(f);
                        if j > 0 {
                            let t = events[leader].attr().sample_type;
                            c = c.sampling(Sampling::None).sample_type(t);
                        }
                    }
                    // Side-band (COMM, MMAP2, FORK, EXIT) on the first event, as perf
                    // record does.
                    events.push(c.tracking(first));
                }
            }
        }
        Ok(Selected { events, warnings })
    }

    /// One event's config: `-c`/`-F` and perf's defaults, then its `/terms/` in order,
    /// then its modifiers.
    fn config(
        &self,
        kind: EventKind,
        name: String,
        text: &EventText,
        max_rate: Option<u64>,
        warnings: &mut Vec<String>,
    ) -> Result<EventConfig, SelectError> {
        let c = EventConfig::new(kind)?.named(name);
        let tracepoint = c.attr().type_ == b::PERF_TYPE_TRACEPOINT;
        let (mut sampling, mut warning) = self.sampling(tracepoint, max_rate)?;
        for term in &text.terms {
            (sampling, warning) = match *term {
                Term::Period(0) | Term::Freq(0) => return Err(SelectError::ZeroRate),
                Term::Period(n) => (Sampling::Period(n), None),
                Term::Freq(n) => EventSpec {
                    count: None,
                    freq: Some(Freq::Hz(n)),
                    ..EventSpec::default()
                }
                .sampling(tracepoint, max_rate)?,
            };
        }
        if let Some(w) = warning {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        let m = text.modifiers;
        let sample_type = self.sample_type.unwrap_or_else(|| {
            let mut t = DEFAULT_SAMPLE_TYPE & !st::PERIOD;
            if matches!(sampling, Sampling::Frequency(_)) {
                t |= st::PERIOD;
            }
            if tracepoint {
                // perf's tracepoint events (`evsel__newtp_idx`) carry RAW and PERIOD
                // (the period is 1: every hit is a sample).
                t |= st::RAW | st::PERIOD;
            }
            if m.sample_read {
                t |= st::READ;
            }
            t
        });
        // Unprivileged users with perf_event_paranoid >= 2 may count user space only:
        // events that name no level are restricted to it, as perf's fallback does.
        let exclude_kernel = m.exclude_kernel || (self.exclude_kernel && !m.excludes_a_level());
        Ok(c.sampling(sampling)
            .sample_type(sample_type)
            .callchain(self.callchain, 0)
            .exclude_user(m.exclude_user)
            .exclude_kernel(exclude_kernel)
            .exclude_hv(m.exclude_hv)
            .exclude_guest(m.exclude_guest)
            .exclude_host(m.exclude_host)
            .precise_ip(m.precise_ip)
            .pinned(m.pinned))
    }
}

/// What to trace, as perf's flags say it: `-p PID`, `-t TID`, `-a`, `-C CPUS`, or a
/// command (which also runs, and ends the capture, with `-a`/`-C`).
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    /// `-p`: every thread of a running process.
    pub pid: Option<i32>,
    /// `-t`: one running thread.
    pub tid: Option<i32>,
    /// `-a`: every online CPU.
    pub all_cpus: bool,
    /// `-C`: these CPUs (`0-3,5`), every task on them.
    pub cpus: Option<String>,
    /// The command after `--`.
    pub command: Vec<OsString>,
}

impl TargetSpec {
    /// The target. `-p` wins over `-t`, which wins over `-a`/`-C` (the command line
    /// refuses the combinations).
    ///
    /// # Errors
    ///
    /// A bad `-C` list (empty, malformed, or naming a CPU that is not online), or no
    /// target at all ([`SelectError::NoTarget`]).
    pub fn target(&self) -> Result<Target, SelectError> {
        let command = (!self.command.is_empty()).then(|| self.command.clone());
        Ok(if let Some(p) = self.pid {
            Target::Process(p)
        } else if let Some(t) = self.tid {
            Target::Thread(t)
        } else if self.all_cpus || self.cpus.is_some() {
            let cpus = match &self.cpus {
                Some(list) => {
                    let online = cpus::online_cpu_list().ok();
                    Some(cpus::parse_online_cpu_list(list, online.as_deref())?)
                }
                None => None,
            };
            Target::Cpus { cpus, command }
        } else if let Some(argv) = command {
            Target::Command(argv)
        } else {
            return Err(SelectError::NoTarget);
        })
    }
}

impl TargetSpec {
    /// The command to run meanwhile with `-p`/`-t` (perf runs it and stops when it
    /// exits): for [`crate::kernel::capture::CaptureOptions::command`]. `None` for other
    /// targets, whose command is part of the [`Target`].
    pub fn side_command(&self) -> Option<Vec<OsString>> {
        let task = self.pid.is_some() || self.tid.is_some();
        (task && !self.command.is_empty()).then(|| self.command.clone())
    }
}

/// perf's `-m` syntax: a power-of-two page count, or a size with a `B`/`K`/`M`/`G`
/// suffix, rounded up to a power of two of pages of this system's page size
/// (`sysconf(_SC_PAGESIZE)`).
///
/// # Errors
///
/// [`SelectError::MmapPages`]: not a number, a count that is not a power of two, or a
/// size that overflows.
pub fn parse_mmap_pages(s: &str) -> Result<usize, SelectError> {
    mmap_pages(s, sys::page_size() as u64)
}

fn mmap_pages(value: &str, page: u64) -> Result<usize, SelectError> {
    let err = |why| SelectError::MmapPages {
        value: value.to_owned(),
        why,
    };
    let s = value.trim();
    let (num, mult) = match s.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('B') => (&s[..s.len() - 1], Some(1u64)),
        Some('K') => (&s[..s.len() - 1], Some(1 << 10)),
        Some('M') => (&s[..s.len() - 1], Some(1 << 20)),
        Some('G') => (&s[..s.len() - 1], Some(1 << 30)),
        _ => (s, None),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| err("expected pages or a size like 512K"))?;
    let pages = match mult {
        None if n == 0 || !n.is_power_of_two() => {
            return Err(err("the number of mmap pages must be a power of two"))
        }
        None => n,
        Some(m) => {
            let bytes = n.checked_mul(m).ok_or(err("mmap size overflows"))?;
            bytes
                .div_ceil(page)
                .max(1)
                .checked_next_power_of_two()
                .ok_or(err("mmap size too large"))?
        }
    };
    usize::try_from(pages).map_err(|_| err("mmap size too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(count: Option<u64>, freq: Option<Freq>) -> EventSpec {
        EventSpec {
            count,
            freq,
            ..EventSpec::new(vec!["cpu-clock".into()])
        }
    }

    #[test]
    fn zero_frequency_and_count_are_refused_as_perf_refuses_them() {
        for s in [spec(Some(0), None), spec(None, Some(Freq::Hz(0)))] {
            let e = s.sampling(false, Some(1000)).unwrap_err();
            assert_eq!(e.to_string(), "frequency and count must be > 0");
        }
    }

    #[test]
    fn frequency_max_is_the_kernels_maximum_rate() {
        let s = spec(None, Some(Freq::Max));
        assert_eq!(
            s.sampling(false, Some(25_000)).unwrap(),
            (Sampling::Frequency(25_000), None)
        );
        assert!(matches!(
            s.sampling(false, None),
            Err(SelectError::NoMaxRate)
        ));
        assert_eq!("max".parse::<Freq>(), Ok(Freq::Max));
        assert_eq!("99".parse::<Freq>(), Ok(Freq::Hz(99)));
        assert!("fast".parse::<Freq>().is_err());
    }

    #[test]
    fn a_frequency_above_the_maximum_is_lowered_with_a_warning() {
        let (s, w) = spec(None, Some(Freq::Hz(200_000)))
            .sampling(false, Some(100_000))
            .unwrap();
        assert_eq!(s, Sampling::Frequency(100_000));
        let w = w.unwrap();
        assert!(w.contains("throttling from 200000 Hz to 100000 Hz"), "{w}");
        // perf's default (4000 Hz) is lowered too.
        let (s, w) = spec(None, None).sampling(false, Some(1000)).unwrap();
        assert_eq!(s, Sampling::Frequency(1000));
        assert!(w.is_some());
        let (s, w) = spec(None, None).sampling(false, Some(100_000)).unwrap();
        assert_eq!((s, w), (Sampling::Frequency(DEFAULT_FREQ), None));
    }

    #[test]
    fn resolving_applies_max_and_the_ceiling_once() {
        let (r, w) = spec(None, Some(Freq::Max)).resolved(Some(5000)).unwrap();
        assert_eq!((r.freq, w), (Some(Freq::Hz(5000)), None));
        let (r, w) = spec(None, Some(Freq::Hz(9000)))
            .resolved(Some(5000))
            .unwrap();
        assert_eq!(r.freq, Some(Freq::Hz(5000)));
        assert!(w.is_some());
        let (r, w) = spec(None, None).resolved(Some(5000)).unwrap();
        assert_eq!((r.freq, r.count, w), (None, None, None));
        assert!(spec(Some(0), None).resolved(None).is_err());
    }

    #[test]
    fn tracepoints_sample_every_event_by_default_and_counts_win() {
        assert_eq!(
            spec(None, None).sampling(true, None).unwrap().0,
            Sampling::Period(1)
        );
        assert_eq!(
            spec(Some(100), None).sampling(false, Some(1)).unwrap(),
            (Sampling::Period(100), None)
        );
    }

    #[test]
    fn sample_period_is_asked_for_only_in_frequency_mode() {
        let period = |s: &EventSpec| {
            let sel = s.build_with_max_rate(Some(100_000)).unwrap();
            sel.events[0].attr().sample_type & st::PERIOD != 0
        };
        let mut s = EventSpec::new(vec!["page-faults".into()]);
        assert!(period(&s), "perf's default -F 4000 carries the period");
        s.count = Some(100);
        assert!(
            !period(&s),
            "-c 100 on a software event must not set PERIOD"
        );
        s.count = None;
        s.freq = Some(Freq::Hz(99));
        assert!(period(&s));
        let sel = s.build_with_max_rate(Some(100_000)).unwrap();
        assert_eq!(sel.events[0].attr().freq(), 1);
        assert!(sel.warnings.is_empty());
    }

    fn built(list: &str) -> Vec<EventConfig> {
        EventSpec::new(vec![list.into()])
            .build_with_max_rate(Some(100_000))
            .unwrap()
            .events
    }

    #[test]
    fn a_leader_sampling_group_reads_every_member_from_the_leaders_samples() {
        let ev = built("{cpu-clock,page-faults}:S");
        assert_eq!(ev.len(), 2);
        let (l, m) = (ev[0].attr(), ev[1].attr());
        assert_eq!(
            (ev[0].group_leader(), ev[1].group_leader()),
            (None, Some(0))
        );
        assert_eq!(
            (ev[0].name(), ev[1].name()),
            ("cpu-clock".into(), "page-faults".into())
        );
        for a in [l, m] {
            assert_ne!(a.sample_type & st::READ, 0);
            assert_ne!(a.read_format & rf::GROUP, 0);
        }
        // The leader samples at perf's default frequency, the member not at all.
        assert_eq!((l.freq(), m.freq()), (1, 0));
        assert_eq!(m.sample_type, l.sample_type);
        // sample_period and sample_freq share the u64 at byte 16 (read from the bytes).
        let period = |a: &perf_event_open_sys::bindings::perf_event_attr| {
            u64::from_ne_bytes(sys::attr_bytes(a)[16..24].try_into().unwrap())
        };
        assert_eq!((period(l), period(m)), (DEFAULT_FREQ, 0));
        // Side-band only on the first event.
        assert_eq!((l.mmap2(), m.mmap2()), (1, 0));
    }

    #[test]
    fn a_group_without_s_samples_every_member_and_lone_events_have_no_leader() {
        let ev = built("dummy,{cpu-clock,page-faults:u}");
        assert_eq!(ev.len(), 3);
        let leaders: Vec<_> = ev.iter().map(EventConfig::group_leader).collect();
        assert_eq!(leaders, [None, None, Some(1)]);
        assert!(ev.iter().all(|c| c.attr().read_format & rf::GROUP == 0));
        assert_eq!(ev[2].attr().freq(), 1);
        assert_eq!(ev[2].attr().exclude_kernel(), 1);
        assert_eq!(ev[1].attr().exclude_kernel(), 0);
    }

    #[test]
    fn modifiers_and_terms_reach_each_events_attr() {
        let ev = built("cpu-clock:k,page-faults/period=7/u,task-clock:ppD");
        let a: Vec<_> = ev.iter().map(|c| *c.attr()).collect();
        assert_eq!(
            (
                a[0].exclude_user(),
                a[0].exclude_kernel(),
                a[0].exclude_hv()
            ),
            (1, 0, 1)
        );
        assert_eq!(ev[0].name(), "cpu-clock:k");
        assert_eq!((a[1].exclude_kernel(), a[1].freq()), (1, 0));
        assert_eq!(a[1].sample_type & st::PERIOD, 0, "a fixed period, as perf");
        assert_eq!((a[2].precise_ip(), a[2].pinned()), (2, 1));
        assert_eq!(a[0].exclude_guest(), 0);
        assert_eq!(a[2].exclude_guest(), 1);
    }

    #[test]
    fn the_unprivileged_user_only_default_leaves_explicit_levels_alone() {
        let mut s = EventSpec::new(vec!["cpu-clock,page-faults:k".into()]);
        s.exclude_kernel = true;
        let ev = s.build_with_max_rate(Some(100_000)).unwrap().events;
        assert_eq!(ev[0].attr().exclude_kernel(), 1);
        assert_eq!(ev[1].attr().exclude_kernel(), 0);
    }

    #[test]
    fn bad_event_syntax_is_an_error_not_an_event() {
        for bad in [
            "cpu-clock:x",
            "{cpu-clock",
            "cpu-clock/bogus=1/",
            "nosuch:u:k:x",
        ] {
            let e = EventSpec::new(vec![bad.into()]).build_with_max_rate(None);
            assert!(e.is_err(), "{bad}");
        }
        let e = EventSpec::new(vec!["cpu-clock/period=0/".into()]).build_with_max_rate(None);
        assert!(matches!(e, Err(SelectError::ZeroRate)));
    }

    #[test]
    fn mmap_sizes_convert_with_the_page_size_given() {
        assert_eq!(mmap_pages("16", 4096).unwrap(), 16);
        assert_eq!(mmap_pages("512K", 4096).unwrap(), 128);
        assert_eq!(mmap_pages("512K", 65536).unwrap(), 8);
        assert_eq!(mmap_pages("5k", 4096).unwrap(), 2);
        assert_eq!(mmap_pages("1", 65536).unwrap(), 1);
        let e = mmap_pages("3", 4096).unwrap_err().to_string();
        assert!(e.contains("power of two"), "{e}");
        assert!(mmap_pages("lots", 4096).is_err());
        assert!(mmap_pages("99999999999G", 4096).is_err());
    }

    #[test]
    fn no_target_is_an_error_naming_the_choices() {
        let e = TargetSpec::default().target().unwrap_err().to_string();
        assert!(e.contains("-p PID") && e.contains("-a"), "{e}");
        let t = TargetSpec {
            command: vec!["true".into()],
            ..Default::default()
        };
        assert_eq!(t.target().unwrap(), Target::Command(vec!["true".into()]));
        let t = TargetSpec {
            cpus: Some(",,,".into()),
            ..Default::default()
        };
        assert!(matches!(
            t.target(),
            Err(SelectError::Cpus(CpuListError::Empty { .. }))
        ));
    }
}
