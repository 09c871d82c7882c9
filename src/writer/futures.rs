//! Waiting without a thread: futures for durability (`Wal::durable`, `SyncTicket`) and
//! for room in staging (`Wal::append_async`). They need no runtime: each registers its
//! task's `Waker` with the watermark (or staging) under its own LSN and is woken only
//! when that LSN is covered (or the buffer is taken), by the writer thread. Dropping
//! one unresolved removes its registration.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::Wal;
use super::staging::{Marked, Prepared};
use super::thread::Shared;
use super::watermark::{AsyncWait, Level};
use crate::Lsn;
use crate::error::{Error, Result};
use crate::options::Durability;

/// A pending `sync_async` request. Wait for it by blocking (`wait`, `wait_timeout`),
/// by polling (`is_done`) or by `.await` (it is a `Future`).
#[derive(Debug)]
pub struct SyncTicket {
    shared: Arc<Shared>,
    target: u64,
    /// When the target was read: a later cut (`Wal::truncate_from`) synced it.
    at: Marked,
    wait: AsyncWait,
}

impl Clone for SyncTicket {
    fn clone(&self) -> Self {
        // A clone waits on its own: it shares no waker registration.
        SyncTicket::new(Arc::clone(&self.shared), self.target, self.at)
    }
}

impl SyncTicket {
    pub(crate) fn new(shared: Arc<Shared>, target: u64, at: Marked) -> Self {
        SyncTicket {
            shared,
            target,
            at,
            wait: AsyncWait::new(target, Level::Synced, Some(at.cuts)),
        }
    }

    /// The LSN this ticket waits for.
    pub fn lsn(&self) -> Lsn {
        Lsn::new(self.target)
    }

    /// Blocks until everything up to the ticket's LSN is synced; returns the LSN now
    /// durable, at most the ticket's. Less only when a `truncate_from` made meanwhile
    /// removed records up to the ticket's LSN: the cut synced them first, which
    /// answers the wait, and then moved the durable LSN back below them.
    pub fn wait(&self) -> Result<Lsn> {
        self.shared
            .watermark
            .wait(self.target, Level::Synced, Some(self.at.cuts), None)?;
        let durable = self.shared.watermark.get(Level::Synced);
        Ok(Lsn::new(self.target.min(durable)))
    }

    /// Like `wait`, giving up after `timeout`: `Ok(false)` if it did not complete.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool> {
        self.shared.watermark.wait(
            self.target,
            Level::Synced,
            Some(self.at.cuts),
            Some(Instant::now() + timeout),
        )
    }

    /// Whether the sync has completed.
    pub fn is_done(&self) -> bool {
        self.shared.watermark.get(Level::Synced) >= self.target
            || self.shared.watermark.cuts_made() != self.at.cuts
    }
}

/// Resolves once everything up to the ticket's LSN is synced, or with the error that
/// poisoned the log (or `Closed`).
///
/// ```
/// # fn main() -> ringwal::Result<()> {
/// # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
/// let wal = ringwal::Wal::open(tmp.path().join("wal"), ringwal::Options::default())?;
/// wal.append(b"flushed by the ticket")?;
/// let ticket = wal.sync_async()?;
/// futures_executor::block_on(ticket)?; // or `.await` inside any executor
/// assert_eq!(wal.durable_lsn().get(), 1);
/// # Ok(())
/// # }
/// ```
impl Future for SyncTicket {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.shared.watermark.poll_wait(&mut this.wait, cx)
    }
}

impl Drop for SyncTicket {
    fn drop(&mut self) {
        self.shared.watermark.cancel(&mut self.wait);
    }
}

/// The future of [`Wal::durable`]: resolves once its LSN is acknowledged at the log's
/// durability (synced for `Fsync` and `Periodic`, written for `Flush`).
#[derive(Debug)]
#[must_use = "a future does nothing unless polled"]
pub struct Durable {
    shared: Arc<Shared>,
    wait: AsyncWait,
    /// An error known when the future was made (an LSN never appended).
    early: Option<Error>,
}

