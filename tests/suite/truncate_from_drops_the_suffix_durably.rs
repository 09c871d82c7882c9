//! `Wal::truncate_from(lsn)` removes every record at or above `lsn`, durably, and the
//! next append reuses `lsn`: in the middle of a segment, at a segment's first record
//! (the segment becomes blank), in an earlier sealed segment (later segments go), at
//! the last record. On both drivers; then a power cut at every file operation of a
//! truncation (simulator) leaves the old log or the cut one, never a mix.

use std::future::Future;
use std::os::unix::fs::MetadataExt;

use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{Driver, Error, LogReader, Lsn, Options, Wal};

use crate::common::{drivers, payload, small, temp_log};

const RECORDS: u64 = 2000;

/// Small segments on a simulated filesystem (the portable driver runs it).
fn on_sim(sim: &SimFs) -> Options {
    Options::default()
        .driver(Driver::Portable)
        .segment_bytes(16 << 10)
        .record_bytes_max(4 << 10)
        .simulated(sim)
}

/// What a record appended after the cut holds.
fn replacement(lsn: u64) -> Vec<u8> {
    format!("after the cut: {lsn}").into_bytes()
}

fn read_all(wal: &Wal) -> Vec<(u64, Vec<u8>)> {
    wal.read_from(Lsn::new(1))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.lsn().get(), r.into_payload())
        })
        .collect()
}

fn expected(cut: u64, appended_after: u64) -> Vec<(u64, Vec<u8>)> {
    (1..cut)
        .map(|l| (l, payload(l)))
        .chain((cut..cut + appended_after).map(|l| (l, replacement(l))))
        .collect()
}

/// Cut points worth trying in a log of `RECORDS` records over several segments.
fn cut_points(dir: &std::path::Path) -> Vec<u64> {
    let scan = LogReader::open(dir).unwrap().scan().clone();
    let firsts: Vec<u64> = scan.segments.iter().filter_map(|s| s.first_lsn).collect();
    assert!(firsts.len() >= 4, "the log should span several segments");
    vec![
        firsts[1] + 3,                // inside an early, sealed segment
        firsts[2],                    // a segment's first record: it becomes blank
        firsts[firsts.len() - 1] + 1, // inside the active segment
        RECORDS,                      // the last record
        2,                            // nearly everything
    ]
}

#[test]
fn truncation_cuts_and_appends_continue_after_reopen() {
    for driver in drivers() {
        let probe = temp_log();
        let wal = Wal::open(&probe.dir, small(driver)).unwrap();
        for l in 1..=RECORDS {
            wal.append(&payload(l)).unwrap();
        }
        wal.close().unwrap();
        for cut in cut_points(&probe.dir) {
            let log = temp_log();
            let wal = Wal::open(&log.dir, small(driver)).unwrap();
            for l in 1..=RECORDS {
                wal.append(&payload(l)).unwrap();
            }
            wal.sync().unwrap();
            wal.truncate_from(Lsn::new(cut)).unwrap();
            assert_eq!(wal.last_lsn(), Lsn::new(cut - 1), "{driver:?} cut {cut}");
            assert_eq!(wal.durable_lsn(), Lsn::new(cut - 1));
            assert_eq!(read_all(&wal), expected(cut, 0), "{driver:?} cut {cut}");
            for l in cut..cut + 50 {
                assert_eq!(wal.append_durable(&replacement(l)).unwrap(), Lsn::new(l));
            }
            assert_eq!(read_all(&wal), expected(cut, 50), "{driver:?} cut {cut}");
            wal.close().unwrap();
            let wal = Wal::open(&log.dir, small(driver)).unwrap();
            assert_eq!(wal.recovery_report().truncation_finished, None);
            assert_eq!(
                read_all(&wal),
                expected(cut, 50),
                "{driver:?} cut {cut} reopened"
            );
            wal.close().unwrap();
        }
    }
}

