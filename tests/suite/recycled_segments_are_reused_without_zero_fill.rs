//! Issue 14, item 4: segments a checkpoint retires (without archiving) are kept as
//! spare files and reused for new segments without being zero-filled. Their earlier
//! life stays in the file past the new records; the log reads back whole, a clean
//! reopen cuts nothing, a torn write in a recycled segment is cut to exactly what
//! could be a frame, and a reader a checkpoint left behind gets `BelowCheckpoint`.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ringwal::format::header::{HeaderState, SegmentHeader};
use ringwal::{Driver, Error, Lsn, Options, Wal};

use crate::common::{assert_log_holds, drivers, kernel_renames_on_ring, payload, small, temp_log};

fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    out.sort();
    out
}

fn inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

fn header_of(path: &Path) -> HeaderState {
    let bytes = std::fs::read(path).unwrap();
    SegmentHeader::decode(&bytes[..64])
}

/// Appends `count` durable records (payloads by LSN) and returns the last LSN.
fn append(wal: &Wal, count: u64) -> u64 {
    let mut last = 0;
    for _ in 0..count {
        let lsn = wal.last_lsn().get() + 1;
        last = wal.append_durable(&payload(lsn)).unwrap().get();
        assert_eq!(last, lsn);
    }
    last
}

/// Appends `count` records without waiting for each, then syncs; returns the last.
fn append_fast(wal: &Wal, count: u64) -> u64 {
    let mut last = 0;
    for _ in 0..count {
        let lsn = wal.last_lsn().get() + 1;
        last = wal.append(&payload(lsn)).unwrap().get();
    }
    wal.sync().unwrap();
    last
}

/// Appends until the records go into a segment made from a spare file; returns the
/// last LSN.
fn append_into_a_recycled_segment(wal: &Wal) -> u64 {
    let mut last = wal.last_lsn().get();
    while wal.stats().segments_recycled == 0 {
        last = append(wal, 1);
    }
    // The preparer made the next segment from a spare: rotate into it.
    let rotations = wal.stats().rotations;
    while wal.stats().rotations == rotations {
        last = append(wal, 1);
    }
    last
}

/// The segment file the log's last record is in.
fn tail_segment(dir: &Path, opts: &Options) -> (PathBuf, u64) {
    let scan = ringwal::recovery::scan(dir, opts.get_record_bytes_max()).unwrap();
    let tail = scan.tail.expect("a tail");
    let info = scan
        .segments
        .iter()
        .find(|s| s.sequence == tail.segment)
        .unwrap();
    (info.path.clone(), info.valid_end)
}

/// A log of small segments, several of them retired into spares by a checkpoint.
/// Returns the options, the checkpoint and the spare files' inodes.
fn log_with_spares(dir: &Path, driver: Driver) -> (Options, u64, HashSet<u64>) {
    let opts = small(driver).recycle_segments(3);
    let wal = Wal::open(dir, opts.clone()).unwrap();
    let checkpoint = append(&wal, 3000);
    assert!(wal.stats().rotations >= 5, "{:?}", wal.stats().rotations);
    wal.checkpoint(Lsn::from(checkpoint)).unwrap();
    let spares = files_with_ext(dir, "spare");
    assert_eq!(spares.len(), 3, "the pool keeps recycle_segments files");
    let inodes = spares.iter().map(|p| inode(p)).collect();
    wal.close().unwrap();
    (opts, checkpoint, inodes)
}

/// The drivers, and on io_uring both ways of making a spare into a segment: a linked
/// chain on the writer's ring (`Options::prepare_on_ring`, the default) and the
/// preparer's thread.
fn drivers_and_ring_preparation() -> Vec<(Driver, bool)> {
    drivers()
        .into_iter()
        .flat_map(|d| match d {
            Driver::IoUring => vec![(d, true), (d, false)],
            _ => vec![(d, false)],
        })
        .collect()
}

