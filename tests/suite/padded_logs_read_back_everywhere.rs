//! Format 3: a commit may start at the next 4 KiB block, leaving zeros ("padding")
//! behind the commit before it. `Options::pad_every_commit(true)` pads every commit, so
//! the layout is fixed: commits ending mid-block (padding follows), exactly on a block
//! boundary (none follows), batches, and rotation with padding at segment ends. Every
//! way of reading steps over the padding — recovery after a clean close and after a
//! power cut, `LogReader`, `Wal::get`, tails from LSN 1 and from the first record after
//! a gap — and a cut at that record is clean. A non-zero byte inside a gap is never
//! taken for padding: corruption when anything vouches for the record after it, else a
//! torn tail.

use std::path::Path;
use std::time::Duration;

use ringwal::{CorruptReason, Driver, Error, LogReader, Lsn, Options, Tail, Wal};

use crate::common::{drivers, small, temp_log};
use crate::disk::{as_if_power_was_cut, frames, read_at, write_at, written_segments};

const BLOCK: u64 = ringwal::limits::PAD_BLOCK;

/// Commits in a log built by `build`; every 7th is a batch of 4 records.
const COMMITS: u64 = 80;

fn options(driver: Driver) -> Options {
    small(driver).pad_every_commit(true)
}

/// Payload lengths by LSN: frames of 40, 328, 4096 (a whole block), 1024, 5024, 24,
/// 8192 (two whole blocks), 104 and 2528 bytes, so some commits end exactly on a
/// boundary and most end inside a block.
fn len_of(lsn: u64) -> usize {
    [13, 300, 4072, 1000, 5000, 0, 8168, 77, 2500][(lsn % 9) as usize]
}

/// The payload of `lsn`: no zero byte, so padding and payload cannot be mistaken.
fn body(lsn: u64) -> Vec<u8> {
    (0..len_of(lsn))
        .map(|i| (lsn as usize * 31 + i) as u8 | 1)
        .collect()
}

/// What a record appended after a cut holds.
fn replacement(lsn: u64) -> Vec<u8> {
    format!("after the cut: {lsn}").into_bytes()
}

/// Writes `COMMITS` commits, each durable on its own (one flush each), the last two
/// single small records, so the last record follows a gap in the last segment. Returns
/// the last LSN and the padding the writer counted.
fn build(wal: &Wal) -> (u64, u64) {
    let mut next = 1u64;
    for commit in 0..COMMITS {
        if commit % 7 == 3 {
            let batch: Vec<Vec<u8>> = (next..next + 4).map(body).collect();
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let range = wal.append_batch(&refs).unwrap();
            assert_eq!(range.start().get(), next);
            wal.sync().unwrap();
            next += 4;
        } else {
            let lsn = if commit >= COMMITS - 2 {
                // Small and ending inside a block (13-byte payloads: frames of 40).
                wal.append_durable(b"last records!").unwrap()
            } else {
                wal.append_durable(&body(next)).unwrap()
            };
            assert_eq!(lsn.get(), next);
            next += 1;
        }
    }
    (next - 1, wal.stats().padding_bytes)
}

/// The payload `build` gave `lsn` in a log whose last LSN is `last`.
fn built(lsn: u64, last: u64) -> Vec<u8> {
    if lsn + 2 > last {
        b"last records!".to_vec()
    } else {
        body(lsn)
    }
}

/// A gap of zeros between two frames of one segment.
#[derive(Debug, Clone, Copy)]
struct Gap {
    segment: u64,
    /// Where the zeros start: the end of the frame of `lsn - 1`.
    from: u64,
    /// The block boundary where the frame of `lsn` starts.
    to: u64,
    lsn: u64,
}

/// Every gap in the log's files, checked to be zeros up to a block boundary; also
/// checks that some commit ended exactly on a boundary (no gap before the next).
fn gaps(dir: &Path) -> Vec<Gap> {
    let mut out = Vec::new();
    let mut flush_ends = 0;
    for (segment, path) in written_segments(dir) {
        let frames = frames(&path);
        for pair in frames.windows(2) {
            let (before, after) = (pair[0], pair[1]);
            assert_eq!(after.lsn, before.lsn + 1, "segment {segment}");
            let end = before.offset + before.bytes;
            if end == after.offset {
                flush_ends += u64::from(end % BLOCK == 0 && !before.batch_continues);
                continue;
            }
            assert_eq!(after.offset % BLOCK, 0, "a frame after a gap at {end}");
            assert!(after.offset - end < BLOCK, "a gap of a block or more");
            let zeros = read_at(&path, end, (after.offset - end) as usize);
            assert!(zeros.iter().all(|&b| b == 0), "gap {end}..{}", after.offset);
            out.push(Gap {
                segment,
                from: end,
                to: after.offset,
                lsn: after.lsn,
            });
        }
    }
    assert!(
        flush_ends > 0,
        "no commit ended exactly on a block boundary"
    );
    out
}

