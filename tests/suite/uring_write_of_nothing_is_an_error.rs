//! Issue 11, item 4: an io_uring write that completes having written nothing used to
//! be taken for a short write and resubmitted forever (the writer spinning, every
//! waiter blocked). A write that makes no progress is an error: the log poisons with a
//! `WriteZero` completion naming the write, waiters are woken with it, and a reopen
//! keeps every record acknowledged before it.

use std::io::ErrorKind;

use ringwal::testing::FaultPlan;
use ringwal::{Driver, Error, IoOp, Wal};

use crate::common::{drivers, payload, skip, small, temp_log, within_a_minute};

#[test]
fn a_write_that_writes_nothing_poisons_instead_of_spinning() {
    if !drivers().contains(&Driver::IoUring) {
        skip("needs the io_uring driver");
        return;
    }
    let log = temp_log();
    let dir = log.dir.clone();
    let acknowledged = within_a_minute("appends over a device that writes nothing", move || {
        let opts = small(Driver::IoUring).inject_faults(FaultPlan::zero_writes_from(4));
        let wal = Wal::open(&dir, opts).unwrap();
        let mut acknowledged = 0;
        let mut failure = None;
        for i in 1..=20u64 {
            match wal
                .append(&payload(i))
                .and_then(|lsn| wal.wait_durable(lsn))
            {
                Ok(()) => acknowledged = i,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let failure = failure.expect("the fourth write must fail");
        let Error::Poisoned { cause } = &failure else {
            panic!("expected Poisoned, got {failure:?}");
        };
        match cause.as_ref() {
            Error::Completion { op, source, .. } => {
                assert_eq!(*op, IoOp::Write, "{cause}");
                assert_eq!(source.kind(), ErrorKind::WriteZero, "{cause}");
            }
            other => panic!("expected a write completion error, got {other:?}"),
        }
        assert!(matches!(wal.append(b"x"), Err(Error::Poisoned { .. })));
        drop(wal);
        acknowledged
    });
    assert_eq!(acknowledged, 3, "three durable appends before the fault");
    // The injected fault only reports nothing written: the kernel did write record 4,
    // which may come back (it was never acknowledged). The three acknowledged must.
    let wal = Wal::open(&log.dir, small(Driver::IoUring)).unwrap();
    let mut next = 1u64;
    for record in wal.read_from(1.into()).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), next);
        assert_eq!(record.payload(), payload(next).as_slice());
        next += 1;
    }
    assert!(
        next > 3,
        "acknowledged records lost: only {} came back",
        next - 1
    );
    wal.close().unwrap();
}
