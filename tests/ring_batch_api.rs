//! The batch read (`Drain::for_each_record`), the no-drop backpressure write
//! (`Writer::try_write`, `try_write_deferred`) and the writer's derived counters: the batch
//! read hands out exactly what `Drain::next` does — same records, same shapes, same
//! counters, same typed error for a hostile header — and a `try_write` that does not fit
//! writes, drops and counts nothing.

use std::sync::Arc;

use crate::common::raw_ring::RawRing;

use perf_ringbuf::emulation::{BufferConfig, KernelBuffer, MapOptions, Strategy};
use perf_ringbuf::layout::{align_record, HEADER_SIZE, PERF_RECORD_LOST};
use perf_ringbuf::{
    ReadError, Reader, RecordBytes, RecordFault, RecordHeader, Ring, WriteError, WriteMode,
    WriterConfig,
};

const SAMPLE: u32 = 9;

/// What a reader saw of one record: header, position, bytes, and whether it was split.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    header: RecordHeader,
    position: u64,
    bytes: Vec<u8>,
    split: bool,
}

fn seen(record: perf_ringbuf::Record<'_>) -> Seen {
    let mut bytes = Vec::new();
    record.bytes.extend_into(&mut bytes);
    Seen {
        header: record.header,
        position: record.position,
        bytes,
        split: matches!(record.bytes, RecordBytes::Split(..)),
    }
}

/// Everything one drain hands out through `next`, and the first error.
fn read_with_next(reader: &mut Reader) -> (Vec<Seen>, Option<ReadError>) {
    let mut out = Vec::new();
    let mut drain = reader.drain().unwrap();
    while let Some(r) = drain.next() {
        match r {
            Ok(record) => out.push(seen(record)),
            Err(e) => {
                assert!(drain.next().is_none(), "a failed drain yields nothing more");
                return (out, Some(e));
            }
        }
    }
    (out, None)
}

/// Everything one drain hands out through `for_each_record`, and its error.
fn read_with_batch(reader: &mut Reader) -> (Vec<Seen>, Option<ReadError>) {
    let mut out = Vec::new();
    let mut drain = reader.drain().unwrap();
    let r = drain.for_each_record(|record| out.push(seen(record)));
    match r {
        Ok(n) => {
            assert_eq!(n, out.len() as u64, "the count is the records handed out");
            (out, None)
        }
        Err(e) => {
            assert!(drain.next().is_none(), "a failed drain yields nothing more");
            assert_eq!(drain.for_each_record(|_| panic!("a record")), Ok(0));
            (out, Some(e))
        }
    }
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(131).wrapping_add(seed) as u8)
        .collect()
}

#[test]
fn batch_read_hands_out_what_next_does_across_every_wrap_and_lost_record() {
    // Two identical rings fed identically; one read with `next`, one with the batch.
    let ring = || Ring::builder(512).wakeup_fd(false).build().unwrap();
    let ((mut w1, mut r1), (mut w2, mut r2)) = (ring(), ring());
    let (p1, p2) = (w1.pause_handle(), w2.pause_handle());
    let mut split = 0;
    for step in 0..3000u64 {
        // Sizes from 8 to 200 bytes, batches of 1 to 6 records, a loss now and then.
        let batch = 1 + step % 6;
        for i in 0..batch {
            let len = ((step * 7 + i * 13) % 193) as usize;
            let p = payload(len, step);
            let pause = (step + i) % 97 == 0;
            p1.set_paused(pause);
            p2.set_paused(pause);
            let a = w1.write_deferred(SAMPLE, i as u16, &p);
            let b = w2.write_deferred(SAMPLE, i as u16, &p);
            assert_eq!(a, b);
        }
        w1.publish();
        w2.publish();
        let (a, ea) = read_with_next(&mut r1);
        let (b, eb) = read_with_batch(&mut r2);
        assert_eq!((ea, eb), (None, None));
        assert_eq!(a, b, "step {step}");
        split += b.iter().filter(|s| s.split).count();
        assert_eq!(r1.stats(), r2.stats(), "step {step}");
        assert_eq!(r1.position(), r2.position());
    }
    assert!(
        split > 50,
        "the test must split records at the wrap ({split})"
    );
    let stats = r2.stats();
    assert!(
        stats.lost > 0,
        "the test must read PERF_RECORD_LOST records"
    );
    assert_eq!(stats.lost, w2.stats().lost);
    assert_eq!(stats.records, w2.stats().records + w2.stats().lost_records);
}

