//! Peer WAL crates from crates.io, each behind a cargo feature of this crate
//! (`okaywal`, `raft-engine`, `walrus`; `peers` turns on all three), driven through
//! `Appender` exactly like ringwal. Each is opened with the strongest durability it
//! offers; `Peer::durability` says what that is.

use std::path::Path;

use crate::appender::{Appender, run_appender};
use crate::{BoxError, Measure, Until};

/// A peer WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// okaywal 0.3: `begin_entry` / `write_chunk` / `commit` (commit = fdatasync, group commit).
    Okaywal,
    /// raft-engine 0.4 (TiKV): `LogBatch::put` then `Engine::write(batch, sync = true)`.
    RaftEngine,
    /// walrus-rust 0.2: `append_for_topic` with `FsyncSchedule::SyncEach` (O_SYNC files).
    Walrus,
}

impl Peer {
    /// Every peer this build includes (the features that are on).
    pub fn built() -> Vec<Peer> {
        let mut v = Vec::new();
        if cfg!(feature = "okaywal") {
            v.push(Peer::Okaywal);
        }
        if cfg!(feature = "raft-engine") {
            v.push(Peer::RaftEngine);
        }
        if cfg!(feature = "walrus") {
            v.push(Peer::Walrus);
        }
        v
    }

    /// Short name (the `--systems` flag's spelling).
    pub fn name(self) -> &'static str {
        match self {
            Peer::Okaywal => "okaywal",
            Peer::RaftEngine => "raft-engine",
            Peer::Walrus => "walrus",
        }
    }

    /// What an acknowledged append means with the options used here.
    pub fn durability(self) -> &'static str {
        match self {
            Peer::Okaywal => {
                "per-record durable: commit returns after fdatasync (group commit); no unsynced mode"
            }
            Peer::RaftEngine => {
                "per-record durable: write(sync=true) returns after fdatasync (group commit); sync=false for W6"
            }
            Peer::Walrus => {
                "per-record durable: FsyncSchedule::SyncEach opens files O_SYNC (default is a 200 ms timer); no W6 (the schedule is process-wide)"
            }
        }
    }

    /// Whether the peer can run the unsynced workload (W6) in this harness.
    pub fn has_unsynced(self) -> bool {
        matches!(self, Peer::RaftEngine)
    }

    /// Runs one cell on a fresh log in `dir` (removed afterwards): `threads` threads,
    /// `batch` records of `record_bytes` per call, each call durable if `durable`.
    pub fn run(
        self,
        dir: &Path,
        threads: usize,
        batch: usize,
        record_bytes: usize,
        until: Until,
        durable: bool,
    ) -> Result<Measure, BoxError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        std::fs::create_dir_all(dir)?;
        let m = match self {
            Peer::Okaywal => okay::run(dir, threads, batch, record_bytes, until),
            Peer::RaftEngine => raft::run(dir, threads, batch, record_bytes, until, durable),
            Peer::Walrus => walrus::run(dir, threads, batch, record_bytes, until),
        };
        let _ = std::fs::remove_dir_all(dir);
        m
    }
}

/// Warms `a` up with a few calls, then times it.
#[cfg_attr(
    not(any(feature = "okaywal", feature = "raft-engine", feature = "walrus")),
    allow(dead_code, reason = "used by the peers' features")
)]
fn warm_and_run(
    a: &dyn Appender,
    threads: usize,
    batch: usize,
    record_bytes: usize,
    until: Until,
) -> Result<Measure, BoxError> {
    let one = [0u8; 64];
    for _ in 0..50 {
        a.append(0, &[&one])?;
    }
    run_appender(a, threads, batch, record_bytes, until)
}

#[cfg(feature = "okaywal")]
mod okay {
    use super::*;

    struct Okay(okaywal::WriteAheadLog);

    impl Appender for Okay {
        fn append(&self, _thread: usize, records: &[&[u8]]) -> Result<(), BoxError> {
            let mut entry = self.0.begin_entry()?;
            for r in records {
                entry.write_chunk(r)?;
            }
            entry.commit()?;
            Ok(())
        }
    }

