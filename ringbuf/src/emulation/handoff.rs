//! Handing a buffer to a consumer in another process: the control and data memfds and the
//! wakeup eventfd travel over a Unix socket (`SCM_RIGHTS`, `unix(7)`), with the frame list
//! that says where each data page lives. The consumer maps them with the same guarantees
//! as a local mapping: the data memfd is sealed (`F_SEAL_FUTURE_WRITE`), so neither
//! `mprotect` nor a new `mmap` of the fd can make the data writable there.
//!
//! The socket stays open as the liveness link: either side dying closes it, which the
//! other sees as `POLLHUP`/`POLLRDHUP` — a state, never a hang. A producer that finishes
//! cleanly says so first ([`ConsumerLink::finish`]) with its exact record counts, so a
//! consumer can tell "finished, N records" from "died" and nothing is lost silently.

use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::buffer::{BackingSource, BufferInfo, BufferInner, BufferWatch, KernelBuffer, ScamemRef};
use super::error::EmulationError;
use super::mapping::{MapOptions, Mapping};
use super::pages::{contiguous_runs, Pfn, PhysMemory};
use super::sys::{self, page_size};
use crate::error::WriteError;
use crate::reader::ProducerStatus;
use crate::wakeup::WakeupFd;
use crate::writer::Writer;

const MAGIC: u64 = u64::from_le_bytes(*b"PRBHOFF1");
const VERSION: u32 = 1;
const HEADER_LEN: usize = 24;
const FLAG_HUGE_ALIGNED: u32 = 1;
const MSG_FINISHED: u32 = 0x464e_5348; // "HSNF"
const FINISHED_LEN: usize = 24;
const MAX_DATA_PAGES: usize = 1 << 24;
const HUGETLBFS_MAGIC: i64 = 0x9584_58f6;

/// Sends `buffer` to the consumer at the other end of `sock`. Returns the link through
/// which the producer watches the consumer and reports its end.
///
/// # Errors
///
/// The `sendmsg`/`write` error (EPIPE when the consumer is already gone).
pub fn send(buffer: &KernelBuffer, sock: UnixStream) -> io::Result<ConsumerLink> {
    let inner = &buffer.owner.0;
    let n = inner.data_pfns.len();
    let mut msg = Vec::with_capacity(HEADER_LEN + 4 * n);
    msg.extend_from_slice(&MAGIC.to_ne_bytes());
    msg.extend_from_slice(&VERSION.to_ne_bytes());
    msg.extend_from_slice(&(n as u32).to_ne_bytes());
    let flags = if inner.huge_aligned {
        FLAG_HUGE_ALIGNED
    } else {
        0
    };
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    for &pfn in inner.data_pfns.iter() {
        msg.extend_from_slice(&pfn.to_ne_bytes());
    }
    let wake = inner
        .wakeup
        .as_ref()
        .ok_or_else(|| io::Error::other("buffer has no wakeup eventfd"))?;
    let fds = [
        inner.phys.ctrl_fd.as_raw_fd(),
        inner.phys.data_fd.as_raw_fd(),
        wake.as_fd().as_raw_fd(),
    ];
    let sent = send_with_fds(&sock, &msg[..HEADER_LEN], &fds)?;
    (&sock).write_all(&msg[sent..])?;
    Ok(ConsumerLink { sock })
}

/// The producer's end of a handoff.
#[derive(Debug)]
pub struct ConsumerLink {
    sock: UnixStream,
}

impl ConsumerLink {
    /// False once the consumer closed its end (exited, crashed, or dropped its buffer).
    pub fn is_alive(&self) -> bool {
        !peer_hung_up(&self.sock)
    }

