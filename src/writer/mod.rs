//! The `Wal` handle: appends go into staging on the caller's thread; one log-writer
//! thread turns what is staged into writes and syncs; waiters block on the watermark.

pub(crate) mod futures;
pub(crate) mod segments;
pub(crate) mod spares;
pub(crate) mod staging;
pub(crate) mod thread;
pub(crate) mod watermark;

#[cfg(test)]
mod cut_races;

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crate::Lsn;
use crate::error::{Error, IoOp, Result};
use crate::format::names::TMP_SUFFIX;
use crate::io::{self, Fs, SegmentFile};
use crate::lock::DirLock;
use crate::options::{Driver, Options};
use crate::reader::RecordIter;
use crate::recovery::{self, RecoveryReport};
use crate::retention::{self, Retention};
use crate::stats::{FlushStats, Stats};
pub use futures::{AppendAsync, Durable, SyncTicket};
use segments::{Preparer, SegmentSpec};
use staging::{Marked, Padding, Prepared, Staged, Staging, Start};
use thread::{LogWriter, Shared};
use watermark::{Level, Watermark};

/// A write-ahead log. `Send + Sync`: share one `&Wal` or `Arc<Wal>` among threads.
///
/// After a write or sync fails the log is poisoned: every call that reads or changes
/// it (appends, waits, syncs, `read_from`, `checkpoint`, `truncate_from`, `close`)
/// returns `Error::Poisoned` carrying the first failure, and nothing on disk changes
/// any more. Reopening runs recovery.
#[derive(Debug)]
pub struct Wal {
    shared: Arc<Shared>,
    dir: PathBuf,
    options: Options,
    driver: Driver,
    /// Whether the driver commits with direct writes (`Options::direct_io`).
    direct_io: bool,
    report: RecoveryReport,
    retention: Retention,
    /// Serialises checkpoints and truncations.
    checkpoint: Mutex<Checkpoint>,
    /// The writer thread and the directory lock until the log is closed, then the
    /// outcome of that close (`None`: clean), for later `close` calls.
    running: Mutex<Running>,
}

/// The checkpoint as persisted, and the highest one a write was attempted for (a
/// failed write may still have left it on disk).
#[derive(Debug, Clone, Copy)]
struct Checkpoint {
    persisted: u64,
    attempted: u64,
}

fn remove_leftover_tmp_files(fs: &Fs, dir: &Path) -> Result<()> {
    let entries = fs.list(dir).map_err(|e| Error::io(IoOp::Open, dir, e))?;
    for (name, path) in entries {
        if name.to_string_lossy().ends_with(TMP_SUFFIX) {
            fs.remove_file(&path)
                .map_err(|e| Error::io(IoOp::Remove, &path, e))?;
        }
    }
    Ok(())
}

/// Warns once when others than the owner (and group) may read the log: it holds
/// every payload the application logged.
fn warn_if_open_to_others(fs: &Fs, dir: &Path) {
    if let Some(path) = fs.first_open_to_others(dir) {
        tracing::warn!(
            dir = %dir.display(),
            example = %path.display(),
            "files of this ringwal log can be read by other users; \
             `chmod -R go-rwx` it (or o-rwx with Options::file_access(OwnerAndGroup))"
        );
    }
}

/// Finishes a retirement a crash interrupted: sealed segments wholly checkpointed
/// leave the catalog.
fn finish_retirement(retention: &Retention, recovered: &mut recovery::Recovered) -> Result<()> {
    let checkpoint = recovered.checkpoint;
    let stale: Vec<u64> = recovered
        .catalog
        .iter()
        .filter(|(_, m)| m.last_lsn.is_some_and(|last| last <= checkpoint))
        .map(|(seq, _)| *seq)
        .collect();
    retention.retire(&stale)?;
    for seq in &stale {
        recovered.catalog.remove(seq);
    }
    recovered.index.retire(&stale);
    Ok(())
}

/// The segment the writer starts in, where in it, and a blank next one if recovery
/// found it.
struct OpenSegments {
    active: SegmentFile,
    offset: u64,
    next_blank: Option<SegmentFile>,
}

