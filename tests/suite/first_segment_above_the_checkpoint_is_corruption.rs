//! Recovery decision table, "the first live segment starting above `checkpoint + 1`":
//! the records between the checkpoint and the first segment are gone (the segment
//! holding them was removed behind the log). `Wal::open` refuses with `LsnOutOfOrder`
//! naming that segment and the LSN it should have started at, and changes nothing. A
//! first segment starting right after the checkpoint (retired segments) opens.

use ringwal::{CorruptReason, Error, Lsn, Wal};

use crate::common::{assert_log_holds, portable_log_of, temp_log};
use crate::disk::{frames, snapshot, written_segments};

#[test]
fn a_first_segment_above_the_checkpoint_is_refused() {
    let log = temp_log();
    let (wal, opts) = portable_log_of(&log.dir, 1_000);
    // Inside the first segment: nothing is retired.
    wal.checkpoint(Lsn::from(5)).unwrap();
    wal.close().unwrap();
    let segments = written_segments(&log.dir);
    assert!(segments.len() >= 3, "{segments:?}");
    let second_first = frames(&segments[1].1)[0].lsn;
    std::fs::remove_file(&segments[0].1).unwrap();

    let before = snapshot(&log.dir);
    match Wal::open(&log.dir, opts.clone()) {
        Err(Error::Corrupt {
            segment,
            offset,
            reason,
        }) => {
            assert_eq!((segment, offset), (segments[1].0, 0), "{reason}");
            assert_eq!(
                reason,
                CorruptReason::LsnOutOfOrder {
                    expected: 6,
                    got: second_first
                }
            );
        }
        other => panic!("records 6..{second_first} are missing, yet: {other:?}"),
    }
    assert!(
        before == snapshot(&log.dir),
        "a refused open changed the files"
    );
}

#[test]
fn a_first_segment_right_after_the_checkpoint_opens() {
    let log = temp_log();
    let (wal, opts) = portable_log_of(&log.dir, 1_000);
    wal.close().unwrap();
    let segments = written_segments(&log.dir);
    let second_first = frames(&segments[1].1)[0].lsn;
    // What a checkpoint at the first segment's last record leaves once it retired it.
    std::fs::write(
        log.dir.join("CHECKPOINT"),
        ringwal::format::checkpoint::encode(second_first - 1),
    )
    .unwrap();
    std::fs::remove_file(&segments[0].1).unwrap();
    assert_log_holds(&log.dir, opts, second_first, 1_000);
}