#[test]
fn batch_read_on_a_mirrored_mapping_hands_out_every_record_as_one_slice() {
    let buf = KernelBuffer::new(BufferConfig::new(2)).expect("allocate emulated buffer");
    let mut writer = buf.writer(WriterConfig::default()).unwrap();
    let mapping = Arc::new(
        buf.map(MapOptions::new(Strategy::InsertPages).mirrored(true))
            .unwrap(),
    );
    let mut reader = mapping.reader().unwrap();
    let data_size = writer.memory().data_size();
    let (mut seq, mut read, mut straddling) = (0u64, 0u64, 0);
    for round in 0..3000u64 {
        for _ in 0..1 + round % 4 {
            let len = 8 + (round * 37 % 300) as usize;
            let mut p = vec![0u8; len];
            p[..8].copy_from_slice(&seq.to_ne_bytes());
            writer.write_deferred(SAMPLE, 0, &p).unwrap();
            seq += 1;
        }
        writer.publish();
        let mut drain = reader.drain().unwrap();
        drain
            .for_each_record(|rec| {
                if rec.position % data_size + rec.bytes.len() as u64 > data_size {
                    straddling += 1;
                }
                match rec.bytes {
                    RecordBytes::Single(b) => assert_eq!(b[8..16], read.to_ne_bytes()),
                    RecordBytes::Split(..) => panic!("mirrored reader split a record"),
                }
                read += 1;
            })
            .unwrap();
    }
    assert_eq!(read, seq);
    assert!(
        straddling > 10,
        "the test must cross the wrap ({straddling})"
    );
}

/// Ten 24-byte records from position `start`, the header of record `victim` overwritten
/// with `size`, read by one drain with the batch or with `next`: what it handed out, its
/// error, and the reader's position afterwards.
fn read_hostile(
    start: u64,
    victim: u64,
    size: u16,
    batch: bool,
) -> (Vec<Seen>, Option<ReadError>, u64) {
    let (raw, mut w, mut r) = RawRing::new(256);
    let mut left = start;
    while left > 0 {
        let chunk = left.min(128);
        w.write(1, 0, &vec![0u8; chunk as usize - HEADER_SIZE])
            .unwrap();
        read_with_next(&mut r);
        left -= chunk;
    }
    for i in 0..10u8 {
        w.write_deferred(SAMPLE, 0, &[i; 16]).unwrap();
    }
    w.publish();
    raw.set_header(start + victim * 24, SAMPLE, size);
    let (seen, err) = if batch {
        read_with_batch(&mut r)
    } else {
        read_with_next(&mut r)
    };
    (seen, err, r.position())
}

#[test]
fn batch_read_reports_every_hostile_header_as_next_does_and_consumes_the_records_before() {
    // (size written over a header, the fault it is)
    let cases = [
        (0u16, RecordFault::SmallerThanHeader),
        (4, RecordFault::SmallerThanHeader),
        (12, RecordFault::Unaligned),
        (20, RecordFault::Unaligned),
        (512, RecordFault::LargerThanDataArea),
        (65528, RecordFault::LargerThanDataArea),
        (248, RecordFault::PastHead),
    ];
    // Starting at 200, record 2 straddles the end of the data area; at 240, record 0;
    // at 320 (offset 64), record 8 starts exactly at the wrap.
    for start in [0u64, 200, 240, 320] {
        for victim in [0u64, 2, 8, 9] {
            for (size, fault) in cases {
                let by_next = read_hostile(start, victim, size, false);
                let by_batch = read_hostile(start, victim, size, true);
                let at = start + victim * 24;
                let expected = ReadError::CorruptRecord {
                    position: at,
                    size,
                    fault,
                };
                let case = format!("start {start}, record {victim}, size {size}");
                assert_eq!(by_batch.1, Some(expected), "{case}");
                assert_eq!(by_batch, by_next, "{case}");
                assert_eq!(by_batch.0.len() as u64, victim, "{case}");
                assert_eq!(by_batch.2, at, "{case}: the records before are consumed");
            }
        }
    }
    // A last record whose size reaches past `data_head` by one record.
    let (seen, err, pos) = read_hostile(0, 9, 48, true);
    assert_eq!(seen.len(), 9);
    assert_eq!(
        err,
        Some(ReadError::CorruptRecord {
            position: 216,
            size: 48,
            fault: RecordFault::PastHead
        })
    );
    assert_eq!(pos, 216);
}

