//! Issue 13: a failure that poisons the log wakes every pending `durable` future and
//! `SyncTicket` with the poison error; none is left waiting.

use std::sync::Arc;
use std::time::Duration;

use ringwal::testing::{FaultKind, FaultPlan};
use ringwal::{Durability, Error, Wal};

use crate::common::{drivers, eventually, small, temp_log, within_a_minute};

const TASKS: u32 = 500;

#[test]
fn poison_wakes_every_pending_future_with_the_error() {
    for driver in drivers() {
        let log = temp_log();
        let dir = log.dir.clone();
        within_a_minute("futures woken by poison", move || {
            // No sync happens until one is asked for, and the first one fails: every
            // future registered before it must be woken with the poison.
            let opts = small(driver)
                .durability(Durability::Periodic(Duration::from_secs(3600)))
                .inject_faults(FaultPlan::fail_sync(1, FaultKind::Eio));
            let wal = Arc::new(Wal::open(&dir, opts).unwrap());
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let mut handles = Vec::new();
            for i in 0..TASKS {
                let wal = Arc::clone(&wal);
                handles.push(rt.spawn(async move {
                    let lsn = wal.append_async(&i.to_le_bytes()).await?;
                    wal.durable(lsn).await
                }));
            }
            eventually("every future registered", || {
                wal.stats().wakers_registered == u64::from(TASKS)
            });
            // Now a sync, awaited as a ticket: it fails, and poisons the log.
            let ticket = wal.sync_async().unwrap();
            handles.push(rt.spawn(ticket));
            let outcomes: Vec<_> = rt.block_on(async {
                let mut out = Vec::new();
                for h in handles {
                    out.push(h.await.unwrap());
                }
                out
            });
            for outcome in &outcomes {
                assert!(
                    matches!(outcome, Err(Error::Poisoned { .. })),
                    "{driver:?}: {outcome:?}"
                );
            }
            assert_eq!(outcomes.len(), TASKS as usize + 1);
            assert_eq!(wal.stats().wakers_registered, 0, "{driver:?}");
            assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
        });
    }
}
