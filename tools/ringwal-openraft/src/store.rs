//! `RaftLogStore`: openraft's `RaftLogStorage` on two ringwal logs, `DIR/entries`
//! (one record per Raft entry, in index order) and `DIR/meta` (vote, committed id,
//! purge point).
//!
//! Mapping: an append is a ringwal append per entry, its callback fired by the flush
//! thread once the last one is durable; `truncate` is `Wal::truncate_from` (durable
//! when it returns; earlier appends are completed first); `purge` persists the purge
//! point, then checkpoints the entry log so its segments retire. An entry appended
//! at an index the log already holds replaces it and everything after it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{LogId, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, Vote};
use ringwal::{Durability, Lsn, Options, Wal};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, read_logs, write_logs, write_vote};
use crate::flusher::{Flusher, Pending};
use crate::index::Runs;
use crate::meta::MetaLog;
use crate::record::{Meta, decode_entry, encode_entry, entry_index};

/// What an entry type needs to be stored.
pub trait StoredEntry: Serialize + DeserializeOwned + Clone {}
impl<T: Serialize + DeserializeOwned + Clone> StoredEntry for T {}

struct Index<C: RaftTypeConfig> {
    runs: Runs,
    last_log_id: Option<LogId<C::NodeId>>,
}

struct Shared<C: RaftTypeConfig> {
    wal: Arc<Wal>,
    index: RwLock<Index<C>>,
    /// What `append` promises readable before it is on disk: the ringwal reader sees
    /// only written records, so entries stay here until the flush thread sees them
    /// durable. Always the newest LSNs.
    pending: Pending<C>,
}

/// openraft log storage on ringwal. Open with [`RaftLogStore::open`]; hand it to
/// `openraft::Raft::new` as the log store.
pub struct RaftLogStore<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
    meta: MetaLog<C::NodeId>,
    flusher: Flusher<C>,
}

/// A reader of the entries, for openraft's replication tasks.
pub struct LogReader<C: RaftTypeConfig> {
    shared: Arc<Shared<C>>,
}

impl<C: RaftTypeConfig> Debug for RaftLogStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftLogStore")
            .field("path", &self.shared.wal.path())
            .finish_non_exhaustive()
    }
}

