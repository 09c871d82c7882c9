//! What the store keeps across restarts (entries, vote, committed id, purge point, a
//! conflict truncation and the entries that replaced the suffix), what a power cut in
//! the middle of a conflict truncation leaves (simulated filesystem, every file
//! operation), and that a failing log is an error to openraft, never a success.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[allow(dead_code)]
mod common;
#[path = "../examples/kv/mod.rs"]
mod kv;

use kv::{NodeId, Request, TypeConfig};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};
use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{Driver, Durability, Options};
use ringwal_openraft::RaftLogStore;

type Store = RaftLogStore<TypeConfig>;

fn log_id(term: u64, index: u64) -> LogId<NodeId> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Request::Set {
            key: format!("k{index}"),
            value: format!("term {term}"),
        }),
    }
}

fn entries(term: u64, indexes: std::ops::RangeInclusive<u64>) -> Vec<Entry<TypeConfig>> {
    indexes.map(|i| entry(term, i)).collect()
}

fn small(driver: Driver) -> Options {
    Options::default()
        .driver(driver)
        .segment_bytes(64 << 10)
        .record_bytes_max(4 << 10)
}

fn drivers() -> Vec<Driver> {
    let mut out = vec![Driver::Portable];
    if common::io_uring_runs(small(Driver::IoUring)) {
        out.push(Driver::IoUring);
    }
    out
}

/// (index, term) of every entry the store returns.
async fn ids(store: &mut Store) -> Vec<(u64, u64)> {
    store
        .try_get_log_entries(0..)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.log_id.index, e.log_id.leader_id.term))
        .collect()
}

#[tokio::test]
async fn everything_persisted_comes_back_after_a_restart() {
    for driver in drivers() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path(), small(driver)).unwrap();
            store.blocking_append(entries(1, 0..=20)).await.unwrap();
            store.save_vote(&Vote::new(2, 1)).await.unwrap();
            store.save_committed(Some(log_id(1, 15))).await.unwrap();
            store.purge(log_id(1, 5)).await.unwrap();
            // A new leader's entries conflict from 18 on.
            store.truncate(log_id(1, 18)).await.unwrap();
            store.blocking_append(entries(2, 18..=25)).await.unwrap();
        }
        let mut store = Store::open(dir.path(), small(driver)).unwrap();
        let state = store.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 5)), "{driver:?}");
        assert_eq!(state.last_log_id, Some(log_id(2, 25)), "{driver:?}");
        assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(2, 1)));
        assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 15)));
        let want: Vec<(u64, u64)> = (6..=17)
            .map(|i| (i, 1))
            .chain((18..=25).map(|i| (i, 2)))
            .collect();
        assert_eq!(ids(&mut store).await, want, "{driver:?}");
        // And the log goes on from there.
        store.blocking_append(entries(2, 26..=26)).await.unwrap();
        assert_eq!(ids(&mut store).await.last(), Some(&(26, 2)));
    }
}

#[tokio::test]
async fn entries_are_readable_as_soon_as_append_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), small(Driver::Portable)).unwrap();
    let mut reader = store.get_log_reader().await;
    for i in 0..200 {
        store.blocking_append(entries(1, i..=i)).await.unwrap();
        let got = reader.try_get_log_entries(i..=i).await.unwrap();
        assert_eq!(got.len(), 1, "entry {i} readable");
    }
    assert_eq!(ids(&mut store).await.len(), 200);
}

