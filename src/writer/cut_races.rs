//! `truncate_from` racing `checkpoint` and `sync_async`. Both read the end of the log;
//! a cut in between used to leave a sync target above the end (the writer spun on it,
//! never able to build a flush that reaches it) and let a checkpoint validated against
//! the old end cover records appended after the cut. The interleavings are forced here
//! with the crate's own locks, so each test fails on the old code every time.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::error::Error;
use crate::{Driver, Lsn, Options, Wal};

fn open(dir: &std::path::Path) -> Wal {
    let options = Options::default()
        .driver(Driver::Portable)
        .segment_bytes(64 << 10)
        .record_bytes_max(4 << 10)
        .staging_bytes_max(256 << 10);
    Wal::open(dir, options).unwrap()
}

fn append_synced(wal: &Wal, n: u64) {
    for i in 0..n {
        wal.append(format!("r{i}").as_bytes()).unwrap();
    }
    wal.sync().unwrap();
}

/// A sync asked for with the end read before a cut (what `sync_async` did between its
/// read of `last_lsn` and its request) must not leave the writer a target it can never
/// reach.
#[test]
fn a_sync_asked_for_across_a_cut_stays_within_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = open(&tmp.path().join("wal"));
    append_synced(&wal, 10);
    let end_before_cut = wal.last_lsn().get();
    wal.truncate_from(Lsn::new(6)).unwrap();
    let granted = wal.shared.staging.request_sync(end_before_cut);
    let st = wal.shared.staging.lock();
    assert!(
        st.sync_target < st.next_lsn,
        "sync target {} beyond the end {} of the log: the writer has work it can never do",
        st.sync_target,
        st.next_lsn - 1
    );
    assert!(granted <= 5, "a ticket for LSN {granted} after a cut to 5");
    assert!(
        !st.has_work(wal.shared.watermark.get(super::Level::Synced)),
        "an idle writer still has work after the cut: it spins"
    );
    drop(st);
    let ticket = wal.sync_async().unwrap();
    assert_eq!(ticket.lsn(), Lsn::new(5));
    ticket.wait().unwrap();
    wal.close().unwrap();
}

/// A sync asked for while a cut is pending covers only what the cut keeps.
#[test]
fn a_sync_asked_for_during_a_pending_cut_stops_below_it() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = open(&tmp.path().join("wal"));
    append_synced(&wal, 10);
    // Hold the staging lock so the writer cannot take the cut yet.
    let mut st = wal.shared.staging.lock();
    st.truncate = Some(4);
    drop(st);
    let granted = wal.shared.staging.request_sync(u64::MAX);
    wal.shared.staging.lock().truncate = None;
    assert_eq!(granted, 3, "a sync requested during a cut from 4");
    wal.close().unwrap();
}

/// A checkpoint that arrives while a cut holds the checkpoint mutex is validated
/// against the end after the cut, not the one it saw before waiting for the mutex.
#[test]
fn a_checkpoint_waiting_on_a_cut_is_checked_against_the_new_end() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = open(&tmp.path().join("wal"));
    append_synced(&wal, 10);
    std::thread::scope(|s| {
        // What `truncate_from` does: the cut runs under the checkpoint mutex.
        let cp = wal.checkpoint.lock().unwrap();
        let checkpointer = s.spawn(|| wal.checkpoint(Lsn::new(10)));
        // Give the checkpoint time to read the end and block on the mutex. Only the
        // old code depends on this: the fixed one reads the end under the mutex.
        std::thread::sleep(Duration::from_millis(100));
        wal.shared.staging.truncate(6).unwrap();
        drop(cp);
        // The fixed checkpoint answers at once. The old one asked for a sync beyond
        // the end and waited for records that did not exist: bounded here as a hang
        // guard, after which records appended past the cut release it and it
        // checkpoints them.
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while !checkpointer.is_finished() && std::time::Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(5));
        }
        let hung = !checkpointer.is_finished();
        if hung {
            for i in 0..5 {
                wal.append(format!("after cut {i}").as_bytes()).unwrap();
            }
            wal.sync().unwrap();
        }
        let answer = checkpointer.join().unwrap();
        assert!(
            !hung,
            "checkpoint of LSN 10 over a log cut to 5 waited for records beyond the end, \
             then returned {answer:?}"
        );
        assert!(
            matches!(
                answer,
                Err(Error::InvalidArgument {
                    what: "checkpoint",
                    ..
                })
            ),
            "checkpoint of LSN 10 over a log cut to 5 was {answer:?}"
        );
    });
    assert!(wal.checkpoint_lsn() < Lsn::new(6));
    wal.close().unwrap();
}
