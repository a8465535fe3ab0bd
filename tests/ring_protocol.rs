//! The ring protocol on its own: round trips at every offset and wrap split, two threads,
//! lost accounting, overwrite mode, wakeups, and every hostile input.

use std::sync::Arc;

use crate::common::raw_ring::RawRing;
use std::time::Duration;

use memmap2::{MmapOptions, MmapRaw};
use perf_ringbuf::layout::PERF_RECORD_LOST;
use perf_ringbuf::{
    LayoutError, ReadError, Reader, RecordBytes, RecordFault, RecordIter, Ring, RingError,
    RingRegion, WaitOutcome, WakeupPolicy, WriteError, WriteMode, Writer,
};
use proptest::prelude::*;

const SAMPLE: u32 = 9;

/// Moves an empty ring's head and tail to `offset` by writing and draining one filler
/// record (positions stay free-running, so `offset` may exceed the data size).
fn advance_to(writer: &mut Writer, reader: &mut Reader, offset: usize) {
    let data_size = writer.memory().data_size() as usize;
    let mut left = offset;
    while left > 0 {
        let chunk = left.min(data_size / 2).max(8);
        writer.write(1, 0, &vec![0u8; chunk - 8]).unwrap();
        left -= chunk;
        drain_all(reader);
    }
}

