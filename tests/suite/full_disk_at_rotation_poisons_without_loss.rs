//! A full disk when the next segment is prepared (ENOSPC while preallocating) poisons
//! the log with a typed error naming the operation at the rotation that needs the
//! segment — no hang — and a reopen (with space back) recovers every acknowledged
//! record and carries on.

use ringwal::testing::{FaultKind, FaultPlan};
use ringwal::{Error, IoOp, Wal};

use crate::common::{assert_log_holds, drivers, payload, small, temp_log, within_a_minute};

#[test]
fn enospc_preparing_a_segment_poisons_and_loses_nothing() {
    for driver in drivers() {
        let log = temp_log();
        let dir = log.dir.clone();
        // Creation 1 is the first segment at open; 2 is the first prepared in the
        // background; 3 fails.
        let plan = FaultPlan::fail_segment_create(3, FaultKind::Enospc);
        let acked = within_a_minute("appending into a full disk", move || {
            let wal = Wal::open(&dir, small(driver).inject_faults(plan)).unwrap();
            let mut acked = 0;
            for i in 1..=100_000u64 {
                match wal.append_durable(&payload(i)) {
                    Ok(lsn) => acked = lsn.get(),
                    Err(e) => {
                        let Error::Poisoned { cause } = &e else {
                            panic!("expected Poisoned, got {e}")
                        };
                        assert!(
                            matches!(
                                &**cause,
                                Error::Io {
                                    op: IoOp::Preallocate,
                                    ..
                                }
                            ),
                            "cause: {cause}"
                        );
                        assert_eq!(e.io_kind(), Some(std::io::ErrorKind::StorageFull));
                        break;
                    }
                }
            }
            assert!(
                acked > 0 && acked < 100_000,
                "the fault never fired ({acked} acknowledged)"
            );
            assert!(wal.close().is_err());
            // The half-made file was removed, by the preparer's thread or after the
            // chain on the io_uring ring (a full disk should not keep its space).
            let tmp: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect();
            assert!(tmp.is_empty(), "{driver:?}: {tmp:?}");
            acked
        });
        // Recovery with space back: every acknowledged record, then appends go on.
        assert_log_holds(&log.dir, small(driver), 1, acked);
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.append_durable(b"after").unwrap().get(), acked + 1);
        wal.close().unwrap();
    }
}
