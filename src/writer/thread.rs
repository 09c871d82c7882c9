//! The log-writer thread: takes whatever is staged, hands it to the driver as one
//! flush, keeps up to the driver's depth of flushes in flight, and publishes the
//! watermarks as flushes complete, strictly in submission order.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::segments::Preparer;
use super::staging::{Resume, StagedRun, Staging};
use super::watermark::{Level, Watermark};
use crate::error::{Error, Result};
use crate::format::header::SegmentHeader;
use crate::io::fs::check_segment_intact;
use crate::io::{Buffer, Completed, Flush, Fs, IoDriver, Op, Run, SegmentFile};
use crate::options::Durability;
use crate::stats::FlushStats;

/// State shared by the `Wal` handle and its writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub staging: Staging,
    pub watermark: Watermark,
    pub stats: Mutex<FlushStats>,
    pub durability: Durability,
}

/// The writer thread's state. Field order matters for drop: the driver (which may
/// hold kernel registrations of the staging buffers) goes before `spares`.
pub(crate) struct LogWriter {
    pub shared: Arc<Shared>,
    pub fs: Fs,
    pub dir: PathBuf,
    pub driver: Box<dyn IoDriver>,
    pub preparer: Preparer,
    pub active: Arc<SegmentFile>,
    /// Segments written since their last sync, oldest first.
    pub unsynced: Vec<Arc<SegmentFile>>,
    pub spares: Vec<Buffer>,
    pub runs: Vec<StagedRun>,
    pub done: Vec<Completed>,
    pub last_sync: Instant,
    /// Highest LSN handed to the driver for writing.
    pub submitted_end: u64,
    /// Highest LSN covered by a submitted sync.
    pub sync_submitted_end: u64,
    /// When the segments were last checked for removal or truncation.
    pub last_intact_check: Instant,
}

/// What one turn of the writer's loop took from staging and was asked to do.
struct Work {
    /// The buffer taken, its record count and last LSN.
    taken: Option<(Buffer, u64, u64)>,
    closing: bool,
    truncate: Option<u64>,
    /// A caller asked for a sync (or a cut, which starts from a synced log).
    sync_asked: bool,
    /// This flush syncs what it writes.
    want_sync: bool,
}

/// How often completed flushes check that their segment is still in place (and at every
/// rotation). Not on every flush: on this machine's kernel a stat between two writes
/// made the next fdatasync ~40 µs slower (serial appends fell from ~1.0x to ~0.7x raw),
/// so the check runs on a timer, and a segment removed behind the log's back is caught
/// within this interval rather than before the first acknowledgement after it.
const INTACT_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// If the writer thread panics, poisons the log and wakes everyone, so no waiter or
/// appender is left blocked on a thread that is gone.
struct PoisonOnPanic(Arc<Shared>);

impl Drop for PoisonOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let cause = Arc::new(Error::Io {
                op: crate::error::IoOp::Driver,
                path: "ringwal-writer thread".into(),
                source: std::io::Error::other("the log-writer thread panicked"),
            });
            self.0.staging.shut(Some(Arc::clone(&cause)));
            self.0.watermark.poison(cause);
            self.0.watermark.close();
        }
    }
}

impl LogWriter {
    /// The thread body: runs until the log closes or an I/O error poisons it.
    pub fn run(mut self) {
        let _guard = PoisonOnPanic(Arc::clone(&self.shared));
        if let Err(error) = self.run_loop() {
            tracing::error!(error = %error.chain(), "ringwal writer stopped; the log is poisoned");
            let cause = Arc::new(error);
            self.shared.staging.shut(Some(Arc::clone(&cause)));
            self.shared.watermark.poison(cause);
        }
        self.preparer.stop();
        self.shared.watermark.close();
    }

    fn periodic_deadline(&self) -> Option<Instant> {
        match self.shared.durability {
            Durability::Periodic(every) if !self.unsynced.is_empty() => {
                Some(self.last_sync + every)
            }
            _ => None,
        }
    }

