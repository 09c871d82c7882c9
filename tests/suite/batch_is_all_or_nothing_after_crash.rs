//! `append_batch` is atomic across a crash: if the batch's last frame did not reach the
//! disk, recovery drops the whole batch (its earlier, valid frames say "batch
//! continues"), the log ends before it and the batch's LSNs are handed out again; an
//! undamaged batch comes back whole. A batch never spans two segments: one that does not
//! fit in the rest of a segment goes wholly into the next.

use std::path::Path;

use ringwal::limits::{SEGMENT_HEADER_BYTES, frame_bytes};
use ringwal::{Driver, Error, LogReader, Lsn, RecoveryMode, Wal};

use crate::common::{TempLog, assert_log_holds, drivers, payload, small, temp_log};
use crate::disk::{FrameAt, frames, written_segments, zero_range};

const BEFORE: u64 = 100;
const BATCH: u64 = 5;

/// `BEFORE` single records then one batch of `BATCH`; returns the batch's frames.
fn log_ending_in_a_batch(driver: Driver) -> (TempLog, std::path::PathBuf, Vec<FrameAt>) {
    let log = temp_log();
    let wal = Wal::open(&log.dir, small(driver)).unwrap();
    for lsn in 1..=BEFORE {
        wal.append(&payload(lsn)).unwrap();
    }
    let batch: Vec<Vec<u8>> = (BEFORE + 1..=BEFORE + BATCH).map(payload).collect();
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    let range = wal.append_batch(&refs).unwrap();
    assert_eq!(range, Lsn::from(BEFORE + 1)..=Lsn::from(BEFORE + BATCH));
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(&log.dir);
    let (_, path) = written_segments(&log.dir).pop().unwrap();
    let all = frames(&path);
    let batch_frames = all[all.len() - BATCH as usize..].to_vec();
    assert_eq!(batch_frames[0].lsn, BEFORE + 1);
    // The format marks every frame but the last as "batch continues".
    let marks: Vec<bool> = batch_frames.iter().map(|f| f.batch_continues).collect();
    assert_eq!(marks, [true, true, true, true, false]);
    (log, path, batch_frames)
}

fn assert_batch_dropped(dir: &Path, driver: Driver) {
    let wal = Wal::open(dir, small(driver)).unwrap();
    let report = wal.recovery_report();
    assert_eq!(
        wal.last_lsn(),
        Lsn::from(BEFORE),
        "part of a torn batch was recovered"
    );
    assert!(
        report.torn_bytes_cut > 0,
        "the batch's valid frames were not cut: {report:?}"
    );
    let lsns: Vec<u64> = wal
        .read_from(Lsn::from(1))
        .unwrap()
        .map(|r| r.unwrap().lsn().get())
        .collect();
    assert_eq!(lsns, (1..=BEFORE).collect::<Vec<_>>());
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(dir);
    // The cut is on disk: a reopen with no writes in between finds nothing to cut.
    let wal = Wal::open(dir, small(driver).recovery_mode(RecoveryMode::Strict)).unwrap();
    assert_eq!(
        wal.recovery_report().torn_bytes_cut,
        0,
        "the cut did not stick"
    );
    assert_eq!(wal.last_lsn(), Lsn::from(BEFORE));
    // The batch's LSNs are free again.
    assert_eq!(
        wal.append_durable(&payload(BEFORE + 1)).unwrap(),
        Lsn::from(BEFORE + 1)
    );
    wal.close().unwrap();
    crate::disk::as_if_power_was_cut(dir);
    assert_log_holds(dir, small(driver), 1, BEFORE + 1);
}

#[test]
fn a_batch_whose_last_frame_is_lost_is_dropped_whole() {
    for driver in drivers() {
        let (log, path, batch) = log_ending_in_a_batch(driver);
        let last = batch.last().unwrap();
        zero_range(&path, last.offset, last.offset + last.bytes);
        assert_batch_dropped(&log.dir, driver);
    }
}

#[test]
fn a_batch_whose_last_frame_is_torn_is_dropped_whole() {
    for driver in drivers() {
        let (log, path, batch) = log_ending_in_a_batch(driver);
        let last = batch.last().unwrap();
        zero_range(
            &path,
            last.offset + last.bytes / 2,
            last.offset + last.bytes,
        );
        assert_batch_dropped(&log.dir, driver);
    }
}