#[test]
fn retired_segments_become_new_ones_without_zero_fill_and_read_back() {
    for (driver, on_ring) in drivers_and_ring_preparation() {
        let log = temp_log();
        let (opts, checkpoint, spare_inodes) = log_with_spares(&log.dir, driver);
        let opts = opts.prepare_on_ring(on_ring);
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        let report = wal.recovery_report();
        assert_eq!(report.torn_bytes_cut, 0, "{driver:?}: {report:?}");
        // Enough for several rotations: every spare is taken.
        let last = append(&wal, 3000);
        let stats = wal.stats();
        assert_eq!(stats.segments_recycled, 3, "{driver:?}: {stats:?}");
        let want_on_ring = match (on_ring, kernel_renames_on_ring()) {
            (true, true) => 3,
            (true, false) => {
                crate::common::skip(
                    "the ring path of recycling: this kernel's io_uring has no RENAMEAT (Linux 5.11)",
                );
                0
            }
            (false, _) => 0,
        };
        assert_eq!(
            stats.segments_recycled_on_ring, want_on_ring,
            "{driver:?}, on ring {on_ring}: {stats:?}"
        );
        wal.close().unwrap();
        let reused: Vec<PathBuf> = files_with_ext(&log.dir, "wal")
            .into_iter()
            .filter(|p| spare_inodes.contains(&inode(p)))
            .collect();
        assert_eq!(
            reused.len(),
            3,
            "{driver:?}: the spares' files are segments now"
        );
        for path in &reused {
            match header_of(path) {
                HeaderState::Valid(h) => assert!(h.recycled, "{driver:?}: {h:?}"),
                other => panic!("{driver:?}: {} has {other:?}", path.display()),
            }
        }
        assert!(files_with_ext(&log.dir, "spare").is_empty());
        // A clean reopen reads every record after the checkpoint and cuts nothing,
        // though the active segment holds its earlier life after its records.
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        let report = wal.recovery_report();
        assert_eq!(report.torn_bytes_cut, 0, "{driver:?}: {report:?}");
        assert!(report.torn_tail.is_none(), "{driver:?}: {report:?}");
        assert_eq!(wal.last_lsn(), Lsn::from(last));
        wal.close().unwrap();
        assert_log_holds(&log.dir, opts, checkpoint + 1, last);
    }
}

/// The file is not zeroed: past the records of a recycled active segment lie the
/// bytes of its earlier life, and recovery leaves them there.
#[test]
fn a_recycled_active_segment_keeps_its_earlier_life_past_its_records() {
    let log = temp_log();
    let (opts, _, spare_inodes) = log_with_spares(&log.dir, Driver::Portable);
    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    // Into a recycled segment, but not far.
    let last = append_into_a_recycled_segment(&wal);
    wal.close().unwrap();
    let (active, _) = tail_segment(&log.dir, &opts);
    assert!(spare_inodes.contains(&inode(&active)));
    match header_of(&active) {
        HeaderState::Valid(h) => assert!(h.recycled, "{h:?}"),
        other => panic!("{other:?}"),
    }
    let bytes = std::fs::read(&active).unwrap();
    let tail_half = &bytes[bytes.len() / 2..];
    assert!(
        tail_half.iter().any(|&b| b != 0),
        "the reused file was zero-filled"
    );
    let wal = Wal::open(&log.dir, opts).unwrap();
    assert_eq!(wal.recovery_report().torn_bytes_cut, 0);
    assert_eq!(wal.last_lsn(), Lsn::from(last));
    let after = std::fs::read(&active).unwrap();
    assert_eq!(
        after[after.len() / 2..],
        *tail_half,
        "recovery zeroed the old life"
    );
    wal.close().unwrap();
}

/// A torn write in a recycled segment after an unclean stop: the frame that could be
/// the next record is cut (with, at most, the span the last writer may have written:
/// recovery cannot always tell new bytes from old ones there), the records stay, and
/// the log goes on and reopens clean.
/// A log stopped uncleanly with its active segment a recycled file: the options, the
/// last LSN, and the active segment's path and end of records.
fn an_unclean_stop_in_a_recycled_segment(dir: &Path) -> (Options, u64, PathBuf, u64) {
    let (opts, _, _) = log_with_spares(dir, Driver::Portable);
    let wal = Wal::open(dir, opts.clone()).unwrap();
    append_into_a_recycled_segment(&wal);
    let last = append(&wal, 2);
    close_as_if_crashed(wal, dir);
    let (active, end) = tail_segment(dir, &opts);
    (opts, last, active, end)
}

