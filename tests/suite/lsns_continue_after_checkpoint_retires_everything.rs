//! A checkpoint at the last LSN retires every segment that held records. The LSN
//! sequence must not restart: after close and reopen `last_lsn()` and
//! `checkpoint_lsn()` are the checkpoint, the next append gets the LSN after it, reads
//! below it say `BelowCheckpoint`, and the same holds when it happens again.

use std::path::Path;

use ringwal::{Error, LogReader, Lsn, Options, Wal};

use crate::common::{assert_log_holds, drivers, payload, small, temp_log};
use crate::disk::segment_files;

/// Appends `from..=to`, checkpoints at `to`, and checks no live segment holds a record.
fn append_and_retire_all(dir: &Path, opts: &Options, from: u64, to: u64) {
    let wal = Wal::open(dir, opts.clone()).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(from - 1));
    for lsn in from..=to {
        assert_eq!(wal.append(&payload(lsn)).unwrap(), Lsn::from(lsn));
    }
    wal.checkpoint(Lsn::from(to)).unwrap();
    assert_eq!(wal.checkpoint_lsn(), Lsn::from(to));
    assert_eq!(
        wal.durable_lsn(),
        Lsn::from(to),
        "a checkpoint syncs what it covers"
    );
    let scan = LogReader::open(dir).unwrap().scan().clone();
    assert_eq!(
        scan.records, 0,
        "live segments still hold records: {:?}",
        scan.segments
    );
    wal.close().unwrap();
}

fn assert_reopens_at(dir: &Path, opts: &Options, last: u64) {
    let wal = Wal::open(dir, opts.clone()).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(last), "last_lsn after reopen");
    assert_eq!(
        wal.checkpoint_lsn(),
        Lsn::from(last),
        "checkpoint_lsn after reopen"
    );
    assert_eq!(wal.durable_lsn(), Lsn::from(last));
    assert!(wal.read_from(Lsn::from(last + 1)).unwrap().next().is_none());
    match wal.read_from(Lsn::from(last)) {
        Err(Error::BelowCheckpoint {
            first_available,
            checkpoint,
            ..
        }) => {
            assert_eq!(checkpoint, Lsn::from(last));
            assert_eq!(first_available, Lsn::from(last + 1));
        }
        Err(e) => panic!("read_from({last}) after retiring everything: {e}"),
        Ok(_) => panic!("read_from({last}) after retiring everything succeeded"),
    }
    wal.close().unwrap();
}

fn twice(opts: Options) {
    let log = temp_log();
    append_and_retire_all(&log.dir, &opts, 1, 700);
    assert_reopens_at(&log.dir, &opts, 700);
    // A reopen that appends nothing must not lose the place either.
    assert_reopens_at(&log.dir, &opts, 700);
    append_and_retire_all(&log.dir, &opts, 701, 1_500);
    assert_reopens_at(&log.dir, &opts, 1_500);

    let wal = Wal::open(&log.dir, opts.clone()).unwrap();
    assert_eq!(
        wal.append_durable(&payload(1_501)).unwrap(),
        Lsn::from(1_501)
    );
    wal.close().unwrap();
    assert_log_holds(&log.dir, opts.clone(), 1_501, 1_501);

    // Live and archived segment names never collide.
    let live: Vec<u64> = segment_files(&log.dir)
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let archived: Vec<u64> = segment_files(&log.dir.join("archive"))
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(
        live.iter().all(|s| !archived.contains(s)),
        "live {live:?} archived {archived:?}"
    );
}

#[test]
fn lsns_carry_on_after_everything_is_retired_and_deleted() {
    for driver in drivers() {
        twice(small(driver));
    }
}

#[test]
fn lsns_carry_on_after_everything_is_retired_and_archived() {
    for driver in drivers() {
        twice(small(driver).archive(true));
    }
}

/// As if the process died after the checkpoint retired everything but before the next
/// segment got its final name: no live segment file at all, only a `.tmp` leftover.
fn lose_the_spare_segment(dir: &Path) {
    for (seq, path) in segment_files(dir) {
        std::fs::rename(&path, dir.join(format!("{seq:020}.wal.tmp"))).unwrap();
    }
}

#[test]
fn lsns_carry_on_when_no_live_segment_is_left() {
    for driver in drivers() {
        for archive in [false, true] {
            let opts = small(driver).archive(archive);
            let log = temp_log();
            append_and_retire_all(&log.dir, &opts, 1, 700);
            lose_the_spare_segment(&log.dir);
            assert_reopens_at(&log.dir, &opts, 700);
            append_and_retire_all(&log.dir, &opts, 701, 1_500);
            lose_the_spare_segment(&log.dir);
            assert_reopens_at(&log.dir, &opts, 1_500);
            let wal = Wal::open(&log.dir, opts.clone()).unwrap();
            assert_eq!(
                wal.append_durable(&payload(1_501)).unwrap(),
                Lsn::from(1_501)
            );
            wal.close().unwrap();
            assert_log_holds(&log.dir, opts.clone(), 1_501, 1_501);
        }
    }
}

#[test]
fn the_same_handle_keeps_appending_after_retiring_everything() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver);
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        for lsn in 1..=300 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.checkpoint(Lsn::from(300)).unwrap();
        for lsn in 301..=400 {
            assert_eq!(wal.append(&payload(lsn)).unwrap(), Lsn::from(lsn));
        }
        wal.sync().unwrap();
        let lsns: Vec<u64> = wal
            .read_from(Lsn::from(301))
            .unwrap()
            .map(|r| r.unwrap().lsn().get())
            .collect();
        assert_eq!(lsns, (301..=400).collect::<Vec<_>>());
        wal.checkpoint(Lsn::from(400)).unwrap();
        assert_eq!(wal.append_durable(&payload(401)).unwrap(), Lsn::from(401));
        wal.close().unwrap();

        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::from(401));
        assert_eq!(wal.checkpoint_lsn(), Lsn::from(400));
        wal.close().unwrap();
        assert_log_holds(&log.dir, opts, 401, 401);
    }
}
