//! A segment whose (valid) header starts at an LSN that does not follow the end of the
//! segment before it means records went missing in the middle of the log: `Wal::open`
//! and `LogReader::open` refuse with `Error::Corrupt` naming that segment's header and
//! the LSNs involved, and change nothing.

use ringwal::format::header::SegmentHeader;
use ringwal::{CorruptReason, Error, LogReader, Wal};

use crate::common::{drivers, payload, small, temp_log};
use crate::disk::{frames, snapshot, write_at, written_segments};

#[test]
fn a_header_that_skips_lsns_is_named_as_the_break() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for lsn in 1..=1_000 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.close().unwrap();
        let segments = written_segments(&log.dir);
        assert!(segments.len() >= 3);
        let (seq, path) = &segments[1];
        let prev_last = frames(&segments[0].1).last().unwrap().lsn;
        // Rewrite segment 2's header, validly, with a first LSN one too high.
        let header = SegmentHeader {
            sequence: *seq,
            first_lsn: prev_last + 2,
            capacity: small(driver).get_segment_bytes(),
            // What a writer would claim: every record before the segment durable.
            durable_floor: prev_last + 1,
            recycled: false,
        };
        write_at(path, 0, &header.to_block());
        let before = snapshot(&log.dir);
        for (who, result) in [
            ("Wal::open", Wal::open(&log.dir, small(driver)).map(|_| ())),
            ("LogReader::open", LogReader::open(&log.dir).map(|_| ())),
        ] {
            match result {
                Err(Error::Corrupt {
                    segment,
                    offset,
                    reason,
                }) => {
                    assert_eq!((segment, offset), (*seq, 0), "{who}: {reason}");
                    assert_eq!(
                        reason,
                        CorruptReason::LsnOutOfOrder {
                            expected: prev_last + 1,
                            got: prev_last + 2
                        },
                        "{who}"
                    );
                }
                other => panic!("{who} opened a log with an LSN gap: {other:?}"),
            }
        }
        assert!(
            before == snapshot(&log.dir),
            "opening a corrupt log changed the files"
        );
    }
}
