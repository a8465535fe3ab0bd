//! Mapping subjects: the time to map a ring of 1 + 2^n pages, and the minor faults of the
//! first full read pass over it, for each emulation strategy (`PfnMap`, `InsertPages`,
//! `Fault`; scattered and contiguous pages), the two rings the kernel maps itself (a perf
//! ring of a software event, a BPF ringbuf) and the baseline: one `MAP_POPULATE` mmap of
//! the same pages (the emulated buffer's data memfd).
//!
//! Shared by the criterion bench (`benches/mapping.rs`) and the `mapping` group of the
//! comparison table, so that both time exactly the same code.
//!
//! What each sample times:
//!
//! * emulated `PfnMap` / `InsertPages`: `KernelBuffer::map` (reservation, mmaps, madvise,
//!   bookkeeping). The buffer (page allocation, the "kernel's" part) is made once per size.
//! * emulated `Fault`: `KernelBuffer::map` plus the first read pass, which is where this
//!   strategy pays for its pages.
//! * perf ring: the `mmap` of 1 + 2^n pages of a fresh software dummy event. The kernel
//!   allocates the ring (`rb_alloc`) inside that first mmap, so the time includes the
//!   allocation; `perf_event_open` itself is not timed.
//! * BPF ringbuf: `BPF_MAP_CREATE` (allocation and the kernel's own vmap of the pages) and,
//!   timed separately, the two mmaps libbpf makes (consumer page read-write, then producer
//!   page plus the data twice read-only).
//! * the same memfd, `MAP_POPULATE`: one `mmap(PROT_READ, MAP_SHARED | MAP_POPULATE)` of
//!   the contiguous emulated buffer's data memfd — the very pages the emulated rows map,
//!   2^n of them (the control page lives in its own memfd).
//!
//! Every sample then reads one byte of every mapped page (the first full pass) and counts
//! the thread's minor faults during that pass (`getrusage(RUSAGE_THREAD)`), checks what it
//! read, and unmaps untimed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use perf_ringbuf::emulation::{
    BufferConfig, FaultMode, KernelBuffer, MapOptions, PageLayout, Strategy,
};
use perf_ringbuf_tools::mm as sys;

use super::subjects::Role;

/// The base page size.
pub const PAGE: usize = 4096;
/// The largest ring: 1 + 2^14 pages (64 MiB of data), the size the targets are held at.
pub const MAX_ORDER: u32 = 14;
/// `perf_event_header::type` of the marker record the emulated producer writes.
const MARKER_TYPE: u32 = 9;
const MARKER: &[u8; 8] = b"marker!!";

/// What is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// An emulated kernel buffer mapped with `strategy`.
    Emulated {
        /// The mapping strategy.
        strategy: Strategy,
        /// Contiguous pages (one VMA for the data) or scattered (one VMA per page).
        contiguous: bool,
    },
    /// `perf_event_open` of a software dummy event, then `mmap` of 1 + 2^n pages.
    PerfRing,
    /// `BPF_MAP_TYPE_RINGBUF`: the two mmaps libbpf makes (creation reported apart).
    BpfRingbuf,
    /// One `MAP_POPULATE` mmap of the emulated buffer's data memfd (2^n pages).
    MemfdPopulate,
}

/// One row of the mapping group.
#[derive(Debug, Clone, Copy)]
pub struct MapSpec {
    /// Unique name.
    pub name: &'static str,
    /// What runs.
    pub kind: MapKind,
    /// Ours, peer, or limit (the baseline).
    pub role: Role,
    /// The sample's second time (`BPF_MAP_CREATE`) under its own row name.
    pub create_name: Option<&'static str>,
}

/// The row names the targets refer to.
pub const PFNMAP_CONTIGUOUS: &str = "PfnMap, contiguous";
pub const PFNMAP_SCATTERED: &str = "PfnMap, scattered";
pub const MEMFD_POPULATE: &str = "same memfd, one MAP_POPULATE mmap";
pub const BPF_MMAP: &str = "BPF ringbuf mmap";
pub const BPF_CREATE: &str = "BPF ringbuf BPF_MAP_CREATE";
pub const PERF_RING: &str = "perf ring mmap (incl. rb_alloc)";