impl Future for Durable {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        if let Some(error) = this.early.take() {
            return Poll::Ready(Err(error));
        }
        this.shared.watermark.poll_wait(&mut this.wait, cx)
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        self.shared.watermark.cancel(&mut self.wait);
    }
}

/// The future of [`Wal::append_async`]: resolves to the record's LSN once it is
/// staged (not yet durable), waiting for room without blocking the executor.
#[derive(Debug)]
#[must_use = "a future does nothing unless polled"]
pub struct AppendAsync<'a> {
    wal: &'a Wal,
    record: Prepared<'a>,
    /// An error known when the future was made (a record over the limit).
    early: Option<Error>,
    /// Registration with staging while waiting for room.
    key: Option<u64>,
}

impl Future for AppendAsync<'_> {
    type Output = Result<Lsn>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Lsn>> {
        let this = self.get_mut();
        if let Some(error) = this.early.take() {
            return Poll::Ready(Err(error));
        }
        let shared = &this.wal.shared;
        shared
            .staging
            .poll_append(&[this.record], &mut this.key, cx, &shared.watermark)
            .map_ok(|staged| Lsn::new(staged.first))
    }
}

impl Drop for AppendAsync<'_> {
    fn drop(&mut self) {
        self.wal.shared.staging.cancel_append(&mut self.key);
    }
}

impl Wal {
    /// The level `wait_durable` and `durable` wait for at this log's durability.
    pub(crate) fn acknowledged_level(&self) -> Level {
        match self.options.durability {
            Durability::Flush => Level::Written,
            _ => Level::Synced,
        }
    }

    /// A future that resolves once `lsn` is acknowledged at the configured durability
    /// (as `wait_durable` would return, also when a `truncate_from` removes the
    /// record meanwhile), or with the error that poisoned the log. It
    /// owns what it needs (`Send + 'static`): spawn it, or await it in a handler; no
    /// thread is blocked while it waits.
    ///
    /// ```
    /// # fn main() -> ringwal::Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
    /// let wal = ringwal::Wal::open(tmp.path().join("wal"), ringwal::Options::default())?;
    /// let lsn = wal.append(b"answered once durable")?;
    /// let durable = wal.durable(lsn); // Send + 'static: can move into a spawned task
    /// futures_executor::block_on(durable)?;
    /// assert!(wal.durable_lsn() >= lsn);
    /// # Ok(())
    /// # }
    /// ```
    pub fn durable(&self, lsn: Lsn) -> Durable {
        // As `wait_durable`; an error is the future's answer when first polled.
        let (early, cuts_seen) = match self.waitable(lsn) {
            Ok(at) => (None, Some(at.cuts)),
            Err(e) => (Some(e), None),
        };
        Durable {
            shared: Arc::clone(&self.shared),
            wait: AsyncWait::new(lsn.get(), self.acknowledged_level(), cuts_seen),
            early,
        }
    }

    /// `append` for async code: when staging is full it waits for room by yielding to
    /// the executor (registering the task's waker), never by blocking the thread.
    /// Resolves to the record's LSN; await [`Wal::durable`] for its durability.
    ///
    /// ```
    /// # fn main() -> ringwal::Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
    /// let wal = ringwal::Wal::open(tmp.path().join("wal"), ringwal::Options::default())?;
    /// let lsn = futures_executor::block_on(async {
    ///     let lsn = wal.append_async(b"from a task").await?;
    ///     wal.durable(lsn).await?;
    ///     Ok::<_, ringwal::Error>(lsn)
    /// })?;
    /// assert_eq!(lsn.get(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn append_async<'a>(&'a self, payload: &'a [u8]) -> AppendAsync<'a> {
        AppendAsync {
            wal: self,
            record: Prepared::new(payload),
            early: self.check_record(payload).err(),
            key: None,
        }
    }
}

