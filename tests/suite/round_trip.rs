//! Records appended, synced and closed come back, in order, after a reopen.

use ringwal::{Lsn, Wal};

use crate::common::{assert_log_holds, drivers, payload, small, temp_log};

#[test]
fn appended_records_read_back_after_reopen() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.driver(), driver);
        assert_eq!(wal.last_lsn(), Lsn::ZERO);
        for i in 1..=500u64 {
            let lsn = wal.append(&payload(i)).unwrap();
            assert_eq!(lsn.get(), i);
        }
        let durable = wal.sync().unwrap();
        assert_eq!(durable, Lsn::from(500));
        assert_eq!(wal.durable_lsn(), Lsn::from(500));
        let live: Vec<_> = wal
            .read_from(Lsn::from(250))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(live.len(), 251);
        assert_eq!(live[0].payload(), payload(250).as_slice());
        wal.close().unwrap();
        assert_log_holds(&log.dir, small(driver), 1, 500);
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.recovery_report().records, 500);
        assert_eq!(wal.append_durable(b"more").unwrap(), Lsn::from(501));
        wal.close().unwrap();
    }
}