/// Consumes every published record.
fn drain_all(reader: &mut Reader) -> usize {
    let mut d = reader.drain().unwrap();
    let mut n = 0;
    while let Some(r) = d.next() {
        r.unwrap();
        n += 1;
    }
    n
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn every_record_size_at_every_offset_round_trips_including_every_wrap_split() {
    let data_size = 256usize;
    for offset in (0..data_size).step_by(8) {
        for payload_len in 0..=(data_size - 8) {
            let (mut writer, mut reader) = Ring::builder(data_size as u64)
                .wakeup_fd(false)
                .build()
                .unwrap();
            advance_to(&mut writer, &mut reader, offset);
            let payload = pattern(payload_len, offset as u8);
            writer.write(SAMPLE, 7, &payload).unwrap();
            let mut drain = reader.drain().unwrap();
            let rec = drain.next().unwrap().unwrap();
            let size = (8 + payload_len).next_multiple_of(8);
            assert_eq!(rec.header.size as usize, size);
            assert_eq!((rec.header.record_type, rec.header.misc), (SAMPLE, 7));
            let start = rec.position as usize % data_size;
            match rec.bytes {
                RecordBytes::Single(_) => assert!(start + size <= data_size),
                RecordBytes::Split(a, _) => {
                    assert!(start + size > data_size);
                    assert_eq!(a.len(), data_size - start);
                }
            }
            let mut got = Vec::new();
            rec.payload().extend_into(&mut got);
            assert_eq!(
                &got[..payload_len],
                &payload[..],
                "offset {offset} len {payload_len}"
            );
            assert!(
                got[payload_len..].iter().all(|&b| b == 0),
                "padding is zeroed"
            );
            let mut scratch = Vec::new();
            assert_eq!(rec.bytes.contiguous(&mut scratch).len(), size);
            assert!(drain.next().is_none());
        }
    }
}

proptest! {
    #[test]
    fn random_record_sequences_round_trip_in_order(
        sizes in proptest::collection::vec(0usize..600, 1..200),
        drain_every in 1usize..20,
    ) {
        let (mut writer, mut reader) = Ring::builder(2048).wakeup_fd(false).build().unwrap();
        let mut expected = std::collections::VecDeque::new();
        for (i, &len) in sizes.iter().enumerate() {
            let payload = pattern(len, i as u8);
            match writer.write(SAMPLE, 0, &payload) {
                Ok(()) => expected.push_back(payload),
                Err(WriteError::NoSpace { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            if i % drain_every == 0 {
                let mut d = reader.drain().unwrap();
                while let Some(r) = d.next_contiguous() {
                    let (h, bytes) = r.unwrap();
                    if h.record_type == PERF_RECORD_LOST { continue; }
                    let want = expected.pop_front().unwrap();
                    prop_assert_eq!(&bytes[8..8 + want.len()], &want[..]);
                }
            }
        }
        let mut d = reader.drain().unwrap();
        while let Some(r) = d.next_contiguous() {
            let (h, bytes) = r.unwrap();
            if h.record_type == PERF_RECORD_LOST { continue; }
            let want = expected.pop_front().unwrap();
            prop_assert_eq!(&bytes[8..8 + want.len()], &want[..]);
        }
        prop_assert!(expected.is_empty());
    }
}

/// Writer side of a two-thread transfer: `seq` first, a checksum last.
fn seq_payload(seq: u64, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[..8].copy_from_slice(&seq.to_ne_bytes());
    if len >= 16 {
        p[len - 8..].copy_from_slice(&(seq ^ 0xA5A5_5A5A_F00D_BEEF).to_ne_bytes());
    }
    p
}

#[test]
fn ten_million_records_cross_threads_with_nothing_lost_duplicated_or_reordered() {
    const COUNT: u64 = 10_000_000;
    let (mut writer, mut reader) = Ring::builder(1 << 16)
        .wakeup_policy(WakeupPolicy::Watermark(1 << 12))
        .build()
        .unwrap();
    let producer = std::thread::spawn(move || {
        let mut seq = 0u64;
        let mut payload = seq_payload(0, 16);
        while seq < COUNT {
            payload[..8].copy_from_slice(&seq.to_ne_bytes());
            payload[8..].copy_from_slice(&(seq ^ 0xA5A5_5A5A_F00D_BEEF).to_ne_bytes());
            match writer.write_deferred(SAMPLE, 0, &payload) {
                Ok(()) => {
                    seq += 1;
                    if seq.is_multiple_of(32) {
                        writer.publish();
                    }
                }
                Err(WriteError::NoSpace { .. }) => {
                    writer.publish();
                    std::thread::yield_now();
                }
                Err(e) => panic!("{e}"),
            }
        }
        writer.stats()
    });
    let mut next = 0u64;
    let mut lost_records = 0u64;
    loop {
        let outcome = reader.wait(Some(Duration::from_millis(100))).unwrap();
        let mut d = reader.drain().unwrap();
        while let Some(r) = d.next() {
            let r = r.unwrap();
            if r.header.record_type == PERF_RECORD_LOST {
                lost_records += 1;
                continue;
            }
            let mut b = [0u8; 16];
            let (x, y) = r.payload().parts();
            b[..x.len().min(16)].copy_from_slice(&x[..x.len().min(16)]);
            if x.len() < 16 {
                b[x.len()..].copy_from_slice(&y[..16 - x.len()]);
            }
            let seq = u64::from_ne_bytes(b[..8].try_into().unwrap());
            let sum = u64::from_ne_bytes(b[8..].try_into().unwrap());
            assert_eq!(seq, next, "reordered, duplicated or lost");
            assert_eq!(sum, seq ^ 0xA5A5_5A5A_F00D_BEEF, "torn record {seq}");
            next += 1;
        }
        drop(d);
        if outcome == WaitOutcome::ProducerGone {
            break;
        }
    }
    let stats = producer.join().unwrap();
    assert_eq!(next, COUNT);
    // Every drop in this lossless mode was retried: the LOST records report exactly those.
    assert_eq!(reader.stats().lost, stats.lost);
    assert_eq!(stats.lost_records, lost_records);
}

#[test]
fn slow_reader_loses_records_and_written_equals_read_plus_lost() {
    const ATTEMPTS: u64 = 200_000;
    let (mut writer, mut reader) = Ring::builder(4096).build().unwrap();
    let producer = std::thread::spawn(move || {
        let mut ok = 0u64;
        for seq in 0..ATTEMPTS {
            match writer.write(SAMPLE, 0, &seq_payload(seq, 40)) {
                Ok(()) => ok += 1,
                Err(WriteError::NoSpace { .. }) => {}
                Err(e) => panic!("{e}"),
            }
        }
        (ok, writer.stats())
    });
    let mut read = 0u64;
    let mut last_seq = None;
    loop {
        std::thread::sleep(Duration::from_micros(200)); // slow on purpose
        let outcome = reader.wait(Some(Duration::from_millis(10))).unwrap();
        let mut d = reader.drain().unwrap();
        while let Some(r) = d.next_contiguous() {
            let (h, bytes) = r.unwrap();
            if h.record_type == SAMPLE {
                let seq = u64::from_ne_bytes(bytes[8..16].try_into().unwrap());
                assert!(
                    last_seq.is_none_or(|l| seq > l),
                    "duplicate or reorder at {seq}"
                );
                last_seq = Some(seq);
                read += 1;
            }
        }
        drop(d);
        if outcome == WaitOutcome::ProducerGone {
            break;
        }
    }
    let (ok, stats) = producer.join().unwrap();
    assert!(stats.lost > 0, "the reader was slow enough to lose records");
    assert_eq!(read, ok);
    assert_eq!(ok + stats.lost, ATTEMPTS);
    assert_eq!(
        read + reader.stats().lost,
        ATTEMPTS,
        "written == read + sum of LOST counts"
    );
}

#[test]
fn lost_record_is_written_as_soon_as_there_is_room_with_the_writers_id() {
    let (mut writer, mut reader) = Ring::builder(64)
        .lost_id(77)
        .wakeup_fd(false)
        .build()
        .unwrap();
    writer.write(SAMPLE, 0, &[1; 24]).unwrap(); // 32 bytes
    writer.write(SAMPLE, 0, &[2; 24]).unwrap(); // 64: full
    assert!(matches!(
        writer.write(SAMPLE, 0, &[3; 8]),
        Err(WriteError::NoSpace { .. })
    ));
    assert!(matches!(
        writer.write(SAMPLE, 0, &[3; 8]),
        Err(WriteError::NoSpace { .. })
    ));
    assert_eq!(writer.lost_pending(), 2);
    {
        let mut d = reader.drain().unwrap();
        d.next().unwrap().unwrap();
        d.next().unwrap().unwrap();
    }
    writer.write(SAMPLE, 0, &[4; 8]).unwrap();
    let mut d = reader.drain().unwrap();
    let (h, lost) = d.next_contiguous().unwrap().unwrap();
    assert_eq!(h.record_type, PERF_RECORD_LOST);
    assert_eq!(u64::from_ne_bytes(lost[8..16].try_into().unwrap()), 77);
    assert_eq!(u64::from_ne_bytes(lost[16..24].try_into().unwrap()), 2);
    let (h, rec) = d.next_contiguous().unwrap().unwrap();
    assert_eq!((h.record_type, rec[8]), (SAMPLE, 4));
    drop(d);
    assert_eq!(reader.stats().lost, 2);
    assert_eq!(writer.lost_pending(), 0);
}

#[test]
fn losses_the_writer_could_not_report_reach_the_reader_when_it_closes() {
    let (mut writer, mut reader) = Ring::builder(64).wakeup_fd(false).build().unwrap();
    writer.write(SAMPLE, 0, &[0; 56]).unwrap();
    for _ in 0..5 {
        assert!(writer.write(SAMPLE, 0, &[0; 8]).is_err());
    }
    drop(writer); // the ring is full: no PERF_RECORD_LOST fits
    assert_eq!(reader.wait(None).unwrap(), WaitOutcome::Ready);
    assert_eq!(drain_all(&mut reader), 1);
    assert_eq!(reader.wait(None).unwrap(), WaitOutcome::ProducerGone);
    assert_eq!(reader.stats().lost, 5);
    assert_eq!(reader.stats().lost_at_close, 5);
}

// `batch_commit_publishes_data_head_once` is a unit test of perf-ringbuf (writer.rs), where
// the `data_head` stores can be counted.

#[test]
fn reservation_filled_in_place_commits_and_an_abandoned_one_gives_space_back() {
    let (mut writer, mut reader) = Ring::builder(128).wakeup_fd(false).build().unwrap();
    {
        let mut r = writer.reserve(SAMPLE, 0, 100).unwrap();
        r.write_at(0, b"abandoned");
    }
    let mut r = writer.reserve(SAMPLE, 3, 12).unwrap();
    r.write_at(4, b"filled!!");
    r.write_at(0, b"ok: ");
    assert_eq!(r.size(), 24);
    r.commit();
    let mut d = reader.drain().unwrap();
    let (h, b) = d.next_contiguous().unwrap().unwrap();
    assert_eq!((h.misc, &b[8..20]), (3, &b"ok: filled!!"[..]));
    assert!(d.next().is_none());
}

#[test]
fn drain_releases_data_tail_once_and_batch_release_mid_drain() {
    let (mut writer, mut reader) = Ring::builder(4096).wakeup_fd(false).build().unwrap();
    for i in 0..4u8 {
        writer.write(SAMPLE, 0, &[i; 8]).unwrap();
    }
    let tail = |r: &Reader| r.position();
    let mut d = reader.drain().unwrap();
    d.next().unwrap().unwrap();
    d.next().unwrap().unwrap();
    d.release();
    d.next().unwrap().unwrap();
    drop(d);
    assert_eq!(tail(&reader), 48);
    assert_eq!(reader.available().unwrap(), 16);
}

#[test]
fn overwrite_mode_returns_exactly_the_newest_records_that_fit() {
    let (mut writer, mut reader) = Ring::builder(256)
        .mode(WriteMode::Overwrite)
        .wakeup_fd(false)
        .build()
        .unwrap();
    // 24-byte records: 10 fit in 256 bytes (240), the 11th would cross.
    for seq in 0u64..1000 {
        writer.write(SAMPLE, 0, &seq_payload(seq, 16)).unwrap();
    }
    let pause = writer.pause_handle();
    pause.set_paused(true);
    let mut out = Vec::new();
    let snap = reader.read_overwrite(&mut out).unwrap();
    assert_eq!(snap.records, 10);
    let seqs: Vec<u64> = RecordIter::new(&out[..snap.bytes])
        .map(|r| {
            let (_, b) = r.unwrap();
            u64::from_ne_bytes(b[8..16].try_into().unwrap())
        })
        .collect();
    assert_eq!(seqs, (990..1000).rev().collect::<Vec<_>>(), "newest first");
    // While paused the writer drops and counts.
    assert_eq!(writer.write(SAMPLE, 0, &[0; 16]), Err(WriteError::Paused));
    pause.set_paused(false);
    writer.write(SAMPLE, 0, &seq_payload(5000, 16)).unwrap();
    let snap = reader.read_overwrite(&mut out).unwrap();
    let mut it = RecordIter::new(&out[..snap.bytes]);
    let (h, b) = it.next().unwrap().unwrap();
    assert_eq!(h.record_type, SAMPLE);
    assert_eq!(u64::from_ne_bytes(b[8..16].try_into().unwrap()), 5000);
    let (h, b) = it.next().unwrap().unwrap();
    assert_eq!(h.record_type, PERF_RECORD_LOST);
    assert_eq!(u64::from_ne_bytes(b[16..24].try_into().unwrap()), 1);
}

#[test]
fn overwrite_ring_that_never_wrapped_returns_every_record() {
    let (mut writer, mut reader) = Ring::builder(4096)
        .mode(WriteMode::Overwrite)
        .wakeup_fd(false)
        .build()
        .unwrap();
    for seq in 0u64..7 {
        writer.write(SAMPLE, 0, &seq_payload(seq, 32)).unwrap();
    }
    let mut out = Vec::new();
    let snap = reader.read_overwrite(&mut out).unwrap();
    assert_eq!(snap.records, 7);
    // Which records, in which order: newest first, each intact.
    let records: Vec<_> = RecordIter::new(&out[..snap.bytes])
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(records.len(), 7);
    for (i, (header, bytes)) in records.iter().enumerate() {
        let seq = 6 - i as u64;
        assert_eq!(header.record_type, SAMPLE);
        assert_eq!(
            &bytes[8..],
            &seq_payload(seq, 32)[..],
            "record {i} is seq {seq}"
        );
    }
}

#[test]
fn wakeup_every_n_events_and_timeout_drains_records_below_the_threshold() {
    let (mut writer, mut reader) = Ring::builder(4096)
        .wakeup_policy(WakeupPolicy::Events(4))
        .build()
        .unwrap();
    for _ in 0..3 {
        writer.write(SAMPLE, 0, &[0; 8]).unwrap();
    }
    assert_eq!(writer.stats().wakeups, 0);
    let fd = reader.wakeup_fd().unwrap().clone();
    assert!(
        !fd.wait(Some(Duration::from_millis(1))).unwrap(),
        "below threshold: no wakeup"
    );
    writer.write(SAMPLE, 0, &[0; 8]).unwrap();
    assert_eq!(writer.stats().wakeups, 1);
    assert!(fd.wait(Some(Duration::from_millis(1000))).unwrap());
    // A record below the threshold is still found by a timed wait.
    assert_eq!(drain_all(&mut reader), 4);
    writer.write(SAMPLE, 0, &[0; 8]).unwrap();
    assert_eq!(
        reader.wait(Some(Duration::from_millis(5))).unwrap(),
        WaitOutcome::Ready
    );
}

#[test]
fn watermark_wakeup_fires_after_the_configured_bytes() {
    let (mut writer, _reader) = Ring::builder(4096)
        .wakeup_policy(WakeupPolicy::Watermark(256))
        .build()
        .unwrap();
    for _ in 0..15 {
        writer.write(SAMPLE, 0, &[0; 8]).unwrap(); // 16 bytes each
    }
    assert_eq!(writer.stats().wakeups, 0);
    writer.write(SAMPLE, 0, &[0; 8]).unwrap();
    assert_eq!(writer.stats().wakeups, 1);
}

#[test]
fn wait_times_out_on_an_idle_ring_and_reports_a_gone_producer() {
    let (writer, mut reader) = Ring::with_data_size(4096).unwrap();
    assert_eq!(
        reader.wait(Some(Duration::from_millis(5))).unwrap(),
        WaitOutcome::TimedOut
    );
    drop(writer);
    assert_eq!(reader.wait(None).unwrap(), WaitOutcome::ProducerGone);
}

#[test]
fn oversized_records_are_refused_and_not_counted_as_lost() {
    let (mut writer, _reader) = Ring::builder(1 << 20).wakeup_fd(false).build().unwrap();
    assert!(matches!(
        writer.write(SAMPLE, 0, &vec![0; 65521]),
        Err(WriteError::RecordTooLarge { max: 65528, .. })
    ));
    writer.write(SAMPLE, 0, &vec![0; 65520]).unwrap();
    let (mut small, _r) = Ring::builder(64).wakeup_fd(false).build().unwrap();
    assert!(matches!(
        small.write(SAMPLE, 0, &[0; 64]),
        Err(WriteError::RecordTooLarge { .. })
    ));
    assert_eq!(small.stats().lost, 0);
}

#[test]
fn ring_sizes_must_be_powers_of_two() {
    for size in [3000, 0, 4] {
        assert!(
            matches!(
                Ring::with_data_size(size),
                Err(RingError::Layout(LayoutError::DataSizeNotPowerOfTwo(s))) if s == size
            ),
            "data size {size}"
        );
    }
}

fn first_error(reader: &mut Reader) -> ReadError {
    let mut d = reader.drain().unwrap();
    loop {
        match d.next() {
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                assert!(d.next().is_none(), "a failed drain yields nothing more");
                return e;
            }
            None => panic!("no error found"),
        }
    }
}

#[test]
fn hostile_record_size_smaller_than_header_is_a_typed_error() {
    let (raw, mut w, mut r) = RawRing::new(256);
    w.write(SAMPLE, 0, &[0; 8]).unwrap();
    w.write(SAMPLE, 0, &[0; 8]).unwrap();
    raw.set_header(16, SAMPLE, 0);
    let e = first_error(&mut r);
    assert_eq!(
        e,
        ReadError::CorruptRecord {
            position: 16,
            size: 0,
            fault: RecordFault::SmallerThanHeader
        }
    );
    assert_eq!(r.position(), 16, "records before the fault are consumed");
}

#[test]
fn hostile_record_size_not_multiple_of_eight_is_a_typed_error() {
    let (raw, mut w, mut r) = RawRing::new(256);
    w.write(SAMPLE, 0, &[0; 8]).unwrap();
    raw.set_header(0, SAMPLE, 12);
    assert!(matches!(
        first_error(&mut r),
        ReadError::CorruptRecord {
            fault: RecordFault::Unaligned,
            ..
        }
    ));
}

#[test]
fn hostile_record_size_larger_than_data_area_is_a_typed_error() {
    let (raw, mut w, mut r) = RawRing::new(256);
    w.write(SAMPLE, 0, &[0; 8]).unwrap();
    raw.set_header(0, SAMPLE, 512);
    assert!(matches!(
        first_error(&mut r),
        ReadError::CorruptRecord {
            fault: RecordFault::LargerThanDataArea,
            ..
        }
    ));
}

#[test]
fn hostile_record_past_head_is_a_typed_error() {
    let (raw, mut w, mut r) = RawRing::new(256);
    w.write(SAMPLE, 0, &[0; 8]).unwrap();
    raw.set_header(0, SAMPLE, 64);
    assert!(matches!(
        first_error(&mut r),
        ReadError::CorruptRecord {
            fault: RecordFault::PastHead,
            ..
        }
    ));
}

#[test]
fn hostile_head_behind_tail_too_far_ahead_or_misaligned_is_refused_and_resync_recovers() {
    let (raw, mut w, mut r) = RawRing::new(256);
    w.write(SAMPLE, 0, &[0; 8]).unwrap();
    assert_eq!(drain_all(&mut r), 1); // tail = 16
    raw.set_head(8);
    assert!(matches!(
        r.drain(),
        Err(ReadError::HeadBehindTail { head: 8, tail: 16 })
    ));
    raw.set_head(16 + 257 + 7);
    assert!(matches!(r.drain(), Err(ReadError::HeadTooFarAhead { .. })));
    raw.set_head(u64::MAX);
    assert!(matches!(
        r.drain(),
        Err(ReadError::MisalignedHead(_)) | Err(ReadError::HeadBehindTail { .. })
    ));
    raw.set_head(20);
    assert_eq!(r.drain().err(), Some(ReadError::MisalignedHead(20)));
    // Recovery: the producer's real head comes back; resync skips the garbage.
    raw.set_head(u64::MAX - 7);
    assert!(r.drain().is_err());
    r.resync().unwrap();
    raw.set_head(u64::MAX - 7);
    assert_eq!(r.available().unwrap(), 0);
}

#[test]
fn an_unaligned_tail_in_the_control_page_is_refused_before_any_record_is_read() {
    let (raw, mut w, _) = RawRing::new(256);
    for _ in 0..4 {
        w.write(SAMPLE, 0, &[0; 8]).unwrap();
    }
    // A reader starting from a data_tail the producer scribbled: 3 bytes into a record,
    // 61 bytes short of the head (which would leave 5 bytes for the next header).
    raw.set_tail(3);
    let mut r = raw.new_reader();
    assert_eq!(r.drain().err(), Some(ReadError::MisalignedTail(3)));
    assert_eq!(r.available().err(), Some(ReadError::MisalignedTail(3)));
    r.resync().unwrap();
    w.write(SAMPLE, 0, &[1; 8]).unwrap();
    assert_eq!(drain_all(&mut r), 1);
}

#[test]
fn hostile_consumer_tail_cannot_make_the_writer_overwrite_unread_records() {
    let (raw, mut w, mut r) = RawRing::new(256);
    for i in 0..8u8 {
        w.write(SAMPLE, 0, &[i; 24]).unwrap(); // 8 x 32 = 256: full
    }
    // The consumer claims to have read far ahead of the head, or unaligned garbage.
    for bogus in [1u64 << 40, 300, u64::MAX, 3] {
        raw.set_tail(bogus);
        let e = w.write(SAMPLE, 0, &[9; 24]).unwrap_err();
        assert!(
            matches!(
                e,
                WriteError::CorruptTail { .. } | WriteError::NoSpace { .. }
            ),
            "tail {bogus}: {e:?}"
        );
    }
    raw.set_tail(0);
    // Every record is intact: the writer wrote nothing over them.
    let mut d = r.drain().unwrap();
    for i in 0..8u8 {
        let (_, b) = d.next_contiguous().unwrap().unwrap();
        assert!(b[8..].iter().all(|&x| x == i));
    }
    drop(d);
    assert_eq!(w.stats().lost, 4, "each refused record is counted");
}

#[test]
fn hostile_head_past_a_deferred_data_tail_is_refused() {
    // With the release deferred, the reader has consumed 640 bytes but stored no
    // data_tail: the producer may not write past 0 + data_size. A head that claims it did
    // would put bytes the reader still owns under the producer.
    let (raw, mut w, mut r) = RawRing::new(4096);
    r.set_release_every(1024);
    for _ in 0..10 {
        w.write(SAMPLE, 0, &[1; 56]).unwrap();
    }
    assert_eq!(drain_all(&mut r), 10);
    assert_eq!((r.position(), r.memory().load_tail()), (640, 0));
    let head = 640 + 4096 - 8; // within data_size of the reader's position, not of data_tail
    raw.set_head(head);
    let expected = ReadError::HeadTooFarAhead {
        head,
        tail: 0,
        data_size: 4096,
    };
    assert_eq!(r.available(), Err(expected));
    assert_eq!(r.drain().err(), Some(expected));
}

#[test]
fn hostile_layout_in_the_control_page_is_refused() {
    let len = 4096 + 4096;
    let map = MmapRaw::from(MmapOptions::new().len(len).map_anon().unwrap());
    // SAFETY: the mapping is `len` bytes and outlives `region` (same scope).
    let region = unsafe { RingRegion::new(map.as_mut_ptr(), len) }.unwrap();
    // SAFETY: no reader or writer of this ring exists while it is re-initialised.
    let init = |offset: u64, size: u64| unsafe { region.init_control(offset, size) };
    assert!(init(4096, 3000).is_err(), "not a power of two");
    assert!(init(4096, 8192).is_err(), "outside the region");
    assert!(init(8, 1024).is_err(), "overlaps the control fields");
    assert!(init(u64::MAX - 7, 4096).is_err(), "overflowing offset");
    assert!(region.memory().is_err(), "a zeroed control page is no ring");
}

#[test]
fn overwrite_snapshot_of_a_running_writer_paused_mid_stream_is_never_torn() {
    let (mut writer, mut reader) = Ring::builder(4096)
        .mode(WriteMode::Overwrite)
        .wakeup_fd(false)
        .build()
        .unwrap();
    let pause = writer.pause_handle();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let producer = std::thread::spawn(move || {
        let mut seq = 0u64;
        let mut payload = [0u64; 7]; // 64-byte records: every word derived from seq
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            for (k, w) in payload.iter_mut().enumerate() {
                *w = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k as u64;
            }
            let bytes: Vec<u8> = payload.iter().flat_map(|w| w.to_ne_bytes()).collect();
            let _ = writer.write(SAMPLE, 0, &bytes); // Paused drops are counted
            seq += 1;
        }
    });
    let mut out = Vec::new();
    let (mut snapshots, mut retries) = (0, 0);
    while snapshots < 300 {
        pause.set_paused(true);
        let snap = loop {
            match reader.read_overwrite(&mut out) {
                Ok(s) => break s,
                Err(ReadError::WriterBusy | ReadError::WriterNotPaused { .. }) => retries += 1,
                Err(e) => panic!("{e}"),
            }
        };
        for r in RecordIter::new(&out[..snap.bytes]) {
            let (h, b) = r.unwrap();
            if h.record_type != SAMPLE {
                continue;
            }
            let words: Vec<u64> = b[8..]
                .chunks_exact(8)
                .map(|c| u64::from_ne_bytes(c.try_into().unwrap()))
                .collect();
            let seq_mix = words[0];
            for (k, w) in words.iter().enumerate() {
                assert_eq!(
                    *w,
                    seq_mix ^ k as u64,
                    "torn record in snapshot {snapshots}"
                );
            }
        }
        pause.set_paused(false);
        snapshots += 1;
        std::thread::yield_now();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    producer.join().unwrap();
    eprintln!("{snapshots} snapshots, {retries} retries");
}