fn open_segments(
    spec: &SegmentSpec,
    recovered: &recovery::Recovered,
    retention: &Retention,
) -> Result<OpenSegments> {
    let fs = &spec.fs;
    let (active, offset) = match recovered.active {
        Some((seq, offset)) => (SegmentFile::open(fs, seq, spec.path(seq))?, offset),
        None => {
            // Above every live segment seen, every archived one and every spare file
            // (whose frames would validate again under their own old number).
            let archived = retention.archived_max()?.map_or(1, |max| max + 1);
            let spare = retention.spares.sequence_max().map_or(1, |max| max + 1);
            let seq = archived.max(spare).max(recovered.next_sequence);
            (spec.create(seq)?, 0)
        }
    };
    let next_blank = match recovered.next_blank {
        Some(seq) => Some(SegmentFile::open(fs, seq, spec.path(seq))?),
        None => None,
    };
    Ok(OpenSegments {
        active,
        offset,
        next_blank,
    })
}

/// The running log-writer thread and what the handle shares with it.
struct Started {
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
    kind: Driver,
    direct_io: bool,
}

/// Sets up staging and the watermark where recovery left the log, and starts the
/// log-writer thread with the driver and the segment preparer.
fn start_writer(
    options: &Options,
    mut driver: Box<dyn io::IoDriver>,
    spec: SegmentSpec,
    segments: OpenSegments,
    recovered: recovery::Recovered,
) -> Result<Started> {
    let limit = options.staging_bytes_max as usize;
    let depth = driver.depth();
    let mut buffers = driver.buffers(depth + 1, limit);
    let staging_buf = buffers.pop().unwrap_or_else(|| io::Buffer {
        bytes: Vec::with_capacity(limit),
        registered: None,
    });
    let active = segments.active;
    let start = Start {
        next_lsn: recovered.next_lsn,
        sequence: active.sequence,
        offset: segments.offset,
        segments: recovered.catalog,
        index: recovered.index,
        pad: Padding {
            // Direct writes cover whole blocks: with more than one in flight, a commit
            // must not start inside a block another one is still writing.
            on: driver.direct() && depth > 1,
            always: options.pads_every_commit(),
            ..Padding::default()
        },
    };
    let staging = Staging::new(
        staging_buf,
        limit,
        options.segment_bytes,
        start,
        driver.waker(),
    );
    let shared = Arc::new(Shared {
        staging,
        watermark: Watermark::new(recovered.next_lsn - 1),
        stats: Mutex::new(FlushStats::new()),
        durability: options.durability,
    });
    let kind = driver.kind();
    let direct_io = driver.direct();
    let (fs, dir) = (spec.fs.clone(), spec.dir.clone());
    let mut preparer = Preparer::start(spec, segments.next_blank)?;
    preparer.request(active.sequence + 1, driver.as_mut());
    let writer = LogWriter {
        shared: Arc::clone(&shared),
        fs,
        dir,
        driver,
        preparer,
        active: Arc::new(active),
        unsynced: Vec::new(),
        spares: buffers,
        runs: Vec::new(),
        done: Vec::new(),
        last_sync: Instant::now(),
        submitted_end: recovered.next_lsn - 1,
        sync_submitted_end: recovered.next_lsn - 1,
        last_intact_check: Instant::now(),
    };
    let handle = std::thread::Builder::new()
        .name("ringwal-writer".into())
        .spawn(move || writer.run())
        .map_err(|e| Error::io(IoOp::Open, "ringwal-writer thread", e))?;
    Ok(Started {
        shared,
        handle,
        kind,
        direct_io,
    })
}