    pub(super) fn run(
        dir: &Path,
        threads: usize,
        batch: usize,
        record_bytes: usize,
        until: Until,
    ) -> Result<Measure, BoxError> {
        let wal = Okay(okaywal::Configuration::default_for(dir).open(okaywal::LogVoid)?);
        let m = warm_and_run(&wal, threads, batch, record_bytes, until);
        wal.0.shutdown()?;
        m
    }
}

#[cfg(not(feature = "okaywal"))]
mod okay {
    use super::*;
    pub(super) fn run(
        _: &Path,
        _: usize,
        _: usize,
        _: usize,
        _: Until,
    ) -> Result<Measure, BoxError> {
        Err("okaywal is not built (cargo feature `okaywal`)".into())
    }
}

#[cfg(feature = "raft-engine")]
mod raft {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    struct Raft {
        engine: raft_engine::Engine,
        sync: bool,
        next_key: AtomicU64,
    }

    impl Appender for Raft {
        fn append(&self, thread: usize, records: &[&[u8]]) -> Result<(), BoxError> {
            let mut batch = raft_engine::LogBatch::default();
            for r in records {
                // A bounded key space per region keeps the engine's memtable small.
                let key = self.next_key.fetch_add(1, Ordering::Relaxed) % 4096;
                batch.put(thread as u64 + 1, key.to_be_bytes().to_vec(), r.to_vec())?;
            }
            self.engine.write(&mut batch, self.sync)?;
            Ok(())
        }
    }

    pub(super) fn run(
        dir: &Path,
        threads: usize,
        batch: usize,
        record_bytes: usize,
        until: Until,
        sync: bool,
    ) -> Result<Measure, BoxError> {
        let cfg = raft_engine::Config {
            dir: dir.to_string_lossy().into_owned(),
            ..Default::default()
        };
        let wal = Raft {
            engine: raft_engine::Engine::open(cfg)?,
            sync,
            next_key: AtomicU64::new(0),
        };
        warm_and_run(&wal, threads, batch, record_bytes, until)
    }
}

#[cfg(not(feature = "raft-engine"))]
mod raft {
    use super::*;
    pub(super) fn run(
        _: &Path,
        _: usize,
        _: usize,
        _: usize,
        _: Until,
        _: bool,
    ) -> Result<Measure, BoxError> {
        Err("raft-engine is not built (cargo feature `raft-engine`)".into())
    }
}

#[cfg(feature = "walrus")]
mod walrus {
    use std::sync::atomic::{AtomicU64, Ordering};

    use walrus_rust::{FsyncSchedule, ReadConsistency, Walrus};

    use super::*;

    struct W(Walrus);

    impl Appender for W {
        fn append(&self, _thread: usize, records: &[&[u8]]) -> Result<(), BoxError> {
            match records {
                [one] => self.0.append_for_topic("bench", one)?,
                many => self.0.batch_append_for_topic("bench", many)?,
            }
            Ok(())
        }
    }

    static RUNS: AtomicU64 = AtomicU64::new(0);

    /// walrus keeps its files under `$WALRUS_DATA_DIR/<key>`; the harness sets that
    /// variable (and `WALRUS_QUIET`) at start-up, before any thread exists.
    pub(super) fn run(
        _dir: &Path,
        threads: usize,
        batch: usize,
        record_bytes: usize,
        until: Until,
    ) -> Result<Measure, BoxError> {
        let data = std::env::var_os("WALRUS_DATA_DIR")
            .ok_or("WALRUS_DATA_DIR is not set (the harness sets it at start-up)")?;
        let key = format!("run{}", RUNS.fetch_add(1, Ordering::Relaxed));
        let wal = W(Walrus::with_consistency_and_schedule_for_key(
            &key,
            ReadConsistency::StrictlyAtOnce,
            FsyncSchedule::SyncEach,
        )?);
        let m = warm_and_run(&wal, threads, batch, record_bytes, until);
        drop(wal);
        let _ = std::fs::remove_dir_all(Path::new(&data).join(&key));
        m
    }
}

#[cfg(not(feature = "walrus"))]
mod walrus {
    use super::*;
    pub(super) fn run(
        _: &Path,
        _: usize,
        _: usize,
        _: usize,
        _: Until,
    ) -> Result<Measure, BoxError> {
        Err("walrus is not built (cargo feature `walrus`)".into())
    }
}