/// Every mapping subject, in report order.
pub fn map_catalogue() -> Vec<MapSpec> {
    let emulated = |name, strategy, contiguous| MapSpec {
        name,
        kind: MapKind::Emulated {
            strategy,
            contiguous,
        },
        role: Role::Ours,
        create_name: None,
    };
    vec![
        emulated(PFNMAP_CONTIGUOUS, Strategy::PfnMap, true),
        emulated("InsertPages, contiguous", Strategy::InsertPages, true),
        emulated(
            "Fault (map + first pass), contiguous",
            Strategy::Fault,
            true,
        ),
        emulated(PFNMAP_SCATTERED, Strategy::PfnMap, false),
        emulated("InsertPages, scattered", Strategy::InsertPages, false),
        emulated(
            "Fault (map + first pass), scattered",
            Strategy::Fault,
            false,
        ),
        MapSpec {
            name: PERF_RING,
            kind: MapKind::PerfRing,
            role: Role::Peer,
            create_name: None,
        },
        MapSpec {
            name: BPF_MMAP,
            kind: MapKind::BpfRingbuf,
            role: Role::Peer,
            create_name: Some(BPF_CREATE),
        },
        MapSpec {
            name: MEMFD_POPULATE,
            kind: MapKind::MemfdPopulate,
            role: Role::Limit,
            create_name: None,
        },
    ]
}

/// One timed mapping.
#[derive(Debug, Clone, Copy)]
pub struct MapSample {
    /// The timed part (see the module documentation).
    pub time: Duration,
    /// `BPF_MAP_CREATE`, for the BPF ringbuf.
    pub create: Option<Duration>,
    /// Minor faults the first full read pass took.
    pub first_pass_faults: u64,
}

/// A subject at one size, with what it keeps between samples.
#[derive(Debug)]
pub struct MapSubject {
    /// What it is.
    pub spec: MapSpec,
    /// Data pages (2^n); the mapping is 1 + 2^n pages.
    pub data_pages: usize,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Shared by the strategies of one layout (a scattered buffer's producer view alone
    /// takes one VMA per page).
    Buffer(Rc<KernelBuffer>),
    /// The contiguous buffer, whose data memfd is mapped in one call.
    Memfd(Rc<KernelBuffer>),
    Kernel,
}

/// A mapping made with `mmap(2)` at a kernel-chosen address; unmapped on drop.
struct Mmap(*mut libc::c_void, usize);

impl Mmap {
    fn new(
        len: usize,
        prot: libc::c_int,
        flags: libc::c_int,
        fd: BorrowedFd<'_>,
        offset: usize,
    ) -> io::Result<Mmap> {
        let off = libc::off_t::try_from(offset).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: a fresh mapping at an address the kernel picks; nothing else is touched.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, flags, fd.as_raw_fd(), off) };
        if p == libc::MAP_FAILED {
            Err(io::Error::last_os_error())
        } else {
            Ok(Mmap(p, len))
        }
    }

    fn ptr(&self) -> *const u8 {
        self.0.cast()
    }

    /// The first full read pass: one byte of every page, and the minor faults it took.
    fn first_pass(&self) -> u64 {
        first_pass(self.ptr(), self.1)
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: our own mapping; nothing refers to it afterwards.
        unsafe { libc::munmap(self.0, self.1) };
    }
}

/// Reads one byte of every page of a readable range; returns the minor faults taken.
fn first_pass(ptr: *const u8, len: usize) -> u64 {
    let before = sys::thread_minor_faults();
    // SAFETY: every caller passes a range it has just mapped readable.
    std::hint::black_box(unsafe { sys::touch_pages(ptr, len) });
    sys::thread_minor_faults() - before
}

