//! A single flush that spans many small segments (a big staging buffer, unsynced
//! appends) writes and syncs each run into its own segment — on io_uring every op
//! keeps its fixed-file slot until its chain retires — and everything reads back.
//! The statistics must show a flush larger than two segments, or the round proved
//! nothing: appends outrun the writer, so staging holds many segments' worth when it
//! takes the next flush, but the test does not control the writer's timing, so it
//! runs fresh logs (a bounded number) until one shows it.

use ringwal::{Durability, Wal};

use crate::common::{assert_log_holds, drivers, payload, temp_log};

const SEGMENT_BYTES: u64 = 16 << 10;
const RECORDS: u64 = 3000;
/// Rounds before the test gives up on ever seeing a flush span segments.
const ROUNDS_MAX: usize = 20;

#[test]
fn a_flush_spanning_many_segments_lands_in_place() {
    for driver in drivers() {
        let opts = ringwal::Options::default()
            .driver(driver)
            .durability(Durability::Flush)
            .segment_bytes(SEGMENT_BYTES)
            .record_bytes_max(4 << 10)
            .staging_bytes_max(1 << 20);
        let spanned = (1..=ROUNDS_MAX).find(|round| {
            let log = temp_log();
            let wal = Wal::open(&log.dir, opts.clone()).unwrap();
            for i in 1..=RECORDS {
                wal.append(&payload(i)).unwrap();
            }
            assert_eq!(wal.sync().unwrap().get(), RECORDS);
            let stats = wal.stats();
            assert!(stats.rotations >= 20, "{stats:?}");
            wal.close().unwrap();
            assert_log_holds(&log.dir, opts.clone(), 1, RECORDS);
            eprintln!(
                "{driver:?} round {round}: largest flush {} bytes, {} flushes, {} rotations",
                stats.batch_bytes.max, stats.flushes, stats.rotations
            );
            // A segment holds at most SEGMENT_BYTES, so a flush of more than two
            // segments' bytes wrote into at least three (the histogram keeps two
            // significant digits, far inside this margin).
            stats.batch_bytes.max > 2 * SEGMENT_BYTES
        });
        assert!(
            spanned.is_some(),
            "{driver:?}: no flush spanned several segments in {ROUNDS_MAX} rounds"
        );
    }
}
