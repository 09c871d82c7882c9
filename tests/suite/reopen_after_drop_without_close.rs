//! Dropping a `Wal` without calling `close` releases the directory and keeps every
//! record that was durable, whether it got there by `sync()` or by `append_durable`.

use ringwal::{Durability, Lsn, Wal};

use crate::common::{assert_log_holds, drivers, payload, small, temp_log};

#[test]
fn records_synced_before_a_drop_are_recovered() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for lsn in 1..=600 {
            wal.append(&payload(lsn)).unwrap();
        }
        assert_eq!(wal.sync().unwrap(), Lsn::from(600));
        drop(wal);
        assert_log_holds(&log.dir, small(driver), 1, 600);
    }
}

#[test]
fn durable_appends_before_a_drop_are_recovered() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for lsn in 1..=200 {
            assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
        }
        drop(wal);
        assert_log_holds(&log.dir, small(driver), 1, 200);
        // And again on top of the reopened log.
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for lsn in 201..=250 {
            assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
        }
        drop(wal);
        assert_log_holds(&log.dir, small(driver), 1, 250);
    }
}

#[test]
fn a_drop_writes_out_what_was_staged() {
    for driver in drivers() {
        let log = temp_log();
        // Flush durability: nothing forces a sync before the drop.
        let wal = Wal::open(&log.dir, small(driver).durability(Durability::Flush)).unwrap();
        for lsn in 1..=300 {
            wal.append(&payload(lsn)).unwrap();
        }
        drop(wal);
        assert_log_holds(&log.dir, small(driver), 1, 300);
    }
}
