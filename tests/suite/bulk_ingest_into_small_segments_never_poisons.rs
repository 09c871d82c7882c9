//! Issue 11, item 1: batches that each fill most of a small segment made one flush span
//! more segments than the io_uring driver had fixed-file slots for, and the log
//! poisoned itself ("no free fixed-file slot") on a workload its own option validation
//! accepted. Every record of the bulk ingest must be stored and read back.

use ringwal::{Options, Wal};

use crate::common::{drivers, temp_log};

fn batch(round: u64, len: usize) -> Vec<Vec<u8>> {
    (0..50u64)
        .map(|i| {
            let mut p = vec![(round as u8) ^ (i as u8); len];
            p[..8].copy_from_slice(&(round * 50 + i).to_le_bytes());
            p
        })
        .collect()
}

#[test]
fn bulk_ingest_into_small_segments_never_poisons() {
    for driver in drivers() {
        let log = temp_log();
        let opts = Options::default()
            .driver(driver)
            .segment_bytes(64 * 1024)
            .record_bytes_max(4096);
        let wal = Wal::open(&log.dir, opts.clone()).expect("open");
        let rounds = 400u64;
        for round in 0..rounds {
            let records = batch(round, 1000);
            let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
            wal.append_batch(&refs)
                .unwrap_or_else(|e| panic!("{driver:?}: batch {round}: {e}"));
        }
        wal.sync()
            .unwrap_or_else(|e| panic!("{driver:?}: sync: {e}"));
        let stats = wal.stats();
        // One segment per batch: a flush spans many segments.
        assert!(stats.rotations >= rounds - 1, "{driver:?}: {stats:?}");
        wal.close().expect("close");

        let wal = Wal::open(&log.dir, opts).expect("reopen");
        let mut n = 0u64;
        for record in wal.read_from(1.into()).expect("read") {
            let record = record.expect("record");
            let round = n / 50;
            assert_eq!(
                record.payload(),
                batch(round, 1000)[(n % 50) as usize].as_slice()
            );
            n += 1;
        }
        assert_eq!(n, rounds * 50, "{driver:?}");
        wal.close().expect("close");
    }
}