    /// Waits until `writer` has room for a record with a `payload_len`-byte payload, so
    /// that nothing is dropped: publishes pending records first (the reader cannot free
    /// what it cannot see), then spins briefly and naps, checking the consumer. `None`
    /// waits as long as the consumer lives.
    ///
    /// # Errors
    ///
    /// [`RoomError::ConsumerGone`] when the consumer hung up, [`RoomError::TimedOut`],
    /// or [`RoomError::Write`] for a record too large or an impossible `data_tail`.
    pub fn wait_for_room(
        &self,
        writer: &mut Writer,
        payload_len: usize,
        timeout: Option<Duration>,
    ) -> Result<(), RoomError> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut spins = 0u32;
        loop {
            if writer.has_room_for(payload_len).map_err(RoomError::Write)? {
                return Ok(());
            }
            writer.publish();
            spins = spins.wrapping_add(1);
            if spins < 256 {
                std::hint::spin_loop();
                continue;
            }
            if !self.is_alive() {
                return Err(RoomError::ConsumerGone);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(RoomError::TimedOut);
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// Tells the consumer the producer is done, with its exact counts: `records` written
    /// and `lost` dropped. Call after the writer's last publish (drop it first).
    ///
    /// # Errors
    ///
    /// The `write` error (EPIPE when the consumer is gone).
    pub fn finish(self, records: u64, lost: u64) -> io::Result<()> {
        let mut msg = [0u8; FINISHED_LEN];
        msg[..4].copy_from_slice(&MSG_FINISHED.to_ne_bytes());
        msg[8..16].copy_from_slice(&records.to_ne_bytes());
        msg[16..24].copy_from_slice(&lost.to_ne_bytes());
        (&self.sock).write_all(&msg)
    }
}

/// Why [`ConsumerLink::wait_for_room`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoomError {
    /// The consumer closed its end: nobody will ever free space.
    #[error("the consumer is gone")]
    ConsumerGone,
    /// The time limit passed with the ring still full.
    #[error("timed out waiting for the consumer to free space")]
    TimedOut,
    /// The record can never fit, or the consumer's `data_tail` is impossible.
    #[error(transparent)]
    Write(WriteError),
}

/// How the producer of a received buffer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerExit {
    /// Still connected.
    Running,
    /// It finished cleanly and reported its exact counts.
    Finished {
        /// Records it wrote.
        records: u64,
        /// Records it dropped (also reported in the ring as `PERF_RECORD_LOST`).
        lost: u64,
    },
    /// The connection closed without a finish message: the producer died. Everything it
    /// published is still in the ring; anything it had not published is gone.
    Died,
}

/// The consumer's view of the producer: the socket, read without blocking.
#[derive(Debug)]
pub struct ProducerLink {
    sock: UnixStream,
    state: Mutex<(ProducerExit, Vec<u8>)>,
}

impl ProducerLink {
    /// Polls the socket (never blocks) and returns the producer's state.
    pub fn exit(&self) -> ProducerExit {
        let Ok(mut st) = self.state.lock() else {
            return ProducerExit::Died;
        };
        if st.0 != ProducerExit::Running {
            return st.0;
        }
        let mut buf = [0u8; FINISHED_LEN];
        loop {
            let want = FINISHED_LEN - st.1.len();
            // SAFETY: `buf` has `want <= FINISHED_LEN` writable bytes.
            let r = unsafe {
                libc::recv(
                    self.sock.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    want,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                st.1.extend_from_slice(&buf[..r as usize]);
                if st.1.len() == FINISHED_LEN {
                    let m = &st.1;
                    let tag = u32::from_ne_bytes([m[0], m[1], m[2], m[3]]);
                    let word = |i: usize| {
                        let mut w = [0u8; 8];
                        w.copy_from_slice(&m[i..i + 8]);
                        u64::from_ne_bytes(w)
                    };
                    st.0 = if tag == MSG_FINISHED {
                        ProducerExit::Finished {
                            records: word(8),
                            lost: word(16),
                        }
                    } else {
                        ProducerExit::Died
                    };
                    return st.0;
                }
                continue;
            }
            if r == 0 {
                st.0 = ProducerExit::Died;
                return st.0;
            }
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => ProducerExit::Running,
                io::ErrorKind::Interrupted => continue,
                _ => {
                    st.0 = ProducerExit::Died;
                    st.0
                }
            };
        }
    }
}

impl ProducerStatus for ProducerLink {
    fn is_gone(&self) -> bool {
        self.exit() != ProducerExit::Running
    }
}

/// A buffer received from a producer in another process.
#[derive(Debug)]
pub struct RemoteBuffer {
    owner: ScamemRef,
    link: Arc<ProducerLink>,
}

/// What a consumer accepts from a producer in [`RemoteBuffer::receive_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveOptions {
    /// The longest the whole handoff may take, from the first byte to the last of the
    /// frame list (a total deadline: a peer trickling bytes cannot stretch it).
    pub timeout: Duration,
    /// The largest data area accepted, in bytes; larger buffers are refused before
    /// anything is mapped or the frame list is read. The default is what
    /// [`super::BufferConfig`] allows (2^24 pages).
    pub max_data_bytes: u64,
}

