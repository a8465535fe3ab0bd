//! The two rings the kernel maps itself: a perf ring (`perf_event_open(2)` of a software
//! dummy event, then `mmap`) and a BPF ringbuf (`bpf(2)` `BPF_MAP_CREATE` with
//! `BPF_MAP_TYPE_RINGBUF`, mapped as libbpf does). The perf_event_open use here is the
//! minimum for the probe and private to it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use perf_event_open_sys as sys;

use super::probe::{self, errno_name, RowProbes, Subject};
use super::{ms, Cell, Row, BPF_ROW, PERF_ROW};

const PAGE: usize = 4096;
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;

/// An mmap that is unmapped on drop.
struct Map(*mut libc::c_void, usize);

impl Map {
    fn new(len: usize, prot: libc::c_int, fd: &OwnedFd, offset: usize) -> io::Result<Map> {
        // SAFETY: a fresh shared mapping at a kernel-chosen address.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                offset as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            Ok(Map(p, len))
        }
    }

    fn addr(&self) -> usize {
        self.0 as usize
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: our own mapping; nothing uses it afterwards.
        unsafe { libc::munmap(self.0, self.1) };
    }
}

fn failed(name: &str, why: String) -> Row {
    Row {
        name: name.to_owned(),
        kind: "kernel",
        columns: None,
        notes: vec![why],
    }
}

fn open_dummy_event() -> io::Result<OwnedFd> {
    let mut attr = sys::bindings::perf_event_attr {
        type_: sys::bindings::PERF_TYPE_SOFTWARE,
        size: core::mem::size_of::<sys::bindings::perf_event_attr>() as u32,
        config: u64::from(sys::bindings::PERF_COUNT_SW_DUMMY),
        ..Default::default()
    };
    attr.set_disabled(1);
    attr.set_exclude_kernel(1);
    attr.set_exclude_hv(1);
    // SAFETY: `attr` is a valid perf_event_attr; pid 0 = this thread, any CPU, no group.
    let fd = unsafe {
        sys::perf_event_open(
            &mut attr,
            0,
            -1,
            -1,
            u64::from(sys::bindings::PERF_FLAG_FD_CLOEXEC) as _,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The real perf ring: `VM_PFNMAP`, filled by `remap_pfn_range` at mmap time (v6.14+).
pub(crate) fn perf_ring(pages: usize) -> Row {
    let fd = match open_dummy_event() {
        Ok(fd) => fd,
        Err(e) => return failed(PERF_ROW, format!("perf_event_open: {}", errno_name(&e))),
    };
    let len = (1 + pages) * PAGE;
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    let t = Instant::now();
    let map = match Map::new(len, rw, &fd, 0) {
        Ok(m) => m,
        Err(e) => {
            return failed(
                PERF_ROW,
                format!("mmap of 1+{pages} pages: {}", errno_name(&e)),
            )
        }
    };
    let map_time = t.elapsed();
    // perf_event_mmap_page::data_offset (byte 1040): read it, do not assume it.
    // SAFETY: the control page is mapped readable; the kernel wrote the field at mmap.
    let data_offset = unsafe { ((map.addr() + 1040) as *const u64).read_volatile() } as usize;
    let data_offset = if data_offset == 0 { PAGE } else { data_offset };
    let subject = Subject {
        ranges: vec![(map.addr(), len)],
        data: map.addr() + data_offset,
        data_len: pages * PAGE,
    };
    let child_map = || -> Option<usize> {
        // The child maps the inherited event fd itself (same size, as perf requires).
        Map::new(len, rw, &fd, 0).ok().map(|m| {
            let a = m.addr() + data_offset;
            std::mem::forget(m);
            a
        })
    };
    let refs = || {
        Cell::measured(format!(
            "none by design (VM_PFNMAP); {}",
            probe::kpagecount_text(subject.data)
        ))
        .with_key("pfnmap")
    };
    let columns = probe::columns(
        &subject,
        &RowProbes {
            map_time: ms(map_time),
            child_map: &child_map,
            page_refs: &refs,
            data_vma: (map.addr(), len),
            data_writable: true,
            refault_safe: false,
        },
    );
    Row {
        name: PERF_ROW.to_owned(),
        kind: "kernel",
        columns: Some(columns),
        notes: vec![format!(
            "software dummy event; mmap includes the kernel's page allocation (rb_alloc) and \
             remap_pfn_range of 1+{pages} pages; data_offset {data_offset}"
        )],
    }
}

/// The real BPF ringbuf: `VM_MIXEDMAP`, `vm_insert_page` per page, data mapped twice.
pub(crate) fn bpf_ringbuf(pages: usize) -> Row {
    let data_len = pages * PAGE;
    let Ok(max_entries) = u32::try_from(data_len) else {
        return failed(BPF_ROW, format!("{data_len} bytes do not fit max_entries"));
    };
    // union bpf_attr, BPF_MAP_CREATE part: map_type, key_size, value_size, max_entries.
    let mut attr = [0u8; 72];
    attr[0..4].copy_from_slice(&BPF_MAP_TYPE_RINGBUF.to_ne_bytes());
    attr[12..16].copy_from_slice(&max_entries.to_ne_bytes());
    let t = Instant::now();
    // SAFETY: `attr` is a zeroed bpf_attr prefix of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_CREATE,
            attr.as_mut_ptr(),
            attr.len() as u32,
        )
    };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return failed(
            BPF_ROW,
            format!(
                "bpf(BPF_MAP_CREATE ringbuf): {} (needs root)",
                errno_name(&e)
            ),
        );
    }
    let alloc_time = t.elapsed();
    // SAFETY: a fresh descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
    let ro_len = PAGE + 2 * data_len;
    let t = Instant::now();
    // As libbpf's ring_buffer__add: consumer page RW, then producer page + data twice RO.
    let cons = Map::new(PAGE, libc::PROT_READ | libc::PROT_WRITE, &fd, 0);
    let prod = Map::new(ro_len, libc::PROT_READ, &fd, PAGE);
    let map_time = t.elapsed();
    let (cons, prod) = match (cons, prod) {
        (Ok(c), Ok(p)) => (c, p),
        (Err(e), _) | (_, Err(e)) => return failed(BPF_ROW, format!("mmap: {}", errno_name(&e))),
    };
    let subject = Subject {
        ranges: vec![(cons.addr(), PAGE), (prod.addr(), ro_len)],
        data: prod.addr() + PAGE,
        data_len,
    };
    let child_map = || -> Option<usize> {
        Map::new(ro_len, libc::PROT_READ, &fd, PAGE).ok().map(|m| {
            let a = m.addr() + PAGE;
            std::mem::forget(m);
            a
        })
    };
    let refs = || Cell::measured(probe::kpagecount_text(subject.data)).with_key("kpagecount");
    let columns = probe::columns(
        &subject,
        &RowProbes {
            map_time: ms(map_time),
            child_map: &child_map,
            page_refs: &refs,
            data_vma: (prod.addr(), ro_len),
            data_writable: false,
            refault_safe: false,
        },
    );
    Row {
        name: BPF_ROW.to_owned(),
        kind: "kernel",
        columns: Some(columns),
        notes: vec![format!(
            "BPF_MAP_CREATE (page allocation) took {:.3} ms; time to map = consumer page + \
             producer page and data twice (1 + 1 + 2x{pages} PTEs)",
            alloc_time.as_secs_f64() * 1e3
        )],
    }
}
