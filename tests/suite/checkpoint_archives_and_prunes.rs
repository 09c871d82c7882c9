//! `checkpoint(lsn)` retires exactly the segments whose records are all at or below
//! `lsn`: into `archive/` (byte for byte, pruned oldest first to the count and byte
//! limits) or deleted when archiving is off. No segment holding a later record goes,
//! the checkpoint survives a reopen, reads below the first live LSN say
//! `BelowCheckpoint`, and records above the checkpoint read as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ringwal::{Error, LogReader, Lsn, Options, SegmentInfo, Wal};

use crate::common::{assert_log_holds, drivers, payload, small, temp_log};
use crate::disk::{segment_files, segment_path};

const RECORDS: u64 = 4_000;

/// Segments holding records, as the read-only scanner sees them beside the writer.
fn holding(dir: &Path) -> Vec<SegmentInfo> {
    LogReader::open(dir)
        .unwrap()
        .scan()
        .segments
        .iter()
        .filter(|s| s.records > 0)
        .cloned()
        .collect()
}

fn archived(dir: &Path) -> Vec<(u64, PathBuf)> {
    segment_files(&dir.join("archive"))
}

fn fill(wal: &Wal, from: u64, to: u64) {
    for lsn in from..=to {
        assert_eq!(wal.append(&payload(lsn)).unwrap(), Lsn::from(lsn));
    }
    wal.sync().unwrap();
}

/// An LSN in the middle of the `index`-th segment holding records.
fn middle_of(segments: &[SegmentInfo], index: usize) -> u64 {
    let s = &segments[index];
    let (first, last) = (s.first_lsn.unwrap(), s.last_lsn.unwrap());
    first + (last - first) / 2
}

fn assert_below_checkpoint(wal: &Wal, requested: u64, first_live: u64, checkpoint: u64) {
    match wal.read_from(Lsn::from(requested)) {
        Err(Error::BelowCheckpoint {
            requested: r,
            first_available,
            checkpoint: c,
        }) => {
            assert_eq!(r, Lsn::from(requested));
            assert_eq!(first_available, Lsn::from(first_live));
            assert_eq!(c, Lsn::from(checkpoint));
        }
        Err(e) => panic!("read_from({requested}) below the checkpoint: {e}"),
        Ok(_) => panic!("read_from({requested}) below the checkpoint succeeded"),
    }
}

/// Checkpoints in the middle of the 9th segment and checks what was retired and what
/// stayed. Returns the checkpoint LSN and the bytes of the retired segments.
fn checkpoint_mid_log(dir: &Path, opts: &Options) -> (u64, BTreeMap<u64, Vec<u8>>) {
    let wal = Wal::open(dir, opts.clone()).unwrap();
    fill(&wal, 1, RECORDS);
    let before = holding(dir);
    assert!(before.len() >= 11, "only {} segments", before.len());
    let lsn = middle_of(&before, 8);
    let (retired, kept): (Vec<_>, Vec<_>) = before.iter().partition(|s| s.last_lsn.unwrap() <= lsn);
    assert_eq!(retired.len(), 8);
    let retired_bytes: BTreeMap<u64, Vec<u8>> = retired
        .iter()
        .map(|s| (s.sequence, std::fs::read(&s.path).unwrap()))
        .collect();

    wal.checkpoint(Lsn::from(lsn)).unwrap();
    assert_eq!(wal.checkpoint_lsn(), Lsn::from(lsn));
    for s in &retired {
        assert!(
            !s.path.exists(),
            "segment {} (records {:?}..={:?}) is still live",
            s.sequence,
            s.first_lsn,
            s.last_lsn
        );
    }
    for s in &kept {
        assert!(
            s.path.exists(),
            "segment {} holds records above {lsn} but was retired",
            s.sequence
        );
    }
    let first_live = kept[0].first_lsn.unwrap();
    assert!(
        first_live <= lsn,
        "the segment holding the checkpoint stays"
    );
    assert_below_checkpoint(&wal, 1, first_live, lsn);
    assert_below_checkpoint(&wal, first_live - 1, first_live, lsn);
    let from_first: Vec<u64> = wal
        .read_from(Lsn::from(first_live))
        .unwrap()
        .map(|r| r.unwrap().lsn().get())
        .collect();
    assert_eq!(from_first, (first_live..=RECORDS).collect::<Vec<_>>());
    for r in wal.read_from(Lsn::from(lsn + 1)).unwrap() {
        let r = r.unwrap();
        assert_eq!(r.payload(), payload(r.lsn().get()).as_slice());
    }
    // A checkpoint never moves back.
    wal.checkpoint(Lsn::from(lsn - 1)).unwrap();
    assert_eq!(wal.checkpoint_lsn(), Lsn::from(lsn));
    wal.close().unwrap();

    let wal = Wal::open(dir, opts.clone()).unwrap();
    assert_eq!(
        wal.checkpoint_lsn(),
        Lsn::from(lsn),
        "checkpoint lost on reopen"
    );
    assert_eq!(wal.recovery_report().checkpoint_lsn, Lsn::from(lsn));
    assert_eq!(wal.last_lsn(), Lsn::from(RECORDS));
    assert_below_checkpoint(&wal, 1, first_live, lsn);
    wal.close().unwrap();
    assert_log_holds(dir, opts.clone(), lsn + 1, RECORDS);
    assert_log_holds(dir, opts.clone(), first_live, RECORDS);
    (lsn, retired_bytes)
}