#[test]
fn a_batch_cut_after_its_first_frame_is_dropped_whole() {
    for driver in drivers() {
        let (log, path, batch) = log_ending_in_a_batch(driver);
        let end = batch.last().unwrap();
        zero_range(&path, batch[1].offset, end.offset + end.bytes);
        assert_batch_dropped(&log.dir, driver);
    }
}

#[test]
fn an_undamaged_batch_comes_back_whole() {
    for driver in drivers() {
        let (log, _, _) = log_ending_in_a_batch(driver);
        assert_log_holds(&log.dir, small(driver), 1, BEFORE + BATCH);
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.recovery_report().torn_bytes_cut, 0);
        assert_eq!(
            wal.append_durable(&payload(BEFORE + BATCH + 1)).unwrap(),
            Lsn::from(BEFORE + BATCH + 1)
        );
        wal.close().unwrap();
        crate::disk::as_if_power_was_cut(&log.dir);
    }
}

#[test]
fn a_batch_that_does_not_fit_goes_wholly_into_the_next_segment() {
    for driver in drivers() {
        let log = temp_log();
        // The space left is computed for a dense log: one direct commit in flight, so
        // none starts at the next block (padding).
        let opts = small(driver).direct_depth(1);
        let segment_bytes = opts.get_segment_bytes();
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        // Fill the first segment with 1000-byte records until less than 3 frames of
        // 200 bytes fit, but 2 still would.
        let big = vec![0xabu8; 1000];
        let small_frame = frame_bytes(200);
        let mut used = SEGMENT_HEADER_BYTES;
        let mut lsn = 0;
        while segment_bytes - used >= frame_bytes(1000) + 2 * small_frame {
            lsn = wal.append(&big).unwrap().get();
            used += frame_bytes(1000);
        }
        let filler = vec![0xcdu8; 200];
        let mut last_payload = big.clone();
        while segment_bytes - used >= 3 * small_frame {
            lsn = wal.append(&filler).unwrap().get();
            used += small_frame;
            last_payload = filler.clone();
        }
        let left = segment_bytes - used;
        assert!(
            left >= 2 * small_frame && left < 3 * small_frame,
            "{left} bytes left"
        );
        let parts = [vec![1u8; 200], vec![2u8; 200], vec![3u8; 200]];
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let range = wal.append_batch(&refs).unwrap();
        assert_eq!(range, Lsn::from(lsn + 1)..=Lsn::from(lsn + 3));
        // A batch bigger than a whole segment can never fit anywhere.
        let huge: Vec<Vec<u8>> = (0..10).map(|i| vec![i as u8; 8000]).collect();
        let huge_refs: Vec<&[u8]> = huge.iter().map(Vec::as_slice).collect();
        match wal.append_batch(&huge_refs) {
            Err(Error::InvalidArgument { .. }) => {}
            other => panic!("a batch larger than a segment gave {other:?}"),
        }
        assert_eq!(wal.append_durable(b"after").unwrap(), Lsn::from(lsn + 4));
        wal.close().unwrap();
        crate::disk::as_if_power_was_cut(&log.dir);

        let scan = LogReader::open(&log.dir).unwrap().scan().clone();
        let holding: Vec<_> = scan.segments.iter().filter(|s| s.records > 0).collect();
        assert_eq!(holding.len(), 2);
        assert_eq!(
            holding[0].last_lsn,
            Some(lsn),
            "part of the batch went into the first segment"
        );
        assert_eq!(holding[1].first_lsn, Some(lsn + 1));
        let second = frames(&written_segments(&log.dir)[1].1);
        assert_eq!(
            second.iter().map(|f| f.lsn).collect::<Vec<_>>(),
            [lsn + 1, lsn + 2, lsn + 3, lsn + 4]
        );

        let wal = Wal::open(&log.dir, opts).unwrap();
        let records: Vec<_> = wal
            .read_from(Lsn::from(lsn))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(records.len(), 5);
        assert!(records[0].payload() == last_payload.as_slice());
        for (i, part) in parts.iter().enumerate() {
            assert!(
                records[i + 1].payload() == part.as_slice(),
                "batch record {i}"
            );
        }
        assert_eq!(records[4].payload(), b"after");
        wal.close().unwrap();
        crate::disk::as_if_power_was_cut(&log.dir);
    }
}
