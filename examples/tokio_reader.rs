//! A ring reader driven by tokio. The reader's wakeup eventfd (`impl AsFd for Reader`) goes
//! into `tokio::io::unix::AsyncFd`; the task drains when it becomes readable, and also after
//! a short timeout, because records below the wakeup threshold never signal (libbpf #438).
//! A producer thread writes numbered records with backpressure; the task checks that every
//! one arrives once, in order, and stops when the producer is gone.
//!
//! ```text
//! cargo run --example tokio_reader
//! ```
//!
//! The library itself has no runtime dependency: tokio is a dev-dependency of the workspace
//! root only.

use std::time::Duration;

use perf_ringbuf::{Ring, WaitOutcome, WakeupPolicy};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Records the producer writes.
const RECORDS: u64 = 200_000;
/// `perf_event_header::type` of the records (any u32 is fine in rings we own).
const SAMPLE: u32 = 9;
/// How long the task sleeps without a wakeup before it drains anyway.
const TICK: Duration = Duration::from_millis(10);

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (mut writer, reader) = Ring::builder(64 * 1024)
        .wakeup_policy(WakeupPolicy::Events(256))
        .build()?;

    let producer = std::thread::spawn(move || {
        for seq in 0..RECORDS {
            // Backpressure: `try_write` writes nothing and returns `Ok(false)` when the ring
            // is full, so the producer waits for the reader instead of dropping records.
            while !writer
                .try_write(SAMPLE, 0, &seq.to_ne_bytes())
                .expect("an 8-byte record fits a 64 KiB ring")
            {
                std::thread::yield_now();
            }
        }
        writer.stats()
    }); // dropping the writer publishes the rest and signals the reader one last time

    // SAFETY: tokio's contract: the descriptor stays open and the same while registered.
    // The reader owns its wakeup eventfd (set when the ring was built, never replaced) for
    // as long as it lives, and this task never swaps the reader out of the `AsyncFd`.
    let mut reader = unsafe { AsyncFd::register_with_interest(reader, Interest::READABLE) }?;
    let (mut next, mut wakeups, mut ticks) = (0u64, 0u64, 0u64);
    loop {
        match tokio::time::timeout(TICK, reader.readable_mut()).await {
            Ok(guard) => {
                let mut guard = guard?;
                // Consume the signal before draining: one sent after this read makes the
                // eventfd readable again, and tokio keeps that readiness through
                // `clear_ready` (it clears only what this guard saw).
                let fd = guard
                    .get_inner()
                    .wakeup_fd()
                    .expect("built with an eventfd");
                fd.wait(Some(Duration::ZERO))?;
                guard.clear_ready();
                wakeups += 1;
            }
            Err(_elapsed) => ticks += 1,
        }
        let reader = reader.get_mut();
        // Never sleeps with a zero timeout: Ready, TimedOut (nothing yet) or ProducerGone
        // (gone, and everything it published was drained).
        let outcome = reader.wait(Some(Duration::ZERO))?;
        let mut drain = reader.drain()?;
        drain.for_each_record(|record| {
            let mut seq = [0u8; 8];
            let (a, b) = record.payload().parts();
            let n = a.len().min(8);
            seq[..n].copy_from_slice(&a[..n]);
            seq[n..].copy_from_slice(&b[..8 - n]);
            assert_eq!(record.header.record_type, SAMPLE);
            assert_eq!(
                u64::from_ne_bytes(seq),
                next,
                "records arrive once, in order"
            );
            next += 1;
        })?;
        drop(drain); // one data_tail store per drain
        if outcome == WaitOutcome::ProducerGone {
            break;
        }
    }

    let written = producer.join().expect("producer thread");
    let stats = reader.get_ref().stats();
    assert_eq!((next, written.records, written.lost), (RECORDS, RECORDS, 0));
    assert_eq!(stats.lost, 0);
    println!(
        "read {next} records in {} drains ({wakeups} wakeups, {ticks} timeouts); none lost",
        stats.drains
    );
    Ok(())
}
