//! Issue 13: `Wal::get(lsn)` finds one record by its LSN — in segments written before a
//! reopen (indexed by recovery) and after it (indexed by the writer), across rotations,
//! after a cut and after a checkpoint (retired: `BelowCheckpoint`); beyond the end it is
//! `None`.

use ringwal::{Error, Lsn, Wal};

use crate::common::{drivers, payload, small, temp_log};

fn check_all(wal: &Wal, from: u64, to: u64) {
    for lsn in from..=to {
        let record = wal
            .get(Lsn::new(lsn))
            .unwrap()
            .unwrap_or_else(|| panic!("no record {lsn}"));
        assert_eq!(record.lsn().get(), lsn);
        assert_eq!(
            record.payload(),
            payload(lsn).as_slice(),
            "payload of {lsn}"
        );
    }
}

#[test]
fn get_finds_every_record_before_and_after_a_reopen() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for lsn in 1..=3_000u64 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.sync().unwrap();
        assert!(wal.stats().rotations >= 5, "{driver:?}: too few segments");
        check_all(&wal, 1, 3_000);
        assert!(wal.get(Lsn::new(3_001)).unwrap().is_none());
        assert!(wal.get(Lsn::new(0)).unwrap().is_none());
        wal.close().unwrap();

        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        check_all(&wal, 1, 3_000);
        for lsn in 3_001..=4_000u64 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.sync().unwrap();
        check_all(&wal, 2_990, 4_000);
        // A cut, then new records at the same LSNs.
        wal.truncate_from(Lsn::new(3_500)).unwrap();
        assert!(wal.get(Lsn::new(3_500)).unwrap().is_none());
        for lsn in 3_500..=3_600u64 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.sync().unwrap();
        check_all(&wal, 3_400, 3_600);
        // Retired records are refused, named.
        wal.checkpoint(Lsn::new(2_000)).unwrap();
        match wal.get(Lsn::new(1)) {
            Err(Error::BelowCheckpoint {
                first_available, ..
            }) => {
                assert!(first_available.get() > 1 && first_available.get() <= 2_001);
                check_all(&wal, first_available.get(), 3_600);
            }
            other => panic!("{driver:?}: expected BelowCheckpoint, got {other:?}"),
        }
        wal.close().unwrap();
    }
}