#[test]
fn truncation_refuses_what_it_cannot_cut() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for l in 1..=20 {
            wal.append(&payload(l)).unwrap();
        }
        let batch: Vec<Vec<u8>> = (21..=25).map(payload).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        wal.append_batch(&refs).unwrap();
        wal.checkpoint(Lsn::new(10)).unwrap();
        let invalid = |r: ringwal::Result<()>| matches!(r, Err(Error::InvalidArgument { .. }));
        assert!(
            invalid(wal.truncate_from(Lsn::new(10))),
            "at the checkpoint"
        );
        assert!(
            invalid(wal.truncate_from(Lsn::new(27))),
            "beyond the next LSN"
        );
        assert!(invalid(wal.truncate_from(Lsn::new(23))), "inside a batch");
        wal.truncate_from(Lsn::new(26)).unwrap(); // one past the end: nothing to cut
        assert_eq!(wal.last_lsn(), Lsn::new(25), "{driver:?}: nothing was cut");
        // A refused cut leaves a working log.
        assert_eq!(wal.append_durable(b"next").unwrap(), Lsn::new(26));
        wal.truncate_from(Lsn::new(21)).unwrap(); // a whole batch goes
        assert_eq!(wal.append_durable(b"21 again").unwrap(), Lsn::new(21));
        wal.close().unwrap();
    }
}

#[test]
fn truncation_waits_out_concurrent_appends() {
    for driver in drivers() {
        let log = temp_log();
        let wal = std::sync::Arc::new(Wal::open(&log.dir, small(driver)).unwrap());
        for l in 1..=100 {
            wal.append(&payload(l)).unwrap();
        }
        let appender = {
            let wal = std::sync::Arc::clone(&wal);
            std::thread::spawn(move || {
                (0..200)
                    .map(|_| wal.append_durable(b"concurrent").unwrap())
                    .collect::<Vec<_>>()
            })
        };
        crate::common::eventually("the appender is under way", || wal.last_lsn().get() > 110);
        wal.truncate_from(Lsn::new(50)).unwrap();
        let lsns: Vec<u64> = appender.join().unwrap().iter().map(|l| l.get()).collect();
        // Appends made while the cut ran waited for it and continued from 50: the
        // LSNs handed out fall back once, at most.
        let drops = lsns.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(drops <= 1, "{driver:?}: {lsns:?}");
        let all = read_all(&wal);
        let last = wal.last_lsn().get();
        let want_last = if drops == 1 {
            *lsns.last().unwrap()
        } else {
            49
        };
        assert_eq!(last, want_last, "{driver:?}");
        assert_eq!(all.len() as u64, last, "{driver:?}: dense");
        assert!(all[..49].iter().all(|(l, p)| *p == payload(*l)));
        assert!(all[49..].iter().all(|(_, p)| p == b"concurrent"));
        drop(wal);
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::new(last));
    }
}

/// A sync ticket taken before a cut, and a durability future made before it, are
/// answered by the cut even when they look only after it: the cut wrote and synced
/// everything appended before it. They used to wait for the records that would take
/// the removed LSNs next, forever when none came.
#[test]
fn waits_begun_before_a_cut_are_answered_by_it() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for l in 1..=20 {
            wal.append(&payload(l)).unwrap();
        }
        let ticket = wal.sync_async().unwrap();
        assert_eq!(ticket.lsn(), Lsn::new(20));
        let mut durable = wal.durable(Lsn::new(20));
        wal.truncate_from(Lsn::new(11)).unwrap();
        assert!(
            ticket.is_done(),
            "{driver:?}: ticket for 20 after a cut to 10"
        );
        assert!(
            ticket
                .wait_timeout(std::time::Duration::from_secs(5))
                .unwrap(),
            "{driver:?}: the ticket's wait"
        );
        // What is durable now: the cut moved the durable LSN back to 10.
        assert_eq!(ticket.clone().wait().unwrap(), Lsn::new(10));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(
            matches!(
                std::pin::Pin::new(&mut durable).poll(&mut cx),
                std::task::Poll::Ready(Ok(()))
            ),
            "{driver:?}: the durability future for 20 after a cut to 10"
        );
        // Made after the cut, a wait is for the records that take the LSNs next.
        assert!(matches!(
            wal.wait_durable(Lsn::new(11)),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(wal.append_durable(b"next").unwrap(), Lsn::new(11));
        wal.close().unwrap();
    }
}

