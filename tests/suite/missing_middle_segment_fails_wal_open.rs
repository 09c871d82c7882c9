//! Recovery decision table, "a gap in live segment numbers": a segment removed from
//! the middle of the log makes `Wal::open` (not only the reader) refuse with
//! `MissingSegment` naming the missing sequence, and change nothing.

use ringwal::{CorruptReason, Error, Wal};

use crate::common::{portable_log_of, temp_log};
use crate::disk::{snapshot, written_segments};

#[test]
fn a_missing_middle_segment_fails_wal_open() {
    let log = temp_log();
    let (wal, opts) = portable_log_of(&log.dir, 1_000);
    wal.close().unwrap();
    let segments = written_segments(&log.dir);
    assert!(segments.len() >= 3, "{segments:?}");
    let (gone, path) = &segments[1];
    std::fs::remove_file(path).unwrap();

    let before = snapshot(&log.dir);
    match Wal::open(&log.dir, opts) {
        Err(Error::Corrupt {
            segment,
            offset,
            reason,
        }) => {
            assert_eq!((segment, offset), (*gone, 0), "{reason}");
            assert_eq!(reason, CorruptReason::MissingSegment { sequence: *gone });
        }
        other => panic!("segment {gone} is missing, yet: {other:?}"),
    }
    assert!(
        before == snapshot(&log.dir),
        "a refused open changed the files"
    );
}