impl ReceiveOptions {
    /// A total deadline of `timeout` and the largest data area a producer can allocate.
    pub fn new(timeout: Duration) -> Self {
        ReceiveOptions {
            timeout,
            max_data_bytes: (MAX_DATA_PAGES * page_size()) as u64,
        }
    }

    /// Refuses data areas larger than `bytes`.
    pub fn max_data_bytes(mut self, bytes: u64) -> Self {
        self.max_data_bytes = bytes;
        self
    }
}

impl RemoteBuffer {
    /// Receives a buffer sent by [`send`] with a total deadline of `timeout` and the
    /// default limits: [`RemoteBuffer::receive_with`] with [`ReceiveOptions::new`].
    ///
    /// # Errors
    ///
    /// As [`RemoteBuffer::receive_with`].
    pub fn receive(sock: UnixStream, timeout: Duration) -> Result<RemoteBuffer, EmulationError> {
        Self::receive_with(sock, ReceiveOptions::new(timeout))
    }

    /// Receives a buffer sent by [`send`], validating everything the peer said and sent
    /// before anything is mapped: page count (against `options.max_data_bytes`), frame
    /// numbers, file sizes and seals (`F_SEAL_FUTURE_WRITE` and `F_SEAL_SHRINK` on the
    /// data: the consumer can never write it, the producer can never truncate it or punch
    /// holes in it under the consumer); that the data memfd is fully allocated
    /// (`st_blocks`: the producer paid for every page, so mapping it costs this process
    /// nothing; sealed, it cannot give pages back); and that the wakeup descriptor is an
    /// eventfd (see [`WakeupFd`] for how it is used so that the peer cannot block this
    /// side through it).
    ///
    /// # Errors
    ///
    /// [`EmulationError::BadHandoff`] for anything inconsistent or over the limits;
    /// [`EmulationError::Io`] if the socket fails, closes early, or the whole message has
    /// not arrived by `options.timeout` (`TimedOut`).
    pub fn receive_with(
        sock: UnixStream,
        options: ReceiveOptions,
    ) -> Result<RemoteBuffer, EmulationError> {
        let deadline = Instant::now() + options.timeout;
        let mut header = [0u8; HEADER_LEN];
        let (got, fds) =
            recv_with_fds(&sock, &mut header, deadline).map_err(EmulationError::io("recvmsg"))?;
        recv_exact(&sock, &mut header[got..], deadline)
            .map_err(EmulationError::io("read handoff header"))?;
        let bad = |s: String| EmulationError::BadHandoff(s);
        let [ctrl_fd, data_fd, wake_fd]: [OwnedFd; 3] = fds
            .try_into()
            .map_err(|v: Vec<OwnedFd>| bad(format!("expected 3 descriptors, got {}", v.len())))?;
        let word32 =
            |i: usize| u32::from_ne_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let magic = u64::from_ne_bytes(header[..8].try_into().unwrap_or([0; 8]));
        if magic != MAGIC || word32(8) != VERSION {
            return Err(bad(
                "not a perf-ringbuf buffer handoff (magic/version)".into()
            ));
        }
        let n = word32(12) as usize;
        if n == 0 || !n.is_power_of_two() || n > MAX_DATA_PAGES {
            return Err(bad(format!(
                "{n} data pages is not a power of two up to 2^24"
            )));
        }
        let data_bytes = (n * page_size()) as u64;
        if data_bytes > options.max_data_bytes {
            return Err(bad(format!(
                "a data area of {data_bytes} bytes is over the limit of {} bytes",
                options.max_data_bytes
            )));
        }
        let huge_aligned = word32(16) & FLAG_HUGE_ALIGNED != 0;
        let mut raw = vec![0u8; 4 * n];
        recv_exact(&sock, &mut raw, deadline).map_err(EmulationError::io("read frame list"))?;

        let (data_len, allocated) =
            crate::sys::allocation(data_fd.as_fd()).map_err(EmulationError::io("fstat data"))?;
        let frames = usize::try_from(data_len / page_size() as u64)
            .map_err(|_| bad("data memfd too large".into()))?;
        // Exactly the data pages: no hidden frames, no huge sparse file to keep records for.
        if frames != n || !data_len.is_multiple_of(page_size() as u64) {
            return Err(bad(format!(
                "data memfd of {data_len} bytes for {n} data pages"
            )));
        }
        let need = libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SHRINK;
        let seals = sys::seals(data_fd.as_fd()).map_err(EmulationError::io("F_GET_SEALS"))?;
        if seals & need != need {
            return Err(bad(format!(
                "data memfd seals {seals:#x} lack F_SEAL_FUTURE_WRITE|F_SEAL_SHRINK"
            )));
        }
        // Checked after the seals: F_SEAL_FUTURE_WRITE refuses FALLOC_FL_PUNCH_HOLE (and
        // MADV_REMOVE), so the pages counted now stay allocated.
        if allocated < data_len {
            return Err(bad(format!(
                "data memfd of {data_len} bytes has only {allocated} bytes allocated: \
                 mapping it would charge the rest to this process"
            )));
        }
        let ctrl_len =
            sys::file_len(ctrl_fd.as_fd()).map_err(EmulationError::io("fstat control"))?;
        let ctrl_seals = sys::seals(ctrl_fd.as_fd()).map_err(EmulationError::io("F_GET_SEALS"))?;
        if ctrl_len < page_size() as u64 || ctrl_seals & libc::F_SEAL_SHRINK == 0 {
            return Err(bad(
                "control memfd is smaller than a page or not sealed against shrinking".into(),
            ));
        }
        let wakeup = WakeupFd::from_owned(wake_fd).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidInput => bad(e.to_string()),
            _ => EmulationError::Io {
                what: "check the wakeup descriptor",
                source: e,
            },
        })?;
        let mut seen = vec![false; frames + 1];
        let mut pfns: Vec<Pfn> = Vec::with_capacity(n);
        for chunk in raw.chunks_exact(4) {
            let pfn = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let idx = pfn as usize;
            if idx == 0 || idx > frames || seen[idx] {
                return Err(bad(format!("frame {pfn} is out of range or repeated")));
            }
            seen[idx] = true;
            pfns.push(pfn);
        }
        let hugetlb = is_hugetlbfs(&data_fd);
        let info = BufferInfo {
            data_pages: n,
            data_size: (n * page_size()) as u64,
            contiguous_runs: contiguous_runs(&pfns).len(),
            source: if hugetlb {
                BackingSource::Hugetlb
            } else {
                BackingSource::Shmem
            },
            huge_fallback: Vec::new(),
            alloc_time: Duration::ZERO,
        };
        let link = Arc::new(ProducerLink {
            sock,
            state: Mutex::new((ProducerExit::Running, Vec::new())),
        });
        let status: Arc<dyn ProducerStatus> = link.clone();
        let inner = BufferInner::new_inner(
            PhysMemory::new(ctrl_fd, data_fd, frames),
            pfns.into_boxed_slice(),
            None,
            Some(wakeup),
            huge_aligned,
            info,
            Some(status),
        );
        Ok(RemoteBuffer {
            owner: ScamemRef::first(inner),
            link,
        })
    }

    /// Maps the received buffer (same strategies and guarantees as a local one).
    ///
    /// # Errors
    ///
    /// As [`KernelBuffer::map`].
    pub fn map(&self, options: MapOptions) -> Result<Mapping, EmulationError> {
        Mapping::new(&self.owner.0, options)
    }

    /// What was received.
    pub fn info(&self) -> &BufferInfo {
        &self.owner.0.info
    }

    /// The producer's state.
    pub fn producer(&self) -> ProducerExit {
        self.link.exit()
    }

    /// The local bookkeeping of this process's mappings.
    pub fn watch(&self) -> BufferWatch {
        BufferWatch(self.owner.0.clone())
    }

    /// The received wakeup eventfd (checked to be one when it was received).
    pub fn wakeup_fd(&self) -> Option<&WakeupFd> {
        self.owner.0.wakeup.as_ref()
    }

    /// The received data memfd (to show that it cannot be mapped writable).
    pub fn data_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.owner.0.phys.data_fd.as_fd()
    }
}

