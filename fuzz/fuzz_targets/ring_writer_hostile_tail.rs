//! A hostile consumer: between writes it stores arbitrary values into `data_tail`. The
//! writer must never overwrite a record the honest reader has not consumed: after each
//! step the real tail is restored and every unread record is checked against a shadow copy.
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use perf_ringbuf::layout::{DATA_TAIL_OFFSET, PERF_RECORD_LOST};
use perf_ringbuf::{Reader, WriteError, Writer, WriterConfig};

#[path = "raw_ring.rs"]
mod raw_ring;
use raw_ring::{Buf, CONTROL};

const DATA_SIZE: usize = 512;

fuzz_target!(|ops: &[u8]| {
    let buf = Buf::new(CONTROL + DATA_SIZE);
    // SAFETY: a fresh buffer: its reader and writer are made below.
    let mem = unsafe { buf.region().init_control(CONTROL as u64, DATA_SIZE as u64) }.unwrap();
    // SAFETY: the only writer and reader of this ring; `buf` outlives both.
    let mut writer = unsafe { Writer::new(mem, WriterConfig::default(), None, buf.clone()) };
    // SAFETY: as above.
    let mut reader = unsafe { Reader::new(mem, buf.clone()) };
    let mut shadow: VecDeque<Vec<u8>> = VecDeque::new();
    let mut seq = 0u8;
    let mut attempts = 0u64;
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
