//! Reopening a log with a smaller `record_bytes_max` than it was written with keeps
//! (and reads back) the larger records already in it: the limit governs new appends,
//! not what recovery accepts from disk.

use ringwal::{Error, Lsn, Wal};

use crate::common::{drivers, small, temp_log};

#[test]
fn big_records_survive_a_reopen_with_a_smaller_limit() {
    for driver in drivers() {
        let log = temp_log();
        let big = vec![0xB5u8; 8 << 10];
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        wal.append_durable(b"small").unwrap();
        wal.append_durable(&big).unwrap();
        wal.close().unwrap();

        let tight = small(driver).record_bytes_max(1 << 10);
        let wal = Wal::open(&log.dir, tight).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::from(2));
        assert_eq!(wal.recovery_report().torn_bytes_cut, 0);
        let records: Vec<_> = wal
            .read_from(Lsn::from(1))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].payload(), big.as_slice());
        assert!(matches!(
            wal.append(&big),
            Err(Error::InvalidArgument { .. })
        ));
        wal.close().unwrap();
    }
}
