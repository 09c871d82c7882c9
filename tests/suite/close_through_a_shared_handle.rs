//! Issue 13: `Wal::close(&self)` closes a log held in an `Arc` from one clone while
//! other threads append: every record acknowledged before the close is recovered, every
//! call after it fails with `Closed`, the directory is released (a new `Wal::open`
//! succeeds while clones are still alive), and a second `close` gives the same answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ringwal::{Error, Wal};

use crate::common::{drivers, payload, small, temp_log};

#[test]
fn close_from_one_clone_while_others_append() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Arc::new(Wal::open(&log.dir, small(driver)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let mut appenders = Vec::new();
        for _ in 0..4 {
            let wal = Arc::clone(&wal);
            let stop = Arc::clone(&stop);
            appenders.push(std::thread::spawn(move || {
                let mut acked = Vec::new();
                loop {
                    let p = payload(acked.len() as u64);
                    match wal
                        .append(&p)
                        .and_then(|lsn| wal.wait_durable(lsn).map(|()| lsn))
                    {
                        Ok(lsn) => acked.push((lsn, p)),
                        Err(Error::Closed) => return acked,
                        Err(e) => panic!("unexpected {e}"),
                    }
                    if stop.load(Ordering::Relaxed) && acked.len() > 1_000_000 {
                        return acked;
                    }
                }
            }));
        }
        while wal.last_lsn().get() < 300 {
            std::thread::yield_now();
        }
        wal.close().unwrap();
        stop.store(true, Ordering::Relaxed);
        let acked: Vec<_> = appenders
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert!(
            acked.len() >= 100,
            "{driver:?}: {} acknowledged",
            acked.len()
        );
        let last = acked.iter().map(|(l, _)| *l).max().unwrap();
        let closed = |what: &str, r: Result<(), Error>| {
            assert!(
                matches!(r, Err(Error::Closed)),
                "{driver:?}: {what} after close: {r:?}"
            );
        };
        closed("append", wal.append(b"late").map(drop));
        closed(
            "append_async",
            futures_executor::block_on(wal.append_async(b"late")).map(drop),
        );
        closed("checkpoint", wal.checkpoint(last));
        closed("truncate_from", wal.truncate_from(last));
        closed("read_from", wal.read_from(1.into()).map(drop));
        closed("get", wal.get(last).map(drop));
        closed("tail", wal.tail(last).map(drop));
        closed("sync_async", wal.sync_async().map(drop));
        // What the close synced is still acknowledged.
        wal.wait_durable(last).unwrap();
        wal.close().unwrap();
        // The directory is free although `wal` (and its clones' memory) still exists.
        let reopened = Wal::open(&log.dir, small(driver)).unwrap();
        let records: std::collections::HashMap<u64, Vec<u8>> = reopened
            .read_from(1.into())
            .unwrap()
            .map(|r| r.map(|r| (r.lsn().get(), r.payload().to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        for (lsn, p) in &acked {
            assert_eq!(
                records.get(&lsn.get()),
                Some(p),
                "{driver:?}: LSN {lsn} lost"
            );
        }
        reopened.close().unwrap();
        drop(wal);
    }
}