/// Reads `from..=last` through `tail`, checking LSNs and payloads.
fn follow(mut tail: Tail, from: u64, last: u64, what: &str) {
    for lsn in from..=last {
        let record = tail
            .next_timeout(Duration::from_secs(30))
            .unwrap_or_else(|e| panic!("{what}: at {lsn}: {e}"))
            .unwrap_or_else(|| panic!("{what}: nothing after {}", lsn - 1));
        assert_eq!(record.lsn().get(), lsn, "{what}");
        assert_eq!(
            record.payload(),
            built(lsn, last),
            "{what}: payload of {lsn}"
        );
    }
}

/// Every way of reading finds every record of a log `build` wrote.
fn check_reads(wal: &Wal, dir: &Path, last: u64, after_gap: u64, what: &str) {
    assert_eq!(wal.last_lsn().get(), last, "{what}");
    let read: Vec<(u64, Vec<u8>)> = wal
        .read_from(Lsn::new(1))
        .unwrap()
        .map(|r| r.map(|r| (r.lsn().get(), r.into_payload())).unwrap())
        .collect();
    let want: Vec<(u64, Vec<u8>)> = (1..=last).map(|l| (l, built(l, last))).collect();
    assert_eq!(read, want, "{what}: Wal::read_from");
    let reader = LogReader::open(dir).unwrap();
    let read: Vec<(u64, Vec<u8>)> = reader
        .read_from(Lsn::new(1))
        .unwrap()
        .map(|r| r.map(|r| (r.lsn().get(), r.into_payload())).unwrap())
        .collect();
    assert_eq!(read, want, "{what}: LogReader::read_from");
    for lsn in 1..=last {
        let record = wal.get(Lsn::new(lsn)).unwrap();
        let record = record.unwrap_or_else(|| panic!("{what}: get({lsn}) found nothing"));
        assert_eq!(record.payload(), built(lsn, last), "{what}: get({lsn})");
    }
    follow(wal.tail(Lsn::new(1)).unwrap(), 1, last, what);
    follow(
        wal.tail(Lsn::new(after_gap)).unwrap(),
        after_gap,
        last,
        what,
    );
    follow(reader.tail(Lsn::new(1)).unwrap(), 1, last, what);
    follow(
        reader.tail(Lsn::new(after_gap)).unwrap(),
        after_gap,
        last,
        what,
    );
}

/// A gap in the middle of the log: the first one in the second segment.
fn middle_gap(dir: &Path) -> Gap {
    let gaps = gaps(dir);
    let second = written_segments(dir)[1].0;
    *gaps.iter().find(|g| g.segment == second).unwrap()
}

#[test]
fn every_reader_steps_over_padding_after_a_close_and_a_power_cut() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        // A tail following the writing, made before anything is written.
        let live = wal.tail(Lsn::new(1)).unwrap();
        let (last, padding) = build(&wal);
        assert!(padding > 0, "{driver:?}: no padding counted");
        assert!(wal.stats().rotations >= 3, "{driver:?}: too few segments");
        follow(live, 1, last, &format!("{driver:?} live tail"));
        wal.close().unwrap();

        let segments = written_segments(&log.dir).len();
        assert!(segments >= 4, "{driver:?}: {segments} segments");
        let gaps = gaps(&log.dir);
        assert!(gaps.len() > 20, "{driver:?}: {} gaps", gaps.len());
        let padded: u64 = gaps.iter().map(|g| g.to - g.from).sum();
        assert!(padded <= padding, "{driver:?}: {padded} > {padding}");
        let after_gap = middle_gap(&log.dir).lsn;

        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        assert_eq!(wal.recovery_report().torn_bytes_cut, 0, "{driver:?}");
        check_reads(
            &wal,
            &log.dir,
            last,
            after_gap,
            &format!("{driver:?} closed"),
        );
        wal.close().unwrap();

        as_if_power_was_cut(&log.dir);
        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        assert_eq!(wal.recovery_report().torn_tail, None, "{driver:?}");
        check_reads(&wal, &log.dir, last, after_gap, &format!("{driver:?} cut"));
        wal.close().unwrap();
    }
}

