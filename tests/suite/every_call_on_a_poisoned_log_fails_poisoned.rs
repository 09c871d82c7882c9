//! Once a sync fails, every call that reads or changes the log returns
//! `Error::Poisoned`, as documented: `checkpoint` used to write CHECKPOINT and retire
//! segments of a poisoned log, and `read_from` used to read it. Nothing on disk changes
//! after the poison.

use std::collections::BTreeSet;
use std::path::Path;

use ringwal::testing::{FaultKind, FaultPlan};
use ringwal::{Driver, Durability, Error, Lsn, Wal};

use crate::common::{drivers, small, temp_log, within_a_minute};

/// Syncs that succeed before the failing one: enough records for several segments.
const SYNCS_BEFORE_FAULT: u64 = 40;

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".tmp"))
        .collect()
}

/// No segment retired and no checkpoint written. (The segment preparer may still have
/// made the next blank segment in the background: that is no change to the records.)
fn assert_untouched(dir: &Path, before: &BTreeSet<String>, what: &str) {
    let after = files(dir);
    let gone: Vec<_> = before.difference(&after).collect();
    assert!(
        gone.is_empty(),
        "{what} removed {gone:?} from a poisoned log"
    );
    assert!(
        !after.contains("CHECKPOINT"),
        "{what} wrote a checkpoint on a poisoned log"
    );
}

fn assert_poisoned<T: std::fmt::Debug>(call: &str, result: ringwal::Result<T>) {
    match result {
        Err(Error::Poisoned { .. }) => {}
        other => panic!("{call} on a poisoned log gave {other:?}, not Poisoned"),
    }
}

fn every_call_fails(driver: Driver) {
    let log = temp_log();
    let plan = FaultPlan::fail_sync(SYNCS_BEFORE_FAULT + 1, FaultKind::Eio);
    let opts = small(driver).durability(Durability::Fsync);
    let wal = Wal::open(&log.dir, opts.inject_faults(plan)).unwrap();
    let record = vec![7u8; 3000];
    let mut durable = Lsn::ZERO;
    while let Ok(lsn) = wal.append_durable(&record) {
        durable = lsn;
    }
    assert!(
        durable.get() > 25,
        "too few records before the fault ({durable}) for segments to retire"
    );
    let before = files(&log.dir);

    assert_poisoned("checkpoint", wal.checkpoint(durable));
    assert_poisoned("read_from", wal.read_from(Lsn::from(1)));
    assert_poisoned("append", wal.append(b"x"));
    assert_poisoned("try_append", wal.try_append(b"x"));
    assert_poisoned("append_batch", wal.append_batch(&[b"x", b"y"]));
    assert_poisoned("append_durable", wal.append_durable(b"x"));
    assert_poisoned("wait_durable of a durable LSN", wal.wait_durable(durable));
    assert_poisoned("sync", wal.sync());
    assert_poisoned("sync_async", wal.sync_async());
    assert_poisoned("truncate_from", wal.truncate_from(durable));
    assert_poisoned(
        "truncate_from below the end",
        wal.truncate_from(Lsn::from(2)),
    );
    assert_poisoned("get", wal.get(durable));
    assert_poisoned("tail", wal.tail(Lsn::from(1)));
    use futures_executor::block_on;
    assert_poisoned("durable", block_on(wal.durable(durable)));
    assert_poisoned("append_async", block_on(wal.append_async(b"x")));
    assert_eq!(wal.checkpoint_lsn(), Lsn::ZERO);
    assert_untouched(&log.dir, &before, "the calls");
    assert_poisoned("close", wal.close());
    assert_untouched(&log.dir, &before, "close");
}

#[test]
fn every_call_on_a_poisoned_log_fails_poisoned() {
    for driver in drivers() {
        within_a_minute("calls on a poisoned log", move || every_call_fails(driver));
    }
}
