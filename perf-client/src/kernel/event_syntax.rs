//! perf's `-e` syntax as values, without I/O: a comma list of events and `{...}` groups,
//! each event `name`, `name:MODS` or `name/TERMS/MODS`, each group `{list}:MODS`
//! (perf's `parse-events.y`). [`crate::kernel::select`] turns the result into
//! `perf_event_attr`s; this module only says what was written.
//!
//! - **Modifiers** (perf's `get_event_modifier`): `u` `k` `h` count only user, kernel,
//!   hypervisor (the first of them excludes all three, each one re-includes its level:
//!   `attr.exclude_user/kernel/hv`); `G` `H` count only guest or host
//!   (`attr.exclude_host/guest`); `p` `pp` `ppp` skid (`attr.precise_ip`); `S` leader
//!   sampling (`PERF_SAMPLE_READ`, the group's values in every leader sample); `D` pinned
//!   (`attr.pinned`). Each letter but `p` at most once, as perf checks.
//! - **Terms**: `period=N` (`attr.sample_period`, fixed period) and `freq=N`
//!   (`attr.sample_freq`, frequency mode), applied in order as perf applies config terms.
//! - **Groups**: `{a,b}` opens `b` with `a`'s fd as `group_fd` (scheduled together);
//!   modifiers after the brace apply to every member, starting from the member's own.

use crate::kernel::event::EVENT_NAMES;

/// Why an `-e` string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SyntaxError {
    /// Braces that do not pair up, or a group inside a group.
    #[error("event syntax error in {text:?}: {why}")]
    Braces {
        /// The `-e` argument.
        text: String,
        /// What is wrong.
        why: &'static str,
    },
    /// An empty event between commas.
    #[error("event syntax error in {0:?}: empty event name")]
    Empty(String),
    /// A modifier perf refuses, or one this tool does not implement.
    #[error(
        "event syntax error in {event:?}: bad modifier {modifiers:?} (use u, k, h, G, H, p, \
         pp, ppp, S, D, each once)"
    )]
    Modifier {
        /// The event or group.
        event: String,
        /// The modifier string.
        modifiers: String,
    },
    /// A `/term/` that is not `period=N` or `freq=N`.
    #[error(
        "event syntax error in {event:?}: unknown term {term:?} (supported: period=N, freq=N)"
    )]
    Term {
        /// The event.
        event: String,
        /// The term.
        term: String,
    },
}

/// The privilege levels, hosts and flags an event's modifiers set, as attr fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modifiers {
    /// `attr.exclude_user`.
    pub exclude_user: bool,
    /// `attr.exclude_kernel`.
    pub exclude_kernel: bool,
    /// `attr.exclude_hv`.
    pub exclude_hv: bool,
    /// `attr.exclude_guest` (perf sets it on events without modifiers: `event_attr_init`).
    pub exclude_guest: bool,
    /// `attr.exclude_host`.
    pub exclude_host: bool,
    /// `attr.precise_ip`: 0 (arbitrary skid) to 3 (zero skid).
    pub precise_ip: u8,
    /// `S`: the leader's samples carry the group's counts (`PERF_SAMPLE_READ`).
    pub sample_read: bool,
    /// `D`: `attr.pinned` (always on the PMU, or in error state).
    pub pinned: bool,
    /// A `G` or `H` was given (perf's `exclude_GH`): `u` and `p` then leave
    /// `exclude_guest` alone.
    pub guest_host_given: bool,
}

impl Default for Modifiers {
    /// An event without modifiers: everything counted but guests (perf's
    /// `event_attr_init` with `perf_guest` false).
    fn default() -> Self {
        Modifiers {
            exclude_guest: true,
            ..Modifiers::NONE
        }
    }
}

impl Modifiers {
    /// The starting point of an event's own modifier string: nothing excluded.
    pub const NONE: Modifiers = Modifiers {
        exclude_user: false,
        exclude_kernel: false,
        exclude_hv: false,
        exclude_guest: false,
        exclude_host: false,
        precise_ip: 0,
        sample_read: false,
        pinned: false,
        guest_host_given: false,
    };

    /// True when a privilege level is excluded (a `u`, `k` or `h` was given).
    pub fn excludes_a_level(&self) -> bool {
        self.exclude_user || self.exclude_kernel || self.exclude_hv
    }

