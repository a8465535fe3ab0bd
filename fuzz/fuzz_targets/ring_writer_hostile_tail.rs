//! A hostile consumer: before the writer exists it stores arbitrary values into
//! `data_head` and `data_tail` (the writer must repair an unaligned head, count it, and
//! never write outside the data area — the buffer ends right after it, so AddressSanitizer
//! sees any overrun), then between writes it stores arbitrary values into `data_tail`. The
//! writer must never overwrite a record the honest reader has not consumed: after each
//! step the real tail is restored and every unread record is checked against a shadow copy.
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use perf_ringbuf::layout::{DATA_HEAD_OFFSET, DATA_TAIL_OFFSET, PERF_RECORD_LOST};
use perf_ringbuf::{Reader, WriteError, Writer, WriterConfig};

#[path = "raw_ring.rs"]
mod raw_ring;
use raw_ring::{Buf, CONTROL};

const DATA_SIZE: usize = 512;

fuzz_target!(|ops: &[u8]| {
    let buf = Buf::new(CONTROL + DATA_SIZE);
    // SAFETY: a fresh buffer: its reader and writer are made below.
    let mem = unsafe { buf.region().init_control(CONTROL as u64, DATA_SIZE as u64) }.unwrap();
    // Hostile positions in the control page before the writer is created.
    let (start, ops) = ops.split_at(ops.len().min(17));
    let mut attempts = 0u64;
    if start.len() == 17 {
        let how = start[0];
        let head = u64::from_le_bytes(start[1..9].try_into().unwrap());
        let tail = u64::from_le_bytes(start[9..17].try_into().unwrap());
        buf.poke(DATA_HEAD_OFFSET, &head.to_ne_bytes());
        buf.poke(DATA_TAIL_OFFSET, &tail.to_ne_bytes());
        // SAFETY: the only writer of this ring; `buf` outlives it.
        let mut writer = unsafe { Writer::new(mem, WriterConfig::default(), None, buf.clone()) };
        let fixed = head.wrapping_add(7) & !7;
        assert_eq!(writer.stats().head_repairs, u64::from(head != fixed));
        assert_eq!(mem.load_head(), fixed, "the repaired head is published");
        // One write against the hostile tail: written, dropped or refused, never outside
        // the data area.
        attempts += 1;
        let _ = writer.write(9, 0, &vec![0xee; how as usize % 200]);
        let stats = writer.stats();
        assert_eq!(stats.records + stats.lost, attempts);
        assert_eq!(mem.load_head() % 8, 0);
        // The honest consumer takes over from here; the writer is dropped and a new one
        // resumes from its (now aligned) head.
        drop(writer);
        // SAFETY: as above.
        let mut reader = unsafe { Reader::new(mem, buf.clone()) };
        reader.resync().expect("an aligned head can always be resynced to");
        attempts = 0;
    }
    // SAFETY: the only writer and reader of this ring; `buf` outlives both.
    let mut writer = unsafe { Writer::new(mem, WriterConfig::default(), None, buf.clone()) };
    assert_eq!(writer.stats().head_repairs, 0);
    // SAFETY: as above.
    let mut reader = unsafe { Reader::new(mem, buf.clone()) };
    let mut shadow: VecDeque<Vec<u8>> = VecDeque::new();
    let mut seq = 0u8;
    let mut chunks = ops.chunks_exact(9);
    for op in &mut chunks {
        let arg = u64::from_le_bytes(op[1..9].try_into().unwrap());
        match op[0] % 3 {
            0 => {
                let len = (arg % 200) as usize;
                seq = seq.wrapping_add(1);
                let payload = vec![seq; len];
                attempts += 1;
                match writer.write(9, 0, &payload) {
                    Ok(()) => shadow.push_back(payload),
                    Err(WriteError::NoSpace { .. }) | Err(WriteError::CorruptTail { .. }) => {}
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            1 => {
                // An impossible tail (a reader that moves the tail within the valid range
                // is indistinguishable from one that read): ahead of the head, behind the
                // last tail, or off a record boundary. The honest tail comes back after.
                let honest = reader.position();
                let head = honest + reader.available().unwrap();
                // Bounded deltas: a wrapped one could land ahead of the honest tail
                // inside the valid range, which is a legitimate release, not an attack.
                let k = (arg >> 2) & ((1 << 40) - 1);
                let hostile = match arg % 3 {
                    0 => head + 8 + k * 8,
                    1 => honest.wrapping_sub(k),
                    _ => honest.wrapping_add(k % DATA_SIZE as u64) | 1,
                };
                buf.poke(DATA_TAIL_OFFSET, &hostile.to_ne_bytes());
                attempts += 1;
                seq = seq.wrapping_add(1);
                match writer.write(9, 0, &vec![seq; (arg % 64) as usize]) {
                    Ok(()) => shadow.push_back(vec![seq; (arg % 64) as usize]),
                    Err(_) => {}
                }
                buf.poke(DATA_TAIL_OFFSET, &honest.to_ne_bytes());
            }
            _ => drain_and_check(&mut reader, &mut shadow, arg as usize % 8),
        }
    }
    drain_and_check(&mut reader, &mut shadow, usize::MAX);
    assert!(shadow.is_empty(), "a committed record vanished");
    let stats = writer.stats();
    assert_eq!(stats.records + stats.lost, attempts);
});

fn drain_and_check(reader: &mut Reader, shadow: &mut VecDeque<Vec<u8>>, max: usize) {
    let mut d = reader.drain().expect("an honest ring never has an impossible head");
    let mut n = 0;
    while n < max {
        let Some(r) = d.next_contiguous() else { break };
        let (h, bytes) = r.expect("an honest ring never has a corrupt record");
        if h.record_type == PERF_RECORD_LOST {
            continue;
        }
        let want = shadow.pop_front().expect("more records than were written");
        assert_eq!(&bytes[8..8 + want.len()], &want[..], "unread record overwritten");
        n += 1;
    }
}