#[test]
fn try_write_on_a_full_ring_returns_false_and_writes_drops_and_counts_nothing() {
    let (mut w, mut r) = Ring::builder(256).wakeup_fd(false).build().unwrap();
    let mut written = 0u64;
    while w.try_write(SAMPLE, 0, &written.to_ne_bytes()).unwrap() {
        written += 1;
    }
    assert_eq!(written, 256 / 16, "a full ring, to the byte");
    let head = r.available().unwrap();
    for _ in 0..3 {
        assert_eq!(w.try_write(SAMPLE, 0, &[0; 8]), Ok(false));
        assert_eq!(w.try_write_deferred(SAMPLE, 0, &[0; 8]), Ok(false));
    }
    assert_eq!(r.available().unwrap(), head, "nothing written");
    let stats = w.stats();
    assert_eq!((stats.lost, w.lost_pending()), (0, 0), "nothing dropped");
    assert_eq!(stats.records, written);
    // The reader sees every record, in order, and no PERF_RECORD_LOST.
    let (seen, err) = read_with_batch(&mut r);
    assert_eq!(err, None);
    let seqs: Vec<u64> = seen
        .iter()
        .map(|s| u64::from_ne_bytes(s.bytes[8..16].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, (0..written).collect::<Vec<_>>());
    assert_eq!(r.stats().lost, 0);
    // Once the reader made room, the same call writes.
    assert_eq!(w.try_write(SAMPLE, 0, &[7; 8]), Ok(true));
    assert_eq!(read_with_next(&mut r).0.len(), 1);
}

#[test]
fn try_write_deferred_publishes_the_batch_when_the_next_record_does_not_fit() {
    let (mut w, r) = Ring::builder(256).wakeup_fd(false).build().unwrap();
    let mut n = 0;
    while w.try_write_deferred(SAMPLE, 0, &[1; 24]).unwrap() {
        n += 1;
        assert_eq!(
            r.available().unwrap(),
            0,
            "deferred records stay unpublished"
        );
    }
    assert_eq!(n, 256 / 32);
    assert_eq!(
        r.available().unwrap(),
        256,
        "a producer waiting for room must not hide the records the reader has to free"
    );
}

#[test]
fn try_write_refuses_too_large_and_drops_when_paused_as_write_does() {
    let (mut w, mut r) = Ring::builder(256).wakeup_fd(false).build().unwrap();
    assert!(matches!(
        w.try_write(SAMPLE, 0, &[0; 300]),
        Err(WriteError::RecordTooLarge { .. })
    ));
    assert_eq!(w.stats().lost, 0, "a record too large is not a loss");
    let pause = w.pause_handle();
    pause.set_paused(true);
    assert_eq!(w.try_write(SAMPLE, 0, &[0; 8]), Err(WriteError::Paused));
    assert_eq!(
        w.try_write_deferred(SAMPLE, 0, &[0; 8]),
        Err(WriteError::Paused)
    );
    assert_eq!(
        (w.stats().lost, w.lost_pending()),
        (2, 2),
        "paused: dropped"
    );
    pause.set_paused(false);
    assert_eq!(
        w.try_write(SAMPLE, 0, &[1; 8]),
        Ok(true),
        "LOST first, then this"
    );
    let (seen, _) = read_with_batch(&mut r);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header.record_type, PERF_RECORD_LOST);
    assert_eq!(r.stats().lost, 2);
}

#[test]
fn try_write_with_a_loss_pending_needs_room_for_both_and_keeps_the_loss_pending() {
    let (mut w, mut r) = Ring::builder(256).wakeup_fd(false).build().unwrap();
    for _ in 0..15 {
        w.write(SAMPLE, 0, &[0; 8]).unwrap();
    }
    let pause = w.pause_handle();
    pause.set_paused(true);
    assert_eq!(w.try_write(SAMPLE, 0, &[0; 8]), Err(WriteError::Paused));
    pause.set_paused(false);
    // 16 bytes free: the record would fit, the 24-byte LOST record in front of it not.
    assert!(!w.has_room_for(8).unwrap());
    assert_eq!(w.try_write(SAMPLE, 0, &[2; 8]), Ok(false));
    assert_eq!((w.stats().lost, w.lost_pending()), (1, 1), "no second drop");
    assert_eq!(r.available().unwrap(), 240, "nothing written");
    assert_eq!(read_with_batch(&mut r).0.len(), 15);
    assert_eq!(w.try_write(SAMPLE, 0, &[2; 8]), Ok(true));
    let (seen, _) = read_with_batch(&mut r);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].header.record_type, PERF_RECORD_LOST);
    assert_eq!(seen[1].bytes[8..], [2; 8]);
    assert_eq!(w.lost_pending(), 0);
    assert_eq!(r.stats().lost, 1);
}