/// Power goes at the n-th file operation of a truncation, for every n until one
/// completes: the reopened log is the old one (when the cut had not returned) or the
/// cut one, dense, with the old payloads below the cut.
#[test]
fn a_power_cut_anywhere_in_a_truncation_leaves_the_old_log_or_the_cut_one() {
    let options = on_sim;
    // Where the second segment starts: a cut there zeroes a segment's header.
    let second_first = {
        let sim = SimFs::new(0);
        let wal = Wal::open("/wal", options(&sim)).unwrap();
        for l in 1..=100 {
            wal.append(&payload(l)).unwrap();
        }
        wal.close().unwrap();
        let reader = LogReader::open_simulated(&sim, "/wal").unwrap();
        reader.scan().segments[1].first_lsn.unwrap()
    };
    for cut in [1, 7, second_first, 90] {
        let mut finished_by_recovery = 0;
        // Several seeds per power-cut point: what survives of the unsynced writes (a
        // zeroing torn part way) is the seed's choice.
        for seed in 0..16 {
            let mut n = 1;
            loop {
                let sim = SimFs::new(seed * 1000 + n);
                let wal = Wal::open("/wal", options(&sim)).unwrap();
                for l in 1..=100 {
                    wal.append(&payload(l)).unwrap();
                }
                wal.sync().unwrap();
                sim.cut_power_after(n);
                let done = wal.truncate_from(Lsn::new(cut));
                let powered = sim.is_powered();
                sim.restart();
                drop(wal);
                let at = format!("cut {cut}, seed {seed}, power gone at op {n}");
                let wal = Wal::open("/wal", options(&sim)).unwrap_or_else(|e| panic!("{at}: {e}"));
                let last = wal.last_lsn().get();
                if wal.recovery_report().truncation_finished == Some(Lsn::new(cut)) {
                    finished_by_recovery += 1;
                    assert_eq!(last, cut - 1, "{at}: recovery finished the cut");
                }
                if done.is_ok() {
                    assert_eq!(last, cut - 1, "{at}: an acknowledged cut holds");
                } else {
                    assert!(last == 100 || last == cut - 1, "{at}: ends at {last}");
                }
                let got = read_all(&wal);
                assert_eq!(
                    got,
                    (1..=last).map(|l| (l, payload(l))).collect::<Vec<_>>(),
                    "{at}"
                );
                if powered {
                    assert!(done.is_ok(), "{at}: {done:?}");
                    assert!(n > 5, "the truncation made several file operations");
                    break;
                }
                n += 1;
            }
        }
        assert!(
            finished_by_recovery > 0,
            "cut {cut}: some power cuts fell after the intent was durable"
        );
    }
}

/// A checkpoint whose write failed after its rename may still reach the disk (any
/// later directory sync carries it): a cut must stay above it too. Found by the seeded
/// simulator (seed 4348): the cut went below such a checkpoint, the power went while
/// it ran, and recovery refused the intent as "would remove records at or below the
/// checkpoint".
#[test]
fn a_cut_stays_above_a_checkpoint_whose_write_failed() {
    let sim = SimFs::new(4348);
    let options = on_sim(&sim);
    let wal = Wal::open("/wal", options.clone()).unwrap();
    for l in 1..=20 {
        wal.append_durable(&payload(l)).unwrap();
    }
    // The checkpoint file's directory sync fails: CHECKPOINT already names 16 in the
    // live directory.
    sim.fail(SimFault {
        op: SimOp::SyncDir,
        nth: 1,
        error: SimError::Eio,
    });
    assert!(wal.checkpoint(Lsn::new(16)).is_err());
    assert_eq!(wal.checkpoint_lsn(), Lsn::new(0), "not acknowledged");
    assert!(
        matches!(
            wal.truncate_from(Lsn::new(14)),
            Err(Error::InvalidArgument { .. })
        ),
        "a cut below a checkpoint that may be on disk"
    );
    wal.truncate_from(Lsn::new(17)).unwrap();
    sim.restart();
    drop(wal);
    let wal = Wal::open("/wal", options).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::new(16));
    assert!(wal.checkpoint_lsn() <= Lsn::new(16));
}

