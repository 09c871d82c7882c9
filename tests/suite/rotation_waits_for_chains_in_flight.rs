//! A segment header claims every record before it durable (docs/FORMAT.md, "Durable
//! claims"), so on io_uring a flush that moves into the next segment must wait for the
//! chains still in flight, even in `Durability::Fsync`, where each chain carries its own
//! sync: separate chains are not ordered, and the next segment's write could otherwise
//! reach the disk before the syncs of the one it leaves. The writer checks this before
//! every rotation and poisons the log (`Error::Internal`) if it ever finds chains in
//! flight there; this drives many rotations with several chains in flight.

use std::sync::Arc;

use ringwal::{Driver, Durability, Lsn, Options, Wal};

use crate::common::{drivers, skip, temp_log};

const THREADS: u64 = 8;
const PER_THREAD: u64 = 300;

#[test]
fn rotations_with_chains_in_flight_keep_the_headers_truthful() {
    if !drivers().contains(&Driver::IoUring) {
        skip("rotation_waits_for_chains_in_flight: io_uring is not available here");
        return;
    }
    let log = temp_log();
    let options = Options::default()
        .driver(Driver::IoUring)
        .durability(Durability::Fsync)
        .chains_in_flight_max(8)
        // Direct mode (where it runs) keeps as many commits in flight.
        .direct_depth(8)
        .segment_bytes(16 << 10)
        .record_bytes_max(1024)
        .staging_bytes_max(8 << 10);
    let wal = Arc::new(Wal::open(&log.dir, options.clone()).unwrap());
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for _ in 0..PER_THREAD {
                    wal.append(&[7u8; 200]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wal.sync().unwrap();
    let stats = wal.stats();
    assert!(
        stats.rotations > 10,
        "too few rotations to matter: {stats:?}"
    );
    assert!(
        stats.chains_in_flight_peak > 1,
        "never more than one chain in flight: {stats:?}"
    );
    wal.close().unwrap();
    let wal = Wal::open(&log.dir, options).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(THREADS * PER_THREAD));
    assert_eq!(
        wal.read_from(Lsn::from(1u64)).unwrap().count() as u64,
        THREADS * PER_THREAD
    );
}