/// The frame of LSN `lsn` with its payload torn: length and LSN plausible, the
/// checksum wrong.
fn torn_frame(lsn: u64) -> Vec<u8> {
    let mut torn = vec![0u8; 24 + 40];
    torn[4..8].copy_from_slice(&40u32.to_le_bytes());
    torn[8..16].copy_from_slice(&lsn.to_le_bytes());
    torn[16..24].copy_from_slice(&(lsn - 1).to_le_bytes());
    torn[24..].fill(0x5a);
    torn
}

/// Writes `bytes` into the file at `path` at `at`.
fn write_at(path: &Path, bytes: &[u8], at: u64) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, bytes, at).unwrap();
}

#[test]
fn a_torn_frame_in_a_recycled_segment_is_cut_after_an_unclean_stop() {
    let log = temp_log();
    let (opts, last, active, end) = an_unclean_stop_in_a_recycled_segment(&log.dir);
    let len = std::fs::metadata(&active).unwrap().len();
    let torn = torn_frame(last + 1);
    write_at(&active, &torn, end);
    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    let report = wal.recovery_report();
    let torn_tail = report.torn_tail.expect("a torn tail");
    assert_eq!(torn_tail.offset, end, "{report:?}");
    assert!(report.torn_bytes_cut >= torn.len() as u64, "{report:?}");
    assert_eq!(wal.last_lsn(), Lsn::from(last));
    let bytes = std::fs::read(&active).unwrap();
    assert_eq!(bytes.len() as u64, len);
    assert!(
        bytes[end as usize..end as usize + torn.len()]
            .iter()
            .all(|&b| b == 0),
        "the torn frame is cut"
    );
    let more = append(&wal, 5);
    wal.close().unwrap();
    let wal = Wal::open(&log.dir, opts).unwrap();
    assert_eq!(wal.recovery_report().torn_bytes_cut, 0);
    assert_eq!(wal.last_lsn(), Lsn::from(more));
    wal.close().unwrap();
}

/// An unclean stop that tore nothing (a crash of the process: the page cache keeps
/// every write) leaves nothing to cut, also where the active segment and the one
/// prepared after it are recycled files full of their earlier life. The old frames'
/// checksum and length fields, read from a misaligned offset, look like a header with
/// an LSN in reach; recovery took them for torn frames and cut up to a whole segment
/// (64 KiB in SIGKILL rounds with checkpoints), which `RecoveryMode::Strict` refuses.
#[test]
fn an_unclean_stop_that_tore_nothing_cuts_nothing_in_recycled_segments() {
    for driver in drivers() {
        let log = temp_log();
        let (opts, _, _) = log_with_spares(&log.dir, driver);
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        append_into_a_recycled_segment(&wal);
        let last = append(&wal, 3);
        close_as_if_crashed(wal, &log.dir);
        // The segment prepared after the active one is a spare too, still blank.
        let next = files_with_ext(&log.dir, "wal").pop().unwrap();
        assert!(
            matches!(header_of(&next), HeaderState::RecycledBlank { .. }),
            "{driver:?}: {}: {:?}",
            next.display(),
            header_of(&next)
        );
        let strict = opts.clone().recovery_mode(ringwal::RecoveryMode::Strict);
        let wal = Wal::open(&log.dir, strict).unwrap_or_else(|e| {
            panic!("{driver:?}: a crash that tore nothing is refused in Strict mode: {e}")
        });
        let report = wal.recovery_report();
        assert_eq!(report.torn_bytes_cut, 0, "{driver:?}: {report:?}");
        assert!(report.torn_tail.is_none(), "{driver:?}: {report:?}");
        assert_eq!(wal.last_lsn(), Lsn::from(last));
        wal.close().unwrap();
    }
}

