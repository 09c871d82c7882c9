//! # ringwal
//!
//! A write-ahead log for Linux servers that ingest a lot and must not lose what they
//! acknowledged. Appenders frame and checksum records on their own threads; one
//! log-writer thread turns everything staged into one write and one sync (group
//! commit), and waiters block on a durable watermark that only moves forward,
//! contiguously. A portable driver (positioned writes + `fdatasync`) runs everywhere;
//! the io_uring driver is the Linux fast path.
//!
//! Async code waits without a thread per waiter and without a runtime dependency:
//! [`Wal::durable`] and [`SyncTicket`] are futures, [`Wal::append_async`] waits for room
//! by yielding, and a [`Tail`] ([`Wal::tail`]) follows the durable log as a
//! `futures_core::Stream` (or a blocking iterator). [`Wal::get`] reads one record by
//! LSN through a sparse index; [`Wal::close`] works through a shared `Arc<Wal>`.
//!
//! ```
//! use ringwal::{Lsn, Options, Wal};
//!
//! # fn main() -> ringwal::Result<()> {
//! # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
//! # let dir = tmp.path().join("wal");
//! let wal = Wal::open(&dir, Options::default().segment_bytes(4 << 20))?;
//! let lsn = wal.append(b"first")?;          // staged, not yet durable
//! wal.wait_durable(lsn)?;                   // one fdatasync serves every waiter
//! let lsn2 = wal.append_durable(b"second")?;
//! assert_eq!(lsn2, Lsn::from(2));
//! let records: Vec<_> = wal.read_from(Lsn::from(1))?.collect::<Result<_, _>>()?;
//! assert_eq!(records[1].payload(), b"second");
//! wal.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! Crash safety rules, the on-disk format and the recovery decision table are in
//! `docs/FORMAT.md` of the repository.

mod catalog;
mod cursor;
pub mod error;
pub mod format;
mod index;
mod io;
pub mod limits;
mod lock;
mod lsn;
pub mod options;
mod reader;
pub mod recovery;
mod retention;
#[cfg(feature = "sim")]
pub mod sim;
mod stats;
mod tail;
#[doc(hidden)]
pub mod test_support;
#[cfg(feature = "fault-injection")]
pub mod testing;
mod timer;
#[doc(hidden)]
pub mod truncation;
mod writer;

pub use error::{CorruptReason, Error, IoOp, Result, SegmentChange};
pub use lock::LogLock;
pub use lsn::Lsn;
pub use options::{Driver, Durability, FileAccess, Options, Preallocate, RecoveryMode};
pub use reader::{LogReader, Record, RecordIter};
pub use recovery::{RecoveryReport, Scan, SegmentInfo, TornTail};
pub use stats::{Percentiles, Stats};
pub use tail::Tail;
pub use writer::{AppendAsync, Durable, SyncTicket, Wal};

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Wal>();
};

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
