//! Throughput of the openraft log store: entries/s through `RaftLogStorage::append`
//! with its durable callback (`blocking_append`: the call returns once openraft's
//! `LogFlushed` callback fired, i.e. once the entries are durable), for 1 and 16
//! concurrent Raft groups (one store each, appending from its own task), with 1 and 32
//! entries per append; plus `try_get_log_entries` of single entries (point lookups
//! through `Wal::get`'s index) on a long log.
//!
//! ```sh
//! cargo run --release -p ringwal-openraft --example store_bench -- [seconds per cell]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "kv/mod.rs"]
mod kv;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kv::{Request, TypeConfig};
use openraft::storage::RaftLogStorageExt;
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader};
use ringwal::Options;
use ringwal_openraft::RaftLogStore;

type Store = RaftLogStore<TypeConfig>;

fn entry(index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 0), index),
        payload: EntryPayload::Normal(Request::Set {
            key: format!("key-{index}"),
            value: "v".repeat(200),
        }),
    }
}

/// 8 MiB segments: each group has its own log (and meta log), and every log zero-fills
/// its active and next segment up front — 64 MiB ones would make the 16-group cells
/// measure 4 GiB of preallocation.
fn options() -> Options {
    Options::default().segment_bytes(8 << 20)
}

/// Entries/s over `groups` stores appending `per_append` entries at a time.
async fn appends(groups: usize, per_append: u64, run_for: Duration) -> f64 {
    let root = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let total = Arc::new(AtomicU64::new(0));
    // Every store is opened (and its segments prepared) before the clock starts.
    let stores: Vec<Store> = (0..groups)
        .map(|g| Store::open(root.path().join(format!("group-{g}")), options()).unwrap())
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for mut store in stores {
        let (stop, total) = (Arc::clone(&stop), Arc::clone(&total));
        tasks.spawn(async move {
            let mut next = 1;
            while !stop.load(Ordering::Relaxed) {
                let batch: Vec<_> = (next..next + per_append).map(entry).collect();
                store.blocking_append(batch).await.unwrap();
                next += per_append;
                total.fetch_add(per_append, Ordering::Relaxed);
            }
        });
    }
    let started = Instant::now();
    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    total.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// Point lookups/s (`try_get_log_entries(i..=i)`) over a log of `entries` entries.
async fn lookups(entries: u64, run_for: Duration) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), options()).unwrap();
    let mut next = 1;
    while next <= entries {
        let batch: Vec<_> = (next..next + 1000).map(entry).collect();
        store.blocking_append(batch).await.unwrap();
        next += 1000;
    }
    let mut reader = openraft::storage::RaftLogStorage::get_log_reader(&mut store).await;
    let started = Instant::now();
    let mut n = 0u64;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    while started.elapsed() < run_for {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = 1 + x % entries;
        let got = reader.try_get_log_entries(i..=i).await.unwrap();
        assert_eq!(got.first().map(|e| e.log_id.index), Some(i));
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: f64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let run_for = Duration::from_secs_f64(seconds);
    println!("| raft groups | entries per append | entries/s (durable) |");
    println!("|---|---|---|");
    for (groups, per_append) in [(1, 1), (1, 32), (16, 1), (16, 32)] {
        let rate = appends(groups, per_append, run_for).await;
        println!("| {groups} | {per_append} | {rate:.0} |");
    }
    let rate = lookups(200_000, run_for).await;
    println!("point lookups (try_get_log_entries(i..=i)) over 200,000 entries: {rate:.0}/s");
}
