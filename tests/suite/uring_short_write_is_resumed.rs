//! A short write breaks its linked chain (the kernel cancels the fsync behind it); the
//! io_uring driver's buffered mode resubmits the remainder and a new fsync instead of
//! failing, and nothing is lost or duplicated. In direct mode a write is whole blocks
//! made durable together: a short one cannot be resumed unaligned, so it poisons the
//! log and acknowledges nothing of it.

use ringwal::testing::FaultPlan;
use ringwal::{Driver, Wal};

use crate::common::{assert_log_holds, drivers, payload, skip, small, temp_log};

#[test]
fn a_short_write_is_resumed_not_fatal() {
    if !drivers().contains(&Driver::IoUring) {
        skip("needs the io_uring driver");
        return;
    }
    for nth in [1, 2, 7] {
        let log = temp_log();
        let opts = small(Driver::IoUring)
            .direct_io(false)
            .inject_faults(FaultPlan::short_write(nth));
        let wal = Wal::open(&log.dir, opts).unwrap();
        for i in 1..=300u64 {
            wal.append(&payload(i)).unwrap();
            if i % 25 == 0 {
                wal.sync().unwrap();
            }
        }
        wal.sync().unwrap();
        assert!(wal.stats().short_write_resumes >= 1, "{:?}", wal.stats());
        wal.close().unwrap();
        assert_log_holds(&log.dir, small(Driver::IoUring), 1, 300);
    }
}

#[test]
fn a_short_direct_write_poisons_and_acknowledges_nothing_of_it() {
    if !drivers().contains(&Driver::IoUring) {
        skip("needs the io_uring driver");
        return;
    }
    let log = temp_log();
    let opts = small(Driver::IoUring).inject_faults(FaultPlan::short_write(3));
    let wal = Wal::open(&log.dir, opts).unwrap();
    if !wal.stats().direct_io {
        skip("a_short_direct_write_poisons: direct mode is unavailable here");
        return;
    }
    let mut acknowledged = 0;
    let mut failed = None;
    for i in 1..=10u64 {
        match wal.append_durable(&payload(i)) {
            Ok(lsn) => acknowledged = lsn.get(),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let e = failed.expect("the short direct write was not reported");
    assert!(
        e.to_string().contains("poisoned") || e.io_kind().is_some(),
        "{e:?}"
    );
    assert_eq!(acknowledged, 2, "the third write was the short one");
    drop(wal);
    // The injected fault shortens the count the kernel returned, not what reached the
    // disk: the record may be there, unacknowledged. Every acknowledged one must be.
    let wal = Wal::open(&log.dir, small(Driver::IoUring)).unwrap();
    assert!(wal.last_lsn().get() >= acknowledged);
    let read: Vec<_> = wal
        .read_from(ringwal::Lsn::from(1u64))
        .unwrap()
        .take(acknowledged as usize)
        .map(|r| r.unwrap())
        .collect();
    for (i, record) in read.iter().enumerate() {
        assert_eq!(record.payload(), payload(i as u64 + 1).as_slice());
    }
    assert_eq!(read.len() as u64, acknowledged);
}