#[test]
fn archive_keeps_the_newest_retired_segments_up_to_the_count_limit() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver).archive(true).archive_segments_max(3);
        let (_, retired) = checkpoint_mid_log(&log.dir, &opts);
        let in_archive = archived(&log.dir);
        let newest: Vec<u64> = retired.keys().rev().take(3).rev().copied().collect();
        assert_eq!(
            in_archive.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            newest,
            "archive should hold the newest 3"
        );
        for (seq, path) in &in_archive {
            assert!(
                std::fs::read(path).unwrap() == retired[seq],
                "archived segment {seq} differs from the live one"
            );
        }

        // Checkpoint further: the archive stays within its limit, oldest pruned first.
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        fill(&wal, RECORDS + 1, RECORDS + 2_000);
        let segments = holding(&log.dir);
        let lsn = middle_of(&segments, segments.len() - 2);
        let newly: Vec<u64> = segments
            .iter()
            .filter(|s| s.last_lsn.unwrap() <= lsn)
            .map(|s| s.sequence)
            .collect();
        assert!(newly.len() >= 3);
        wal.checkpoint(Lsn::from(lsn)).unwrap();
        let in_archive: Vec<u64> = archived(&log.dir).into_iter().map(|(s, _)| s).collect();
        assert_eq!(in_archive, newly[newly.len() - 3..].to_vec());
        wal.close().unwrap();
        assert_log_holds(&log.dir, opts, lsn + 1, RECORDS + 2_000);
    }
}

#[test]
fn archive_off_deletes_retired_segments() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver);
        let (_, retired) = checkpoint_mid_log(&log.dir, &opts);
        assert!(
            archived(&log.dir).is_empty(),
            "nothing may be archived when archiving is off"
        );
        for seq in retired.keys() {
            assert!(!segment_path(&log.dir, *seq).exists());
        }
    }
}

#[test]
fn archive_keeps_within_its_byte_limit() {
    for driver in drivers() {
        let log = temp_log();
        let segment_bytes = small(driver).get_segment_bytes();
        let limit = 2 * segment_bytes + segment_bytes / 2;
        let opts = small(driver).archive(true).archive_bytes_max(limit);
        let (_, retired) = checkpoint_mid_log(&log.dir, &opts);
        let in_archive = archived(&log.dir);
        let bytes: u64 = in_archive
            .iter()
            .map(|(_, p)| std::fs::metadata(p).unwrap().len())
            .sum();
        assert!(bytes <= limit, "archive holds {bytes} bytes, limit {limit}");
        let newest: Vec<u64> = retired.keys().rev().take(2).rev().copied().collect();
        assert_eq!(
            in_archive.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            newest
        );
    }
}

#[test]
fn checkpoint_beyond_the_last_record_is_refused() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        fill(&wal, 1, 10);
        match wal.checkpoint(Lsn::from(11)) {
            Err(Error::InvalidArgument { .. }) => {}
            other => panic!("checkpoint past the end gave {other:?}"),
        }
        assert_eq!(wal.checkpoint_lsn(), Lsn::ZERO);
        wal.close().unwrap();
    }
}

#[test]
fn a_retirement_cut_short_by_a_crash_is_finished_on_reopen() {
    for driver in drivers() {
        for archive in [false, true] {
            let log = temp_log();
            let opts = small(driver).archive(archive).archive_segments_max(64);
            let (lsn, retired) = checkpoint_mid_log(&log.dir, &opts);
            // Put the retired segments back: the state after a crash that came after the
            // checkpoint file was written but before any segment was moved.
            std::fs::remove_dir_all(log.dir.join("archive")).ok();
            for (seq, bytes) in &retired {
                std::fs::write(segment_path(&log.dir, *seq), bytes).unwrap();
            }
            let wal = Wal::open(&log.dir, opts.clone()).unwrap();
            assert_eq!(wal.checkpoint_lsn(), Lsn::from(lsn));
            for seq in retired.keys() {
                assert!(
                    !segment_path(&log.dir, *seq).exists(),
                    "segment {seq} was not retired on reopen"
                );
            }
            let in_archive: Vec<u64> = archived(&log.dir).into_iter().map(|(s, _)| s).collect();
            let expected: Vec<u64> = if archive {
                retired.keys().copied().collect()
            } else {
                Vec::new()
            };
            assert_eq!(in_archive, expected);
            assert!(matches!(
                wal.read_from(Lsn::from(1)),
                Err(Error::BelowCheckpoint { .. })
            ));
            wal.close().unwrap();
            assert_log_holds(&log.dir, opts, lsn + 1, RECORDS);
        }
    }
}
