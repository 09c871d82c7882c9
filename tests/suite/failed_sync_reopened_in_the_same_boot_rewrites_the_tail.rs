//! After a failed fsync, Linux marks the unsynced pages clean without writing them:
//! they still read back, and a later fsync succeeds without writing them. A log
//! reopened in the same boot must not build acknowledgements on such records. Found by
//! the seeded simulator (seed 24): a record whose sync failed was read back at reopen,
//! "synced" by recovery, acknowledged, and lost at the next power cut.

use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{Lsn, Options, Wal};

fn options(sim: &SimFs) -> Options {
    Options::default()
        .segment_bytes(64 << 10)
        .record_bytes_max(4 << 10)
        .simulated(sim)
}

#[test]
fn a_record_whose_sync_failed_is_made_durable_by_the_reopen() {
    let sim = SimFs::new(24);
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    for i in 0..5u8 {
        wal.append_durable(&[i; 100]).unwrap();
    }
    sim.fail(SimFault {
        op: SimOp::Sync,
        nth: 1,
        error: SimError::Eio,
    });
    assert!(wal.append_durable(b"sync fails").is_err());
    drop(wal);

    // Same boot: the record is still in the page cache, so recovery finds it.
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::new(6));
    assert!(
        wal.recovery_report().tail_bytes_rewritten > 0,
        "after a poisoned close the tail is written again"
    );
    let lsn = wal
        .append_durable(b"acknowledged after the reopen")
        .unwrap();
    drop(wal);

    sim.restart();
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    assert_eq!(
        wal.last_lsn(),
        lsn,
        "what the reopened log acknowledged survives"
    );
    let records: Vec<_> = wal
        .read_from(Lsn::new(6))
        .unwrap()
        .map(|r| r.unwrap().into_payload())
        .collect();
    assert_eq!(
        records,
        vec![
            b"sync fails".to_vec(),
            b"acknowledged after the reopen".to_vec()
        ]
    );
}

#[test]
fn a_clean_close_is_not_followed_by_a_rewrite() {
    let sim = SimFs::new(25);
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    wal.append_durable(b"one").unwrap();
    wal.close().unwrap();
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    assert_eq!(wal.recovery_report().tail_bytes_rewritten, 0);
    wal.append_durable(b"two").unwrap();
    sim.restart(); // the power goes while this writer has the log open
    drop(wal);
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    assert!(
        wal.recovery_report().tail_bytes_rewritten > 0,
        "a writer that never closed leaves a tail to write again"
    );
}