fn is_hugetlbfs(fd: &OwnedFd) -> bool {
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: `st` is valid and writable.
    let r = unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) };
    r == 0 && st.f_type as i64 == HUGETLBFS_MAGIC
}

/// True when the peer closed its end (`POLLHUP`/`POLLRDHUP`/`POLLERR`), without blocking.
fn peer_hung_up(sock: &UnixStream) -> bool {
    let mut pfd = libc::pollfd {
        fd: sock.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let r = unsafe { libc::poll(&mut pfd, 1, 0) };
    r > 0 && pfd.revents & (libc::POLLHUP | libc::POLLRDHUP | libc::POLLERR) != 0
}

/// `sendmsg` of `bytes` with `fds` attached (`SCM_RIGHTS`); returns bytes sent.
fn send_with_fds(sock: &UnixStream, bytes: &[u8], fds: &[RawFd]) -> io::Result<usize> {
    let fd_bytes = core::mem::size_of_val(fds);
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: bytes.as_ptr() as *mut libc::c_void,
        iov_len: bytes.len(),
    };
    // SAFETY: an all-zero msghdr is valid; fields are set below.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    // SAFETY: `msg` points at a control buffer of `space` bytes, enough for one cmsg with
    // `fds`; CMSG_FIRSTHDR/CMSG_DATA stay inside it.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as usize;
        core::ptr::copy_nonoverlapping(fds.as_ptr().cast::<u8>(), libc::CMSG_DATA(cmsg), fd_bytes);
    }
    loop {
        // SAFETY: `msg` and everything it points to are valid for the call.
        let r = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Waits until `sock` is readable or `deadline` passes (`TimedOut`).
fn readable_by(sock: &UnixStream, deadline: Instant) -> io::Result<()> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the handoff did not arrive in time",
            ));
        }
        // Rounded up to whole milliseconds, so that a sub-millisecond rest does not spin.
        let step = left.max(Duration::from_millis(1));
        if crate::sys::poll_one(sock.as_fd(), libc::POLLIN, Some(step))? != 0 {
            return Ok(());
        }
    }
}

