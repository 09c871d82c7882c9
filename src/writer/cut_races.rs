//! `truncate_from` racing `checkpoint`, `sync_async` and durable appends. Both read
//! the end of the log; a cut in between used to leave a sync target above the end (the
//! writer spun on it, never able to build a flush that reaches it) and let a checkpoint
//! validated against the old end cover records appended after the cut. A durable
//! append whose record a cut removed waited for the record that took its LSN next,
//! forever if none came. The interleavings are forced here with the crate's own locks
//! and entry points, so each test fails on the old code every time.

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
    let (granted, _) = wal.shared.staging.request_sync(end_before_cut);
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
    let (granted, _) = wal.shared.staging.request_sync(u64::MAX);
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

/// Runs `wait` on a thread; if it has not returned within 10 s, appends and syncs
/// records past the cut to release it (a hang guard). Returns whether it had hung.
fn hung_until_released(wal: &Wal, wait: impl FnOnce() -> crate::Result<()> + Send) -> bool {
    std::thread::scope(|s| {
        let waiter = s.spawn(wait);
        let give_up = std::time::Instant::now() + Duration::from_secs(10);
        while !waiter.is_finished() && std::time::Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(5));
        }
        let hung = !waiter.is_finished();
        if hung {
            for i in 0..20 {
                wal.append(format!("release {i}").as_bytes()).unwrap();
            }
            wal.sync().unwrap();
        }
        waiter.join().unwrap().unwrap();
        hung
    })
}

/// `append_durable` stages its record, then waits. An appender descheduled between the
/// two while a cut removes its record must be answered: the cut wrote and synced the
/// record before it moved the watermark back, and the LSN now belongs to whichever
/// record is appended next (CI once hung here in `truncation_waits_out_concurrent_appends`).
#[test]
fn a_durable_append_overtaken_by_a_cut_is_answered() {
    let tmp = tempfile::tempdir().unwrap();
    let wal = open(&tmp.path().join("wal"));
    append_synced(&wal, 10);
    // The first half of `append_durable`.
    let staged = wal.append_one(b"overtaken", true).unwrap();
    assert_eq!(staged.first, 11);
    wal.truncate_from(Lsn::new(6)).unwrap();
    // The second half, after the cut.
    let hung = hung_until_released(&wal, || wal.wait_acknowledged(staged.first, staged.at));
    assert!(
        !hung,
        "a durable append whose record the cut removed waited for LSN 11's next record"
    );
    wal.close().unwrap();
}

/// The other side: a record appended after a cut, under an LSN the cut freed, is
/// waited for until it is itself durable, not answered by the cut.
#[test]
fn a_record_appended_after_a_cut_waits_for_its_own_sync() {
    let tmp = tempfile::tempdir().unwrap();
    let options = Options::default()
        .driver(Driver::Portable)
        .durability(crate::Durability::Periodic(Duration::from_secs(3600)));
    let wal = Wal::open(tmp.path().join("wal"), options).unwrap();
    append_synced(&wal, 10);
    let before_cut = wal.shared.staging.end().1;
    wal.truncate_from(Lsn::new(6)).unwrap();
    let staged = wal.append_one(b"replacement", true).unwrap();
    assert_eq!(staged.first, 6);
    assert_ne!(staged.at, before_cut, "the cut is counted when it finishes");
    std::thread::scope(|s| {
        let waiter = s.spawn(|| wal.wait_acknowledged(staged.first, staged.at));
        std::thread::sleep(Duration::from_millis(200));
        // No sync for an hour: only a wrongly counted cut answers the wait now.
        assert!(!waiter.is_finished(), "LSN 6 acknowledged before its sync");
        assert!(wal.durable_lsn() < Lsn::new(6));
        wal.sync().unwrap();
        waiter.join().unwrap().unwrap();
    });
    assert!(wal.durable_lsn() >= Lsn::new(6));
    wal.close().unwrap();
}
