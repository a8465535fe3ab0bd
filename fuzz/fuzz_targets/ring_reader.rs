//! A hostile producer: arbitrary data-area bytes and arbitrary `data_head` / `data_tail`.
//! The reader must return records or typed errors, never panic, read out of bounds, or
//! loop forever.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perf_ringbuf::layout::{DATA_HEAD_OFFSET, DATA_TAIL_OFFSET};
use perf_ringbuf::Reader;

#[path = "raw_ring.rs"]
mod raw_ring;
use raw_ring::{Buf, CONTROL};

fuzz_target!(|input: &[u8]| {
    if input.len() < 18 {
        return;
    }
    let data_size = 8usize << (input[0] % 10); // 8 .. 4096
    let mode = input[1];
    let head = u64::from_le_bytes(input[2..10].try_into().unwrap());
    let tail = u64::from_le_bytes(input[10..18].try_into().unwrap());
    let data = &input[18..];
    let buf = Buf::new(CONTROL + data_size);
    // SAFETY: a fresh buffer: its reader and writer are made below.
    let mem = unsafe { buf.region().init_control(CONTROL as u64, data_size as u64) }.unwrap();
    buf.poke(CONTROL, &data[..data.len().min(data_size)]);
    buf.poke(DATA_TAIL_OFFSET, &tail.to_ne_bytes());
    buf.poke(DATA_HEAD_OFFSET, &head.to_ne_bytes());
    // SAFETY: the only reader; `buf` outlives it through the keepalive.
    let mut reader = unsafe { Reader::new(mem, buf.clone()) };
    let mut out = Vec::new();
    if mode & 4 != 0 {
        if let Ok(snap) = reader.read_overwrite(&mut out) {
            assert!(snap.bytes <= data_size);
            let walked: usize = perf_ringbuf::RecordIter::new(&out[..snap.bytes])
                .map(|r| r.map(|(h, _)| h.size as usize).unwrap_or(0))
                .sum();
            assert_eq!(walked, snap.bytes);
        }
    }
    for round in 0..3 {
        if reader.available().is_err() {
            assert!(reader.drain().is_err(), "drain validates like available");
            match reader.resync() {
                Ok(skipped) => assert!(skipped <= data_size as u64),
                // Terminal: only an unaligned head refuses a resync.
                Err(e) => assert!(matches!(e, perf_ringbuf::ReadError::CannotResync(h) if h % 8 != 0)),
            }
            continue;
        }
        let mut drain = reader.drain().expect("validated above; nobody writes the ring");
        let budget = drain.remaining();
        assert!(budget <= data_size as u64);
        let mut seen = 0u64;
        match (mode + round) % 3 {
            0 => {
                while let Some(r) = drain.next() {
                    let Ok(r) = r else { break };
                    assert!(r.header.size >= 8 && r.header.size % 8 == 0);
                    assert_eq!(r.bytes.len(), r.header.size as usize);
                    seen += r.header.size as u64;
                }
            }
            1 => {
                while let Some(r) = drain.next_contiguous() {
                    let Ok((h, bytes)) = r else { break };
                    assert_eq!(bytes.len(), h.size as usize);
                    seen += h.size as u64;
                }
            }
            _ => seen += drain.take_remaining().len() as u64,
        }
        assert!(seen <= budget, "read past the head snapshot");
    }
});
