//! With the fallback forced (`RINGWAL_FORCE_PORTABLE=1`), `Driver::Auto` runs the
//! portable driver, `Driver::IoUring` is refused with `Unsupported`, and the log still
//! stores and recovers data — also when written by one driver and reopened by the other.
//! The variable is set only in a child process, so other tests are not affected.

use ringwal::{Driver, Error, Options, Wal};

use crate::common::{assert_log_holds, child_command, drivers, payload, small, temp_log};

/// Child half: runs only when the parent set the directory variable.
#[test]
fn fallback_child() {
    let Some(dir) = std::env::var_os("RINGWAL_FALLBACK_CHILD_DIR") else {
        return;
    };
    let wal = Wal::open(&dir, small(Driver::Auto)).unwrap();
    assert_eq!(
        wal.driver(),
        Driver::Portable,
        "forced fallback must pick portable"
    );
    let first = wal.last_lsn().get() + 1;
    for i in first..first + 100 {
        wal.append_durable(&payload(i)).unwrap();
    }
    wal.close().unwrap();
    match Wal::open(&dir, small(Driver::IoUring)) {
        Err(Error::Unsupported { reason }) => {
            assert!(reason.contains("RINGWAL_FORCE_PORTABLE"), "{reason}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn forced_fallback_stores_and_recovers() {
    let log = temp_log();
    let status = child_command("forced_fallback_still_stores_and_recovers::fallback_child")
        .env("RINGWAL_FORCE_PORTABLE", "1")
        .env("RINGWAL_FALLBACK_CHILD_DIR", &log.dir)
        .status()
        .unwrap();
    assert!(status.success(), "child failed");
    assert_log_holds(&log.dir, small(Driver::Portable), 1, 100);
    // Written by the portable driver, continued by every driver available here.
    let mut last = 100;
    for driver in drivers() {
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for i in last + 1..=last + 50 {
            assert_eq!(wal.append_durable(&payload(i)).unwrap().get(), i);
        }
        last += 50;
        wal.close().unwrap();
    }
    assert_log_holds(
        &log.dir,
        Options::default()
            .segment_bytes(64 << 10)
            .record_bytes_max(8 << 10),
        1,
        last,
    );
}
