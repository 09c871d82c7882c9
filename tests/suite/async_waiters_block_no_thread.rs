//! Issue 13: awaiting durability blocks no thread. 10,000 tokio tasks on a 2-worker
//! runtime each append and await `Wal::durable`; the process's OS threads stay as
//! they were (no thread per waiter), every task's record is durable when it resolves,
//! and no waker is left registered afterwards. Also `SyncTicket` as a future and
//! `append_async` under a full staging buffer.

use std::sync::Arc;

use ringwal::{Driver, Options, Wal};

use crate::common::{drivers, temp_log};

const TASKS: u64 = 10_000;

fn os_threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(1)
        .build()
        .expect("runtime")
}

#[test]
fn ten_thousand_tasks_await_durability_on_two_workers() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Arc::new(Wal::open(&log.dir, Options::default().driver(driver)).unwrap());
        let rt = runtime();
        let before = os_threads();
        let (peak, acked) = rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..TASKS {
                let wal = Arc::clone(&wal);
                handles.push(tokio::spawn(async move {
                    let payload = i.to_le_bytes();
                    let lsn = wal.append_async(&payload).await?;
                    wal.durable(lsn).await?;
                    assert!(wal.durable_lsn() >= lsn, "resolved before durable");
                    Ok::<_, ringwal::Error>(lsn)
                }));
            }
            // While they wait: count the threads (workers, the log's writer and
            // preparer, the harness) — a thread per waiter would be thousands.
            tokio::task::yield_now().await;
            let peak = os_threads();
            let mut acked = 0u64;
            for h in handles {
                h.await.expect("task").expect("durable");
                acked += 1;
            }
            (peak, acked)
        });
        assert_eq!(acked, TASKS);
        assert!(
            peak < before + 16,
            "{driver:?}: {peak} OS threads while {TASKS} tasks waited (from {before})"
        );
        assert_eq!(
            wal.stats().wakers_registered,
            0,
            "{driver:?}: wakers left behind"
        );
        wal.close().unwrap();
        let wal = Wal::open(&log.dir, Options::default().driver(driver)).unwrap();
        assert_eq!(wal.recovery_report().records, TASKS);
    }
}

#[test]
fn a_dropped_durable_future_leaves_no_waker_behind() {
    for driver in drivers() {
        let log = temp_log();
        // Flush durability with a sync never asked for: the synced level never moves,
        // so a SyncTicket for it stays pending until it is dropped.
        let opts = Options::default()
            .driver(driver)
            .durability(ringwal::Durability::Periodic(
                std::time::Duration::from_secs(3600),
            ));
        let wal = Wal::open(&log.dir, opts).unwrap();
        let lsn = wal.append(b"never synced while we look").unwrap();
        let rt = runtime();
        rt.block_on(async {
            let mut pending = Vec::new();
            for _ in 0..100 {
                let mut fut = Box::pin(wal.durable(lsn));
                // Poll once: it registers its waker.
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                let polled = std::future::Future::poll(fut.as_mut(), &mut cx);
                assert!(polled.is_pending(), "{driver:?}: resolved without a sync");
                pending.push(fut);
            }
            assert_eq!(wal.stats().wakers_registered, 100, "{driver:?}");
            drop(pending);
            assert_eq!(
                wal.stats().wakers_registered,
                0,
                "{driver:?}: dropped futures left wakers"
            );
            // And a ticket awaited to the end resolves and unregisters.
            wal.sync_async().unwrap().await.unwrap();
            assert!(wal.durable_lsn() >= lsn);
            assert_eq!(wal.stats().wakers_registered, 0, "{driver:?}");
        });
        wal.close().unwrap();
    }
}

#[test]
fn append_async_waits_for_room_without_blocking_the_worker() {
    for driver in drivers() {
        let log = temp_log();
        // A staging buffer of 4 KiB holds a handful of records: most appends find it
        // full and must wait for the writer to take it.
        let opts = Options::default()
            .driver(driver)
            .staging_bytes_max(4096 + 4096)
            .record_bytes_max(1024);
        let wal = Arc::new(Wal::open(&log.dir, opts).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let lsns = rt.block_on(async {
            let mut handles = Vec::new();
            for i in 0..64u64 {
                let wal = Arc::clone(&wal);
                handles.push(tokio::spawn(async move {
                    let payload = vec![i as u8; 1000];
                    let lsn = wal.append_async(&payload).await?;
                    wal.durable(lsn).await.map(|()| lsn)
                }));
            }
            let mut lsns = Vec::new();
            for h in handles {
                lsns.push(h.await.unwrap().unwrap().get());
            }
            lsns
        });
        // One worker thread only: had an append blocked it, the writer's wake-ups
        // could not have reached the other tasks and this would never finish.
        let mut sorted = lsns.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=64).collect::<Vec<_>>(), "{driver:?}");
        assert_eq!(wal.stats().wakers_registered, 0);
        wal.close().unwrap();
    }
}

#[test]
fn driver_list_includes_portable() {
    assert!(drivers().contains(&Driver::Portable));
}