fn perf_event_open_dummy() -> io::Result<OwnedFd> {
    // struct perf_event_attr (PERF_ATTR_SIZE_VER7, 128 bytes): type at 0, size at 4,
    // config at 8, the flag bits at 40 (disabled = bit 0, exclude_kernel = 5,
    // exclude_hv = 6).
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE
    attr[4..8].copy_from_slice(&128u32.to_ne_bytes());
    attr[8..16].copy_from_slice(&9u64.to_ne_bytes()); // PERF_COUNT_SW_DUMMY
    attr[40..48].copy_from_slice(&(1u64 | 1 << 5 | 1 << 6).to_ne_bytes());
    // SAFETY: `attr` is a valid perf_event_attr of the size it declares; pid 0 = this
    // thread, any CPU, no group, PERF_FLAG_FD_CLOEXEC (8).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            attr.as_ptr(),
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            8 as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn bpf_ringbuf_create(data_len: usize) -> io::Result<OwnedFd> {
    let max_entries = u32::try_from(data_len).map_err(|_| io::ErrorKind::InvalidInput)?;
    // union bpf_attr, BPF_MAP_CREATE part: map_type (BPF_MAP_TYPE_RINGBUF = 27) at 0,
    // key_size 4, value_size 8, max_entries 12; the rest zero.
    let mut attr = [0u8; 72];
    attr[0..4].copy_from_slice(&27u32.to_ne_bytes());
    attr[12..16].copy_from_slice(&max_entries.to_ne_bytes());
    // SAFETY: `attr` is a zeroed bpf_attr prefix of the size passed; BPF_MAP_CREATE = 0.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            0 as libc::c_long,
            attr.as_mut_ptr(),
            attr.len() as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

fn err(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

impl MapSubject {
    /// Prepares every subject of `specs` at 2^`order` data pages: one emulated buffer per
    /// layout (with a marker record written by its producer), shared by the strategies,
    /// and the baseline's memfd, made once.
    ///
    /// # Errors
    ///
    /// Per subject: the allocation failed.
    pub fn prepare(specs: &[MapSpec], order: u32) -> Vec<(MapSpec, io::Result<MapSubject>)> {
        let data_pages = 1usize << order;
        let mut buffers: [Option<Rc<KernelBuffer>>; 2] = [None, None];
        specs
            .iter()
            .map(|&spec| {
                let state = match spec.kind {
                    MapKind::Emulated { contiguous, .. } => {
                        let slot = &mut buffers[usize::from(contiguous)];
                        match slot {
                            Some(b) => Ok(State::Buffer(b.clone())),
                            None => emulated_buffer(data_pages, contiguous).map(|b| {
                                let b = Rc::new(b);
                                *slot = Some(b.clone());
                                State::Buffer(b)
                            }),
                        }
                    }
                    MapKind::MemfdPopulate => {
                        let slot = &mut buffers[1];
                        match slot {
                            Some(b) => Ok(State::Memfd(b.clone())),
                            None => emulated_buffer(data_pages, true).map(|b| {
                                let b = Rc::new(b);
                                *slot = Some(b.clone());
                                State::Memfd(b)
                            }),
                        }
                    }
                    MapKind::PerfRing | MapKind::BpfRingbuf => Ok(State::Kernel),
                };
                let subject = state.map(|state| MapSubject {
                    spec,
                    data_pages,
                    state,
                });
                (spec, subject)
            })
            .collect()
    }

    /// Maps once, untimed, and checks that what the mapping shows is the ring: the marker
    /// record, the perf control page's `data_size`, the baseline's pattern. Returns a
    /// note for the report (the fault mode of `Fault`).
    ///
    /// # Errors
    ///
    /// The kernel refused (perf_event_open, bpf: EACCES, EPERM, ENOENT), or the mapping
    /// shows something else.
    pub fn verify(&mut self) -> io::Result<Option<String>> {
        let mut note = None;
        self.sample_with(|mapped| {
            match mapped {
                Mapped::Emulated(m) => {
                    // SAFETY: the first record (8-byte header, then the payload) is in
                    // the first data page, mapped readable.
                    let payload = unsafe { std::slice::from_raw_parts(m.data_ptr().add(8), 8) };
                    if payload != MARKER {
                        return Err(err("emulated mapping", "marker record not found"));
                    }
                    note = m.fault_mode().map(|f| match f {
                        FaultMode::Userfaultfd { .. } => "faults served by userfaultfd".into(),
                        FaultMode::KernelLazy { reason } => {
                            format!("kernel lazy faults ({reason})")
                        }
                    });
                }
                Mapped::Perf(m, data_pages) => {
                    // SAFETY: the control page is mapped readable; data_size is at 1048.
                    let size = unsafe { m.ptr().add(1048).cast::<u64>().read_volatile() };
                    if size != (data_pages * PAGE) as u64 {
                        return Err(err("perf ring", format!("data_size {size}")));
                    }
                }
                Mapped::Bpf(_, prod) => {
                    // SAFETY: the producer page is mapped readable; producer_pos at 0.
                    let pos = unsafe { prod.ptr().cast::<u64>().read_volatile() };
                    if pos != 0 {
                        return Err(err("BPF ringbuf", format!("producer_pos {pos}")));
                    }
                }
                Mapped::Memfd(m) => {
                    // SAFETY: the data memfd's first page holds the marker record and is
                    // mapped readable.
                    let payload = unsafe { std::slice::from_raw_parts(m.ptr().add(8), 8) };
                    if payload != MARKER {
                        return Err(err("data memfd", "marker record not found"));
                    }
                }
            }
            Ok(())
        })?;
        Ok(note)
    }

    /// One timed mapping, its first pass and its unmapping (untimed).
    ///
    /// # Errors
    ///
    /// A system call failed.
    pub fn sample(&mut self) -> io::Result<MapSample> {
        self.sample_with(|_| Ok(()))
    }

    fn sample_with(
        &mut self,
        check: impl FnOnce(&Mapped) -> io::Result<()>,
    ) -> io::Result<MapSample> {
        let data_len = self.data_pages * PAGE;
        let ring_len = PAGE + data_len;
        let ro = libc::PROT_READ;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let mut create = None;
        let (time, first_pass_faults, mapped) = match (&self.state, self.spec.kind) {
            (State::Buffer(buffer), MapKind::Emulated { strategy, .. }) => {
                let t = Instant::now();
                let m = buffer
                    .map(MapOptions::new(strategy))
                    .map_err(|e| err("map", e))?;
                if strategy == Strategy::Fault {
                    let faults = first_pass(m.control_ptr(), m.len());
                    (t.elapsed(), faults, Mapped::Emulated(m))
                } else {
                    let time = t.elapsed();
                    (
                        time,
                        first_pass(m.control_ptr(), m.len()),
                        Mapped::Emulated(m),
                    )
                }
            }
            (State::Memfd(buffer), _) => {
                let fd = buffer.data_fd();
                let t = Instant::now();
                let m = Mmap::new(data_len, ro, libc::MAP_SHARED | libc::MAP_POPULATE, fd, 0)?;
                let time = t.elapsed();
                (time, m.first_pass(), Mapped::Memfd(m))
            }
            (State::Kernel, MapKind::PerfRing) => {
                let fd = perf_event_open_dummy().map_err(|e| err("perf_event_open", e))?;
                let t = Instant::now();
                let m = Mmap::new(ring_len, rw, libc::MAP_SHARED, fd.as_fd(), 0)
                    .map_err(|e| err("perf mmap", e))?;
                let time = t.elapsed();
                (time, m.first_pass(), Mapped::Perf(m, self.data_pages))
            }
            (State::Kernel, MapKind::BpfRingbuf) => {
                let t = Instant::now();
                let fd = bpf_ringbuf_create(data_len).map_err(|e| err("BPF_MAP_CREATE", e))?;
                create = Some(t.elapsed());
                let t = Instant::now();
                // As libbpf's ring_buffer__add: consumer page read-write, then the
                // producer page and the data twice, read-only.
                let cons = Mmap::new(PAGE, rw, libc::MAP_SHARED, fd.as_fd(), 0)?;
                let prod = Mmap::new(PAGE + 2 * data_len, ro, libc::MAP_SHARED, fd.as_fd(), PAGE)?;
                let time = t.elapsed();
                let faults = cons.first_pass() + prod.first_pass();
                (time, faults, Mapped::Bpf(cons, prod))
            }
            _ => unreachable!("state made for the kind"),
        };
        check(&mapped)?;
        drop(mapped);
        Ok(MapSample {
            time,
            create,
            first_pass_faults,
        })
    }
}

/// An emulated buffer of `data_pages` pages whose producer wrote the marker record.
fn emulated_buffer(data_pages: usize, contiguous: bool) -> io::Result<KernelBuffer> {
    let layout = if contiguous {
        PageLayout::Contiguous
    } else {
        PageLayout::Scattered { seed: 1 }
    };
    let buffer = KernelBuffer::new(BufferConfig {
        data_pages,
        layout,
        huge_pages: false,
    })
    .map_err(|e| err("KernelBuffer::new", e))?;
    let mut writer = buffer
        .writer(Default::default())
        .map_err(|e| err("writer", e))?;
    writer
        .write(MARKER_TYPE, 0, MARKER)
        .map_err(|e| err("write", e))?;
    Ok(buffer)
}

/// A live mapping of one sample, unmapped on drop.
enum Mapped {
    Emulated(perf_ringbuf::emulation::Mapping),
    Perf(Mmap, usize),
    Bpf(#[allow(dead_code)] Mmap, Mmap),
    Memfd(Mmap),
}