    /// `mods` applied on `self` as perf's `get_event_modifier` does (an event's own
    /// modifiers start from [`Modifiers::NONE`], a group's from each member's values).
    /// `S` is not inherited: only the last modifier string decides it, as in perf.
    ///
    /// `None` when perf would refuse `mods`: an unknown letter, a letter twice (but `p`),
    /// or more than three `p`.
    pub fn apply(self, mods: &str) -> Option<Modifiers> {
        let mut m = Modifiers {
            sample_read: false,
            ..self
        };
        let mut exclude = m.excludes_a_level();
        let mut precise = m.precise_ip;
        for (i, c) in mods.char_indices() {
            if c != 'p' && mods[i + 1..].contains(c) {
                return None;
            }
            match c {
                'u' | 'k' | 'h' => {
                    if !exclude {
                        exclude = true;
                        (m.exclude_user, m.exclude_kernel, m.exclude_hv) = (true, true, true);
                    }
                    match c {
                        'u' => {
                            if !m.guest_host_given {
                                m.exclude_guest = true;
                            }
                            m.exclude_user = false;
                        }
                        'k' => m.exclude_kernel = false,
                        _ => m.exclude_hv = false,
                    }
                }
                'G' | 'H' => {
                    if !m.guest_host_given {
                        m.guest_host_given = true;
                        (m.exclude_guest, m.exclude_host) = (true, true);
                    }
                    if c == 'G' {
                        m.exclude_guest = false;
                    } else {
                        m.exclude_host = false;
                    }
                }
                'p' => {
                    precise += 1;
                    if precise > 3 {
                        return None;
                    }
                    if !m.guest_host_given {
                        m.exclude_guest = true;
                    }
                }
                'S' => m.sample_read = true,
                'D' => m.pinned = true,
                _ => return None,
            }
        }
        m.precise_ip = precise;
        Some(m)
    }
}

/// A `/term/` of an event, in the order written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Term {
    /// `period=N`: a sample every N events (`attr.sample_period`, `attr.freq = 0`).
    Period(u64),
    /// `freq=N`: about N samples a second (`attr.sample_freq`, `attr.freq = 1`).
    Freq(u64),
}

/// One event as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventText {
    /// The event itself: `cpu-clock`, `sched:sched_switch`, `syscalls:sys_enter_*`.
    pub base: String,
    /// What perf calls the event (`perf evlist`): as written, group modifiers left out.
    pub display: String,
    /// The `/terms/`.
    pub terms: Vec<Term>,
    /// Its own modifiers (group modifiers applied).
    pub modifiers: Modifiers,
}

/// A group `{...}` or a lone event (a group of one that is not braced).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupText {
    /// The members, leader first.
    pub events: Vec<EventText>,
    /// Written with braces: the members are opened as a group even when there is one.
    pub braced: bool,
}

/// Splits `s` at the commas outside `{}` and `//`.
fn split_top_level(s: &str) -> Result<Vec<&str>, SyntaxError> {
    let braces = |why| SyntaxError::Braces {
        text: s.to_owned(),
        why,
    };
    let (mut depth, mut in_terms, mut start) = (0u32, false, 0);
    let mut out = Vec::new();
    for (i, c) in s.char_indices() {
        match c {
            '/' => in_terms = !in_terms,
            '{' if !in_terms => {
                depth += 1;
                if depth > 1 {
                    return Err(braces("a group inside a group"));
                }
            }
            '}' if !in_terms => {
                depth = depth.checked_sub(1).ok_or(braces("'}' without a '{'"))?;
            }
            ',' if depth == 0 && !in_terms => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(braces("'{' without a '}'"));
    }
    out.push(&s[start..]);
    Ok(out)
}

/// Splits `name:MODS` when the part after the last colon is a modifier string of a known
/// event or of a `subsystem:name` tracepoint; `sched:sched_switch` stays whole.
fn split_modifiers(s: &str) -> (&str, Option<&str>) {
    match s.rsplit_once(':') {
        Some((base, mods)) if base.contains(':') || EVENT_NAMES.iter().any(|(n, _)| *n == base) => {
            (base, Some(mods))
        }
        _ => (s, None),
    }
}

fn parse_terms(event: &str, terms: &str) -> Result<Vec<Term>, SyntaxError> {
    let bad = |term: &str| SyntaxError::Term {
        event: event.to_owned(),
        term: term.to_owned(),
    };
    terms
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (k, v) = t.split_once('=').ok_or_else(|| bad(t))?;
            let n: u64 = v.trim().parse().map_err(|_| bad(t))?;
            match k.trim() {
                "period" => Ok(Term::Period(n)),
                "freq" => Ok(Term::Freq(n)),
                _ => Err(bad(t)),
            }
        })
        .collect()
}

