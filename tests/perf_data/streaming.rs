//! The streaming reader (`PerfData::open`: the data section read round by round into a
//! reused buffer) hands out what the mapped and the in-memory readers hand out: the same
//! records in the same order, the same errors at the same offsets.

use std::path::{Path, PathBuf};

use perf_client::analysis::for_each_ordered;
use perf_client::perf_data::{record_type, PerfData, PerfDataError, StreamOptions};

use super::handmade::{temp_path, write_handmade};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const FIXTURES: [&str; 3] = ["cpu-clock.data", "cpu-clock-g.data", "sys-enter.data"];

/// Buffers far smaller than any round (every round grows the buffer), reads of a byte
/// or a few records at a time (records split across reads), and the default; each read
/// on a second thread (batches of rounds) and on the walking thread (a round at a time).
fn options() -> Vec<StreamOptions> {
    let reads = |buffer, read_size| StreamOptions {
        buffer,
        read_size,
        ..StreamOptions::default()
    };
    let sizes = [
        reads(8, 1),
        reads(8, 8 << 10),
        reads(200, 100),
        StreamOptions::default(),
    ];
    [true, false]
        .into_iter()
        .flat_map(|read_ahead| sizes.map(|o| StreamOptions { read_ahead, ..o }))
        .collect()
}

/// `buffer` bytes at first, growing to at most `max_buffer`.
fn sized(buffer: usize, max_buffer: usize) -> StreamOptions {
    StreamOptions {
        buffer,
        max_buffer,
        ..StreamOptions::default()
    }
}

/// Every record `for_each_ordered` hands out (its offset-free typed form), and how the
/// walk ended.
fn ordered(file: &PerfData) -> (Vec<String>, Result<(), String>) {
    let mut out = Vec::new();
    let end = file
        .parse_context()
        .map_err(|e| e.to_string())
        .and_then(|ctx| {
            for_each_ordered(file, &ctx, |rec| {
                out.push(format!("{rec:?}"));
                Ok(())
            })
            .map_err(|e| e.to_string())
        });
    (out, end)
}

/// A file made by this crate's writer: synthesized records, then samples in rounds of 10.
fn handmade() -> PathBuf {
    let path = temp_path("streaming-handmade.data");
    write_handmade(&path, 1000);
    path
}

/// The records of `path` walked streamed (with every buffer size), mapped and read whole
/// are the same, in the same order, and so are the counts by type.
pub fn assert_streamed_equals_mapped(path: &Path) {
    // SAFETY: test files are finished and nothing writes them during the test.
    let mapped = unsafe { PerfData::open_mapped(path) }.unwrap();
    let expected = ordered(&mapped);
    assert_eq!(expected.1, Ok(()), "{}", path.display());
    assert!(!expected.0.is_empty(), "{} has records", path.display());
    let counts = mapped.count_by_type().unwrap();
    let whole = PerfData::read_whole(path).unwrap();
    assert!(!whole.is_streamed());
    assert_eq!(ordered(&whole), expected, "{}: read whole", path.display());
    for opts in options() {
        let streamed = PerfData::open_with(path, opts).unwrap();
        assert!(streamed.is_streamed());
        assert_eq!(streamed.header(), mapped.header());
        assert_eq!(streamed.attrs(), mapped.attrs());
        assert_eq!(
            streamed.event_names().unwrap(),
            mapped.event_names().unwrap()
        );
        assert_eq!(streamed.build_ids().unwrap(), mapped.build_ids().unwrap());
        assert_eq!(
            ordered(&streamed),
            expected,
            "{} with {opts:?}",
            path.display()
        );
        assert_eq!(streamed.count_by_type().unwrap(), counts, "{opts:?}");
    }
}

#[test]
fn streamed_walk_hands_out_the_records_of_the_mapped_file_in_the_same_order() {
    for name in FIXTURES {
        assert_streamed_equals_mapped(&fixture(name));
    }
    assert_streamed_equals_mapped(&handmade());
}

