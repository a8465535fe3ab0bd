//! A ring over anonymous memory the test can corrupt: the hostile producer or consumer.

use std::sync::Arc;

use memmap2::{MmapOptions, MmapRaw};
use perf_ringbuf::layout::{DATA_HEAD_OFFSET, DATA_TAIL_OFFSET};
use perf_ringbuf::{Reader, RecordHeader, RingRegion, Writer, WriterConfig};

/// The control page (4096 bytes) followed by a data area of `data_size` bytes.
pub struct RawRing {
    pub map: Arc<MmapRaw>,
    pub data_size: u64,
}

impl RawRing {
    /// The ring, its writer and its reader.
    pub fn new(data_size: u64) -> (RawRing, Writer, Reader) {
        let len = 4096 + data_size as usize;
        let map = Arc::new(MmapRaw::from(
            MmapOptions::new().len(len).map_anon().unwrap(),
        ));
        // SAFETY: the anonymous mapping is `len` bytes and outlives both sides via the
        // Arcs; the test thread is the only producer and consumer.
        let region = unsafe { RingRegion::new(map.as_mut_ptr(), len) }.unwrap();
        // SAFETY: the ring is new: its writer and reader are made below.
        let mem = unsafe { region.init_control(4096, data_size) }.unwrap();
        // SAFETY: the only writer and reader of this ring.
        let writer = unsafe { Writer::new(mem, WriterConfig::default(), None, map.clone()) };
        // SAFETY: as above.
        let reader = unsafe { Reader::new(mem, map.clone()) };
        (RawRing { map, data_size }, writer, reader)
    }

    /// A reader created now, from the control page as it is (the one `new` returned must
    /// be dropped first: a ring has one reader).
    pub fn new_reader(&self) -> Reader {
        let len = 4096 + self.data_size as usize;
        // SAFETY: as in `new`.
        let region = unsafe { RingRegion::new(self.map.as_mut_ptr(), len) }.unwrap();
        // SAFETY: the only reader of this ring.
        unsafe { Reader::new(region.memory().unwrap(), self.map.clone()) }
    }

    /// Writes `value` at byte `offset` of the mapping.
    pub fn poke_u64(&self, offset: usize, value: u64) {
        assert!(offset + 8 <= 4096 + self.data_size as usize);
        // SAFETY: in bounds of the mapping (checked above); single-threaded test.
        unsafe {
            self.map
                .as_mut_ptr()
                .add(offset)
                .cast::<u64>()
                .write_unaligned(value)
        }
    }

    pub fn set_head(&self, head: u64) {
        self.poke_u64(DATA_HEAD_OFFSET, head);
    }

    pub fn set_tail(&self, tail: u64) {
        self.poke_u64(DATA_TAIL_OFFSET, tail);
    }

    /// Overwrites the header of the record at free-running position `pos`.
    pub fn set_header(&self, pos: u64, record_type: u32, size: u16) {
        let h = RecordHeader {
            record_type,
            misc: 0,
            size,
        };
        self.poke_u64(4096 + (pos % self.data_size) as usize, h.to_u64());
    }
}