    /// Reaps completions; with `wait`, blocks in the driver until something happens,
    /// telling staging so an append can interrupt the wait.
    fn reap(&mut self, wait: bool) -> Result<()> {
        if wait {
            let mut st = self.shared.staging.lock();
            let covered = self
                .sync_submitted_end
                .max(self.shared.watermark.get(Level::Synced));
            let room = self.driver.in_flight() < self.driver.depth();
            if room && st.has_work(covered) && !st.closing {
                return Ok(());
            }
            // Only ask to be woken for new work when there is room to submit it; with
            // the pipeline full, every append would otherwise interrupt the wait for
            // nothing.
            st.writer_in_driver = room;
        }
        let result = self.driver.reap(&mut self.done, wait);
        if wait {
            self.shared.staging.lock().writer_in_driver = false;
        }
        result?;
        self.retire_completed()
    }

    fn run_loop(&mut self) -> Result<()> {
        loop {
            if self.driver.in_flight() > 0 {
                self.reap(false)?;
            }
            if self.driver.in_flight() >= self.driver.depth() {
                self.reap(true)?;
                continue;
            }
            let Some(work) = self.take_work()? else {
                continue;
            };
            let rotates = self.runs_rotate(work.taken.is_some());
            let older_unsynced = work.want_sync && !self.unsynced.is_empty();
            if (older_unsynced || rotates) && self.driver.in_flight() > 0 {
                // A sync of segments written by flushes still in flight would not be
                // ordered after those writes: let them finish first. A rotation waits
                // too, even when every chain carries its own sync (`Durability::Fsync`):
                // separate chains are not ordered, and the next segment's first write
                // (its header vouches that every earlier record is durable, rule 6)
                // must come after the syncs of the segment it leaves have completed.
                self.drain()?;
            }
            let flush = self.build_flush(work.taken, work.want_sync)?;
            if !flush.ops.is_empty() {
                debug_assert!(self.driver.in_flight() < self.driver.depth());
                self.driver.submit(flush)?;
                continue;
            }
            if self.driver.in_flight() > 0 {
                if work.truncate.is_some() {
                    self.drain()?;
                }
                continue;
            }
            // Nothing written is unsynced: whatever was asked for is already durable.
            let written = self.shared.watermark.get(Level::Written);
            if work.sync_asked {
                self.shared.watermark.advance(written, Some(written));
            }
            if let Some(from) = work.truncate {
                self.truncate(from)?;
            } else if work.closing {
                return Ok(());
            }
        }
    }

    /// Waits for something to do (or, with flushes in flight, reaps instead and returns
    /// `None`), then takes what is staged and says what was asked for.
    fn take_work(&mut self) -> Result<Option<Work>> {
        let covered = self
            .sync_submitted_end
            .max(self.shared.watermark.get(Level::Synced));
        let mut st = if self.driver.in_flight() > 0 {
            let st = self.shared.staging.lock();
            if !st.has_work(covered) || (st.closing && st.buf.is_empty()) {
                drop(st);
                self.reap(true)?;
                return Ok(None);
            }
            st
        } else {
            self.shared
                .staging
                .wait_for_work(covered, self.periodic_deadline())
        };
        let closing = st.closing;
        let truncate = st.truncate;
        // A cut starts from a log with everything written and synced.
        let sync_asked = st.sync_target > covered || truncate.is_some();
        let taken = if st.buf.is_empty() {
            None
        } else {
            let spare = self.spares.pop().unwrap_or_default();
            Some(self.shared.staging.swap_out(&mut st, spare, &mut self.runs))
        };
        drop(st);
        let want_sync = closing
            || sync_asked
            || match self.shared.durability {
                Durability::Fsync => true,
                Durability::Flush => false,
                Durability::Periodic(every) => self.last_sync.elapsed() >= every,
            };
        Ok(Some(Work {
            taken,
            closing,
            truncate,
            sync_asked,
            want_sync,
        }))
    }

