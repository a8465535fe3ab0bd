//! The ring subjects of the benches on one thread, for counting instructions per record
//! with callgrind: time on the shared bench machine cannot show a 10% change, instruction
//! counts can.
//!
//! One round writes [`ROUND`] records with the bench producer (`RingProducer`), then
//! drains them with the bench consumer (`RingConsumer`), stamping and checking every
//! sequence number and copying every payload out, exactly as the two-thread subjects do.
//! Only `measured` is counted (`--toggle-collect`), so setup is excluded:
//!
//! ```text
//! cargo build --profile bench --example ring_instructions
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null --collect-atstart=no \
//!     --toggle-collect='ring_instructions::measured' \
//!     target/release/examples/ring_instructions 16 batch 64
//! ```
//!
//! callgrind prints `Collected : N`; N / (rounds × 256) is the cost of one record written
//! and read. `scripts/ring-instructions.sh` runs every size and mode and prints the table.
//! `rtrb` as the mode measures rtrb's `u64` push + pop the same way (the size is ignored).

#[path = "../benches/common/mod.rs"]
#[allow(unused_imports)] // the benches use the catalogue; this harness only the ring steps
mod common;

use common::subjects::{single_core_ring, RingConsumer, RingProducer, CAPACITY_BYTES};
use common::Check;
use perf_ringbuf::{Reader, Writer};

/// Records per round: written, then drained.
const ROUND: u64 = 256;

/// What one run measures, built before the counting starts.
#[allow(clippy::large_enum_variant)] // one value, built once
enum Subject {
    Ring {
        writer: Writer,
        reader: Reader,
        producer: RingProducer,
        consumer: RingConsumer,
    },
    Rtrb(rtrb::Producer<u64>, rtrb::Consumer<u64>),
}

#[inline(never)]
fn measured(subject: &mut Subject, rounds: u64) -> u64 {
    match subject {
        Subject::Rtrb(p, c) => {
            let mut seq = 0u64;
            for _ in 0..rounds {
                for i in 0..ROUND {
                    p.push(std::hint::black_box(seq + i)).expect("room");
                }
                for _ in 0..ROUND {
                    let v = c.pop().expect("a value");
                    assert_eq!(v, seq, "rtrb out of sequence");
                    seq += 1;
                }
            }
            seq
        }
        Subject::Ring {
            writer,
            reader,
            producer,
            consumer,
        } => {
            for _ in 0..rounds {
                producer.produce(writer, ROUND);
                while consumer.seq < producer.seq {
                    consumer.drain_once(reader);
                }
            }
            consumer.seq
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: ring_instructions RECORD_BYTES write|batch|rtrb [ROUNDS]";
    let record: usize = args.get(1).and_then(|a| a.parse().ok()).expect(usage);
    let mode = args.get(2).expect(usage).clone();
    let rounds: u64 = args.get(3).map_or(64, |a| a.parse().expect(usage));
    let mut subject = match mode.as_str() {
        "rtrb" => {
            let (p, c) = rtrb::RingBuffer::<u64>::new(CAPACITY_BYTES / 8);
            Subject::Rtrb(p, c)
        }
        "write" | "batch" => {
            let (writer, reader) = single_core_ring();
            Subject::Ring {
                writer,
                reader,
                producer: RingProducer::new(record, mode == "batch"),
                consumer: RingConsumer::new(record, Check::Sequence),
            }
        }
        other => panic!("mode {other:?}: {usage}"),
    };
    let records = measured(&mut subject, rounds);
    assert_eq!(records, rounds * ROUND);
    println!("{records} records of {record} bytes, mode {mode}");
}
