//! The durability levels do what their names say. `Flush`: `wait_durable` returns once
//! the record is written, without any sync, until `sync()` forces one. `Periodic`:
//! `wait_durable` returns after a timed sync nobody asked for, and until its period is
//! up nothing is made durable (it does not sync each flush as `Fsync` does).
//! `sync_async` tickets report their LSN and completion sensibly.

use std::sync::Arc;
use std::time::Duration;

use ringwal::{Durability, Lsn, Wal};

use crate::common::{
    assert_log_holds, drivers, eventually, payload, small, temp_log, within_a_minute,
};

#[test]
fn flush_acknowledges_written_records_without_syncing() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver).durability(Durability::Flush);
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        // Enough records to rotate. The only syncs are of the segment a rotation leaves
        // (so a later segment's records never depend on an earlier one's sync); they do
        // not move the durable watermark, since the active segment stays unsynced.
        for lsn in 1..=600 {
            assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
            assert!(wal.written_lsn() >= Lsn::from(lsn));
        }
        let stats = wal.stats();
        assert!(stats.rotations > 0);
        assert!(
            stats.syncs <= stats.rotations,
            "Flush durability synced on its own: {} syncs, {} rotations",
            stats.syncs,
            stats.rotations
        );
        assert_eq!(wal.durable_lsn(), Lsn::ZERO);

        assert_eq!(wal.sync().unwrap(), Lsn::from(600));
        assert_eq!(wal.durable_lsn(), Lsn::from(600));
        eventually("stats count the forced sync", || wal.stats().syncs > 0);
        // A second sync with nothing new has nothing to do but still answers.
        assert_eq!(wal.sync().unwrap(), Lsn::from(600));
        wal.close().unwrap();
        assert_log_holds(&log.dir, opts, 1, 600);
    }
}

#[test]
fn periodic_syncs_without_being_asked() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver).durability(Durability::Periodic(Duration::from_millis(50)));
        let wal = Arc::new(Wal::open(&log.dir, opts.clone()).unwrap());
        let mut last = Lsn::ZERO;
        for lsn in 1..=200 {
            last = wal.append(&payload(lsn)).unwrap();
        }
        assert_eq!(wal.stats().appends, 200);
        // Nobody calls sync: only the periodic sync can release this wait.
        let waiter = Arc::clone(&wal);
        within_a_minute("wait_durable under Periodic", move || {
            waiter.wait_durable(last)
        })
        .unwrap();
        assert!(wal.durable_lsn() >= last);
        eventually("stats count the periodic sync", || wal.stats().syncs > 0);

        // And again, for a record appended after the first periodic sync.
        let later = wal.append(&payload(201)).unwrap();
        let waiter = Arc::clone(&wal);
        within_a_minute("second wait_durable under Periodic", move || {
            waiter.wait_durable(later)
        })
        .unwrap();
        assert!(wal.durable_lsn() >= later);
        Arc::into_inner(wal).unwrap().close().unwrap();
        assert_log_holds(&log.dir, opts, 1, 201);
    }
}

#[test]
fn periodic_makes_nothing_durable_before_its_period() {
    for driver in drivers() {
        let log = temp_log();
        // A period no test run reaches: nothing here may be a timed sync.
        let opts = small(driver).durability(Durability::Periodic(Duration::from_secs(3600)));
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        for lsn in 1..=600 {
            wal.append(&payload(lsn)).unwrap();
        }
        eventually("every record written", || {
            wal.written_lsn() >= Lsn::from(600)
        });
        let stats = wal.stats();
        assert!(stats.flushes > 0 && stats.rotations > 0, "{stats:?}");
        // As for `Flush`: the segments that rotations leave are synced, but the active
        // one is not, so the durable watermark has not moved. Had the writer synced
        // each flush (as for `Fsync`), the last flush's sync would have moved it.
        assert_eq!(
            wal.durable_lsn(),
            Lsn::ZERO,
            "Periodic made records durable before its period: {stats:?}"
        );
        // An explicit sync still makes everything durable at once.
        assert_eq!(wal.sync().unwrap(), Lsn::from(600));
        assert_eq!(wal.durable_lsn(), Lsn::from(600));
        wal.close().unwrap();
        assert_log_holds(&log.dir, opts, 1, 600);
    }
}

#[test]
fn sync_tickets_report_their_lsn_and_completion() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver).durability(Durability::Flush)).unwrap();

        // Nothing appended: a ticket for LSN 0, done at once.
        let empty = wal.sync_async().unwrap();
        assert_eq!(empty.lsn(), Lsn::ZERO);
        assert!(empty.is_done());
        assert_eq!(empty.wait().unwrap(), Lsn::ZERO);

        for lsn in 1..=50 {
            wal.append(&payload(lsn)).unwrap();
        }
        let ticket = wal.sync_async().unwrap();
        assert_eq!(ticket.lsn(), Lsn::from(50));
        let copy = ticket.clone();
        assert_eq!(ticket.wait().unwrap(), Lsn::from(50));
        assert!(ticket.is_done());
        assert!(copy.is_done());
        assert!(
            ticket.wait_timeout(Duration::ZERO).unwrap(),
            "a done ticket is done at once"
        );
        assert!(wal.durable_lsn() >= Lsn::from(50));

        // A ticket with nothing new to sync is done at once.
        let again = wal.sync_async().unwrap();
        assert_eq!(again.lsn(), Lsn::from(50));
        assert!(again.is_done());

        for lsn in 51..=60 {
            wal.append(&payload(lsn)).unwrap();
        }
        let next = wal.sync_async().unwrap();
        assert_eq!(next.lsn(), Lsn::from(60));
        assert!(
            next.wait_timeout(Duration::from_secs(60)).unwrap(),
            "the sync did not complete"
        );
        assert!(next.is_done());
        assert_eq!(wal.durable_lsn(), Lsn::from(60));
        wal.close().unwrap();
    }
}