#[test]
fn script_output_of_a_streamed_file_equals_the_mapped_one() {
    use perf_client::analysis::script::{script, ScriptFormat};
    for name in FIXTURES {
        let path = fixture(name);
        let streamed = PerfData::open_with(&path, sized(64, 1 << 30)).unwrap();
        // SAFETY: the fixture is a finished file that nothing writes during the test.
        let mapped = unsafe { PerfData::open_mapped(&path) }.unwrap();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let sa = script(&streamed, &mut a, ScriptFormat::Text).unwrap();
        let sb = script(&mapped, &mut b, ScriptFormat::Text).unwrap();
        assert_eq!(sa, sb, "{name}");
        assert!(sa.samples > 0, "{name}");
        assert_eq!(a, b, "{name}");
    }
}

/// File offset and length (FINISHED_ROUND included) of every round of `path`.
fn rounds(path: &Path) -> Vec<(u64, u64)> {
    let f = PerfData::read_whole(path).unwrap();
    let data = f.header().data;
    let mut out = Vec::new();
    let mut start = data.offset;
    for r in f.records() {
        let r = r.unwrap();
        if r.header.record_type == record_type::FINISHED_ROUND {
            let end = r.offset + u64::from(r.header.size);
            out.push((start, end - start));
            start = end;
        }
    }
    if start < data.offset + data.size {
        out.push((start, data.offset + data.size - start));
    }
    out
}

#[test]
fn the_buffer_grows_to_the_largest_round_and_no_further() {
    for path in FIXTURES.map(fixture).into_iter().chain([handmade()]) {
        let rounds = rounds(&path);
        let largest = rounds.iter().map(|&(_, n)| n).max().unwrap();
        assert!(largest > 8, "{}", path.display());
        let fits = sized(8, largest as usize);
        let f = PerfData::open_with(&path, fits).unwrap();
        let (records, end) = ordered(&f);
        assert_eq!(end, Ok(()), "{}", path.display());
        // SAFETY: test files are finished and nothing writes them during the test.
        let mapped = unsafe { PerfData::open_mapped(&path) }.unwrap();
        assert_eq!(records, ordered(&mapped).0);

        let limit = largest - 1;
        let first_too_large = rounds.iter().find(|&&(_, n)| n > limit).unwrap().0;
        for read_ahead in [true, false] {
            let too_small = StreamOptions {
                read_ahead,
                ..sized(8, limit as usize)
            };
            let f = PerfData::open_with(&path, too_small).unwrap();
            let err = f.count_by_type().unwrap_err();
            assert!(
                matches!(
                    err,
                    PerfDataError::RoundTooLarge { offset, limit: l, .. }
                        if offset == first_too_large && l == limit
                ),
                "{} read_ahead {read_ahead}: {err}",
                path.display()
            );
        }
    }
}

#[test]
fn every_truncation_streamed_is_the_error_of_the_in_memory_reader() {
    for name in FIXTURES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step).chain([bytes.len() - 1]) {
            let part = bytes[..cut].to_vec();
            let in_memory = PerfData::from_bytes(part.clone()).unwrap_err();
            let streamed =
                PerfData::from_source(Box::new(part), cut as u64, name, StreamOptions::default())
                    .unwrap_err();
            assert!(streamed.offset().is_some(), "{name} cut {cut}: {streamed}");
            assert_eq!(
                streamed.to_string(),
                in_memory.to_string(),
                "{name} cut {cut}"
            );
        }
    }
}

#[test]
fn a_file_truncated_after_it_was_opened_ends_the_walk_with_an_offset() {
    let src = fixture("cpu-clock-g.data");
    let path = temp_path("streaming-truncated-later.data");
    std::fs::copy(&src, &path).unwrap();
    let f = PerfData::open_with(&path, sized(4096, 1 << 30)).unwrap();
    let data = f.header().data;
    let cut = data.offset + data.size / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(cut)
        .unwrap();
    let (seen, end) = ordered(&f);
    let err = end.unwrap_err();
    assert!(err.contains("truncated perf.data: data section"), "{err}");
    assert!(err.contains(&format!("file has {cut:#x}")), "{err}");
    // The rounds wholly before the cut were handed out, no more.
    // SAFETY: the fixture is a finished file that nothing writes during the test.
    let mapped = unsafe { PerfData::open_mapped(&src) }.unwrap();
    let all = ordered(&mapped).0;
    assert!(!seen.is_empty() && seen.len() < all.len(), "{}", seen.len());
    assert_eq!(seen[..], all[..seen.len()]);
    let f2 = PerfData::open_with(&path, StreamOptions::default());
    let e = f2.unwrap_err();
    assert_eq!(e.offset(), Some(data.offset), "reopened: {e}");
}

