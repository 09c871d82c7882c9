//! A torn write at the end of the log — a frame cut in half, garbage after the last
//! frame, a last frame that never reached the disk, a new segment's first frame torn —
//! is cut on reopen: the log ends at the last whole record, appending carries on at
//! the next LSN, and a second reopen sees everything. `RecoveryMode::Strict` refuses
//! to cut and changes nothing.

use std::path::{Path, PathBuf};

use ringwal::limits::{SEGMENT_HEADER_BYTES, frame_bytes};
use ringwal::{Driver, Error, Lsn, RecoveryMode, Wal};

use crate::common::{TempLog, XorShift, assert_log_holds, drivers, payload, small, temp_log};
use crate::disk::{FrameAt, frames, snapshot, write_at, written_segments, zero_range};

const RECORDS: u64 = 1_000;

/// A closed log of `RECORDS` records over several segments; returns the last written
/// segment and its last frame.
fn closed_log(driver: Driver) -> (TempLog, u64, PathBuf, FrameAt) {
    let log = temp_log();
    let wal = Wal::open(&log.dir, small(driver)).unwrap();
    for lsn in 1..=RECORDS {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(&log.dir);
    let (seq, path) = written_segments(&log.dir).pop().unwrap();
    assert!(seq > 1, "the records should span several segments");
    let all = frames(&path);
    assert!(all.len() > 2);
    let last = *all.last().unwrap();
    assert_eq!(last.lsn, RECORDS);
    (log, seq, path, last)
}

/// Reopens a damaged log and checks it ends at `last_whole`, reports `cut` bytes cut,
/// takes new records at the next LSN, and holds everything after another reopen.
fn recovers_to(dir: &Path, driver: Driver, last_whole: u64, cut: u64) {
    let wal = Wal::open(dir, small(driver)).unwrap();
    let report = wal.recovery_report();
    assert_eq!(report.last_lsn, Lsn::from(last_whole));
    assert_eq!(wal.last_lsn(), Lsn::from(last_whole));
    assert_eq!(wal.durable_lsn(), Lsn::from(last_whole));
    assert_eq!(report.torn_bytes_cut, cut, "{report:?}");
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(dir);
    // The repair is on disk: a reopen with no writes in between finds nothing to cut.
    let wal = Wal::open(dir, small(driver).recovery_mode(RecoveryMode::Strict)).unwrap();
    assert_eq!(
        wal.recovery_report().torn_bytes_cut,
        0,
        "the cut did not stick"
    );
    assert_eq!(wal.last_lsn(), Lsn::from(last_whole));
    for lsn in last_whole + 1..=last_whole + 50 {
        assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
    }
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(dir);
    assert_log_holds(dir, small(driver), 1, last_whole + 50);
    let wal = Wal::open(dir, small(driver)).unwrap();
    assert_eq!(
        wal.recovery_report().torn_bytes_cut,
        0,
        "the repair did not stick"
    );
    assert_eq!(wal.last_lsn(), Lsn::from(last_whole + 50));
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(dir);
}

/// Strict recovery reports the torn tail where it starts and leaves every byte alone.
/// Returns how many bytes it says a repair would cut.
fn strict_refuses(dir: &Path, driver: Driver, segment: u64, offset: u64) -> u64 {
    let before = snapshot(dir);
    let bytes = match Wal::open(dir, small(driver).recovery_mode(RecoveryMode::Strict)) {
        Err(Error::TornTail {
            segment: s,
            offset: o,
            bytes,
        }) => {
            assert_eq!((s, o), (segment, offset), "torn tail placed wrongly");
            assert!(bytes > 0);
            bytes
        }
        other => panic!("strict open of a torn log gave {other:?}"),
    };
    assert!(before == snapshot(dir), "strict recovery changed the files");
    bytes
}

/// Writes records until one opens a third segment, and closes; returns its LSN (the
/// only record in that segment). Where a segment fills is computed from the format:
/// a frame goes into the next segment when it does not fit in the rest of this one.
fn log_ending_in_a_fresh_segment(dir: &Path, driver: Driver) -> u64 {
    let segment_bytes = small(driver).get_segment_bytes();
    let (mut used, mut segments, mut lsn) = (SEGMENT_HEADER_BYTES, 1, 0);
    while segments < 3 {
        lsn += 1;
        let frame = frame_bytes(payload(lsn).len() as u64);
        if used + frame > segment_bytes {
            segments += 1;
            used = SEGMENT_HEADER_BYTES;
        }
        used += frame;
    }
    // Computed for a dense log: one direct commit in flight, so no padding.
    let wal = Wal::open(dir, small(driver).direct_depth(1)).unwrap();
    for n in 1..=lsn {
        wal.append(&payload(n)).unwrap();
    }
    wal.sync().unwrap();
    assert_eq!(wal.stats().rotations, 2);
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(dir);
    lsn
}

#[test]
fn a_frame_cut_in_half_is_cut_off() {
    for driver in drivers() {
        let (log, seq, path, last) = closed_log(driver);
        zero_range(
            &path,
            last.offset + last.bytes / 2,
            last.offset + last.bytes,
        );
        let cut = strict_refuses(&log.dir, driver, seq, last.offset);
        recovers_to(&log.dir, driver, RECORDS - 1, cut);
    }
}

#[test]
fn garbage_after_the_last_frame_is_cut_off() {
    for driver in drivers() {
        let (log, seq, path, last) = closed_log(driver);
        let mut rng = XorShift::from_time("garbage_after_the_last_frame_is_cut_off");
        let end = last.offset + last.bytes;
        write_at(&path, end, &rng.non_zero_bytes(200));
        let cut = strict_refuses(&log.dir, driver, seq, end);
        assert_eq!(cut, 200, "the garbage is what a repair would cut");
        recovers_to(&log.dir, driver, RECORDS, cut);
    }
}

#[test]
fn a_last_frame_that_never_landed_ends_the_log_before_it() {
    for driver in drivers() {
        let (log, _, path, last) = closed_log(driver);
        zero_range(&path, last.offset, last.offset + last.bytes);
        // Zeros are what an unwritten tail looks like: nothing to cut, so even strict
        // recovery opens the log, ending before the lost record.
        let wal = Wal::open(&log.dir, small(driver).recovery_mode(RecoveryMode::Strict)).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::from(RECORDS - 1));
        wal.close().unwrap();
        crate::disk::as_if_power_was_cut(&log.dir);
        recovers_to(&log.dir, driver, RECORDS - 1, 0);
    }
}

