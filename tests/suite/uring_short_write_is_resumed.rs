//! A short write breaks its linked chain (the kernel cancels the fsync behind it); the
//! io_uring driver resubmits the remainder and a new fsync instead of failing, and
//! nothing is lost or duplicated.

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
        let opts = small(Driver::IoUring).inject_faults(FaultPlan::short_write(nth));
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