/// A deterministic generator for corruptions.
fn lcg(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn corrupt_data_sections_give_the_same_records_and_error_streamed_as_in_memory() {
    let mut seed = 7;
    for name in FIXTURES {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let f = PerfData::from_bytes(bytes.clone()).unwrap();
        let data = f.header().data;
        let offsets: Vec<u64> = f.records().map(|r| r.unwrap().offset).collect();
        let mut errors = 0;
        for i in 0..60 {
            let mut bad = bytes.clone();
            // A record's size (to 0..15, or anything), or a random byte of the section.
            let victim = offsets[lcg(&mut seed) as usize % offsets.len()] as usize;
            match i % 3 {
                0 => bad[victim + 6..victim + 8]
                    .copy_from_slice(&((lcg(&mut seed) % 16) as u16).to_ne_bytes()),
                1 => bad[victim + 6..victim + 8]
                    .copy_from_slice(&(lcg(&mut seed) as u16).to_ne_bytes()),
                _ => {
                    let at = data.offset + lcg(&mut seed) % data.size;
                    bad[at as usize] = lcg(&mut seed) as u8;
                }
            }
            let expected = ordered(&PerfData::from_bytes(bad.clone()).unwrap());
            errors += usize::from(expected.1.is_err());
            for opts in options() {
                let streamed =
                    PerfData::from_source(Box::new(bad.clone()), bad.len() as u64, name, opts)
                        .unwrap();
                assert_eq!(ordered(&streamed), expected, "{name} #{i} {opts:?}");
            }
        }
        assert!(errors > 10, "{name}: only {errors} corruptions were errors");
    }
}

#[test]
fn records_and_bytes_of_a_streamed_file_are_those_of_the_file() {
    for name in FIXTURES {
        let path = fixture(name);
        let streamed = PerfData::open(&path).unwrap();
        let whole = std::fs::read(&path).unwrap();
        assert_eq!(streamed.bytes().unwrap(), &whole[..], "{name}");
        let read = PerfData::from_bytes(whole).unwrap();
        let a: Vec<_> = streamed.records().map(Result::unwrap).collect();
        let b: Vec<_> = read.records().map(Result::unwrap).collect();
        assert_eq!(a, b, "{name}");
    }
}

#[test]
fn feature_sections_that_add_up_to_more_than_the_file_are_refused() {
    let path = handmade();
    let mut bytes = std::fs::read(&path).unwrap();
    let u64_at = |b: &[u8], at: usize| u64::from_ne_bytes(b[at..at + 8].try_into().unwrap());
    // perf_file_header: data section at 40, the feature bitmap at 72 (256 bits).
    let table = (u64_at(&bytes, 40) + u64_at(&bytes, 48)) as usize;
    let features: u32 = bytes[72..104].iter().map(|b| b.count_ones()).sum();
    assert!(features >= 2, "the handmade file has features");
    // Every section claims the whole file: each is inside it, together they are not.
    let len = bytes.len() as u64;
    for i in 0..features as usize {
        let at = table + 16 * i;
        bytes[at..at + 8].copy_from_slice(&0u64.to_ne_bytes());
        bytes[at + 8..at + 16].copy_from_slice(&len.to_ne_bytes());
    }
    let crafted = temp_path("streaming-overlapping-features.data");
    std::fs::write(&crafted, &bytes).unwrap();
    for e in [
        PerfData::open(&crafted).err(),
        PerfData::from_bytes(bytes.clone()).err(),
    ] {
        match e {
            Some(PerfDataError::Corrupt { offset, reason }) => {
                assert!(reason.contains("add up to more than the file"), "{reason}");
                assert_eq!(offset, table as u64 + 16, "the second section tips it over");
            }
            other => panic!("expected a corrupt-file error, got {other:?}"),
        }
    }
}