impl Wal {
    /// Opens (creating if missing) the log in `dir`, recovering it first.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Wal> {
        options.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let fs = options.fs.clone();
        fs.create_dir_all_durable(&dir)?;
        let bound = crate::lock::unsynced_bytes_max(&options);
        let (lock, last_close, durable_recorded) = DirLock::acquire(&fs, &dir, Some(bound))?;
        remove_leftover_tmp_files(&fs, &dir)?;
        let mut driver = io::open_driver(&options)?;
        driver.prepare(&dir);
        // After anything but a clean close, records read back near the end of the log
        // may be only in memory: recovery rewrites them, as far back as the last
        // writer's bound in LOCK, so its syncs really make them durable.
        let mut recovered = recovery::recover(&dir, &options, (last_close, durable_recorded))?;
        // Recovery made every record it kept durable: the lock file says so, and later
        // damage to them is corruption, not a torn tail.
        lock.recovered(recovered.next_lsn - 1)?;
        warn_if_open_to_others(&fs, &dir);
        let spares = spares::Spares::new(options.spares_kept());
        spares.collect(&fs, &dir, options.segment_bytes)?;
        let retention = Retention {
            fs: fs.clone(),
            dir: dir.clone(),
            archive: options.archive,
            segments_max: options.archive_segments_max,
            bytes_max: options.archive_bytes_max,
            spares: spares.clone(),
        };
        finish_retirement(&retention, &mut recovered)?;
        let spec = SegmentSpec {
            fs,
            dir: dir.clone(),
            segment_bytes: options.segment_bytes,
            preallocate: options.preallocate,
            direct_block: driver.direct_block(),
            spares,
            #[cfg(feature = "fault-injection")]
            faults: options.faults.map(|plan| (plan, Arc::default())),
        };
        let segments = open_segments(&spec, &recovered, &retention)?;
        let checkpoint = recovered.checkpoint;
        let mut report = recovered.report;
        report.checkpoint_lsn = Lsn::new(checkpoint);
        let started = start_writer(&options, driver, spec, segments, recovered)?;
        tracing::info!(dir = %dir.display(), ?report, driver = ?started.kind, direct_io = started.direct_io, "ringwal opened");
        Ok(Wal {
            shared: started.shared,
            dir,
            options,
            driver: started.kind,
            direct_io: started.direct_io,
            report,
            retention,
            checkpoint: Mutex::new(Checkpoint {
                persisted: checkpoint,
                attempted: checkpoint,
            }),
            running: Mutex::new(Running::Open {
                writer: started.handle,
                lock,
            }),
        })
    }

    /// `Error::Poisoned` once a write or sync failed, `Error::Closed` once the log was
    /// closed (through any clone): every call that reads or changes the log refuses to
    /// work on it from then on.
    fn check_open(&self) -> Result<()> {
        self.check_poison()?;
        if self.shared.staging.lock().closing {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn check_record(&self, payload: &[u8]) -> Result<()> {
        if payload.len() as u64 > self.options.record_bytes_max {
            return Err(Error::InvalidArgument {
                what: "record",
                reason: format!(
                    "{} bytes exceed record_bytes_max {}",
                    payload.len(),
                    self.options.record_bytes_max
                ),
            });
        }
        Ok(())
    }

    /// Appends one record; returns its LSN. Not durable until `wait_durable` says so.
    /// Blocks while staging is full.
    pub fn append(&self, payload: &[u8]) -> Result<Lsn> {
        self.append_one(payload, true)
            .map(|staged| Lsn::new(staged.first))
    }

    /// Like `append`, but returns `Error::WouldBlock` instead of waiting for room.
    pub fn try_append(&self, payload: &[u8]) -> Result<Lsn> {
        self.append_one(payload, false)
            .map(|staged| Lsn::new(staged.first))
    }

    fn append_one(&self, payload: &[u8], block: bool) -> Result<Staged> {
        self.check_record(payload)?;
        self.shared
            .staging
            .append(&[Prepared::new(payload)], block, &self.shared.watermark)
    }

    /// Appends records with dense LSNs, all in one segment; after a crash either all of
    /// them are recovered or none.
    pub fn append_batch(&self, payloads: &[&[u8]]) -> Result<RangeInclusive<Lsn>> {
        if payloads.is_empty() || payloads.len() > crate::limits::BATCH_RECORDS_MAX {
            return Err(Error::InvalidArgument {
                what: "batch",
                reason: format!(
                    "must hold 1..={} records, got {}",
                    crate::limits::BATCH_RECORDS_MAX,
                    payloads.len()
                ),
            });
        }
        for payload in payloads {
            self.check_record(payload)?;
        }
        let prepared: Vec<Prepared<'_>> = payloads.iter().map(|p| Prepared::new(p)).collect();
        let staged = self
            .shared
            .staging
            .append(&prepared, true, &self.shared.watermark)?;
        Ok(Lsn::new(staged.first)..=Lsn::new(staged.last))
    }

    /// Blocks until `lsn` is acknowledged at the configured durability: synced for
    /// `Fsync` and `Periodic`, written for `Flush`. A record that a `truncate_from`
    /// removes while this waits counts as acknowledged (a cut writes and syncs all
    /// that was appended before it); an LSN the cut hands out again to a new record
    /// is waited for only if this call began after the cut.
    pub fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        let at = self.waitable(lsn)?;
        self.wait_acknowledged(lsn.get(), at)
    }

    /// Whether a durability wait for `lsn` may begin (`wait_durable`, `durable`): the
    /// log is not poisoned (it refuses even an LSN already durable) and `lsn` was
    /// handed out. Returns when the end of the log was read, for the wait.
    fn waitable(&self, lsn: Lsn) -> Result<Marked> {
        let (last, at) = self.shared.staging.end();
        self.check_poison()?;
        if lsn.get() > last {
            return Err(Error::InvalidArgument {
                what: "lsn",
                reason: format!("{lsn} was never appended (last is {last})"),
            });
        }
        Ok(at)
    }

    /// `append` then `wait_durable`; a `truncate_from` that removes the record while
    /// this waits ends the wait, as in `wait_durable`.
    pub fn append_durable(&self, payload: &[u8]) -> Result<Lsn> {
        let staged = self.append_one(payload, true)?;
        self.wait_acknowledged(staged.first, staged.at)?;
        Ok(Lsn::new(staged.first))
    }

    /// The wait of `wait_durable` for an LSN handed out at `at`.
    fn wait_acknowledged(&self, lsn: u64, at: Marked) -> Result<()> {
        // Poison refuses; a close does not: what it synced is still acknowledged (the
        // watermark answers `Closed` for what it did not reach).
        self.check_poison()?;
        self.shared
            .watermark
            .wait(lsn, self.acknowledged_level(), Some(at.cuts), None)
            .map(|_| ())
    }

    fn check_poison(&self) -> Result<()> {
        match self.shared.watermark.poison_cause() {
            Some(cause) => Err(Error::Poisoned { cause }),
            None => Ok(()),
        }
    }

    /// Forces a sync of everything appended so far (whatever the durability level) and
    /// waits for it; returns the LSN now durable.
    pub fn sync(&self) -> Result<Lsn> {
        self.sync_async()?.wait()
    }

    /// Asks for a sync of everything appended so far without waiting. While a
    /// `truncate_from` is in progress, "so far" is what the cut keeps.
    pub fn sync_async(&self) -> Result<SyncTicket> {
        self.check_open()?;
        // The target is read and requested under one staging lock: read apart, a cut
        // in between would leave a sync target above the end of the log.
        let (target, at) = self.shared.staging.request_sync(u64::MAX);
        Ok(SyncTicket::new(Arc::clone(&self.shared), target, at))
    }

    /// Highest LSN known to be on disk (synced); 0 before anything is.
    pub fn durable_lsn(&self) -> Lsn {
        Lsn::new(self.shared.watermark.get(Level::Synced))
    }

    /// Highest LSN written to the OS (possibly not yet synced).
    pub fn written_lsn(&self) -> Lsn {
        Lsn::new(self.shared.watermark.get(Level::Written))
    }

    /// Highest LSN handed out by an append.
    pub fn last_lsn(&self) -> Lsn {
        Lsn::new(self.shared.staging.end().0)
    }

    /// The persisted checkpoint: replay after a restart starts above it.
    pub fn checkpoint_lsn(&self) -> Lsn {
        Lsn::new(
            self.checkpoint
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .persisted,
        )
    }

    /// Reads records from `lsn` up to what had been written when this is called.
    /// Records retired by a checkpoint give `Error::BelowCheckpoint`.
    pub fn read_from(&self, lsn: Lsn) -> Result<RecordIter> {
        self.check_open()?;
        let end = self.shared.watermark.get(Level::Written);
        let start = lsn.get().max(1);
        // Start at the indexed frame at most a stride before `start` (see
        // `crate::index`); without one (retired, or nothing to read), the directory
        // decides what to say.
        let place = (start <= end)
            .then(|| self.shared.staging.lock().index.locate(start))
            .flatten();
        let from_index = place.map(|place| {
            RecordIter::from_place(
                &self.options.fs,
                &self.dir,
                place,
                (start, end),
                crate::limits::RECORD_BYTES_MAX,
            )
        });
        match from_index {
            // A segment retired since the lookup: the directory says what is left.
            Some(Err(e)) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => {
                self.read_from_directory(start, end)
            }
            Some(iter) => iter,
            None => self.read_from_directory(start, end),
        }
    }

    /// Records `start..=end` found through the directory (not the index).
    fn read_from_directory(&self, start: u64, end: u64) -> Result<RecordIter> {
        RecordIter::new(
            &self.options.fs,
            &self.dir,
            start,
            end,
            crate::limits::RECORD_BYTES_MAX,
        )
    }

    /// Declares every record at or below `lsn` applied elsewhere: the checkpoint is
    /// persisted, then segments holding only such records are retired (archived or
    /// deleted). Syncs up to `lsn` first if needed. A checkpoint never moves back.
    pub fn checkpoint(&self, lsn: Lsn) -> Result<()> {
        let lsn = lsn.get();
        self.check_open()?;
        let mut cp = self.checkpoint.lock().unwrap_or_else(|p| p.into_inner());
        // Validated under the checkpoint mutex, which `truncate_from` holds for the
        // whole cut: the end read here cannot move back before the checkpoint is
        // written, so it never covers records appended after a cut.
        let last = self.last_lsn().get();
        if lsn > last {
            return Err(Error::InvalidArgument {
                what: "checkpoint",
                reason: format!("LSN {lsn} is beyond the last record {last}"),
            });
        }
        if lsn > cp.persisted {
            if self.shared.watermark.get(Level::Synced) < lsn {
                self.shared.staging.request_sync(lsn);
                // No cut can come: it would need the checkpoint mutex held here.
                self.shared.watermark.wait(lsn, Level::Synced, None, None)?;
            }
            // Poison may have come after the sync this checkpoint waited on.
            self.check_open()?;
            // A write that fails part way may still leave this checkpoint on disk.
            cp.attempted = cp.attempted.max(lsn);
            retention::write_checkpoint(&self.options.fs, &self.dir, lsn)?;
            cp.persisted = lsn;
            self.shared.staging.seal_if_covered(lsn);
        }
        // Everything the persisted checkpoint covers. Segments leave the catalog only
        // once retired: after a failure the next checkpoint call tries them again.
        let lsn = cp.persisted;
        let retire: Vec<u64> = self
            .shared
            .staging
            .lock()
            .segments
            .iter()
            .filter(|(_, m)| m.last_lsn.is_some_and(|l| l <= lsn))
            .map(|(seq, _)| *seq)
            .collect();
        self.retention.retire(&retire)?;
        let mut st = self.shared.staging.lock();
        for seq in &retire {
            st.segments.remove(seq);
        }
        st.index.retire(&retire);
        Ok(())
    }

    /// Removes every record at or above `lsn`, durably: after this returns, no crash
    /// brings any of them back, and the next append gets `lsn`. Records below `lsn`
    /// stay as they were (all of them synced). For a log whose suffix is replaced,
    /// such as a consensus log dropping uncommitted entries that conflict with a new
    /// leader's.
    ///
    /// `lsn` must lie above the checkpoint and at most one past the last record (then
    /// nothing is removed), and not inside a batch made by `append_batch`. Appends
    /// made meanwhile by other threads wait and then continue from `lsn`; an LSN at or
    /// above it names a record appended after the cut. Waits for removed records that
    /// began before the cut (`append_durable`, `wait_durable`, `durable`, a
    /// `SyncTicket`) are answered by it, as the cut syncs everything first; a wait that
    /// begins after it is for the record that takes the LSN. A `read_from` iterator
    /// made before the cut may fail or read records appended after it. An I/O failure
    /// once the cut was decided poisons the log; reopening finishes the cut.
    pub fn truncate_from(&self, lsn: Lsn) -> Result<()> {
        let from = lsn.get();
        self.check_open()?;
        // Serialised with checkpoints: a cut must stay above every checkpoint that may
        // be on disk, including one whose write failed part way.
        let cp = self.checkpoint.lock().unwrap_or_else(|p| p.into_inner());
        if from <= cp.attempted {
            return Err(Error::InvalidArgument {
                what: "truncation",
                reason: format!(
                    "LSN {from} is at or below the checkpoint {}: those records are retired",
                    cp.attempted
                ),
            });
        }
        let last = self.last_lsn().get();
        if from > last + 1 {
            return Err(Error::InvalidArgument {
                what: "truncation",
                reason: format!("LSN {from} is beyond the next LSN {}", last + 1),
            });
        }
        if from == last + 1 {
            return Ok(());
        }
        // Records from `from` on are about to go and their LSNs to be reused: the lock
        // file must stop vouching for them first (lowering it early only weakens
        // detection, so a refused cut needs no undo).
        if let Running::Open { lock, .. } = &*self.running.lock().unwrap_or_else(|p| p.into_inner())
        {
            lock.lower_durable(from - 1)?;
        }
        self.shared.staging.truncate(from)
    }

    /// Counters and histograms since open.
    pub fn stats(&self) -> Stats {
        let (appends, append_bytes, padding_bytes) = {
            let st = self.shared.staging.lock();
            (st.appends, st.append_bytes, st.pad.bytes)
        };
        let f = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
        Stats {
            driver: self.driver,
            direct_io: self.direct_io,
            direct_writes: f.driver.direct_writes,
            direct_block_waits: f.driver.direct_block_waits,
            appends,
            append_bytes,
            padding_bytes,
            flushes: f.flushes,
            syncs: f.syncs,
            bytes_written: f.bytes_written,
            rotations: f.rotations,
            segments_recycled: self.retention.spares.reused(),
            segments_recycled_on_ring: f.driver.ring_reuses,
            segments_created_on_ring: f.driver.ring_creates,
            batch_records: f.batch_records.percentiles(),
            batch_bytes: f.batch_bytes.percentiles(),
            sync_latency_us: f.sync_latency_us.percentiles(),
            ring_sqes: f.driver.ring_sqes,
            ring_enters: f.driver.ring_enters,
            fixed_writes: f.driver.fixed_writes,
            short_write_resumes: f.driver.short_write_resumes,
            chains_in_flight_peak: f.driver.chains_in_flight_peak.max(u64::from(f.flushes > 0)),
            wakers_registered: self.shared.watermark.wakers_registered() as u64,
        }
    }

    /// What recovery found when the log was opened.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.report
    }

    /// The driver writing this log.
    pub fn driver(&self) -> Driver {
        self.driver
    }

    /// The log directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Writes and syncs everything staged, stops the writer thread and releases the
    /// directory. Returns the poisoning error if the log was poisoned (then the final
    /// sync did not happen, and what it would have covered is not acknowledged).
    ///
    /// Takes `&self`, so a server holding the log in an `Arc` can close it from any
    /// clone while others still append: their later calls fail with `Error::Closed`
    /// (records staged before the close are written and synced by it). Idempotent:
    /// every later `close` returns what the first one did.
    ///
    /// ```
    /// # fn main() -> ringwal::Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
    /// let wal = std::sync::Arc::new(ringwal::Wal::open(tmp.path().join("wal"), ringwal::Options::default())?);
    /// let other = std::sync::Arc::clone(&wal);
    /// other.append(b"last words")?;
    /// wal.close()?; // syncs "last words"
    /// assert!(matches!(other.append(b"too late"), Err(ringwal::Error::Closed)));
    /// assert!(other.close().is_ok()); // the same outcome again
    /// # Ok(())
    /// # }
    /// ```
    pub fn close(&self) -> Result<()> {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = match std::mem::replace(&mut *running, Running::Closed(None)) {
            Running::Closed(outcome) => outcome,
            Running::Open { writer, lock } => {
                self.shared.staging.shut(None);
                if writer.join().is_err() {
                    tracing::error!("ringwal writer thread panicked");
                }
                let outcome = self.shared.watermark.poison_cause();
                if outcome.is_none() {
                    lock.mark_clean(self.shared.watermark.get(Level::Synced));
                }
                // Dropping the lock releases the directory.
                drop(lock);
                outcome
            }
        };
        *running = Running::Closed(outcome.clone());
        match outcome {
            Some(cause) => Err(Error::Poisoned { cause }),
            None => Ok(()),
        }
    }
}

/// Whether the log still runs.
#[derive(Debug)]
enum Running {
    Open {
        writer: JoinHandle<()>,
        lock: DirLock,
    },
    Closed(Option<Arc<Error>>),
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(error) = self.close() {
            tracing::warn!(error = %error.chain(), "ringwal closed on drop with an error");
        }
    }
}