/// Fills `buf` from `sock` by `deadline`: every wait is bounded by what is left of the
/// one deadline, so a peer that trickles bytes cannot stretch it. `recv(MSG_DONTWAIT)`
/// after each poll never blocks, whatever the socket's flags.
fn recv_exact(sock: &UnixStream, buf: &mut [u8], deadline: Instant) -> io::Result<()> {
    let mut at = 0;
    while at < buf.len() {
        readable_by(sock, deadline)?;
        let rest = &mut buf[at..];
        // SAFETY: `rest` is `rest.len()` writable bytes.
        let r = unsafe {
            libc::recv(
                sock.as_raw_fd(),
                rest.as_mut_ptr().cast(),
                rest.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if r > 0 {
            at += r as usize;
            continue;
        }
        if r == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let e = io::Error::last_os_error();
        if !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return Err(e);
        }
    }
    Ok(())
}

/// `recvmsg` into `buf` by `deadline`, taking ownership of any descriptors that came
/// with it.
fn recv_with_fds(
    sock: &UnixStream,
    buf: &mut [u8],
    deadline: Instant,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    const MAX_FDS: usize = 8;
    // SAFETY: CMSG_SPACE is arithmetic.
    let space = unsafe { libc::CMSG_SPACE((MAX_FDS * 4) as u32) } as usize;
    let mut control = vec![0u64; space.div_ceil(8)];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is valid; fields are set below.
    let mut msg: libc::msghdr = unsafe { core::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space;
    let got = loop {
        readable_by(sock, deadline)?;
        // SAFETY: `msg` describes valid buffers for the call.
        let r = unsafe {
            libc::recvmsg(
                sock.as_raw_fd(),
                &mut msg,
                libc::MSG_CMSG_CLOEXEC | libc::MSG_DONTWAIT,
            )
        };
        if r >= 0 {
            break r as usize;
        }
        let e = io::Error::last_os_error();
        if !matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ) {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: the kernel filled `msg_controllen` bytes of `control`; CMSG_FIRSTHDR and
    // CMSG_NXTHDR walk only inside them, and every SCM_RIGHTS descriptor is new and ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let header = libc::CMSG_LEN(0) as usize;
                let count = ((*cmsg).cmsg_len as usize).saturating_sub(header) / 4;
                for i in 0..count {
                    let fd = data.add(i * 4).cast::<RawFd>().read_unaligned();
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(io::Error::other("descriptors were truncated (MSG_CTRUNC)"));
    }
    if got == 0 {
        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
    }
    Ok((got, fds))
}
