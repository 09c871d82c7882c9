//! `truncate_from` racing `checkpoint` and `sync_async` on other threads. Both read
//! the end of the log; a cut in between used to leave a sync target above the end
//! (the writer spun, and a checkpoint or ticket waited for records that no longer
//! existed) or let a checkpoint cover records appended after the cut. Here every call
//! must return, every accepted checkpoint must lie within the log, and the log must
//! reopen dense. (The exact interleavings are forced in `src/writer/cut_races.rs`.)

use std::sync::atomic::{AtomicBool, Ordering};

use ringwal::{Driver, Error, Lsn, Wal};

use crate::common::{small, temp_log, within_a_minute};

/// Enough rounds that the old code hung on every run tried (the race is in the
/// handle and staging, the same for both drivers: the portable one runs it).
const ROUNDS: u64 = 300;

fn race(driver: Driver) {
    let log = temp_log();
    let wal = Wal::open(&log.dir, small(driver)).unwrap();
    let cutting = AtomicBool::new(true);
    std::thread::scope(|s| {
        s.spawn(|| {
            for round in 0..ROUNDS {
                for _ in 0..8 {
                    wal.append(format!("round {round}").as_bytes()).unwrap();
                }
                let last = wal.last_lsn().get();
                match wal.truncate_from(Lsn::from(last - 3)) {
                    // A checkpoint got there first.
                    Ok(()) | Err(Error::InvalidArgument { .. }) => {}
                    Err(e) => panic!("truncate_from: {e}"),
                }
            }
            cutting.store(false, Ordering::SeqCst);
        });
        s.spawn(|| {
            while cutting.load(Ordering::SeqCst) {
                let ticket = wal.sync_async().unwrap();
                ticket.wait().unwrap();
            }
        });
        s.spawn(|| {
            while cutting.load(Ordering::SeqCst) {
                let lsn = wal.last_lsn();
                match wal.checkpoint(lsn) {
                    Ok(()) => {}
                    Err(Error::InvalidArgument { .. }) => {}
                    Err(e) => panic!("checkpoint({lsn}): {e}"),
                }
                let checkpoint = wal.checkpoint_lsn();
                // The end can only be below the checkpoint if it covered records cut.
                assert!(
                    checkpoint <= wal.last_lsn(),
                    "checkpoint {checkpoint} beyond the end {}",
                    wal.last_lsn()
                );
            }
        });
    });
    let last = wal.sync().unwrap();
    assert_eq!(last, wal.last_lsn());
    let checkpoint = wal.checkpoint_lsn();
    assert!(
        checkpoint <= last,
        "checkpoint {checkpoint} beyond the end {last}"
    );
    wal.close().unwrap();
    let wal = Wal::open(&log.dir, small(driver)).unwrap();
    assert_eq!(wal.last_lsn(), last);
    let read = wal
        .read_from(Lsn::from(checkpoint.get() + 1))
        .unwrap()
        .count() as u64;
    assert_eq!(
        read,
        last.get() - checkpoint.get(),
        "records above the checkpoint"
    );
    wal.close().unwrap();
}

#[test]
fn truncation_racing_checkpoints_and_syncs() {
    within_a_minute("truncation racing checkpoints and syncs", || {
        race(Driver::Portable)
    });
}
