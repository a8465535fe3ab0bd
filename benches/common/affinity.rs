//! Pinning threads to CPUs and running a producer/consumer pair on two of them.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::Sample;

/// The CPUs this process may run on (`sched_getaffinity`).
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable `cpu_set_t` of the size passed.
    let r = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * size_of::<libc::cpu_set_t>();
    // SAFETY: `cpu < max`, inside the set.
    Ok((0..max)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
}

/// The producer's and the consumer's CPU: the first two allowed CPUs.
///
/// # Panics
///
/// If fewer than two CPUs are allowed: a one-CPU run would time-slice the pair and
/// measure the scheduler, not the ring.
pub fn cpu_pair() -> (usize, usize) {
    let cpus = allowed_cpus().expect("sched_getaffinity");
    assert!(
        cpus.len() >= 2,
        "the benches need two CPUs (producer and consumer on different cores); allowed: {cpus:?}"
    );
    (cpus[0], cpus[1])
}

/// Pins the calling thread to `cpu`.
///
/// # Panics
///
/// If `sched_setaffinity` refuses.
pub fn pin_current_thread(cpu: usize) {
    // SAFETY: all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` is an allowed CPU number, below the set's capacity.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed; tid 0 = this thread.
    let r = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(
        r,
        0,
        "sched_setaffinity(cpu {cpu}): {}",
        io::Error::last_os_error()
    );
}

/// This thread's accumulated run-queue delay (`/proc/thread-self/schedstat` field 2):
/// time it was runnable but another task had its CPU.
pub fn run_delay() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// Runs `producer` pinned to the first CPU of [`cpu_pair`] and `consumer` pinned to the
/// second. Both start together after a spin barrier; the time is the consumer's, from
/// the barrier to its return. `consumer` returns the number of records it received and
/// checked; the run panics unless that is `records`.
pub fn run_pair<P, C>(records: u64, bytes_per_record: u64, producer: P, consumer: C) -> Sample
where
    P: FnOnce() + Send,
    C: FnOnce() -> u64 + Send,
{
    let (cpu_p, cpu_c) = cpu_pair();
    let ready = AtomicU32::new(0);
    let barrier = |ready: &AtomicU32| {
        // ATOMICS: AcqRel/Acquire so each thread's setup happens before the other's start.
        ready.fetch_add(1, Ordering::AcqRel);
        while ready.load(Ordering::Acquire) < 2 {
            std::hint::spin_loop();
        }
    };
    let (elapsed, got, delay_p, delay_c) = std::thread::scope(|s| {
        let prod = s.spawn(|| {
            pin_current_thread(cpu_p);
            let d0 = run_delay();
            barrier(&ready);
            producer();
            run_delay() - d0
        });
        let cons = s.spawn(|| {
            pin_current_thread(cpu_c);
            let d0 = run_delay();
            barrier(&ready);
            let t0 = Instant::now();
            let got = consumer();
            let elapsed = t0.elapsed();
            (elapsed, got, run_delay() - d0)
        });
        let (elapsed, got, delay_c) = cons.join().expect("consumer panicked");
        let delay_p = prod.join().expect("producer panicked");
        (elapsed, got, delay_p, delay_c)
    });
    assert_eq!(got, records, "consumer received {got} of {records} records");
    Sample {
        elapsed,
        records,
        bytes: records * bytes_per_record,
        run_delay: delay_p.max(delay_c),
    }
}

/// Runs `body` on the consumer's CPU alone (single-thread subjects).
pub fn run_single<F: FnOnce() -> u64 + Send>(
    records: u64,
    bytes_per_record: u64,
    body: F,
) -> Sample {
    let (_, cpu) = cpu_pair();
    std::thread::scope(|s| {
        s.spawn(|| {
            pin_current_thread(cpu);
            let d0 = run_delay();
            let t0 = Instant::now();
            let got = body();
            let elapsed = t0.elapsed();
            assert_eq!(got, records, "did {got} of {records} copies");
            Sample {
                elapsed,
                records,
                bytes: records * bytes_per_record,
                run_delay: run_delay() - d0,
            }
        })
        .join()
        .expect("single-thread bench panicked")
    })
}

/// Round-trip time of a cache line between the two CPUs of [`cpu_pair`]: one thread
/// stores a number, the other echoes it on a second line, `round_trips` times. About
/// 100 ns between physical cores of one socket; much less means the two vCPUs share a
/// core (SMT siblings), which makes "cross-core" figures optimistic.
pub fn ping_pong_rtt(round_trips: u64) -> Duration {
    use crossbeam::utils::CachePadded;
    let ping = CachePadded::new(std::sync::atomic::AtomicU64::new(0));
    let pong = CachePadded::new(std::sync::atomic::AtomicU64::new(0));
    let sample = run_pair(
        round_trips,
        0,
        || {
            for i in 1..=round_trips {
                // ATOMICS: Acquire/Release pairs with the other side's store/load.
                while ping.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                pong.store(i, Ordering::Release);
            }
        },
        || {
            for i in 1..=round_trips {
                ping.store(i, Ordering::Release);
                // ATOMICS: pairs with the echo above.
                while pong.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
            }
            round_trips
        },
    );
    sample.elapsed / round_trips as u32
}
