//! Recovery decision table, "a sealed segment whose chain ends inside an unfinished
//! batch": a batch never spans two segments, so a segment followed by the next one's
//! valid header, whose last frame says "the batch continues", lost the rest of that
//! batch in the middle of the log. That is corruption (`IncompleteBatch`), not a torn
//! tail: `Wal::open` refuses and changes nothing, and the error says what happened.

use ringwal::format::frame::{frame_crc, payload_crc};
use ringwal::limits::FRAME_HEADER_BYTES;
use ringwal::{CorruptReason, Error, Wal};

use crate::common::{payload, small, temp_log};
use crate::disk::{BATCH_CONTINUES, frames, read_at, snapshot, write_at, written_segments};

/// Closes a log of three or more segments and re-frames the first segment's last
/// record, validly, as the first frame of a batch that never finishes. Returns the
/// segment's sequence and the frame's offset.
fn log_with_a_sealed_segment_ending_mid_batch(dir: &std::path::Path) -> (u64, u64) {
    let wal = Wal::open(dir, small(ringwal::Driver::Portable)).unwrap();
    for lsn in 1..=1_000 {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.close().unwrap();
    let segments = written_segments(dir);
    assert!(segments.len() >= 3, "{segments:?}");
    let (seq, path) = &segments[0];
    let last = *frames(path).last().unwrap();
    assert!(!last.batch_continues);
    let body = read_at(
        path,
        last.offset + FRAME_HEADER_BYTES,
        last.payload_len as usize,
    );
    let len_field = last.payload_len as u32 | BATCH_CONTINUES;
    let crc = frame_crc(payload_crc(&body), last.lsn, len_field, last.durable, *seq);
    let mut head = crc.to_le_bytes().to_vec();
    head.extend_from_slice(&len_field.to_le_bytes());
    write_at(path, last.offset, &head);
    assert!(frames(path).last().unwrap().batch_continues);
    (*seq, last.offset)
}

#[test]
fn a_sealed_segment_ending_mid_batch_is_refused() {
    let log = temp_log();
    let (seq, _) = log_with_a_sealed_segment_ending_mid_batch(&log.dir);
    let before = snapshot(&log.dir);
    match Wal::open(&log.dir, small(ringwal::Driver::Portable)) {
        Err(Error::Corrupt { segment, .. }) => assert_eq!(segment, seq),
        other => panic!("a batch cut in the middle of the log was not refused: {other:?}"),
    }
    assert!(
        before == snapshot(&log.dir),
        "a refused open changed the files"
    );
}

/// docs/FORMAT.md's decision table names this case `IncompleteBatch`, reported at the
/// unfinished batch's last frame.
#[test]
fn a_sealed_segment_ending_mid_batch_is_named_an_incomplete_batch() {
    let log = temp_log();
    let (seq, offset) = log_with_a_sealed_segment_ending_mid_batch(&log.dir);
    match Wal::open(&log.dir, small(ringwal::Driver::Portable)) {
        Err(Error::Corrupt {
            segment,
            offset: at,
            reason: CorruptReason::IncompleteBatch,
        }) => assert_eq!((segment, at), (seq, offset)),
        other => panic!("expected IncompleteBatch at segment {seq} offset {offset}: {other:?}"),
    }
}