/// The power goes at the n-th file operation of "truncate from 12, append 12..=15 in
/// term 2", for every n until one completes. The reopened log is the old one, or the
/// cut one followed by a prefix of the new entries (all of them if the append was
/// acknowledged); never old entries above the cut next to new ones, never a gap.
#[tokio::test]
async fn a_power_cut_in_a_conflict_truncation_leaves_one_log_or_the_other() {
    let mut n = 1;
    let mut outcomes = std::collections::BTreeSet::new();
    loop {
        let sim = SimFs::new(n);
        let options = small(Driver::Portable).simulated(&sim);
        let mut store = Store::open("/raft", options.clone()).unwrap();
        store.blocking_append(entries(1, 0..=20)).await.unwrap();
        store.save_vote(&Vote::new(1, 0)).await.unwrap();
        sim.cut_power_after(n);
        let cut = store.truncate(log_id(1, 12)).await;
        let appended = match cut {
            Ok(()) => store.blocking_append(entries(2, 12..=15)).await.is_ok(),
            Err(_) => false,
        };
        let powered = sim.is_powered();
        sim.restart();
        drop(store);
        let mut store = Store::open("/raft", options).unwrap();
        let got = ids(&mut store).await;
        let old: Vec<(u64, u64)> = (0..=20).map(|i| (i, 1)).collect();
        let kept: Vec<(u64, u64)> = (0..=11).map(|i| (i, 1)).collect();
        if got != old {
            assert_eq!(got[..12], kept[..], "op {n}: the entries below the cut");
            let new: Vec<(u64, u64)> = got[12..].to_vec();
            let want: Vec<(u64, u64)> = (12..12 + new.len() as u64).map(|i| (i, 2)).collect();
            assert_eq!(
                new, want,
                "op {n}: only new entries after the cut, in order"
            );
            if appended {
                assert_eq!(new.len(), 4, "op {n}: an acknowledged append survives");
            }
        }
        assert!(
            cut.is_err() || got != old,
            "op {n}: an acknowledged cut holds"
        );
        assert_eq!(
            store.read_vote().await.unwrap(),
            Some(Vote::new(1, 0)),
            "op {n}"
        );
        outcomes.insert(got.len());
        if powered {
            assert!(appended, "op {n}: with the power on, everything succeeds");
            break;
        }
        n += 1;
    }
    // The old log (21), the cut one (12), and the cut one with all 4 new entries.
    assert!(outcomes.contains(&21) && outcomes.contains(&12) && outcomes.contains(&16));
}

#[tokio::test]
async fn a_failing_log_is_a_storage_error_never_a_success() {
    let sim = SimFs::new(3);
    let options = small(Driver::Portable).simulated(&sim);
    let mut store = Store::open("/raft", options).unwrap();
    store.blocking_append(entries(1, 0..=3)).await.unwrap();
    sim.fail(SimFault {
        op: SimOp::Sync,
        nth: 1,
        error: SimError::Eio,
    });
    assert!(
        store.blocking_append(entries(1, 4..=4)).await.is_err(),
        "the sync failed: the append's callback reports it"
    );
    assert!(store.blocking_append(entries(1, 5..=5)).await.is_err());
    assert!(store.save_vote(&Vote::new(5, 0)).await.is_err());
    assert!(store.truncate(log_id(1, 2)).await.is_err());
    assert!(store.purge(log_id(1, 1)).await.is_err());
    assert_eq!(
        store.read_vote().await.unwrap(),
        None,
        "the failed vote is not reported"
    );
}

#[test]
fn options_that_cannot_keep_raft_durable_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = small(Driver::Portable).durability(Durability::Flush);
    assert!(matches!(
        Store::open(dir.path(), options),
        Err(ringwal_openraft::Error::Options(_))
    ));
}

/// Every vote and committed id appends a record to the meta log; its checkpoints
/// retire the old ones, so it stays a few segments however many votes there were.
#[tokio::test]
async fn the_meta_log_stays_small_over_many_saves() {
    let sim = SimFs::new(9);
    let options = small(Driver::Portable).simulated(&sim);
    let mut store = Store::open("/raft", options.clone()).unwrap();
    store.blocking_append(entries(1, 0..=0)).await.unwrap();
    for term in 1..=10_000 {
        store.save_vote(&Vote::new(term, 0)).await.unwrap();
        store.save_committed(Some(log_id(1, 0))).await.unwrap();
    }
    drop(store);
    let meta_segments = sim
        .paths()
        .iter()
        .filter(|p| p.starts_with("/raft/meta") && p.extension().is_some_and(|e| e == "wal"))
        .count();
    assert!(meta_segments <= 3, "{meta_segments} meta segments");
    let mut store = Store::open("/raft", options).unwrap();
    assert_eq!(store.read_vote().await.unwrap(), Some(Vote::new(10_000, 0)));
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(1, 0)));
}