impl<C: RaftTypeConfig> Debug for LogReader<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn half_open(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

/// The options of the meta log, derived from the entry log's: small segments, small
/// records (a vote and two log ids).
fn meta_options(options: &Options) -> Options {
    options
        .clone()
        .segment_bytes(256 << 10)
        .record_bytes_max(16 << 10)
        .staging_bytes_max(64 << 10)
}

impl<C> Shared<C>
where
    C: RaftTypeConfig,
    C::Entry: StoredEntry,
{
    /// Entries with indexes in `range`, in order; indexes the log does not hold are
    /// left out.
    fn read(&self, range: impl RangeBounds<u64>) -> Result<Vec<C::Entry>, Error> {
        let (start, end) = half_open(&range);
        if start >= end {
            return Ok(Vec::new());
        }
        // Held while reading: a truncation, which reuses LSNs, waits.
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        let spans = index.runs.spans(start, end);
        let mut out = Vec::new();
        for span in spans {
            let end_lsn = span.lsn + span.count;
            // Pending entries are a suffix of the LSNs: take them from memory, the rest
            // from the log (every LSN not pending is durable, hence written).
            let (from_pending, first_pending) = {
                let pending = lock(&self.pending);
                let got: Vec<C::Entry> = pending
                    .range(span.lsn..end_lsn)
                    .map(|(_, e)| e.clone())
                    .collect();
                let first = pending.range(span.lsn..end_lsn).next().map(|(l, _)| *l);
                (got, first.unwrap_or(end_lsn))
            };
            if first_pending > span.lsn {
                self.read_wal(span.lsn, first_pending, span.index, &mut out)?;
            }
            out.extend(from_pending);
        }
        Ok(out)
    }

    /// Entries at LSNs `from..to` (which hold indexes from `index` on).
    fn read_wal(
        &self,
        from: u64,
        to: u64,
        index: u64,
        out: &mut Vec<C::Entry>,
    ) -> Result<(), Error> {
        let mut want = (from, index);
        for record in self
            .wal
            .read_from(Lsn::new(from))?
            .take((to - from) as usize)
        {
            let record = record?;
            let lsn = record.lsn().get();
            let at = entry_index(record.payload(), lsn)?;
            if (lsn, at) != want {
                return Err(Error::OutOfOrder {
                    lsn,
                    index: at,
                    previous: want.1,
                });
            }
            out.push(decode_entry(record.payload(), lsn)?);
            want = (lsn + 1, at + 1);
        }
        Ok(())
    }

    /// The log id of the entry at `lsn`.
    fn log_id_at(&self, lsn: u64) -> Result<Option<LogId<C::NodeId>>, Error> {
        if let Some(entry) = lock(&self.pending).get(&lsn) {
            return Ok(Some(entry.get_log_id().clone()));
        }
        // A point lookup through the log's sparse index: O(log n), one bounded read.
        match self.wal.get(Lsn::new(lsn))? {
            Some(record) => {
                let entry: C::Entry = decode_entry(record.payload(), lsn)?;
                Ok(Some(entry.get_log_id().clone()))
            }
            None => Ok(None),
        }
    }
}

impl<C> RaftLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: StoredEntry,
{
    /// Opens (creating if needed) the store in `dir`, recovering both logs. The
    /// options are the entry log's; they must keep `Durability::Fsync`, since openraft
    /// is told an entry is persisted only once it is.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self, Error> {
        if options.get_durability() != Durability::Fsync {
            return Err(Error::Options(format!(
                "a Raft log needs Durability::Fsync, got {:?}",
                options.get_durability()
            )));
        }
        let dir = dir.as_ref();
        let meta = MetaLog::open(&dir.join("meta"), meta_options(&options))?;
        let wal = Arc::new(Wal::open(dir.join("entries"), options)?);
        let purged = meta.state.purged.as_ref().map(|l| l.index);
        let mut runs = Runs::default();
        let mut previous: Option<u64> = None;
        let mut stale_lsn = None;
        let mut last_lsn = None;
        let checkpoint = wal.checkpoint_lsn().get();
        for record in wal.read_from(Lsn::new(checkpoint + 1))? {
            let record = record?;
            let lsn = record.lsn().get();
            let index = entry_index(record.payload(), lsn)?;
            if let Some(previous) = previous.filter(|p| index <= *p) {
                return Err(Error::OutOfOrder {
                    lsn,
                    index,
                    previous,
                });
            }
            previous = Some(index);
            if purged.is_some_and(|p| index <= p) {
                stale_lsn = Some(lsn);
                continue;
            }
            runs.push(index, lsn);
            last_lsn = Some(lsn);
        }
        if let Some(lsn) = stale_lsn.filter(|l| *l > checkpoint) {
            // A purge persisted its point and stopped before the checkpoint: finish it.
            wal.checkpoint(Lsn::new(lsn))?;
        }
        let pending: Pending<C> = Arc::new(Mutex::new(BTreeMap::new()));
        let shared = Arc::new(Shared {
            wal: Arc::clone(&wal),
            index: RwLock::new(Index {
                runs,
                last_log_id: None,
            }),
            pending: Arc::clone(&pending),
        });
        if let Some(lsn) = last_lsn {
            let last = shared.log_id_at(lsn)?;
            if let Ok(mut index) = shared.index.write() {
                index.last_log_id = last;
            }
        }
        let flusher = Flusher::start(wal, pending)?;
        tracing::info!(dir = %dir.display(), "ringwal-openraft store opened");
        Ok(RaftLogStore {
            shared,
            meta,
            flusher,
        })
    }

    /// The ringwal log holding the entries (for statistics, or to sync it).
    pub fn wal(&self) -> &Wal {
        &self.shared.wal
    }

    /// Drops every entry at or above `from_index` (the index lock held).
    fn cut(&self, index: &mut Index<C>, from_index: u64) -> Result<(), Error> {
        let Some((_, lsn)) = index.runs.first_from(from_index) else {
            return Ok(());
        };
        // Earlier appends are completed (callbacks fired) before the cut, so that no
        // completion is ever reported for an LSN that a later entry takes.
        self.shared.wal.sync()?;
        self.flusher.barrier();
        self.shared.wal.truncate_from(Lsn::new(lsn))?;
        lock(&self.shared.pending).retain(|l, _| *l < lsn);
        index.runs.truncate_from(from_index);
        index.last_log_id = match index.runs.last() {
            Some((_, last)) => self.shared.log_id_at(last)?,
            None => None,
        };
        Ok(())
    }

    fn append_all(
        &mut self,
        entries: impl IntoIterator<Item = C::Entry>,
    ) -> Result<Option<u64>, Error> {
        let shared = Arc::clone(&self.shared);
        let mut index = shared.index.write().unwrap_or_else(|p| p.into_inner());
        let mut last_lsn = None;
        for entry in entries {
            let log_id = entry.get_log_id().clone();
            if index.runs.last().is_some_and(|(i, _)| log_id.index <= i) {
                self.cut(&mut index, log_id.index)?;
            }
            let record = encode_entry(log_id.index, &entry)?;
            let lsn = shared.wal.append(&record)?.get();
            lock(&shared.pending).insert(lsn, entry);
            index.runs.push(log_id.index, lsn);
            index.last_log_id = Some(log_id);
            last_lsn = Some(lsn);
        }
        Ok(last_lsn)
    }

    fn purge_upto(&mut self, log_id: LogId<C::NodeId>) -> Result<(), Error> {
        let shared = Arc::clone(&self.shared);
        let mut index = shared.index.write().unwrap_or_else(|p| p.into_inner());
        if self.meta.state.purged.as_ref() >= Some(&log_id) {
            return Ok(());
        }
        // Earlier writes first; then the purge point, durably: after a crash the
        // entries at or below it are ignored whatever the log still holds.
        shared.wal.sync()?;
        let next = Meta {
            purged: Some(log_id.clone()),
            ..self.meta.state.clone()
        };
        self.meta.save(next)?;
        if let Some(lsn) = index.runs.purge_upto(log_id.index) {
            shared.wal.checkpoint(Lsn::new(lsn))?;
        }
        if index.runs.is_empty() {
            index.last_log_id = None;
        }
        Ok(())
    }

    fn save_committed_id(&mut self, committed: Option<LogId<C::NodeId>>) -> Result<(), Error> {
        let Some(committed) = committed else {
            return Ok(());
        };
        let lsn = {
            let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
            index.runs.lsn_of(committed.index)
        };
        let purged = self.meta.state.purged.as_ref().map_or(0, |l| l.index + 1);
        match lsn {
            // Never ahead of the entries it names: wait for them to be durable.
            Some(lsn) => self.shared.wal.wait_durable(Lsn::new(lsn))?,
            None if committed.index < purged => {}
            // Not in this log (yet): keep the older value, which stays true.
            None => return Ok(()),
        }
        let next = Meta {
            committed: Some(committed),
            ..self.meta.state.clone()
        };
        self.meta.save(next)
    }
}

