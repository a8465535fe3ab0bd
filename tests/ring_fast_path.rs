//! The writer's fast path and the deferred `data_tail` release: whichever path a record
//! takes, the reader sees the same bytes, padding is zero, a paused or lossy writer still
//! drops and reports records, and a deferred release is stored before the reader sleeps or
//! goes away.

use perf_ringbuf::layout::{align_record, HEADER_SIZE, PERF_RECORD_LOST};
use perf_ringbuf::{Ring, WriteError};

fn payload(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(131).wrapping_add(seed) as u8 | 1)
        .collect()
}

#[test]
fn every_payload_length_round_trips_at_every_offset_with_zero_padding() {
    // A small ring so that records of every length straddle the end at many offsets.
    let (mut writer, mut reader) = Ring::builder(256).wakeup_fd(false).build().unwrap();
    let mut seed = 0u64;
    for round in 0..3 {
        for len in 0..=120usize {
            seed += 1;
            let p = payload(len, seed);
            let deferred = (len + round) % 2 == 0;
            let r = if deferred {
                writer.write_deferred(9, len as u16, &p)
            } else {
                writer.write(9, len as u16, &p)
            };
            r.unwrap();
            writer.publish();
            let mut drain = reader.drain().unwrap();
            let rec = drain.next().expect("one record").unwrap();
            let size = align_record(HEADER_SIZE + len).unwrap();
            assert_eq!(rec.header.size as usize, size, "len {len}");
            assert_eq!(rec.header.misc as usize, len);
            let mut bytes = Vec::new();
            rec.payload().extend_into(&mut bytes);
            assert_eq!(&bytes[..len], &p[..], "payload of len {len}");
            assert!(
                bytes[len..].iter().all(|&b| b == 0),
                "padding of len {len} is not zero: {:?}",
                &bytes[len..]
            );
            assert!(drain.next().is_none());
        }
    }
    assert_eq!(writer.stats().lost, 0);
}

// `copy_in_and_copy_out_round_trip_short_lengths_across_the_wrap` is a unit test of
// perf-ringbuf (region.rs): both copies are crate-private, since safe code outside the
// writer must not write ring memory.

#[test]
fn a_paused_writer_drops_on_the_fast_path_and_reports_the_loss_first() {
    let (mut writer, mut reader) = Ring::builder(4096).wakeup_fd(false).build().unwrap();
    let pause = writer.pause_handle();
    pause.set_paused(true);
    assert_eq!(writer.write(9, 0, &[1; 16]), Err(WriteError::Paused));
    assert_eq!(
        writer.write_deferred(9, 0, &[1; 16]),
        Err(WriteError::Paused)
    );
    pause.set_paused(false);
    assert!(
        writer.has_room_for(16).unwrap(),
        "room counts the pending LOST record"
    );
    writer.write(9, 0, &[2; 16]).unwrap();
    let mut drain = reader.drain().unwrap();
    let lost = drain.next().unwrap().unwrap();
    assert_eq!(lost.header.record_type, PERF_RECORD_LOST);
    let rec = drain.next().unwrap().unwrap();
    assert_eq!(rec.header.record_type, 9);
    assert!(drain.next().is_none());
    drop(drain);
    assert_eq!(reader.stats().lost, 2);
}

fn drain_all(reader: &mut perf_ringbuf::Reader) -> usize {
    let mut drain = reader.drain().unwrap();
    let mut n = 0;
    while let Some(r) = drain.next() {
        r.unwrap();
        n += 1;
    }
    n
}

#[test]
fn deferred_release_stores_data_tail_once_the_threshold_is_consumed() {
    let (mut writer, mut reader) = Ring::builder(4096).wakeup_fd(false).build().unwrap();
    reader.set_release_every(1024);
    for _ in 0..10 {
        writer.write(9, 0, &[3; 56]).unwrap();
    }
    assert_eq!(drain_all(&mut reader), 10);
    assert_eq!(reader.position(), 640);
    assert_eq!(
        writer.memory().load_tail(),
        0,
        "640 bytes consumed: below the threshold"
    );
    for _ in 0..8 {
        writer.write(9, 0, &[3; 56]).unwrap();
    }
    assert_eq!(drain_all(&mut reader), 8);
    assert_eq!(
        writer.memory().load_tail(),
        1152,
        "stored once 1024 bytes were consumed"
    );
}

#[test]
fn deferred_release_is_stored_before_waiting_and_on_drop() {
    let (mut writer, mut reader) = Ring::builder(4096).wakeup_fd(false).build().unwrap();
    reader.set_release_every(1 << 20); // clamped to half the data area
    writer.write(9, 0, &[1; 8]).unwrap();
    assert_eq!(drain_all(&mut reader), 1);
    assert_eq!(writer.memory().load_tail(), 0);
    let outcome = reader
        .wait(Some(std::time::Duration::from_millis(1)))
        .unwrap();
    assert_eq!(outcome, perf_ringbuf::WaitOutcome::TimedOut);
    assert_eq!(
        writer.memory().load_tail(),
        16,
        "wait() releases before sleeping"
    );
    writer.write(9, 0, &[1; 8]).unwrap();
    assert_eq!(drain_all(&mut reader), 1);
    assert_eq!(writer.memory().load_tail(), 16);
    drop(reader);
    assert_eq!(
        writer.memory().load_tail(),
        32,
        "dropping the reader releases"
    );
}

#[test]
fn without_deferral_every_drain_that_consumed_stores_data_tail() {
    let (mut writer, mut reader) = Ring::builder(4096).wakeup_fd(false).build().unwrap();
    writer.write(9, 0, &[1; 8]).unwrap();
    assert_eq!(drain_all(&mut reader), 1);
    assert_eq!(writer.memory().load_tail(), 16);
    assert_eq!(drain_all(&mut reader), 0);
    assert_eq!(writer.memory().load_tail(), 16);
}