/// The sync of a cut's zeroing fails: on Linux the zeros then stay in memory only and
/// the disk keeps the records being cut. The reopen that finishes the cut must not
/// trust the zeros it reads back, or, after a power cut, old records would come back
/// behind the new ones. Found by the seeded simulator (seed 6086).
#[test]
fn a_cut_whose_zeroing_failed_to_sync_is_finished_on_disk() {
    let sim = SimFs::new(6086);
    let options = on_sim(&sim);
    let wal = Wal::open("/wal", options.clone()).unwrap();
    for l in 1..=10 {
        wal.append_durable(&payload(l)).unwrap();
    }
    // Syncs of the cut: the intent file's (1st), the zeroing's (2nd).
    sim.fail(SimFault {
        op: SimOp::Sync,
        nth: 2,
        error: SimError::Eio,
    });
    assert!(
        wal.truncate_from(Lsn::new(5)).is_err(),
        "the cut's sync failed"
    );
    drop(wal);
    let wal = Wal::open("/wal", options.clone()).unwrap(); // same boot
    assert_eq!(wal.recovery_report().truncation_finished, Some(Lsn::new(5)));
    assert_eq!(wal.last_lsn(), Lsn::new(4));
    for l in 5..=6 {
        assert_eq!(wal.append_durable(&replacement(l)).unwrap(), Lsn::new(l));
    }
    sim.restart();
    drop(wal);
    let wal = Wal::open("/wal", options).unwrap();
    assert_eq!(
        read_all(&wal),
        expected(5, 2),
        "no old record behind the new ones"
    );
}

/// A read-only scan (`LogReader`, the CLI) of a log whose truncation a crash
/// interrupted reads it as the next open will leave it: the intent's records left out,
/// a torn zeroing taken for a torn tail rather than corruption.
#[test]
fn a_reader_sees_a_log_as_its_pending_truncation_leaves_it() {
    let options = on_sim;
    let mut pending_seen = 0;
    for seed in 0..24 {
        // Op 6 is the zeroing write (after the intent's five), op 7 its sync.
        for n in [6, 7] {
            let sim = SimFs::new(seed);
            let wal = Wal::open("/wal", options(&sim)).unwrap();
            for l in 1..=40 {
                wal.append(&payload(l)).unwrap();
            }
            wal.sync().unwrap();
            sim.cut_power_after(n);
            assert!(wal.truncate_from(Lsn::new(25)).is_err());
            sim.restart();
            drop(wal);
            let reader = LogReader::open_simulated(&sim, "/wal")
                .unwrap_or_else(|e| panic!("seed {seed}, op {n}: {e}"));
            let scan = reader.scan();
            assert_eq!(scan.truncation_pending, Some(25), "seed {seed}, op {n}");
            assert_eq!(scan.last_lsn, 24, "seed {seed}, op {n}");
            let read: Vec<u64> = reader
                .read_from(Lsn::new(1))
                .unwrap()
                .map(|r| r.unwrap().lsn().get())
                .collect();
            assert_eq!(read, (1..=24).collect::<Vec<_>>());
            pending_seen += 1;
            let wal = Wal::open("/wal", options(&sim)).unwrap();
            assert_eq!(wal.last_lsn(), Lsn::new(24), "seed {seed}, op {n}");
        }
    }
    assert_eq!(pending_seen, 48);
}