#[test]
fn a_cut_at_the_first_record_after_a_gap_keeps_what_is_below() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        let (last, _) = build(&wal);
        wal.close().unwrap();
        let cut = middle_gap(&log.dir).lsn;
        assert!(cut + 20 < last, "{driver:?}: the cut leaves later segments");

        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        wal.truncate_from(Lsn::new(cut)).unwrap();
        assert_eq!(wal.last_lsn().get(), cut - 1, "{driver:?}");
        for lsn in cut..cut + 30 {
            assert_eq!(wal.append_durable(&replacement(lsn)).unwrap().get(), lsn);
        }
        assert!(wal.stats().padding_bytes > 0, "{driver:?}");
        wal.close().unwrap();

        let want: Vec<(u64, Vec<u8>)> = (1..cut)
            .map(|l| (l, body(l)))
            .chain((cut..cut + 30).map(|l| (l, replacement(l))))
            .collect();
        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        let read: Vec<(u64, Vec<u8>)> = wal
            .read_from(Lsn::new(1))
            .unwrap()
            .map(|r| r.map(|r| (r.lsn().get(), r.into_payload())).unwrap())
            .collect();
        assert_eq!(read, want, "{driver:?}");
        for (lsn, payload) in &want {
            let got = wal.get(Lsn::new(*lsn)).unwrap().unwrap();
            assert_eq!(got.payload(), payload.as_slice(), "{driver:?}: get({lsn})");
        }
        wal.close().unwrap();
        // The replacements are padded too: the new records also sit behind gaps.
        let new_gaps = gaps(&log.dir).iter().filter(|g| g.lsn > cut).count();
        assert!(new_gaps > 5, "{driver:?}: {new_gaps} gaps after the cut");
    }
}

/// Writes a non-zero byte into the middle of `gap`.
fn damage(dir: &Path, gap: Gap) {
    let path = written_segments(dir)
        .into_iter()
        .find(|(s, _)| *s == gap.segment)
        .unwrap()
        .1;
    write_at(&path, (gap.from + gap.to) / 2, &[0x5a]);
}

#[test]
fn damage_inside_a_gap_is_never_taken_for_padding() {
    for driver in drivers() {
        // A gap in the middle: a clean close vouches for every record after it, and
        // after a power cut the frames written after the record behind the gap still
        // claim it durable (each was staged after it was acknowledged).
        for power_cut in [false, true] {
            let log = temp_log();
            let wal = Wal::open(&log.dir, options(driver)).unwrap();
            build(&wal);
            wal.close().unwrap();
            let gap = middle_gap(&log.dir);
            damage(&log.dir, gap);
            if power_cut {
                as_if_power_was_cut(&log.dir);
            }
            let at = format!("{driver:?}, power cut {power_cut}, gap {gap:?}");
            for result in [
                Wal::open(&log.dir, options(driver)).map(drop),
                LogReader::open(&log.dir).map(drop),
            ] {
                match result {
                    Err(Error::Corrupt {
                        segment,
                        offset,
                        reason: CorruptReason::DamagedDurableData { lsn, durable, .. },
                    }) => {
                        assert_eq!((segment, offset), (gap.segment, gap.from), "{at}");
                        assert_eq!(lsn, gap.lsn, "{at}");
                        assert!(durable >= gap.lsn, "{at}: claim {durable}");
                    }
                    other => panic!("{at}: expected DamagedDurableData, got {other:?}"),
                }
            }
        }

        // The gap before the last record, after a power cut: only that record lies
        // past the damage, and it claims no more than the record before it durable, so
        // nothing vouches for it. A torn tail: cut, the log opens by itself.
        let log = temp_log();
        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        let (last, _) = build(&wal);
        wal.close().unwrap();
        let gap = *gaps(&log.dir).last().unwrap();
        assert_eq!(gap.lsn, last, "{driver:?}: the last record follows a gap");
        damage(&log.dir, gap);
        as_if_power_was_cut(&log.dir);
        let reader = LogReader::open(&log.dir).unwrap();
        assert_eq!(reader.scan().last_lsn, last - 1);
        // A tail following the files reads up to the damage and no further: the frame
        // behind the damaged gap is not the chain's next one for it either.
        let mut tail = reader.tail(Lsn::new(last - 1)).unwrap();
        let before = tail.next_timeout(Duration::from_secs(30)).unwrap().unwrap();
        assert_eq!(before.lsn().get(), last - 1, "{driver:?}");
        let after = tail.next_timeout(Duration::from_millis(300)).unwrap();
        assert!(
            after.is_none(),
            "{driver:?}: a tail read past a damaged gap"
        );
        drop(tail);
        drop(reader);
        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        let torn = wal.recovery_report().torn_tail;
        let torn = torn.unwrap_or_else(|| panic!("{driver:?}: no torn tail"));
        assert_eq!((torn.segment, torn.offset), (gap.segment, gap.from));
        assert_eq!(torn.lsn.get(), last, "{driver:?}");
        assert_eq!(torn.frames_after_hole, 1, "{driver:?}");
        assert_eq!(torn.durable_claimed, Some(Lsn::new(last - 1)), "{driver:?}");
        assert_eq!(wal.last_lsn().get(), last - 1, "{driver:?}");
        assert_eq!(wal.append_durable(b"again").unwrap().get(), last);
        wal.close().unwrap();
        let wal = Wal::open(&log.dir, options(driver)).unwrap();
        let got = wal.get(Lsn::new(last)).unwrap().unwrap();
        assert_eq!(got.payload(), b"again", "{driver:?}");
        wal.close().unwrap();
    }
}