    /// Cuts the log from `from` (see `crate::truncation`), with nothing staged, in
    /// flight or unsynced. A cut refused before any change is the caller's error; a
    /// failure once the cut was decided poisons the log (a reopen finishes the cut).
    fn truncate(&mut self, from: u64) -> Result<()> {
        debug_assert!(self.driver.in_flight() == 0 && self.unsynced.is_empty());
        // The next segment lies after the cut: wait for it. A cut that keeps the active
        // segment keeps it too (blank: the writer never wrote into it), so the next
        // rotation need not wait for a new one; any other cut removes it.
        let next = self.preparer.settle(self.driver.as_mut())?;
        let near = self
            .shared
            .staging
            .lock()
            .index
            .locate(from.saturating_sub(1));
        let zeroing = crate::truncation::Zeroing::PresentLife {
            active: self.active.sequence,
            near,
        };
        let mut plan = match crate::truncation::locate_zeroing(&self.fs, &self.dir, from, zeroing) {
            Ok(plan) => plan,
            Err(refused) => {
                self.preparer
                    .request(self.active.sequence + 1, self.driver.as_mut());
                self.shared.staging.finish_truncate(Err(refused), None);
                return Ok(());
            }
        };
        let Some(kept) = plan.kept.clone() else {
            self.preparer
                .request(self.active.sequence + 1, self.driver.as_mut());
            let refused = Error::InvalidArgument {
                what: "truncation",
                reason: format!("no segment holds the records below LSN {from}"),
            };
            self.shared.staging.finish_truncate(Err(refused), None);
            return Ok(());
        };
        match next {
            Some(next) if kept.sequence == self.active.sequence && next == kept.sequence + 1 => {
                plan.removed.retain(|path| {
                    let name = path.file_name().and_then(|n| n.to_str());
                    name.and_then(crate::format::names::parse_segment_file_name) != Some(next)
                });
            }
            _ => self.preparer.discard(),
        }
        crate::truncation::write_intent(&self.fs, &self.dir, from)?;
        // The cut is decided: the watermarks step back (and tails learn of the cut)
        // before any byte is zeroed, so no reader trusts a watermark over bytes the
        // cut is changing.
        self.shared.watermark.reset(from - 1);
        crate::truncation::execute(&self.fs, &self.dir, &plan)?;
        crate::truncation::clear_intent(&self.fs, &self.dir)?;
        if kept.sequence != self.active.sequence {
            let path = kept.path.clone();
            self.active = Arc::new(SegmentFile::open(&self.fs, kept.sequence, path)?);
        }
        self.preparer
            .request(kept.sequence + 1, self.driver.as_mut());
        self.runs.clear();
        self.submitted_end = from - 1;
        self.sync_submitted_end = from - 1;
        let resume = Resume {
            from,
            sequence: kept.sequence,
            offset: kept.cut_at,
            first_lsn: kept.first_lsn,
        };
        self.shared.staging.finish_truncate(Ok(()), Some(resume));
        Ok(())
    }

    /// Whether the runs just taken from staging move into another segment.
    fn runs_rotate(&self, taken: bool) -> bool {
        taken && self.runs.iter().any(|r| r.sequence != self.active.sequence)
    }

    fn drain(&mut self) -> Result<()> {
        while self.driver.in_flight() > 0 {
            self.driver.reap(&mut self.done, true)?;
            self.retire_completed()?;
        }
        Ok(())
    }

