//! A log that rotated through more than twenty segments reads back correctly after a
//! reopen, whether reading starts at LSN 1, in the middle of a segment, at a segment's
//! first record or at its last.

use ringwal::{LogReader, Lsn, Wal};

use crate::common::{assert_log_holds, drivers, payload, small, temp_log};

const RECORDS: u64 = 8_000;

#[test]
fn reads_cross_more_than_twenty_segments_after_reopen() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for lsn in 1..=RECORDS {
            assert_eq!(wal.append(&payload(lsn)).unwrap(), Lsn::from(lsn));
        }
        assert_eq!(wal.sync().unwrap(), Lsn::from(RECORDS));
        let rotations = wal.stats().rotations;
        assert!(rotations >= 20, "only {rotations} rotations");
        // Reading the open log crosses the same segment boundaries.
        let live: Vec<u64> = wal
            .read_from(Lsn::from(1))
            .unwrap()
            .map(|r| r.unwrap().lsn().get())
            .collect();
        assert_eq!(live, (1..=RECORDS).collect::<Vec<_>>());
        wal.close().unwrap();

        let scan = LogReader::open(&log.dir).unwrap().scan().clone();
        let holding: Vec<_> = scan.segments.iter().filter(|s| s.records > 0).collect();
        assert!(
            holding.len() >= 21,
            "records spread over only {} segments",
            holding.len()
        );
        assert_eq!(scan.last_lsn, RECORDS);
        // The segments chain: sequences consecutive, LSNs carrying on from one to the next.
        for pair in holding.windows(2) {
            assert_eq!(pair[1].sequence, pair[0].sequence + 1);
            assert_eq!(pair[1].first_lsn, Some(pair[0].last_lsn.unwrap() + 1));
        }
        assert_eq!(holding[0].first_lsn, Some(1));

        let middle = holding[holding.len() / 2];
        let (first, last) = (middle.first_lsn.unwrap(), middle.last_lsn.unwrap());
        assert!(last > first + 2);
        for from in [
            1,
            first + (last - first) / 2,
            first,
            last,
            last + 1,
            RECORDS,
        ] {
            assert_log_holds(&log.dir, small(driver), from, RECORDS);
        }
        // The read-only reader agrees.
        let reader = LogReader::open(&log.dir).unwrap();
        let mid = first + (last - first) / 2;
        let mut expected = mid;
        for record in reader.read_from(Lsn::from(mid)).unwrap() {
            let record = record.unwrap();
            assert_eq!(record.lsn().get(), expected);
            assert_eq!(record.payload(), payload(expected).as_slice());
            expected += 1;
        }
        assert_eq!(expected - 1, RECORDS);
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.recovery_report().records, RECORDS);
        assert_eq!(wal.recovery_report().segments, holding.len() as u64);
        wal.close().unwrap();
    }
}
