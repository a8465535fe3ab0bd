//! CPU lists as the kernel writes them (`/sys/devices/system/cpu/online`: `0-3,5`) and as
//! perf's `-C` takes them: the one parser, which sorts, deduplicates and validates.

use std::io;

/// Why a CPU list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpuListError {
    /// The list names no CPU (`""`, `",,,"`).
    #[error("empty CPU list {list:?}: give CPUs such as 0-3,5")]
    Empty {
        /// The list as given.
        list: String,
    },
    /// An element is neither a number nor a range `a-b` with `a <= b`.
    #[error("bad CPU list element {element:?} in {list:?}: expected N or N-M with N <= M")]
    Element {
        /// The bad element.
        element: String,
        /// The list as given.
        list: String,
    },
    /// A CPU that is not online (`/sys/devices/system/cpu/online`).
    #[error("CPU {cpu} is not online (online: {online})")]
    NotOnline {
        /// The CPU asked for.
        cpu: u32,
        /// The online list, as the kernel writes it.
        online: String,
    },
}

/// Largest span of one range (`a-b`), so a typo cannot allocate gigabytes.
const MAX_RANGE: u32 = 65536;

/// Parses a CPU list such as `0-3,5` into sorted, deduplicated CPU numbers: `0,0` is
/// CPU 0 once (an event opened twice on a CPU would double its samples).
///
/// # Errors
///
/// [`CpuListError::Empty`] when the list names no CPU, [`CpuListError::Element`] naming
/// the first element that is not `N` or `N-M` (`N <= M`, a span of at most 65536).
pub fn parse_cpu_list(list: &str) -> Result<Vec<u32>, CpuListError> {
    let mut out = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let bad = || CpuListError::Element {
            element: part.to_owned(),
            list: list.to_owned(),
        };
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = a.trim().parse().map_err(|_| bad())?;
        let b: u32 = b.trim().parse().map_err(|_| bad())?;
        if a > b || b - a > MAX_RANGE {
            return Err(bad());
        }
        out.extend(a..=b);
    }
    if out.is_empty() {
        return Err(CpuListError::Empty {
            list: list.to_owned(),
        });
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// The kernel's list of online CPUs, `/sys/devices/system/cpu/online`, as written there.
///
/// # Errors
///
/// The file cannot be read.
pub fn online_cpu_list() -> io::Result<String> {
    Ok(std::fs::read_to_string("/sys/devices/system/cpu/online")?
        .trim()
        .to_owned())
}

/// Online CPUs from `/sys/devices/system/cpu/online` ("0-3,5").
///
/// # Errors
/// The file cannot be read or parsed.
pub fn online_cpus() -> io::Result<Vec<u32>> {
    let s = online_cpu_list()?;
    parse_cpu_list(&s).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Parses a user's CPU list (perf's `-C`) and checks that every CPU in it is online.
///
/// # Errors
///
/// As [`parse_cpu_list`], or [`CpuListError::NotOnline`] naming the first CPU that is not
/// in `online` (the kernel's list; `None` when it could not be read: nothing is checked).
pub fn parse_online_cpu_list(list: &str, online: Option<&str>) -> Result<Vec<u32>, CpuListError> {
    let cpus = parse_cpu_list(list)?;
    if let Some(online) = online {
        let known = parse_cpu_list(online).unwrap_or_default();
        if let Some(&cpu) = cpus.iter().find(|c| known.binary_search(c).is_err()) {
            return Err(CpuListError::NotOnline {
                cpu,
                online: online.to_owned(),
            });
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_like_sysfs_writes_them() {
        assert_eq!(parse_cpu_list("0"), Ok(vec![0]));
        assert_eq!(parse_cpu_list("0-3,5"), Ok(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse_cpu_list("1,3-4"), Ok(vec![1, 3, 4]));
        assert_eq!(parse_cpu_list("0-2,5,5\n"), Ok(vec![0, 1, 2, 5]));
        assert!(matches!(
            parse_cpu_list("3-1"),
            Err(CpuListError::Element { .. })
        ));
        assert!(matches!(
            parse_cpu_list("a"),
            Err(CpuListError::Element { .. })
        ));
        assert!(matches!(
            parse_cpu_list("0-4000000000"),
            Err(CpuListError::Element { .. })
        ));
    }

    #[test]
    fn repeated_cpus_are_listed_once() {
        assert_eq!(parse_cpu_list("0,0"), Ok(vec![0]));
        assert_eq!(parse_cpu_list("1,0-1,0"), Ok(vec![0, 1]));
    }

    #[test]
    fn lists_naming_no_cpu_are_refused_with_a_message() {
        for list in ["", ",,,", " , "] {
            let e = parse_cpu_list(list).unwrap_err();
            assert!(matches!(e, CpuListError::Empty { .. }), "{list:?}: {e:?}");
            assert!(e.to_string().contains("empty CPU list"), "{e}");
        }
    }

    #[test]
    fn cpus_that_are_not_online_are_refused_by_name() {
        assert_eq!(parse_online_cpu_list("1,0", Some("0-1")), Ok(vec![0, 1]));
        let e = parse_online_cpu_list("0,7", Some("0-1")).unwrap_err();
        assert_eq!(
            e,
            CpuListError::NotOnline {
                cpu: 7,
                online: "0-1".into()
            }
        );
        assert_eq!(parse_online_cpu_list("7", None), Ok(vec![7]));
    }
}