#[test]
fn try_write_against_an_impossible_tail_is_an_error_and_a_drop_as_for_write() {
    let (raw, mut w, _r) = RawRing::new(256);
    while w.try_write(SAMPLE, 0, &[0; 8]).unwrap() {}
    raw.set_tail(1024); // ahead of the head: no reader can have consumed that
    assert_eq!(
        w.try_write(SAMPLE, 0, &[0; 8]),
        Err(WriteError::CorruptTail {
            head: 256,
            tail: 1024
        })
    );
    assert_eq!(w.stats().lost, 1);
}

#[test]
fn writer_counters_add_up_the_records_of_every_write_path() {
    for mode in [WriteMode::Forward, WriteMode::Overwrite] {
        let (mut w, mut r) = Ring::builder(1024)
            .mode(mode)
            .wakeup_fd(false)
            .build()
            .unwrap();
        let (mut records, mut bytes) = (0u64, 0u64);
        let mut add = |len: usize| {
            records += 1;
            bytes += align_record(HEADER_SIZE + len).unwrap() as u64;
        };
        for round in 0..40usize {
            let len = round * 5 % 70;
            w.write(SAMPLE, 0, &payload(len, 1)).unwrap();
            add(len);
            w.write_deferred(SAMPLE, 0, &payload(len + 3, 2)).unwrap();
            add(len + 3);
            w.write_parts_deferred(SAMPLE, 0, &[&[1; 5], &payload(len, 3)])
                .unwrap();
            add(len + 5);
            let mut res = w.reserve(SAMPLE, 0, len + 1).unwrap();
            res.write_at(0, &payload(len + 1, 4));
            res.commit_deferred();
            add(len + 1);
            drop(w.reserve(SAMPLE, 0, 40).unwrap()); // abandoned: not counted
            let res = w.reserve(SAMPLE, 0, 9).unwrap();
            res.commit();
            add(9);
            assert_eq!(w.try_write(SAMPLE, 0, &payload(len, 5)), Ok(true));
            add(len);
            if mode == WriteMode::Forward {
                read_with_batch(&mut r);
            }
        }
        let stats = w.stats();
        assert_eq!((stats.records, stats.bytes), (records, bytes), "{mode:?}");
        assert_eq!(stats.lost_records, 0);
    }
}

#[test]
fn writer_counters_leave_out_lost_records() {
    let (mut w, mut r) = Ring::builder(256).wakeup_fd(false).build().unwrap();
    let pause = w.pause_handle();
    pause.set_paused(true);
    w.write(SAMPLE, 0, &[0; 8]).unwrap_err();
    pause.set_paused(false);
    w.write(SAMPLE, 0, &[0; 8]).unwrap();
    let stats = w.stats();
    assert_eq!(
        (stats.records, stats.bytes, stats.lost, stats.lost_records),
        (1, 16, 1, 1)
    );
    let (seen, _) = read_with_batch(&mut r);
    assert_eq!(seen[0].header.record_type, PERF_RECORD_LOST);
    assert_eq!(r.stats().records, 2);
    assert_eq!(r.stats().lost, 1);
}

#[test]
fn a_panic_in_the_batch_consumes_the_records_handed_out_and_the_next_drain_resumes() {
    let (mut w, mut r) = Ring::builder(1024).wakeup_fd(false).build().unwrap();
    for i in 0..10u64 {
        w.write_deferred(SAMPLE, 0, &i.to_ne_bytes()).unwrap();
    }
    w.publish();
    let mut handed = Vec::new();
    let mut drain = r.drain().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drain
            .for_each_record(|rec| {
                let seq = u64::from_ne_bytes(rec.bytes.parts().0[8..16].try_into().unwrap());
                handed.push(seq);
                assert_ne!(seq, 3, "the consumer gives up at record 3");
            })
            .unwrap();
    }));
    assert!(caught.is_err());
    drop(drain);
    assert_eq!(handed, [0, 1, 2, 3]);
    assert_eq!(r.position(), 4 * 16, "the records handed out are consumed");
    let (rest, err) = read_with_batch(&mut r);
    assert_eq!(err, None);
    let seqs: Vec<u64> = rest
        .iter()
        .map(|s| u64::from_ne_bytes(s.bytes[8..16].try_into().unwrap()))
        .collect();
    assert_eq!(seqs, (4..10).collect::<Vec<_>>());
}
