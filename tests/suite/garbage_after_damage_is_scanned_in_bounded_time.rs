//! A segment whose tail is random bytes (a damaged frame followed by garbage) is
//! scanned without checksumming the rest of the file at every position: the read-only
//! reader and recovery both report a torn tail, and the scan checksums no more than a
//! small multiple of the bytes in the log (counted, not timed).

use ringwal::{LogReader, Wal};

use crate::common::{XorShift, drivers, payload, small, temp_log};

/// The scan's budget: this many times the bytes scanned, plus a slack per segment
/// (the constants of `cursor.rs`), plus each chained frame checked once.
const CHECK_FACTOR: u64 = 4;
const CHECK_SLACK_BYTES: u64 = 64 << 10;

#[test]
fn random_garbage_after_the_last_record_is_a_torn_tail() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver).segment_bytes(4 << 20)).unwrap();
        for i in 1..=100u64 {
            wal.append(&payload(i)).unwrap();
        }
        wal.sync().unwrap();
        wal.close().unwrap();
        let seg = log.dir.join(format!("{:020}.wal", 1));
        let len = std::fs::metadata(&seg).unwrap().len();
        let mut rng = XorShift::from_time("garbage tail");
        let reader = LogReader::open(&log.dir).unwrap();
        let end = reader.scan().tail.unwrap().offset;
        let garbage = rng.non_zero_bytes((len - end) as usize);
        use std::os::unix::fs::FileExt;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .write_all_at(&garbage, end)
            .unwrap();

        let reader = LogReader::open(&log.dir).unwrap();
        let scan = reader.scan();
        assert!(scan.tail.unwrap().torn_bytes > 0);
        let log_bytes: u64 = scan.segments.iter().map(|s| s.file_bytes).sum();
        let segments = scan.segments.len() as u64;
        let bound = (CHECK_FACTOR + 1) * log_bytes + CHECK_SLACK_BYTES * segments;
        assert!(
            scan.bytes_checksummed <= bound,
            "checksummed {} bytes scanning a {log_bytes}-byte log",
            scan.bytes_checksummed
        );

        let wal = Wal::open(&log.dir, small(driver).segment_bytes(4 << 20)).unwrap();
        assert_eq!(wal.last_lsn().get(), 100);
        assert!(wal.recovery_report().torn_bytes_cut > 0);
        wal.close().unwrap();
    }
}