/// The same with an earlier life of empty records: read 8 bytes early, such a frame
/// puts its checksum alone where an LSN goes, which falls inside the LSN bound now and
/// then (about 7 of the 175,000 old frames in a 4 MiB spare). Past the chain's end
/// only the frame where it stops and valid frames count as torn.
#[test]
fn an_unclean_stop_over_spares_of_empty_records_cuts_nothing() {
    let log = temp_log();
    let opts = small(Driver::Portable)
        .segment_bytes(4 << 20)
        .recycle_segments(2);
    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    while wal.stats().rotations < 3 {
        for _ in 0..10_000 {
            wal.append(b"").unwrap();
        }
    }
    let checkpoint = wal.sync().unwrap();
    wal.checkpoint(checkpoint).unwrap();
    assert!(
        !files_with_ext(&log.dir, "spare").is_empty(),
        "spares of empty records"
    );
    while wal.stats().segments_recycled < 2 {
        for _ in 0..10_000 {
            wal.append(b"").unwrap();
        }
    }
    let last = append(&wal, 3);
    close_as_if_crashed(wal, &log.dir);
    let strict = opts.recovery_mode(ringwal::RecoveryMode::Strict);
    let wal = Wal::open(&log.dir, strict)
        .unwrap_or_else(|e| panic!("a crash that tore nothing is refused in Strict mode: {e}"));
    let report = wal.recovery_report();
    assert_eq!(report.torn_bytes_cut, 0, "{report:?}");
    assert_eq!(wal.last_lsn(), Lsn::from(last));
    wal.close().unwrap();
}

/// A torn write that started past zero padding (a direct commit begun while the one
/// before was in flight starts at the next 4 KiB block) is still found and cut in a
/// recycled segment: recovery looks for the torn frame where the chain stops and past
/// the padding after it.
#[test]
fn a_torn_frame_past_padding_in_a_recycled_segment_is_cut() {
    let log = temp_log();
    let (opts, last, active, end) = an_unclean_stop_in_a_recycled_segment(&log.dir);
    let padded = end.next_multiple_of(4096);
    assert!(padded > end, "the chain should stop inside a block");
    let torn = torn_frame(last + 1);
    // The padding the direct commit wrote, then its torn frame.
    write_at(&active, &vec![0u8; (padded - end) as usize], end);
    write_at(&active, &torn, padded);
    let wal = Wal::open(&log.dir, opts).unwrap();
    let report = wal.recovery_report();
    assert!(report.torn_tail.is_some(), "{report:?}");
    assert!(
        report.torn_bytes_cut >= padded - end + torn.len() as u64,
        "{report:?}"
    );
    assert_eq!(wal.last_lsn(), Lsn::from(last));
    let bytes = std::fs::read(&active).unwrap();
    let at = padded as usize;
    assert!(
        bytes[at..at + torn.len()].iter().all(|&b| b == 0),
        "the torn frame is cut"
    );
    wal.close().unwrap();
}

