//! A single flush that spans many small segments (a big staging buffer, unsynced
//! appends) writes and syncs each run into its own segment — on io_uring every op
//! keeps its fixed-file slot until its chain retires — and everything reads back.

use ringwal::{Durability, Wal};

use crate::common::{assert_log_holds, drivers, payload, temp_log};

#[test]
fn a_flush_spanning_many_segments_lands_in_place() {
    for driver in drivers() {
        let log = temp_log();
        let opts = ringwal::Options::default()
            .driver(driver)
            .durability(Durability::Flush)
            .segment_bytes(16 << 10)
            .record_bytes_max(4 << 10)
            .staging_bytes_max(1 << 20);
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        for i in 1..=3000u64 {
            wal.append(&payload(i)).unwrap();
        }
        assert_eq!(wal.sync().unwrap().get(), 3000);
        let stats = wal.stats();
        assert!(stats.rotations >= 20, "{stats:?}");
        wal.close().unwrap();
        assert_log_holds(&log.dir, opts, 1, 3000);
    }
}
