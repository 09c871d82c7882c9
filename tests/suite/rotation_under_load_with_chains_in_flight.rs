//! Many appenders, tiny segments and several write→fsync chains in flight: rotations
//! happen while earlier chains are still running, completions retire in order, and
//! every acknowledged record comes back, densely, in order. The io_uring driver must
//! really have had chains in flight together (a writer that waited for each chain
//! before submitting the next would pass every other check here).

use ringwal::{Driver, Wal};

use crate::common::{drivers, small, temp_log};

#[test]
fn rotation_under_load_keeps_every_acknowledged_record() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver)
            .segment_bytes(32 << 10)
            .chains_in_flight_max(8)
            // Direct mode (where it runs) keeps as many commits in flight.
            .direct_depth(8);
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        const THREADS: u64 = 8;
        const EACH: u64 = 1000;
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let wal = &wal;
                s.spawn(move || {
                    for n in 0..EACH {
                        let body = format!("t{t}-n{n}-{}", "x".repeat((n % 200) as usize));
                        wal.append_durable(body.as_bytes()).unwrap();
                    }
                });
            }
        });
        let stats = wal.stats();
        assert!(stats.rotations >= 20, "only {} rotations", stats.rotations);
        eprintln!(
            "{driver:?}: chains in flight peak {}, {} flushes, {} rotations",
            stats.chains_in_flight_peak, stats.flushes, stats.rotations
        );
        if driver == Driver::IoUring {
            assert!(
                stats.chains_in_flight_peak >= 2,
                "no two chains were ever in flight together: {stats:?}"
            );
        } else {
            // The portable driver writes one flush at a time.
            assert_eq!(stats.chains_in_flight_peak, 1, "{stats:?}");
        }
        wal.close().unwrap();
        let wal = Wal::open(&log.dir, opts).unwrap();
        let mut next_per_thread = vec![0u64; THREADS as usize];
        let mut expected_lsn = 1;
        for record in wal.read_from(1.into()).unwrap() {
            let record = record.unwrap();
            assert_eq!(record.lsn().get(), expected_lsn);
            expected_lsn += 1;
            let text = std::str::from_utf8(record.payload()).unwrap();
            let (t, rest) = text.trim_start_matches('t').split_once("-n").unwrap();
            let n: u64 = rest.split('-').next().unwrap().parse().unwrap();
            let t: usize = t.parse().unwrap();
            assert_eq!(n, next_per_thread[t], "thread {t} out of order");
            next_per_thread[t] += 1;
        }
        assert_eq!(expected_lsn - 1, THREADS * EACH);
        wal.close().unwrap();
    }
}
