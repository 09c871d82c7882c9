//! A checkpoint whose retirement fails (here a directory sync returning ENOSPC) must
//! leave its segments to be retired again by the next checkpoint. Found by the seeded
//! simulator (seed 658): the failed segment had already left the writer's catalog, the
//! next checkpoint retired the segment after it, and the log reopened after a power
//! cut as "segment 2 is missing" — unopenable.

use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{Lsn, Options, Wal};

#[test]
fn a_failed_retirement_is_retried_by_the_next_checkpoint() {
    for archive in [true, false] {
        let sim = SimFs::new(658);
        let options = Options::default()
            .segment_bytes(8 << 10)
            .record_bytes_max(1000)
            .archive(archive)
            .simulated(&sim);
        let wal = Wal::open("/wal", options.clone()).unwrap();
        let record = |i: u64| vec![i as u8; 1000];
        // Four 1,016-byte frames fill a segment's 4 KiB of data: LSNs 1-4 in segment 1.
        for i in 1..=5 {
            wal.append_durable(&record(i)).unwrap();
        }
        // The checkpoint file's directory sync is the first; the retirement's the second.
        sim.fail(SimFault {
            op: SimOp::SyncDir,
            nth: 2,
            error: SimError::Enospc,
        });
        assert!(wal.checkpoint(Lsn::new(4)).is_err(), "archive {archive}");
        for i in 6..=9 {
            wal.append_durable(&record(i)).unwrap();
        }
        wal.checkpoint(Lsn::new(8))
            .unwrap_or_else(|e| panic!("archive {archive}: the retry failed: {e}"));
        sim.restart();
        drop(wal);
        let wal = Wal::open("/wal", options)
            .unwrap_or_else(|e| panic!("archive {archive}: reopen failed: {e}"));
        assert_eq!(wal.checkpoint_lsn(), Lsn::new(8));
        let left: Vec<_> = wal
            .read_from(Lsn::new(9))
            .unwrap()
            .map(|r| r.unwrap().into_payload())
            .collect();
        assert_eq!(left, vec![record(9)], "archive {archive}");
    }
}
