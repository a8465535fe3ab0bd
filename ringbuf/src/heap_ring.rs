//! An in-process ring over an anonymous mapping: the protocol on its own, no kernel.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::LayoutError;
use crate::reader::{ProducerStatus, Reader};
use crate::region::anonymous_ring;
use crate::wakeup::{WakeupFd, WakeupPolicy};
use crate::writer::{WriteMode, Writer, WriterConfig};

/// Creating a ring failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    /// The requested layout is invalid.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A system call failed (mmap, eventfd).
    #[error("{what}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The error.
        source: io::Error,
    },
}

/// A ring in this process: one control page and a power-of-two data area in an anonymous
/// mapping, shared by a [`Writer`] and a [`Reader`] that may live on different threads.
///
/// ```
/// use perf_ringbuf::Ring;
///
/// let (mut writer, mut reader) = Ring::with_data_size(4096).unwrap();
/// writer.write(9, 0, b"hello").unwrap();
/// let mut drain = reader.drain().unwrap();
/// let record = drain.next().unwrap().unwrap();
/// assert_eq!(record.header.record_type, 9);
/// assert_eq!(&record.payload().parts().0[..5], b"hello");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Ring {
    data_size: u64,
    config: WriterConfig,
    wakeup: bool,
}

impl Ring {
    /// A forward ring with `data_size` bytes of data (a power of two), half-buffer wakeups
    /// through an eventfd.
    ///
    /// # Errors
    ///
    /// [`RingError::Layout`] if `data_size` is not a power of two of at least 8;
    /// [`RingError::Io`] if the mapping or eventfd cannot be made.
    pub fn with_data_size(data_size: u64) -> Result<(Writer, Reader), RingError> {
        Ring::builder(data_size).build()
    }

    /// A builder for other settings.
    pub fn builder(data_size: u64) -> Ring {
        Ring {
            data_size,
            config: WriterConfig::default(),
            wakeup: true,
        }
    }

    /// Forward (default) or overwrite.
    pub fn mode(mut self, mode: WriteMode) -> Self {
        self.config.mode = mode;
        self
    }

    /// When the writer signals the reader's eventfd.
    pub fn wakeup_policy(mut self, policy: WakeupPolicy) -> Self {
        self.config.wakeup = policy;
        self
    }

    /// Whether to create an eventfd at all (without one, [`Reader::wait`] naps).
    pub fn wakeup_fd(mut self, enabled: bool) -> Self {
        self.wakeup = enabled;
        self
    }

    /// The `id` written into `PERF_RECORD_LOST` records.
    pub fn lost_id(mut self, id: u64) -> Self {
        self.config.lost_id = id;
        self
    }

    /// Allocates the ring.
    ///
    /// # Errors
    ///
    /// As [`Ring::with_data_size`].
    pub fn build(self) -> Result<(Writer, Reader), RingError> {
        if self.data_size < 8 || !self.data_size.is_power_of_two() {
            return Err(LayoutError::DataSizeNotPowerOfTwo(self.data_size).into());
        }
        let (producer, consumer) = anonymous_ring(self.data_size)?;
        let fd = if self.wakeup {
            Some(WakeupFd::new().map_err(|source| RingError::Io {
                what: "eventfd",
                source,
            })?)
        } else {
            None
        };
        let shared = Arc::new(Shared {
            gone: AtomicBool::new(false),
            unreported_lost: AtomicU64::new(0),
            fd: fd.clone(),
        });
        let token = Arc::new(WriterToken {
            shared: shared.clone(),
        });
        let mut writer = Writer::from_producer(producer, self.config, fd.clone()).keeping(token);
        let sink = shared.clone();
        writer.on_close(move |lost| {
            // ATOMICS: Relaxed; published by the Release store of `gone` that follows when
            // the writer's token drops, and read after the Acquire load in `is_gone`.
            sink.unreported_lost.store(lost, Ordering::Relaxed);
        });
        let mut reader = Reader::from_consumer(consumer).with_producer_status(shared);
        if self.config.mode == WriteMode::Overwrite {
            reader = reader.with_writer_seqlock();
        }
        if let Some(fd) = fd {
            reader = reader.with_wakeup(fd);
        }
        Ok((writer, reader))
    }
}

/// What the writer and reader of an in-process ring share besides the memory.
#[derive(Debug)]
struct Shared {
    gone: AtomicBool,
    unreported_lost: AtomicU64,
    fd: Option<WakeupFd>,
}

impl ProducerStatus for Shared {
    fn is_gone(&self) -> bool {
        // ATOMICS: Acquire pairs with the Release store in `WriterToken::drop`, which
        // follows the writer's last `data_head` store.
        self.gone.load(Ordering::Acquire)
    }

    fn unreported_lost(&self) -> u64 {
        // ATOMICS: Relaxed; ordered by the Acquire load of `gone` that returned true.
        self.unreported_lost.load(Ordering::Relaxed)
    }
}

/// Held by the writer alone: dropping it (after the writer's final flush) tells the reader.
#[derive(Debug)]
struct WriterToken {
    shared: Arc<Shared>,
}

impl Drop for WriterToken {
    fn drop(&mut self) {
        // ATOMICS: Release pairs with `Shared::is_gone`.
        self.shared.gone.store(true, Ordering::Release);
        if let Some(fd) = &self.shared.fd {
            // Wake a sleeping reader; if this fails its bounded wait still sees the flag.
            let _ = fd.signal();
        }
    }
}