    /// Turns what was taken from staging into driver ops, moving into the next segment
    /// where a run says so. With `want_sync`, each segment is synced after its last
    /// write, and older unsynced segments before anything else, so a later segment's
    /// records never become durable ahead of an earlier one's.
    fn build_flush(&mut self, taken: Option<(Buffer, u64, u64)>, want_sync: bool) -> Result<Flush> {
        let mut ops = Vec::new();
        if want_sync {
            ops.extend(self.unsynced.drain(..).map(Op::Sync));
        }
        let (mut buf, records, lsn_end) = taken.unwrap_or_default();
        // Without a buffer taken from staging, `self.runs` still holds the last flush's
        // runs: there is nothing to write.
        let staged_runs = if buf.bytes.is_empty() {
            Vec::new()
        } else {
            std::mem::take(&mut self.runs)
        };
        for (i, staged) in staged_runs.iter().enumerate() {
            let end = staged_runs
                .get(i + 1)
                .map_or(buf.bytes.len(), |next| next.start);
            if staged.sequence != self.active.sequence {
                if self.driver.in_flight() > 0 {
                    // The next segment's header claims every earlier record durable:
                    // nothing written before it may still be in flight (see `run_loop`).
                    return Err(Error::internal(format!(
                        "a flush moves into segment {} with {} chains in flight",
                        staged.sequence,
                        self.driver.in_flight()
                    )));
                }
                // Leaving a segment always syncs it first, whatever the durability: its
                // records must never depend on a later segment's sync, and `unsynced`
                // stays at most the active segment long.
                if let Some(at) = self
                    .unsynced
                    .iter()
                    .position(|s| s.sequence == self.active.sequence)
                {
                    ops.push(Op::Sync(self.unsynced.remove(at)));
                }
                self.rotate(staged.sequence)?;
            }
            let segment = Arc::clone(&self.active);
            if staged.offset == 0 && segment.recycled {
                // Staging encoded the header without knowing which file the segment
                // would get; a reused one must say so (docs/FORMAT.md, "Recycled
                // segments").
                if let Some(header) = buf.bytes.get_mut(staged.start..end) {
                    SegmentHeader::mark_recycled(header);
                }
            }
            let next = staged_runs.get(i + 1);
            let last_of_segment = next.is_none_or(|next| next.sequence != staged.sequence);
            ops.push(Op::Write(Run {
                segment: Arc::clone(&segment),
                offset: staged.offset,
                bytes: staged.start..end,
            }));
            if last_of_segment {
                if want_sync || next.is_some() {
                    ops.push(Op::Sync(segment));
                } else if !self.unsynced.iter().any(|s| s.sequence == segment.sequence) {
                    self.unsynced.push(segment);
                }
            }
        }
        if !staged_runs.is_empty() {
            self.runs = staged_runs;
        }
        if lsn_end > 0 {
            self.submitted_end = lsn_end;
        }
        let synced_end = want_sync.then_some(self.submitted_end);
        if let Some(end) = synced_end {
            self.sync_submitted_end = end;
        }
        Ok(Flush {
            buf,
            ops,
            lsn_end,
            records,
            synced_end,
        })
    }

    fn rotate(&mut self, sequence: u64) -> Result<()> {
        let expected = self.active.sequence + 1;
        if sequence != expected {
            return Err(Error::internal(format!(
                "staging moved to segment {sequence}, the writer expected {expected}"
            )));
        }
        let next = self.preparer.take(sequence, self.driver.as_mut())?;
        self.active = Arc::new(next);
        self.preparer.request(sequence + 1, self.driver.as_mut());
        if let Ok(mut stats) = self.shared.stats.lock() {
            stats.rotations += 1;
        }
        tracing::debug!(segment = sequence, "rotated into a new segment");
        Ok(())
    }

    fn retire_completed(&mut self) -> Result<()> {
        if self.done.is_empty() {
            return Ok(());
        }
        let counters = self.driver.counters();
        let mut done = std::mem::take(&mut self.done);
        for Completed { flush, sync_ns } in done.drain(..) {
            let rotated = flush
                .ops
                .iter()
                .filter(|op| matches!(op, Op::Sync(_)))
                .count()
                > 1;
            if rotated || self.last_intact_check.elapsed() >= INTACT_CHECK_EVERY {
                self.last_intact_check = Instant::now();
                for op in &flush.ops {
                    if let Op::Write(run) = op {
                        let end = run.offset + run.bytes.len() as u64;
                        check_segment_intact(&run.segment, end.max(run.segment.floor_bytes))?;
                    }
                }
            }
            let written = if flush.lsn_end > 0 {
                flush.lsn_end
            } else {
                self.shared.watermark.get(Level::Written)
            };
            // Statistics first, so a caller woken by the watermark sees its flush counted.
            if let Ok(mut stats) = self.shared.stats.lock() {
                stats.record(&flush, sync_ns, counters);
            }
            // Before the watermark moves: a serial appender woken by it stages right
            // behind this commit, densely, instead of at the next block.
            self.shared.staging.commit_completed(flush.lsn_end);
            self.shared.watermark.advance(written, flush.synced_end);
            if flush.synced_end.is_some() {
                self.last_sync = Instant::now();
            }
            let mut buf = flush.buf;
            buf.bytes.clear();
            if buf.bytes.capacity() > 0 {
                self.spares.push(buf);
            }
        }
        self.done = done;
        Ok(())
    }
}
