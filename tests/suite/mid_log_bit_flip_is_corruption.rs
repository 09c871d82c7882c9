//! One flipped bit in a record followed by valid records is corruption, not a torn
//! tail: `Wal::open` and `LogReader::open` both refuse with `Error::Corrupt` naming the
//! segment and the offset of the damaged frame, and neither changes a byte on disk.

use std::path::Path;

use ringwal::limits::FRAME_HEADER_BYTES;
use ringwal::{CorruptReason, Driver, Error, LogReader, Lsn, RecoveryMode, Wal};

use crate::common::{TempLog, drivers, payload, small, temp_log};
use crate::disk::{FrameAt, flip_bit, frames, snapshot, written_segments};

const RECORDS: u64 = 1_000;

fn closed_log(driver: Driver) -> TempLog {
    let log = temp_log();
    let wal = Wal::open(&log.dir, small(driver)).unwrap();
    for lsn in 1..=RECORDS {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.close().unwrap();
    assert!(written_segments(&log.dir).len() >= 3);
    log
}

/// Which frame of a segment to damage.
#[derive(Clone, Copy)]
enum Which {
    Middle,
    Last,
}

/// A frame of written segment `index` (0 = oldest, -1 = newest).
fn pick_frame(dir: &Path, index: isize, which: Which) -> (u64, std::path::PathBuf, FrameAt) {
    let mut segments = written_segments(dir);
    let (seq, path) = if index < 0 {
        segments.pop().unwrap()
    } else {
        segments.remove(index as usize)
    };
    let all = frames(&path);
    assert!(all.len() > 10);
    let frame = match which {
        Which::Middle => all[all.len() / 2],
        Which::Last => *all.last().unwrap(),
    };
    (seq, path, frame)
}

fn assert_corrupt_at(
    result: Result<impl std::fmt::Debug, Error>,
    segment: u64,
    offset: u64,
    who: &str,
) {
    match result {
        Err(Error::Corrupt {
            segment: s,
            offset: o,
            reason,
        }) => {
            assert_eq!(
                (s, o),
                (segment, offset),
                "{who} placed the damage wrongly ({reason})"
            );
            assert!(
                matches!(
                    reason,
                    CorruptReason::Checksum { .. }
                        | CorruptReason::DamagedDurableData { .. }
                        | CorruptReason::DamagedBelowRecordedDurable { .. }
                        | CorruptReason::LengthTooLarge { .. }
                ),
                "{who}: unexpected reason {reason:?}"
            );
        }
        other => panic!("{who} opened a log damaged in the middle: {other:?}"),
    }
}

/// Flips a bit at `offset_in_frame` of a frame of segment `index`, then checks both
/// openers report it and nothing changed.
fn flip_and_check(driver: Driver, index: isize, which: Which, offset_in_frame: u64, bit: u8) {
    let log = closed_log(driver);
    let (seq, path, frame) = pick_frame(&log.dir, index, which);
    flip_bit(&path, frame.offset + offset_in_frame, bit);
    let before = snapshot(&log.dir);
    assert_corrupt_at(
        Wal::open(&log.dir, small(driver)),
        seq,
        frame.offset,
        "Wal::open",
    );
    assert_corrupt_at(
        Wal::open(&log.dir, small(driver).recovery_mode(RecoveryMode::Strict)),
        seq,
        frame.offset,
        "strict Wal::open",
    );
    assert_corrupt_at(
        LogReader::open(&log.dir),
        seq,
        frame.offset,
        "LogReader::open",
    );
    assert!(
        before == snapshot(&log.dir),
        "opening a corrupt log changed the files"
    );
    // Undo the flip: the log is whole again, so nothing was repaired behind our back.
    flip_bit(&path, frame.offset + offset_in_frame, bit);
    let wal = Wal::open(&log.dir, small(driver)).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(RECORDS));
    assert_eq!(wal.recovery_report().torn_bytes_cut, 0);
    wal.close().unwrap();
}

#[test]
fn a_flipped_payload_bit_in_the_active_segment_is_corruption() {
    for driver in drivers() {
        flip_and_check(driver, -1, Which::Middle, FRAME_HEADER_BYTES + 3, 2);
    }
}

#[test]
fn a_flipped_payload_bit_in_a_sealed_segment_is_corruption() {
    for driver in drivers() {
        flip_and_check(driver, 0, Which::Middle, FRAME_HEADER_BYTES + 5, 7);
    }
}

#[test]
fn a_flipped_length_bit_is_corruption() {
    for driver in drivers() {
        // Bit 4 of the len field's third byte: the length grows by 1 MiB, past the limit.
        flip_and_check(driver, 1, Which::Middle, 4 + 2, 4);
        // Bit 0 of its first byte: a plausible length whose checksum no longer matches.
        flip_and_check(driver, 1, Which::Middle, 4, 0);
    }
}

#[test]
fn a_flipped_lsn_bit_is_corruption() {
    for driver in drivers() {
        flip_and_check(driver, -1, Which::Middle, 8, 1);
    }
}

#[test]
fn a_flipped_bit_in_the_last_frame_of_a_sealed_segment_is_corruption() {
    for driver in drivers() {
        // The damaged segment itself ends cleanly after the bad frame; the valid data
        // is in the segments after it.
        flip_and_check(driver, 0, Which::Last, FRAME_HEADER_BYTES + 1, 0);
    }
}

/// Flips a bit in the header of written segment `index`, whose frames stay intact.
fn flip_header_and_check(driver: Driver, index: isize) {
    let log = closed_log(driver);
    let mut segments = written_segments(&log.dir);
    let (seq, path) = if index < 0 {
        segments.pop().unwrap()
    } else {
        segments.remove(index as usize)
    };
    // Byte 30 is inside the first-LSN field, under the header checksum.
    flip_bit(&path, 30, 3);
    let before = snapshot(&log.dir);
    // The damage is this segment's header (offset 0), not the end of the one before.
    assert_corrupt_at(Wal::open(&log.dir, small(driver)), seq, 0, "Wal::open");
    assert_corrupt_at(LogReader::open(&log.dir), seq, 0, "LogReader::open");
    assert!(
        before == snapshot(&log.dir),
        "opening a corrupt log changed the files"
    );
}

#[test]
fn a_flipped_header_bit_in_a_middle_segment_is_corruption_there() {
    for driver in drivers() {
        flip_header_and_check(driver, 1);
    }
}

#[test]
fn a_flipped_header_bit_in_the_newest_segment_is_corruption_there() {
    for driver in drivers() {
        flip_header_and_check(driver, -1);
    }
}