fn parse_event(text: &str) -> Result<EventText, SyntaxError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(SyntaxError::Empty(text.to_owned()));
    }
    let (base, terms, mods) = match text.split_once('/') {
        Some((base, rest)) => {
            let (terms, after) = rest.split_once('/').ok_or_else(|| SyntaxError::Term {
                event: text.to_owned(),
                term: rest.to_owned(),
            })?;
            let mods = after.strip_prefix(':').unwrap_or(after);
            (
                base,
                parse_terms(text, terms)?,
                (!after.is_empty()).then_some(mods),
            )
        }
        None => {
            let (base, mods) = split_modifiers(text);
            (base, Vec::new(), mods)
        }
    };
    if base.is_empty() {
        return Err(SyntaxError::Empty(text.to_owned()));
    }
    let modifiers = match mods {
        None => Modifiers::default(),
        Some(m) => Modifiers::NONE
            .apply(m)
            .ok_or_else(|| SyntaxError::Modifier {
                event: text.to_owned(),
                modifiers: m.to_owned(),
            })?,
    };
    Ok(EventText {
        base: base.to_owned(),
        display: text.to_owned(),
        terms,
        modifiers,
    })
}

/// Parses one `-e` argument: `cpu-clock:u,{task-clock,page-faults}:S,sched:*`.
///
/// # Errors
///
/// [`SyntaxError`]: unpaired or nested braces, an empty event, a modifier perf refuses,
/// an unknown term.
pub fn parse_event_list(s: &str) -> Result<Vec<GroupText>, SyntaxError> {
    let mut out = Vec::new();
    for item in split_top_level(s)? {
        let item = item.trim();
        let Some(inner) = item.strip_prefix('{') else {
            out.push(GroupText {
                events: vec![parse_event(item)?],
                braced: false,
            });
            continue;
        };
        let (members, mods) = inner.split_once('}').ok_or(SyntaxError::Braces {
            text: s.to_owned(),
            why: "'{' without a '}'",
        })?;
        let mods = match mods {
            "" => None,
            m => Some(m.strip_prefix(':').ok_or(SyntaxError::Braces {
                text: s.to_owned(),
                why: "only ':modifiers' may follow a group's '}'",
            })?),
        };
        let mut events = split_top_level(members)?
            .into_iter()
            .map(parse_event)
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(m) = mods {
            for e in &mut events {
                e.modifiers = e.modifiers.apply(m).ok_or_else(|| SyntaxError::Modifier {
                    event: item.to_owned(),
                    modifiers: m.to_owned(),
                })?;
            }
        }
        out.push(GroupText {
            events,
            braced: true,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> EventText {
        let g = parse_event_list(s).unwrap();
        assert_eq!(g.len(), 1, "{s}");
        assert_eq!(g[0].events.len(), 1, "{s}");
        g[0].events[0].clone()
    }

    /// (exclude_user, exclude_kernel, exclude_hv, exclude_guest, exclude_host, precise)
    fn levels(m: Modifiers) -> (bool, bool, bool, bool, bool, u8) {
        (
            m.exclude_user,
            m.exclude_kernel,
            m.exclude_hv,
            m.exclude_guest,
            m.exclude_host,
            m.precise_ip,
        )
    }

    #[test]
    fn modifiers_set_the_exclusions_perf_6_1_writes() {
        // Each row as `perf record -e X` 6.1 writes it (`perf evlist -v`).
        let t = true;
        let f = false;
        for (e, want) in [
            ("cpu-clock", (f, f, f, t, f, 0)),
            ("cpu-clock:u", (f, t, t, t, f, 0)),
            ("cpu-clock:k", (t, f, t, f, f, 0)),
            ("cpu-clock:uk", (f, f, t, t, f, 0)),
            ("page-faults:uh", (f, t, f, t, f, 0)),
            ("cpu-clock:ppp", (f, f, f, t, f, 3)),
            ("cpu-clock:G", (f, f, f, f, t, 0)),
            ("cpu-clock:H", (f, f, f, t, f, 0)),
            ("cpu-clock:GH", (f, f, f, f, f, 0)),
            ("cpu-clock:uG", (f, t, t, f, t, 0)),
            ("cpu-clock:D", (f, f, f, f, f, 0)),
            ("sched:sched_switch:k", (t, f, t, f, f, 0)),
        ] {
            assert_eq!(levels(one(e).modifiers), want, "{e}");
        }
        assert!(one("cpu-clock:D").modifiers.pinned);
        assert!(one("cpu-clock:S").modifiers.sample_read);
    }

    #[test]
    fn a_colon_starts_modifiers_only_after_a_known_event_or_a_tracepoint() {
        let e = one("sched:sched_switch");
        assert_eq!(
            (e.base.as_str(), e.modifiers),
            ("sched:sched_switch", Modifiers::default())
        );
        let e = one("sched:sched_switch:u");
        assert_eq!(e.base, "sched:sched_switch");
        assert!(e.modifiers.exclude_kernel);
        let e = one("cpu-clock:u");
        assert_eq!(
            (e.base.as_str(), e.display.as_str()),
            ("cpu-clock", "cpu-clock:u")
        );
        assert_eq!(one("syscalls:sys_enter_*").base, "syscalls:sys_enter_*");
    }

    #[test]
    fn modifiers_perf_refuses_are_errors() {
        for bad in [
            "cpu-clock:x",
            "cpu-clock:pppp",
            "cpu-clock:uu",
            "cpu-clock:I",
            "{cpu-clock}:q",
        ] {
            let e = parse_event_list(bad).unwrap_err();
            assert!(matches!(e, SyntaxError::Modifier { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn braces_group_events_and_commas_inside_them_do_not_split() {
        let g = parse_event_list("dummy,{cpu-clock,page-faults:u}:S,task-clock").unwrap();
        assert_eq!(g.len(), 3);
        assert!(!g[0].braced && g[1].braced && !g[2].braced);
        let names: Vec<_> = g[1].events.iter().map(|e| e.display.as_str()).collect();
        assert_eq!(names, ["cpu-clock", "page-faults:u"]);
        assert!(g[1].events.iter().all(|e| e.modifiers.sample_read));
        // The group's modifiers start from the member's own: page-faults:u keeps its level.
        assert!(g[1].events[1].modifiers.exclude_kernel);
        assert!(
            g[1].events[0].modifiers.exclude_guest,
            "as perf: kept from the default"
        );
    }

    #[test]
    fn group_modifiers_start_from_each_members_own() {
        let g = parse_event_list("{cpu-clock:u,page-faults}:k").unwrap();
        let m: Vec<_> = g[0].events.iter().map(|e| levels(e.modifiers)).collect();
        // cpu-clock:u already excludes: k re-includes the kernel (exclude_hv stays).
        assert_eq!(m[0], (false, false, true, true, false, 0));
        assert_eq!(m[1], (true, false, true, true, false, 0));
    }

    #[test]
    fn unpaired_or_nested_braces_and_empty_events_are_errors() {
        for bad in [
            "{cpu-clock",
            "cpu-clock}",
            "{{cpu-clock}}",
            "{a}x",
            "cpu-clock,,dummy",
            "",
        ] {
            assert!(parse_event_list(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn terms_set_period_or_frequency_in_order() {
        let e = one("cpu-clock/period=100000/");
        assert_eq!(e.terms, [Term::Period(100_000)]);
        assert_eq!(e.display, "cpu-clock/period=100000/");
        let e = one("page-faults/freq=100,period=7/u");
        assert_eq!(e.terms, [Term::Freq(100), Term::Period(7)]);
        assert!(e.modifiers.exclude_kernel);
        let g = parse_event_list("cpu-clock/period=1,freq=2/,dummy").unwrap();
        assert_eq!(g.len(), 2);
        for bad in [
            "cpu-clock/config=1/",
            "cpu-clock/period=x/",
            "cpu-clock/period=1",
        ] {
            assert!(
                matches!(parse_event_list(bad), Err(SyntaxError::Term { .. })),
                "{bad}"
            );
        }
    }
}
