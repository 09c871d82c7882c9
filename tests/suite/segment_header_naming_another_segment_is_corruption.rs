//! Recovery decision table, "a header whose sequence differs from its file name": a
//! segment whose (valid) header names another sequence was copied or renamed from
//! elsewhere. `Wal::open` and `LogReader::open` refuse with `HeaderMismatch` naming that
//! segment, and change nothing.

use ringwal::format::header::SegmentHeader;
use ringwal::{CorruptReason, Error, LogReader, Wal};

use crate::common::{portable_log_of, temp_log};
use crate::disk::{frames, snapshot, write_at, written_segments};

#[test]
fn a_header_naming_another_segment_is_a_header_mismatch() {
    let log = temp_log();
    let (wal, opts) = portable_log_of(&log.dir, 1_000);
    wal.close().unwrap();
    let segments = written_segments(&log.dir);
    assert!(segments.len() >= 3, "{segments:?}");
    let (seq, path) = &segments[1];
    // A valid header in every other respect: the chain's LSNs still line up.
    let header = SegmentHeader {
        sequence: seq + 7,
        first_lsn: frames(path)[0].lsn,
        capacity: opts.get_segment_bytes(),
        durable_floor: 0,
        recycled: false,
    };
    write_at(path, 0, &header.to_block());
    let before = snapshot(&log.dir);
    for (who, result) in [
        ("Wal::open", Wal::open(&log.dir, opts.clone()).map(|_| ())),
        ("LogReader::open", LogReader::open(&log.dir).map(|_| ())),
    ] {
        match result {
            Err(Error::Corrupt {
                segment,
                offset,
                reason: CorruptReason::HeaderMismatch(why),
            }) => assert_eq!((segment, offset), (*seq, 0), "{who}: {why}"),
            other => panic!(
                "{who} opened a log whose segment {seq} says {}: {other:?}",
                seq + 7
            ),
        }
    }
    assert!(
        before == snapshot(&log.dir),
        "a refused open changed the files"
    );
}
