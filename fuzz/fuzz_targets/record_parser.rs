//! The typed record parser under every `sample_type`, `read_format`, register mask and
//! branch layout: any bytes give a record or a typed error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use perf_client::records::{EventFormat, ParseContext};

fn word(input: &[u8], i: usize) -> u64 {
    input
        .get(i * 8..i * 8 + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()))
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 48 {
        return;
    }
    let format = EventFormat {
        sample_type: word(input, 0),
        read_format: word(input, 1),
        // Keep register masks small so records can carry them.
        sample_regs_user: word(input, 2) & 0xffff,
        sample_regs_intr: word(input, 3) & 0xffff,
        branch_sample_type: word(input, 4),
        sample_id_all: word(input, 5) & 1 == 1,
    };
    let two_events = word(input, 5) & 2 == 2;
    let mut ctx = ParseContext::new();
    if ctx.add_event(format, &[1, 2]).is_err() {
        return; // an impossible attr is refused before any record is parsed
    }
    if two_events {
        let other = EventFormat {
            sample_type: format.sample_type ^ 0x4, // differ in TIME
            ..format
        };
        let _ = ctx.add_event(other, &[3]);
    }
    let bytes = &input[48..];
    if let Ok(rec) = ctx.parse(bytes) {
        let _ = (rec.time(), rec.pid_tid(), rec.cpu(), rec.event_id(), rec.record_type());
        let _ = format!("{rec:?}");
    }
});
