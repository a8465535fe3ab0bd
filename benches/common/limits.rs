//! The tuned cross-core copy: the fastest this harness moves `N`-byte records from one core
//! to the other with a handoff, which no subject doing the same work should beat.
//!
//! The work per record is the least any subject does: the producer stamps the record's
//! sequence number into a local copy and writes its `N` bytes into the shared buffer (a
//! copy whose size is known at compile time, so it is a few vector moves, not a `memcpy`
//! call); the consumer copies the `N` bytes out to a line-aligned local buffer and checks
//! the sequence number. What varies is the handoff — how many bytes the producer writes
//! before one Release store of its position (the consumer releases every pass, and at
//! least every handoff's worth) — and whether the producer writes with streaming
//! (non-temporal) stores. `compare` takes, per round, the fastest of these and the plain
//! copies of `subjects.rs` as the limit of the group.

use std::hint::spin_loop;
use std::sync::atomic::Ordering;

use super::affinity::run_pair;
use super::subjects::{CopyBuffer, CAPACITY_BYTES};
use super::{check, pattern, stamp, Check, Sample};

/// A line-aligned record buffer.
#[repr(C, align(64))]
struct Line<const N: usize>([u8; N]);

/// Tuned copy of `N`-byte records.
pub struct TunedCopy<const N: usize> {
    buf: Box<CopyBuffer>,
    /// Bytes written between two stores of the producer's position.
    handoff: usize,
    /// Non-temporal stores on the producer side (x86-64 `movntdq`), `sfence` before each
    /// handoff.
    streaming: bool,
}

impl<const N: usize> TunedCopy<N> {
    /// A tuned copy handing off every `handoff` bytes (at least one record).
    pub fn new(handoff: usize, streaming: bool) -> Self {
        assert!(N.is_power_of_two() && N >= 16 && N <= CAPACITY_BYTES / 4);
        TunedCopy {
            buf: Box::new(CopyBuffer::new(CAPACITY_BYTES)),
            handoff: handoff.max(N).min(CAPACITY_BYTES / 4),
            streaming,
        }
    }
}

/// Writes `N` bytes from `src` to `dst` with non-temporal stores.
///
/// # Safety
///
/// `dst` is 16-byte aligned and valid for `N` bytes of writes; `N` is a multiple of 16.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn stream_copy<const N: usize>(src: &[u8; N], dst: *mut u8) {
    use std::arch::x86_64::{__m128i, _mm_loadu_si128, _mm_stream_si128};
    let mut i = 0;
    while i < N {
        // SAFETY: `i + 16 <= N`: in bounds of `src`, and of `dst` by the caller's
        // contract; `dst + i` is 16-byte aligned (aligned `dst`, `i` a multiple of 16).
        // SSE2 is part of x86-64.
        unsafe {
            let v = _mm_loadu_si128(src.as_ptr().add(i).cast::<__m128i>());
            _mm_stream_si128(dst.add(i).cast::<__m128i>(), v);
        }
        i += 16;
    }
}

/// Orders the non-temporal stores before the next (Release) store.
#[inline(always)]
fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no memory-safety preconditions (SSE, part of x86-64).
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

impl<const N: usize> super::peers::Runner for TunedCopy<N> {
    fn run(&mut self, records: u64, how: Check) -> Sample {
        let buf = &*self.buf;
        let cap = buf.len as u64;
        let per_handoff = (self.handoff / N) as u64;
        let streaming = self.streaming && cfg!(target_arch = "x86_64");
        let h = N as u64;
        // ATOMICS: Relaxed: the previous run ended with both threads joined.
        let start = buf.written.load(Ordering::Relaxed);
        run_pair(
            records,
            h,
            || {
                let mut src = Line([0u8; N]);
                src.0.copy_from_slice(&pattern(N));
                let mut pos = start;
                // ATOMICS: Acquire pairs with the consumer's Release store of `read`.
                let mut read = buf.read.load(Ordering::Acquire);
                let mut seq = 0;
                while seq < records {
                    let n = per_handoff.min(records - seq);
                    while pos + n * h - read > cap {
                        spin_loop();
                        read = buf.read.load(Ordering::Acquire);
                    }
                    for _ in 0..n {
                        stamp(&mut src.0, seq);
                        let dst = buf.ptr(pos);
                        if streaming {
                            #[cfg(target_arch = "x86_64")]
                            // SAFETY: `[pos, pos + N)` is free and inside the buffer
                            // (power-of-two records never straddle the end); `pos` is a
                            // multiple of N >= 16 in a page-aligned buffer.
                            unsafe {
                                stream_copy(&src.0, dst)
                            };
                        } else {
                            // SAFETY: as above.
                            unsafe { std::ptr::copy_nonoverlapping(src.0.as_ptr(), dst, N) };
                        }
                        pos += h;
                        seq += 1;
                    }
                    if streaming {
                        store_fence();
                    }
                    // ATOMICS: Release pairs with the consumer's Acquire load of `written`.
                    buf.written.store(pos, Ordering::Release);
                }
            },
            || {
                let mut dst = Line([0u8; N]);
                let mut expected = pattern(N);
                let mut pos = start;
                let mut released = start;
                let release_every = per_handoff * h;
                let mut seq = 0;
                while seq < records {
                    // ATOMICS: Acquire pairs with the producer's Release store of `written`.
                    let written = buf.written.load(Ordering::Acquire);
                    if written == pos {
                        spin_loop();
                        continue;
                    }
                    while pos != written {
                        // SAFETY: `[pos, pos + N)` was published and is not reused before
                        // the Release store of `read` below.
                        unsafe {
                            std::ptr::copy_nonoverlapping(buf.ptr(pos), dst.0.as_mut_ptr(), N)
                        };
                        check(&dst.0, seq, how, &mut expected);
                        pos += h;
                        seq += 1;
                        if pos - released >= release_every {
                            // ATOMICS: Release pairs with the producer's Acquire load.
                            buf.read.store(pos, Ordering::Release);
                            released = pos;
                        }
                    }
                    // ATOMICS: Release pairs with the producer's Acquire load of `read`.
                    buf.read.store(pos, Ordering::Release);
                    released = pos;
                }
                seq
            },
        )
    }
}