/// A reader still inside segments that a checkpoint retires and recycling overwrites
/// gets `BelowCheckpoint`, never a false corruption.
#[test]
fn a_reader_left_behind_by_a_checkpoint_gets_below_checkpoint() {
    let log = temp_log();
    // Segments bigger than the reader's read window, so it reads reused files again.
    let opts = small(Driver::Portable)
        .segment_bytes(4 << 20)
        .recycle_segments(8);
    let wal = Wal::open(&log.dir, opts).unwrap();
    let first = append_fast(&wal, 60_000);
    let mut reader = wal.read_from(Lsn::from(1)).unwrap();
    assert_eq!(reader.next().unwrap().unwrap().lsn(), Lsn::from(1));
    wal.checkpoint(Lsn::from(first)).unwrap();
    // Reuse the spares, overwriting the segments the reader has yet to read.
    append_fast(&wal, 60_000);
    assert!(wal.stats().segments_recycled > 0);
    let mut expected = 2;
    let outcome = loop {
        match reader.next() {
            Some(Ok(record)) => {
                assert_eq!(record.lsn().get(), expected, "records stay dense");
                assert_eq!(record.payload(), payload(expected).as_slice());
                expected += 1;
            }
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    match outcome {
        Some(Error::BelowCheckpoint { checkpoint, .. }) => {
            assert_eq!(checkpoint, Lsn::from(first));
            assert!(expected <= first, "the reader stopped at {expected}");
        }
        None => assert!(expected > first, "the reader ended early at {expected}"),
        Some(other) => panic!("a reader behind the checkpoint got {other:?}"),
    }
    wal.close().unwrap();
}

/// Spares left by another segment size are removed, not reused; with recycling off
/// (archiving, or 0) a checkpoint deletes as before and leftover spares go.
#[test]
fn spares_that_do_not_fit_are_removed() {
    let log = temp_log();
    let (opts, checkpoint, _) = log_with_spares(&log.dir, Driver::Portable);
    let bigger = opts.clone().segment_bytes(128 << 10);
    let wal = Wal::open(&log.dir, bigger.clone()).unwrap();
    assert!(files_with_ext(&log.dir, "spare").is_empty());
    let last = append(&wal, 300);
    assert_eq!(wal.stats().segments_recycled, 0);
    wal.close().unwrap();
    assert_log_holds(&log.dir, bigger.clone(), checkpoint + 1, last);
    let wal = Wal::open(&log.dir, bigger.recycle_segments(0)).unwrap();
    wal.checkpoint(Lsn::from(last)).unwrap();
    assert!(files_with_ext(&log.dir, "spare").is_empty());
    wal.close().unwrap();
}

/// Review finding: after a clean close the survey past a recycled segment's chain is
/// empty (nothing can have been written there), but a chain that stops inside
/// records the lock file recorded durable is damage, not the end: a bit flip in a
/// recycled active segment below the checkpoint must be reported, not let the log
/// restart above the checkpoint without the records after it.
#[test]
fn damage_in_a_recycled_segment_after_a_clean_close_is_reported() {
    let log = temp_log();
    let (opts, _, _) = log_with_spares(&log.dir, Driver::Portable);
    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    let into = append_into_a_recycled_segment(&wal);
    let last = append(&wal, 40);
    // A checkpoint inside the active segment: it stays, with records on both sides.
    wal.checkpoint(Lsn::from(into + 20)).unwrap();
    wal.close().unwrap();
    let (active, _) = tail_segment(&log.dir, &opts);
    let frames = crate::disk::frames(&active);
    let damaged = frames.iter().find(|f| f.lsn == into + 10).unwrap();
    crate::disk::flip_bit(&active, damaged.offset + 30, 2);
    match Wal::open(&log.dir, opts.clone()) {
        Err(Error::Corrupt { reason, .. }) => eprintln!("reported: {reason:?}"),
        Ok(wal) => panic!(
            "opened at LSN {} (records up to {last} were durable)",
            wal.last_lsn()
        ),
        Err(other) => panic!("{other:?}"),
    }
}

/// Review finding: a tail (follower) still inside a segment that a checkpoint retires
/// and recycling reuses — the next segment still live, starting past the tail — gets
/// `BelowCheckpoint`, not a false corruption.
#[test]
fn a_tail_left_behind_by_a_checkpoint_gets_below_checkpoint() {
    let log = temp_log();
    // Segments bigger than the tail's read window, so it reads the reused file again.
    let opts = small(Driver::Portable)
        .segment_bytes(1 << 20)
        .recycle_segments(1);
    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    append_fast(&wal, 15_000);
    let scan = ringwal::recovery::scan(&log.dir, opts.get_record_bytes_max()).unwrap();
    let first_segment_end = scan.segments[0].last_lsn.unwrap();
    let mut tail = wal.tail(Lsn::from(1)).unwrap();
    let record = tail
        .next_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert_eq!(record.unwrap().lsn(), Lsn::from(1));
    // Retire the first segment only; its file becomes the next new segment and is
    // written over while the tail is still in it.
    wal.checkpoint(Lsn::from(first_segment_end)).unwrap();
    let rotations = wal.stats().rotations;
    while wal.stats().segments_recycled == 0 || wal.stats().rotations < rotations + 3 {
        append_fast(&wal, 1000);
    }
    let mut expected = 2;
    let outcome = loop {
        match tail.next_timeout(std::time::Duration::from_millis(200)) {
            Ok(Some(record)) => {
                assert_eq!(record.lsn().get(), expected, "records stay dense");
                assert_eq!(record.payload(), payload(expected).as_slice());
                expected += 1;
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    match outcome {
        Some(Error::BelowCheckpoint { checkpoint, .. }) => {
            assert_eq!(checkpoint, Lsn::from(first_segment_end));
            assert!(
                expected <= first_segment_end,
                "the tail stopped at {expected}"
            );
        }
        None => assert!(
            expected > wal.last_lsn().get(),
            "the tail stalled at {expected}"
        ),
        Some(other) => panic!("a tail behind the checkpoint got {other:?}"),
    }
    wal.close().unwrap();
}

/// Review finding: a log whose every segment is gone starts numbering above its spare
/// files, so no file is reused under its own old number (its old frames would
/// validate again).
#[test]
fn new_segments_are_numbered_above_every_spare() {
    let log = temp_log();
    let (opts, _, _) = log_with_spares(&log.dir, Driver::Portable);
    let spare_max = files_with_ext(&log.dir, "spare")
        .iter()
        .filter_map(|p| p.file_stem()?.to_str()?.parse::<u64>().ok())
        .max()
        .unwrap();
    for path in files_with_ext(&log.dir, "wal") {
        std::fs::remove_file(path).unwrap();
    }
    std::fs::remove_file(log.dir.join("CHECKPOINT")).unwrap();
    std::fs::remove_file(log.dir.join("LOCK")).unwrap();
    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    let last = append(&wal, 2000);
    assert!(wal.stats().segments_recycled > 0);
    wal.close().unwrap();
    for path in files_with_ext(&log.dir, "wal") {
        let seq: u64 = path.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        assert!(
            seq > spare_max,
            "segment {seq} at or below spare {spare_max}"
        );
    }
    assert_log_holds(&log.dir, opts, 1, last);
}

/// Closes `wal` and puts back the lock file it held (what it says while a writer holds
/// it), so the next open treats the close as a crash (an unclean stop that tore
/// nothing).
fn close_as_if_crashed(wal: Wal, dir: &Path) {
    let lock = dir.join("LOCK");
    let held = std::fs::read(&lock).unwrap();
    wal.close().unwrap();
    std::fs::write(&lock, &held).unwrap();
}

/// A log whose active segment is a spare's file with 20 records in it, open: the
/// options, the log, its last LSN, the segment's path and its first LSN.
fn twenty_records_into_a_recycled_segment(
    dir: &Path,
    driver: Driver,
) -> (Options, Wal, u64, PathBuf, u64) {
    let (opts, _, spare_inodes) = log_with_spares(dir, driver);
    let wal = Wal::open(dir, opts.clone()).unwrap();
    append_into_a_recycled_segment(&wal);
    let last = append(&wal, 20);
    let (segment, _) = tail_segment(dir, &opts);
    assert!(spare_inodes.contains(&inode(&segment)), "{driver:?}");
    let first = match header_of(&segment) {
        HeaderState::Valid(h) => h.first_lsn,
        other => panic!("{driver:?}: {other:?}"),
    };
    (opts, wal, last, segment, first)
}

/// `truncate_from` inside a recycled active segment zeroes the records it removes and
/// keeps the file's earlier life behind them, which never validates: zeroing to the
/// file's end would write a whole segment of zeros (64 MiB by default) for a cut of a
/// few records. A cut that takes the segment's
/// first record writes the recycled-blank marker over the header. Either way the
/// removed records never come back: not after new, shorter records are appended over
/// them, not after an unclean stop.
#[test]
fn a_cut_in_a_recycled_segment_zeroes_only_its_present_life() {
    for driver in drivers() {
        for takes_the_header in [false, true] {
            let what = format!("{driver:?}, cut takes the header: {takes_the_header}");
            let log = temp_log();
            let (opts, wal, last, active, first) =
                twenty_records_into_a_recycled_segment(&log.dir, driver);
            let cut = if takes_the_header { first } else { last - 10 };
            let before = std::fs::read(&active).unwrap();
            wal.truncate_from(Lsn::from(cut)).unwrap();
            assert_eq!(wal.last_lsn(), Lsn::from(cut - 1), "{what}");
            let after = std::fs::read(&active).unwrap();
            assert_eq!(after.len(), before.len(), "{what}");
            let half = before.len() / 2;
            assert!(
                before[half..].iter().any(|&b| b != 0),
                "{what}: the spare held an earlier life"
            );
            // (Not assert_eq: a failure would print 64 KiB.)
            assert!(
                after[half..] == before[half..],
                "{what}: the cut zeroed the file's earlier life"
            );
            // What changed is the removed records (and the header), now zeros.
            let changed: Vec<usize> = (0..half).filter(|&i| after[i] != before[i]).collect();
            assert!(!changed.is_empty(), "{what}: the cut changed nothing");
            if takes_the_header {
                assert!(
                    matches!(header_of(&active), HeaderState::RecycledBlank { .. }),
                    "{what}: {:?}",
                    header_of(&active)
                );
            } else {
                assert!(changed.iter().all(|&i| after[i] == 0), "{what}");
            }
            // Fewer records than were removed, then an unclean stop.
            let more = append(&wal, 3);
            assert_eq!(more, cut + 2, "{what}");
            close_as_if_crashed(wal, &log.dir);
            let wal = Wal::open(&log.dir, opts.clone()).unwrap();
            let report = wal.recovery_report();
            assert_eq!(report.torn_bytes_cut, 0, "{what}: {report:?}");
            assert_eq!(wal.last_lsn(), Lsn::from(more), "{what}: {report:?}");
            wal.close().unwrap();
            match header_of(&active) {
                HeaderState::Valid(h) => assert!(h.recycled, "{what}: {h:?}"),
                other => panic!("{what}: {other:?}"),
            }
            assert_log_holds(&log.dir, opts, first.min(cut), more);
        }
    }
}

/// Reopens the log and checks it holds exactly the records after the checkpoint up to
/// `last` (payloads by LSN), with nothing cut.
fn reopen_holding(dir: &Path, opts: &Options, last: u64, what: &str) -> Wal {
    let wal = Wal::open(dir, opts.clone()).unwrap();
    let report = wal.recovery_report();
    assert_eq!(report.torn_bytes_cut, 0, "{what}: {report:?}");
    assert_eq!(wal.last_lsn(), Lsn::from(last), "{what}: {report:?}");
    let mut expected = wal.checkpoint_lsn().get() + 1;
    for record in wal.read_from(Lsn::from(expected)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected, "{what}");
        assert_eq!(record.payload(), payload(expected).as_slice(), "{what}");
        expected += 1;
    }
    assert_eq!(expected - 1, last, "{what}");
    wal
}

/// A cut into a recycled segment that is no longer the active one (the segments after
/// it go): the same as in the active one, and the file carries on as a recycled
/// segment across clean and unclean reopens and further cuts.
#[test]
fn a_cut_into_an_earlier_recycled_segment_keeps_its_earlier_life_too() {
    for driver in drivers() {
        for takes_the_header in [false, true] {
            let what = format!("{driver:?}, cut takes the header: {takes_the_header}");
            let log = temp_log();
            let (opts, wal, _, segment, first) =
                twenty_records_into_a_recycled_segment(&log.dir, driver);
            let rotations = wal.stats().rotations;
            while wal.stats().rotations < rotations + 2 {
                append(&wal, 1);
            }
            let cut = if takes_the_header { first } else { first + 7 };
            wal.truncate_from(Lsn::from(cut)).unwrap();
            assert_eq!(wal.last_lsn(), Lsn::from(cut - 1), "{what}");
            if takes_the_header {
                assert!(
                    matches!(header_of(&segment), HeaderState::RecycledBlank { .. }),
                    "{what}: {:?}",
                    header_of(&segment)
                );
            }
            let more = append(&wal, 3);
            close_as_if_crashed(wal, &log.dir);
            let wal = reopen_holding(&log.dir, &opts, more, &what);
            match header_of(&segment) {
                HeaderState::Valid(h) => assert!(h.recycled, "{what}: {h:?}"),
                other => panic!("{what}: {other:?}"),
            }
            // On across the segment's end, another cut, then both kinds of reopen.
            let more = append(&wal, 200);
            wal.truncate_from(Lsn::from(more - 150)).unwrap();
            let more = append(&wal, 5);
            wal.close().unwrap();
            let wal = reopen_holding(&log.dir, &opts, more, &what);
            close_as_if_crashed(wal, &log.dir);
            reopen_holding(&log.dir, &opts, more, &what)
                .close()
                .unwrap();
        }
    }
}

/// Random appends from several threads (direct commits in flight pad to the next
/// block), cuts near and far, checkpoints that make spares, and clean and unclean
/// reopens, over recycled and fresh segments: every reopen finds exactly the records
/// appended and not cut, and cuts nothing.
#[test]
fn random_cuts_over_recycled_segments_keep_exactly_what_was_not_cut() {
    for driver in drivers() {
        for seed in 1..=4u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let what = format!("{driver:?}, seed {seed}");
            let log = temp_log();
            let (opts, _, _) = log_with_spares(&log.dir, driver);
            let opts = if seed % 2 == 0 {
                opts.pad_every_commit(true)
            } else {
                opts.direct_depth(4)
            };
            let mut wal = Wal::open(&log.dir, opts.clone()).unwrap();
            let mut last = wal.last_lsn().get();
            for round in 0..60 {
                let what = format!("{what}, round {round}");
                match rng.u8(..11) {
                    0..=4 => {
                        // Four threads; LSNs are handed out under a lock so that each
                        // record's payload is the one for its LSN.
                        let per_thread = rng.u64(1..50);
                        let order = std::sync::Mutex::new(());
                        std::thread::scope(|s| {
                            for _ in 0..4 {
                                s.spawn(|| {
                                    for _ in 0..per_thread {
                                        let lsn = {
                                            let _turn = order.lock().unwrap();
                                            let lsn = wal.last_lsn().get() + 1;
                                            let got = wal.append(&payload(lsn)).unwrap();
                                            assert_eq!(got.get(), lsn);
                                            got
                                        };
                                        wal.wait_durable(lsn).unwrap();
                                    }
                                });
                            }
                        });
                        last = wal.last_lsn().get();
                    }
                    5..=7 => {
                        let floor = wal.checkpoint_lsn().get();
                        if last > floor + 1 {
                            let back = if rng.bool() {
                                rng.u64(1..10)
                            } else {
                                rng.u64(1..400)
                            };
                            let from = (last + 1).saturating_sub(back).max(floor + 1);
                            wal.truncate_from(Lsn::from(from)).unwrap();
                            last = from - 1;
                            assert_eq!(wal.last_lsn().get(), last, "{what}");
                        }
                    }
                    8 => {
                        close_as_if_crashed(wal, &log.dir);
                        wal = reopen_holding(&log.dir, &opts, last, &format!("{what}, unclean"));
                    }
                    9 => {
                        let upto = last.saturating_sub(300);
                        if upto > wal.checkpoint_lsn().get() {
                            wal.checkpoint(Lsn::from(upto)).unwrap();
                        }
                    }
                    _ => {
                        wal.close().unwrap();
                        wal = reopen_holding(&log.dir, &opts, last, &format!("{what}, clean"));
                    }
                }
            }
            close_as_if_crashed(wal, &log.dir);
            reopen_holding(&log.dir, &opts, last, &what)
                .close()
                .unwrap();
        }
    }
}
