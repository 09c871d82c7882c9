//! The log-writer thread: takes whatever is staged, hands it to the driver as one
//! flush, and publishes the watermarks when flushes complete, in order.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::segments::Preparer;
use super::staging::{StagedRun, Staging};
use super::watermark::{Level, Watermark};
use crate::error::{Error, Result};
use crate::io::{Completed, Flush, IoDriver, Run, SegmentFile};
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

pub(crate) struct LogWriter {
    pub shared: Arc<Shared>,
    pub driver: Box<dyn IoDriver>,
    pub preparer: Preparer,
    pub active: Arc<SegmentFile>,
    /// Segments written since their last sync, oldest first.
    pub unsynced: Vec<Arc<SegmentFile>>,
    pub spares: Vec<Vec<u8>>,
    pub runs: Vec<StagedRun>,
    pub done: Vec<Completed>,
    pub last_sync: Instant,
}

impl LogWriter {
    /// The thread body: runs until the log closes or an I/O error poisons it.
    pub fn run(mut self) {
        self.preparer.request(self.active.sequence + 1);
        if let Err(error) = self.run_loop() {
            tracing::error!(%error, "ringwal writer stopped; the log is poisoned");
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

    fn run_loop(&mut self) -> Result<()> {
        loop {
            let synced = self.shared.watermark.get(Level::Synced);
            let deadline = self.periodic_deadline();
            let mut st = self.shared.staging.wait_for_work(synced, deadline);
            let closing = st.closing;
            let sync_asked = st.sync_target > synced;
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
            let flush = match taken {
                Some((buf, records, lsn_end)) => self.build_flush(buf, records, lsn_end)?,
                None => Flush {
                    buf: Vec::new(),
                    runs: Vec::new(),
                    syncs: Vec::new(),
                    lsn_end: 0,
                    records: 0,
                },
            };
            let mut flush = flush;
            if want_sync {
                flush.syncs = std::mem::take(&mut self.unsynced);
            }
            if flush.runs.is_empty() && flush.syncs.is_empty() {
                // Nothing written is unsynced: whatever was asked for is already durable.
                let written = self.shared.watermark.get(Level::Written);
                if sync_asked {
                    self.shared.watermark.advance(written, Some(written));
                }
                if closing {
                    return Ok(());
                }
                continue;
            }
            debug_assert!(self.driver.in_flight() < self.driver.depth());
            self.driver.submit(flush)?;
            self.driver.reap(&mut self.done, true)?;
            self.retire_completed();
        }
    }

    /// Maps staged runs onto segment files, moving into the next segment where a run
    /// says so.
    fn build_flush(&mut self, buf: Vec<u8>, records: u64, lsn_end: u64) -> Result<Flush> {
        let staged_runs = std::mem::take(&mut self.runs);
        let mut runs = Vec::with_capacity(staged_runs.len());
        for (i, staged) in staged_runs.iter().enumerate() {
            let end = staged_runs.get(i + 1).map_or(buf.len(), |next| next.start);
            if staged.sequence != self.active.sequence {
                self.rotate(staged.sequence)?;
            }
            let segment = Arc::clone(&self.active);
            if !self.unsynced.iter().any(|s| s.sequence == segment.sequence) {
                self.unsynced.push(Arc::clone(&segment));
            }
            runs.push(Run {
                segment,
                offset: staged.offset,
                bytes: staged.start..end,
            });
        }
        self.runs = staged_runs;
        Ok(Flush {
            buf,
            runs,
            syncs: Vec::new(),
            lsn_end,
            records,
        })
    }

    fn rotate(&mut self, sequence: u64) -> Result<()> {
        let expected = self.active.sequence + 1;
        if sequence != expected {
            return Err(Error::InvalidArgument {
                what: "segment sequence",
                reason: format!("staging moved to segment {sequence}, writer expected {expected}"),
            });
        }
        let next = self.preparer.take(sequence)?;
        self.active = Arc::new(next);
        self.preparer.request(sequence + 1);
        if let Ok(mut stats) = self.shared.stats.lock() {
            stats.rotations += 1;
        }
        tracing::debug!(segment = sequence, "rotated into a new segment");
        Ok(())
    }

    fn retire_completed(&mut self) {
        for Completed { flush, sync_ns } in self.done.drain(..) {
            let synced = !flush.syncs.is_empty();
            let written = if flush.lsn_end > 0 {
                flush.lsn_end
            } else {
                self.shared.watermark.get(Level::Written)
            };
            // A sync flush synced every segment written so far, so everything written
            // up to its end is durable.
            self.shared
                .watermark
                .advance(written, synced.then_some(written));
            if synced {
                self.last_sync = Instant::now();
            }
            if let Ok(mut stats) = self.shared.stats.lock() {
                stats.flushes += 1;
                stats.syncs += flush.syncs.len() as u64;
                let bytes: usize = flush.runs.iter().map(|r| r.bytes.len()).sum();
                stats.bytes_written += bytes as u64;
                if flush.records > 0 {
                    let _ = stats.batch_records.record(flush.records);
                    let _ = stats.batch_bytes.record(bytes as u64);
                }
                if synced {
                    let _ = stats.sync_latency_us.record((sync_ns / 1000).max(1));
                }
            }
            let mut buf = flush.buf;
            buf.clear();
            if buf.capacity() > 0 {
                self.spares.push(buf);
            }
        }
    }
}