impl Wal {
    /// Follows the log from `lsn`: a [`crate::Tail`] that yields records in LSN order
    /// as they become durable (synced), across rotations, blocking (`Iterator`,
    /// `next_timeout`) or async (`futures_core::Stream`); `.written()` follows the
    /// written watermark instead. It owns what it needs (`Send + Unpin + 'static`).
    /// `lsn` may be at most one past the last record. A follower whose next LSN a
    /// checkpoint retired gets `Error::BelowCheckpoint` naming the first LSN still held
    /// (here, or from a later `next`), never a skip; a `truncate_from` below what it
    /// yielded gives it `Error::CutBelowTail`. The iterator ends once the log closed.
    ///
    /// ```
    /// # fn main() -> ringwal::Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
    /// let wal = std::sync::Arc::new(ringwal::Wal::open(tmp.path().join("wal"), ringwal::Options::default())?);
    /// let tail = wal.tail(1.into())?;
    /// let follower = std::thread::spawn(move || tail.take(3).map(|r| r.map(|r| r.lsn().get())).collect::<Result<Vec<_>, _>>());
    /// for payload in [b"a", b"b", b"c"] {
    ///     wal.append_durable(payload)?;
    /// }
    /// assert_eq!(follower.join().expect("follower")?, vec![1, 2, 3]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn tail(&self, lsn: Lsn) -> Result<crate::Tail> {
        self.check_open()?;
        let last = self.last_lsn().get();
        if lsn.get() > last + 1 {
            return Err(Error::InvalidArgument {
                what: "lsn",
                reason: format!("a tail from {lsn} starts past the next LSN {}", last + 1),
            });
        }
        let mut tail = crate::Tail::local(
            self.options.fs.clone(),
            self.dir.clone(),
            Arc::clone(&self.shared),
            lsn.get(),
        );
        tail.check_start()?;
        Ok(tail)
    }
}

impl Wal {
    /// The record at `lsn`, read straight from its segment: `Ok(None)` when no record
    /// with that LSN has been written (yet), `Error::BelowCheckpoint` when a checkpoint
    /// retired it. O(log n) in the log's size: a sparse index (see `crate::index`: one
    /// sample per 64 KiB of segment, 16 bytes each) finds a frame at most a stride
    /// before it, and one bounded read finds the record.
    ///
    /// ```
    /// # fn main() -> ringwal::Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
    /// let wal = ringwal::Wal::open(tmp.path().join("wal"), ringwal::Options::default())?;
    /// let lsn = wal.append_durable(b"look me up")?;
    /// assert_eq!(wal.get(lsn)?.expect("written").payload(), b"look me up");
    /// assert!(wal.get(lsn.next())?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn get(&self, lsn: Lsn) -> Result<Option<crate::Record>> {
        self.check_open()?;
        let lsn = lsn.get();
        // A read that races a cut (which steps the watermark back before it zeroes)
        // or a retirement is looked at again, once, against the log as it is then.
        let cuts = self.shared.watermark.cuts_made();
        match self.get_once(lsn) {
            Err(e) if self.shared.watermark.cuts_made() != cuts => {
                tracing::debug!(error = %e.chain(), lsn, "Wal::get raced a cut; reading again");
                self.get_once(lsn)
            }
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => {
                // Retired since the lookup: the directory names what is left.
                let end = self.shared.watermark.get(Level::Written);
                self.read_from_directory(lsn, end)?.next().transpose()
            }
            other => other,
        }
    }

    fn get_once(&self, lsn: u64) -> Result<Option<crate::Record>> {
        if lsn == 0 || lsn > self.shared.watermark.get(Level::Written) {
            return Ok(None);
        }
        let (place, first) = {
            let st = self.shared.staging.lock();
            (st.index.locate(lsn), st.index.first_lsn())
        };
        let Some(place) = place.filter(|_| first.is_some_and(|f| f <= lsn)) else {
            let checkpoint = self.checkpoint_lsn();
            return Err(Error::BelowCheckpoint {
                requested: Lsn::new(lsn),
                first_available: Lsn::new(first.unwrap_or(checkpoint.get() + 1)),
                checkpoint,
            });
        };
        crate::reader::read_at_place(&self.options.fs, &self.dir, place, lsn).map(Some)
    }
}
