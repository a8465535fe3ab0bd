//! An aligned heap buffer holding a ring, shared by the fuzz targets.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::sync::Arc;

use perf_ringbuf::RingRegion;

pub const CONTROL: usize = 4096;

/// Owns `len` zeroed bytes aligned to 4096.
pub struct Buf {
    ptr: *mut u8,
    layout: Layout,
}

// SAFETY: `Buf` is a plain owned allocation; access goes through raw pointers only.
unsafe impl Send for Buf {}
// SAFETY: as above.
unsafe impl Sync for Buf {}

impl Buf {
    pub fn new(len: usize) -> Arc<Buf> {
        let layout = Layout::from_size_align(len, 4096).expect("layout");
        // SAFETY: `layout` has a non-zero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Arc::new(Buf { ptr, layout })
    }

    pub fn region(&self) -> RingRegion {
        // SAFETY: `ptr` is `layout.size()` bytes, 4096-aligned, alive while the Arc is.
        unsafe { RingRegion::new(self.ptr, self.layout.size()) }.expect("region")
    }

    pub fn poke(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.layout.size());
        // SAFETY: in bounds (checked above); the fuzz target is single-threaded.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(offset), bytes.len()) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}
