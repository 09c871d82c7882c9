//! Format 2's vouching rule (docs/FORMAT.md, "Recovery decision table"): a hole in the
//! log followed by valid frames is a torn tail when nothing after it claims the hole
//! was durable (a power cut kept later unsynced writes and lost earlier ones: the log
//! opens by itself, cuts them, and appends), and corruption when a later frame, a
//! later segment's header, or the lock file says it was durable. A claim a frame cannot
//! make, and a log in the older format, are refused with their own errors.

use std::path::Path;

use ringwal::format::frame::{BATCH_CONTINUES, frame_crc, payload_crc};
use ringwal::limits::FRAME_HEADER_BYTES;
use ringwal::{CorruptReason, Driver, Durability, Error, LogReader, Lsn, RecoveryMode, Wal};

use crate::common::{TempLog, assert_log_holds, drivers, payload, small, temp_log};
use crate::disk::{
    as_if_power_was_cut, flip_bit, frames, read_at, snapshot, write_at, written_segments,
    zero_range,
};

const DURABLE: u64 = 50;
const UNSYNCED: u64 = 80;

fn flush_mode(driver: Driver) -> ringwal::Options {
    small(driver).durability(Durability::Flush)
}

/// Records 1..=DURABLE acknowledged durable one by one (each frame claims the one
/// before), then, reopened in `Durability::Flush`, DURABLE+1..=UNSYNCED written but
/// never synced (each claims DURABLE, what the reopen made durable); then the power
/// goes (the lock file does not record the clean close).
fn log_with_an_unsynced_tail(driver: Driver) -> TempLog {
    let log = temp_log();
    let wal = Wal::open(&log.dir, small(driver)).unwrap();
    for lsn in 1..=DURABLE {
        assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
    }
    wal.close().unwrap();
    let wal = Wal::open(&log.dir, flush_mode(driver)).unwrap();
    for lsn in DURABLE + 1..=UNSYNCED {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.close().unwrap();
    as_if_power_was_cut(&log.dir);
    log
}

fn only_segment(dir: &Path) -> std::path::PathBuf {
    let segments = written_segments(dir);
    assert_eq!(segments.len(), 1, "{segments:?}");
    segments[0].1.clone()
}

fn assert_refused(dir: &Path, driver: Driver, check: impl Fn(&CorruptReason) -> bool) {
    let before = snapshot(dir);
    for (who, result) in [
        ("Wal::open", Wal::open(dir, flush_mode(driver)).map(|_| ())),
        (
            "strict Wal::open",
            Wal::open(dir, flush_mode(driver).recovery_mode(RecoveryMode::Strict)).map(|_| ()),
        ),
        ("LogReader::open", LogReader::open(dir).map(|_| ())),
    ] {
        match result {
            Err(Error::Corrupt { reason, .. }) if check(&reason) => {}
            other => panic!("{who} on {driver:?}: {other:?}"),
        }
    }
    assert!(before == snapshot(dir), "a refused open changed the files");
}

#[test]
fn a_hole_with_unvouched_frames_after_it_is_cut_and_the_log_appends() {
    for driver in drivers() {
        let log = log_with_an_unsynced_tail(driver);
        let path = only_segment(&log.dir);
        let hole = frames(&path)[60 - 1];
        assert_eq!(hole.lsn, 60);
        // Record 60's page never reached the disk; 61..=80 did.
        zero_range(&path, hole.offset, hole.offset + hole.bytes);
        let before = snapshot(&log.dir);
        match Wal::open(
            &log.dir,
            flush_mode(driver).recovery_mode(RecoveryMode::Strict),
        ) {
            Err(Error::TornTail { .. }) => {}
            other => panic!("strict mode did not refuse to cut: {other:?}"),
        }
        assert!(
            before == snapshot(&log.dir),
            "strict mode changed the files"
        );
        let scan = LogReader::open(&log.dir).unwrap().scan().clone();
        assert_eq!(scan.last_lsn, 59);
        let wal = Wal::open(&log.dir, flush_mode(driver)).unwrap();
        let torn = wal
            .recovery_report()
            .torn_tail
            .expect("a torn tail was cut");
        assert_eq!(torn.lsn, Lsn::from(60u64));
        assert_eq!(torn.frames_after_hole, UNSYNCED - 60);
        assert_eq!(torn.durable_claimed, Some(Lsn::from(DURABLE)));
        assert_eq!(wal.last_lsn(), Lsn::from(59u64));
        for lsn in 60..=90 {
            assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
        }
        wal.close().unwrap();
        as_if_power_was_cut(&log.dir);
        assert_log_holds(&log.dir, flush_mode(driver), 1, 90);
    }
}

#[test]
fn a_flipped_bit_in_a_record_a_later_frame_vouches_for_is_corruption() {
    for driver in drivers() {
        let log = log_with_an_unsynced_tail(driver);
        let path = only_segment(&log.dir);
        let target = frames(&path)[30 - 1];
        flip_bit(&path, target.offset + FRAME_HEADER_BYTES + 2, 5);
        assert_refused(&log.dir, driver, |reason| {
            matches!(
                reason,
                CorruptReason::DamagedDurableData { lsn: 30, durable, .. } if *durable >= 30
            )
        });
    }
}

#[test]
fn damage_the_lock_file_records_durable_is_corruption() {
    for driver in drivers() {
        // A clean close records every record durable, so even the last one is vouched.
        let log = temp_log();
        let wal = Wal::open(&log.dir, flush_mode(driver)).unwrap();
        for lsn in 1..=UNSYNCED {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.close().unwrap();
        let path = only_segment(&log.dir);
        let last = *frames(&path).last().unwrap();
        flip_bit(&path, last.offset + FRAME_HEADER_BYTES + 1, 0);
        assert_refused(&log.dir, driver, |reason| {
            matches!(
                reason,
                CorruptReason::DamagedBelowRecordedDurable {
                    lsn: UNSYNCED,
                    durable: UNSYNCED
                }
            )
        });
    }
}

#[test]
fn a_flipped_bit_in_a_sealed_segment_is_corruption_by_the_next_header() {
    for driver in drivers() {
        // Nothing acknowledged durable while writing (every frame claims 0), several
        // segments: only the later segments' headers vouch for the earlier ones.
        let log = temp_log();
        let wal = Wal::open(&log.dir, flush_mode(driver)).unwrap();
        for lsn in 1..=1_000 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.close().unwrap();
        as_if_power_was_cut(&log.dir);
        let segments = written_segments(&log.dir);
        assert!(segments.len() >= 3, "{segments:?}");
        let (_, path) = &segments[0];
        let all = frames(path);
        assert!(all.iter().all(|f| f.durable == 0));
        let target = all[all.len() / 2];
        flip_bit(path, target.offset + FRAME_HEADER_BYTES + 3, 1);
        assert_refused(&log.dir, driver, |reason| {
            matches!(
                reason,
                CorruptReason::DamagedDurableData { lsn, vouched_by_segment, vouched_by_offset: 0, .. }
                    if *lsn == target.lsn && *vouched_by_segment > 1
            )
        });
    }
}

#[test]
fn a_frame_claiming_itself_durable_is_corruption_not_a_torn_tail() {
    for driver in drivers() {
        let log = log_with_an_unsynced_tail(driver);
        let path = only_segment(&log.dir);
        let last = *frames(&path).last().unwrap();
        // Rewrite the last frame's claim to its own LSN, with a matching checksum.
        let body = read_at(
            &path,
            last.offset + FRAME_HEADER_BYTES,
            last.payload_len as usize,
        );
        let len_field = last.payload_len as u32
            | if last.batch_continues {
                BATCH_CONTINUES
            } else {
                0
            };
        let crc = frame_crc(payload_crc(&body), last.lsn, len_field, last.lsn, 1);
        write_at(&path, last.offset, &crc.to_le_bytes());
        write_at(&path, last.offset + 16, &last.lsn.to_le_bytes());
        assert_refused(&log.dir, driver, |reason| {
            matches!(
                reason,
                CorruptReason::DurableClaimOutOfRange {
                    lsn: UNSYNCED,
                    durable: UNSYNCED
                }
            )
        });
    }
}

/// Rewrites the segment header's version field, with a checksum that matches.
fn set_header_version(path: &std::path::Path, version: u32) {
    let mut header = read_at(path, 0, 64);
    header[8..12].copy_from_slice(&version.to_le_bytes());
    let crc = crc32fast::hash(&header[..60]);
    header[60..64].copy_from_slice(&crc.to_le_bytes());
    write_at(path, 0, &header);
}

/// Version 4 only added recycled segments: a version-3 segment is one that never was
/// recycled, and opens.
#[test]
fn a_version_3_log_opens_and_reads_back() {
    let log = log_with_an_unsynced_tail(Driver::Portable);
    set_header_version(&only_segment(&log.dir), 3);
    let wal = Wal::open(&log.dir, flush_mode(Driver::Portable)).unwrap();
    let records = wal
        .read_from(ringwal::Lsn::from(1))
        .unwrap()
        .map(|r| r.unwrap().lsn().get())
        .collect::<Vec<_>>();
    assert!(!records.is_empty());
    assert_eq!(records, (1..=records.len() as u64).collect::<Vec<_>>());
    wal.close().unwrap();
}

#[test]
fn a_log_in_an_older_format_is_refused_naming_both_versions() {
    let log = log_with_an_unsynced_tail(Driver::Portable);
    // Version 2 in the header, with a checksum that matches (what a version-2 writer
    // wrote: no padding between commits, which a version-2 reader would take for the
    // end of the log; the header is what is read first).
    set_header_version(&only_segment(&log.dir), 2);
    let before = snapshot(&log.dir);
    for result in [
        Wal::open(&log.dir, flush_mode(Driver::Portable)).map(|_| ()),
        LogReader::open(&log.dir).map(|_| ()),
    ] {
        match result {
            Err(
                e @ Error::UnsupportedFormat {
                    found: 2,
                    supported: 4,
                    ..
                },
            ) => {
                let text = e.to_string();
                assert!(
                    text.contains("version 2") && text.contains("version 4"),
                    "{text}"
                );
            }
            other => panic!("an old-format log was not refused as such: {other:?}"),
        }
    }
    assert!(
        before == snapshot(&log.dir),
        "the refusal changed the files"
    );
}