#[test]
fn a_torn_first_frame_of_a_new_segment_is_cut_off() {
    for driver in drivers() {
        let log = temp_log();
        let lsn = log_ending_in_a_fresh_segment(&log.dir, driver);
        let (seq, path) = written_segments(&log.dir).pop().unwrap();
        let only = frames(&path);
        assert_eq!(
            only.len(),
            1,
            "the last segment should hold just the record that rotated"
        );
        let f = only[0];
        assert_eq!(f.lsn, lsn);
        zero_range(&path, f.offset + f.bytes / 2, f.offset + f.bytes);
        // The segment's header is part of the torn write: the whole of it goes.
        let cut = strict_refuses(&log.dir, driver, seq, 0);
        recovers_to(&log.dir, driver, lsn - 1, cut);
    }
}

#[test]
fn a_torn_header_in_the_next_segment_is_cut_off() {
    for driver in drivers() {
        let (log, seq, _, _) = closed_log(driver);
        // The pre-created segment after the last written one received part of a header
        // (a rotation's write torn at its start).
        let next = crate::disk::segment_path(&log.dir, seq + 1);
        assert!(next.exists(), "expected a pre-created segment {}", seq + 1);
        let mut rng = XorShift::from_time("a_torn_header_in_the_next_segment_is_cut_off");
        write_at(&next, 0, &rng.non_zero_bytes(40));
        // The log still ends after the last record of segment `seq`.
        let end = frames(&crate::disk::segment_path(&log.dir, seq))
            .last()
            .map(|f| f.offset + f.bytes)
            .unwrap();
        let cut = strict_refuses(&log.dir, driver, seq, end);
        assert_eq!(
            cut, SEGMENT_HEADER_BYTES,
            "the torn header block is what goes"
        );
        recovers_to(&log.dir, driver, RECORDS, cut);
    }
}

#[test]
fn a_new_segment_whose_only_frame_never_landed_ends_the_log_before_it() {
    for driver in drivers() {
        let log = temp_log();
        let lsn = log_ending_in_a_fresh_segment(&log.dir, driver);
        let (seq, path) = written_segments(&log.dir).pop().unwrap();
        let only = frames(&path);
        assert_eq!(only.len(), 1);
        let f = only[0];
        // The segment's header landed, its one frame did not: the header alone is what
        // is left of a torn write (header and frame went out together). Strict recovery
        // must refuse rather than zero it.
        zero_range(&path, f.offset, f.offset + f.bytes);
        let cut = strict_refuses(&log.dir, driver, seq, 0);
        assert_eq!(cut, SEGMENT_HEADER_BYTES);
        recovers_to(&log.dir, driver, lsn - 1, cut);
    }
}