impl<C> RaftLogReader<C> for RaftLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: StoredEntry,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.shared.read(range).map_err(read_logs)
    }
}

impl<C> RaftLogReader<C> for LogReader<C>
where
    C: RaftTypeConfig,
    C::Entry: StoredEntry,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.shared.read(range).map_err(read_logs)
    }
}

impl<C> RaftLogStorage<C> for RaftLogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: StoredEntry,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        let last = {
            let index = self.shared.index.read().unwrap_or_else(|p| p.into_inner());
            index.last_log_id.clone()
        };
        let last_purged_log_id = self.meta.state.purged.clone();
        Ok(LogState {
            last_log_id: last.or_else(|| last_purged_log_id.clone()),
            last_purged_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        // Serialised after every earlier write: the entries appended before it are
        // durable before the vote is.
        self.shared.wal.sync().map_err(write_vote)?;
        let next = Meta {
            vote: Some(vote.clone()),
            ..self.meta.state.clone()
        };
        self.meta.save(next).map_err(write_vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.meta.state.vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        self.save_committed_id(committed).map_err(write_vote)
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.meta.state.committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        match self.append_all(entries) {
            Ok(Some(last_lsn)) => {
                self.flusher.submit(last_lsn, callback);
                Ok(())
            }
            Ok(None) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            // The callback is dropped unanswered: the error stops the node.
            Err(e) => Err(write_logs(e)),
        }
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let shared = Arc::clone(&self.shared);
        let mut index = shared.index.write().unwrap_or_else(|p| p.into_inner());
        self.cut(&mut index, log_id.index).map_err(write_logs)
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.purge_upto(log_id).map_err(write_logs)
    }
}