/// An interrupted cut over damage that the cut itself removes opens the way a reader
/// reads it (found by the `recover_and_reopen` fuzz target once its images could carry
/// an intent): valid frames from the cut on prove nothing about damage before them,
/// and a headless segment holding only such frames goes with the cut.
#[test]
fn an_interrupted_cut_over_damage_it_removes_opens_as_the_reader_reads_it() {
    use ringwal::format::{checkpoint, names};

    use crate::disk::{flip_bit, frames, segment_path, zero_range};
    let intent = |dir: &std::path::Path, from: u64| {
        let bytes = checkpoint::encode_marker(checkpoint::TRUNCATE_MAGIC, from);
        std::fs::write(dir.join(names::TRUNCATE_FILE), bytes).unwrap();
    };
    let reader_last = |dir: &std::path::Path| LogReader::open(dir).unwrap().scan().last_lsn;
    for driver in drivers() {
        // Record 4 damaged, records 5.. intact, the cut from 5. Written without syncs
        // (`Flush`), so no frame claims record 4 durable: with `Fsync` a sync landing
        // between records 4 and 5 would make frame 5 vouch for it (corruption), which
        // happened under a loaded full suite run.
        let log = temp_log();
        let wal = Wal::open(
            &log.dir,
            small(driver).durability(ringwal::Durability::Flush),
        )
        .unwrap();
        for l in 1..=10 {
            wal.append(&payload(l)).unwrap();
        }
        wal.close().unwrap();
        // Damage a writer could leave only by losing its power (a clean close records
        // every record durable, and damage to them would be corruption).
        crate::disk::as_if_power_was_cut(&log.dir);
        let seg = segment_path(&log.dir, 1);
        flip_bit(&seg, frames(&seg)[3].offset + 20, 0);
        intent(&log.dir, 5);
        assert_eq!(reader_last(&log.dir), 3);
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::new(3), "{driver:?}");

        // The only segment's header gone, its frames all at or above a cut from 1.
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for l in 1..=10 {
            wal.append(&payload(l)).unwrap();
        }
        wal.close().unwrap();
        zero_range(&segment_path(&log.dir, 1), 0, 64);
        intent(&log.dir, 1);
        assert_eq!(reader_last(&log.dir), 0);
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::new(0), "{driver:?}");
        assert_eq!(wal.append_durable(b"first").unwrap(), Lsn::new(1));
    }
}

/// The segment files of the log in `dir`, by sequence.
fn segment_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    out.sort();
    out
}

/// A cut inside the active segment keeps the blank segment prepared after it: the
/// next cut or rotation need not wait for a new one to be made (a zero-filled 64 MiB
/// file by default). A cut into an earlier segment removes it with the rest, and the
/// log rotates on through both.
#[test]
fn a_cut_in_the_active_segment_keeps_the_segment_prepared_after_it() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver);
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        let mut last = 0;
        while wal.stats().rotations < 2 {
            last = wal.append_durable(&payload(last + 1)).unwrap().get();
        }
        for _ in 0..10 {
            last = wal.append_durable(&payload(last + 1)).unwrap().get();
        }
        // The first cut waits for the next segment to be made.
        wal.truncate_from(Lsn::new(last - 2)).unwrap();
        last -= 3;
        // The segment prepared after the active one (a cut that removed it would have
        // asked for a new one: wait for that).
        let with_records = LogReader::open(&log.dir)
            .unwrap()
            .scan()
            .segments
            .iter()
            .filter(|s| s.first_lsn.is_some())
            .count();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while segment_files(&log.dir).len() <= with_records {
            assert!(
                std::time::Instant::now() < deadline,
                "{driver:?}: no next segment"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let files = segment_files(&log.dir);
        let next = files.last().unwrap().clone();
        // An open handle tells whether the path still names the same file.
        let handle = std::fs::File::open(&next).unwrap();
        last = wal.append_durable(&payload(last + 1)).unwrap().get();
        wal.truncate_from(Lsn::new(last)).unwrap();
        last -= 1;
        assert_eq!(segment_files(&log.dir), files, "{driver:?}");
        let held = handle.metadata().unwrap();
        assert!(
            held.nlink() == 1 && std::fs::metadata(&next).unwrap().ino() == held.ino(),
            "{driver:?}: the cut removed the prepared segment and made it again"
        );
        // Through the kept segment and on.
        let rotations = wal.stats().rotations;
        while wal.stats().rotations < rotations + 2 {
            last = wal.append_durable(&payload(last + 1)).unwrap().get();
        }
        // A cut into an earlier segment removes every segment after it.
        let first_of_active = LogReader::open(&log.dir)
            .unwrap()
            .scan()
            .segments
            .iter()
            .filter_map(|s| s.first_lsn)
            .max()
            .unwrap();
        wal.truncate_from(Lsn::new(first_of_active - 5)).unwrap();
        last = first_of_active - 6;
        let rotations = wal.stats().rotations;
        while wal.stats().rotations < rotations + 2 {
            last = wal.append_durable(&payload(last + 1)).unwrap().get();
        }
        wal.close().unwrap();
        crate::common::assert_log_holds(&log.dir, opts, 1, last);
    }
}
