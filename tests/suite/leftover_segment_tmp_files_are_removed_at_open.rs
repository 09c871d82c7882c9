//! Recovery decision table (directory layout): `<seq>.wal.tmp` is a segment a crash
//! caught while it was being prepared, before its rename. It never held a record the
//! log acknowledged, so `Wal::open` removes it — whatever it holds, even a valid-looking
//! segment header — and the log opens with every record and takes new appends.

use ringwal::Wal;
use ringwal::format::header::SegmentHeader;

use crate::common::{assert_log_holds, payload, portable_log_of, temp_log};
use crate::disk::{segment_files, written_segments};

#[test]
fn leftover_tmp_segments_are_removed_at_open() {
    let log = temp_log();
    let (wal, opts) = portable_log_of(&log.dir, 500);
    wal.close().unwrap();
    let last = segment_files(&log.dir).last().unwrap().0;
    let written = written_segments(&log.dir).len();
    // One half-prepared (zeros), one with a valid header for a sequence far ahead.
    let zeros = log.dir.join(format!("{:020}.wal.tmp", last + 1));
    std::fs::write(&zeros, vec![0u8; 8192]).unwrap();
    let headed = log.dir.join(format!("{:020}.wal.tmp", last + 5));
    let header = SegmentHeader {
        sequence: last + 5,
        first_lsn: 10_000,
        capacity: opts.get_segment_bytes(),
        durable_floor: 9_999,
        recycled: false,
    };
    std::fs::write(&headed, header.to_block()).unwrap();

    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    for tmp in [&zeros, &headed] {
        assert!(!tmp.exists(), "{} survived the open", tmp.display());
    }
    assert_eq!(wal.append_durable(&payload(501)).unwrap().get(), 501);
    wal.close().unwrap();
    assert!(written_segments(&log.dir).len() >= written);
    assert_log_holds(&log.dir, opts, 1, 501);
}
