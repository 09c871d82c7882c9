//! Sixteen threads appending durably at once through one shared `&Wal`: after close and
//! reopen every acknowledged record is there exactly once, under the LSN its appender
//! was given, LSNs are dense, and each thread's records keep that thread's order.

use ringwal::{Lsn, Options, Wal};

use crate::common::{drivers, temp_log, within_a_minute};

const THREADS: u32 = 16;
const PER_THREAD: u32 = 5_000;

/// 1 MiB segments: the 80,000 records rotate through a few of them.
fn options(driver: ringwal::Driver) -> Options {
    Options::default()
        .driver(driver)
        .segment_bytes(1 << 20)
        .record_bytes_max(4 << 10)
}

/// Thread id and per-thread counter, then a filler of varying length.
fn payload(thread: u32, n: u32) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    p.extend_from_slice(&thread.to_le_bytes());
    p.extend_from_slice(&n.to_le_bytes());
    p.extend((0..n % 29).map(|i| (i as u8) ^ (thread as u8)));
    p
}

fn parse(p: &[u8]) -> (u32, u32) {
    assert!(p.len() >= 8, "payload too short: {p:?}");
    let thread = u32::from_le_bytes(p[..4].try_into().unwrap());
    let n = u32::from_le_bytes(p[4..8].try_into().unwrap());
    assert_eq!(
        p,
        payload(thread, n).as_slice(),
        "payload of thread {thread} record {n}"
    );
    (thread, n)
}

#[test]
fn sixteen_threads_of_durable_appends_all_come_back_once_in_order() {
    for driver in drivers() {
        within_a_minute("sixteen appending threads", move || {
            appends_come_back(driver)
        });
    }
}

fn appends_come_back(driver: ringwal::Driver) {
    let log = temp_log();
    let wal = Wal::open(&log.dir, options(driver)).unwrap();
    let acked: Vec<Vec<Lsn>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let wal = &wal;
                s.spawn(move || {
                    let mut lsns = Vec::with_capacity(PER_THREAD as usize);
                    for n in 0..PER_THREAD {
                        let lsn = wal.append_durable(&payload(t, n)).unwrap();
                        assert!(
                            wal.durable_lsn() >= lsn,
                            "acknowledged {lsn} above durable_lsn"
                        );
                        if let Some(prev) = lsns.last() {
                            assert!(lsn > *prev, "thread {t} got {lsn} after {prev}");
                        }
                        lsns.push(lsn);
                    }
                    lsns
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total = u64::from(THREADS * PER_THREAD);
    assert_eq!(wal.last_lsn(), Lsn::from(total));
    assert_eq!(wal.durable_lsn(), Lsn::from(total));
    assert_eq!(wal.stats().appends, total);
    wal.close().unwrap();

    let wal = Wal::open(&log.dir, options(driver)).unwrap();
    assert_eq!(wal.recovery_report().records, total);
    assert_eq!(wal.last_lsn(), Lsn::from(total));
    let mut next_n = vec![0u32; THREADS as usize];
    let mut expected = 1u64;
    for record in wal.read_from(Lsn::from(1)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected, "LSNs must be dense");
        let (t, n) = parse(record.payload());
        let slot = &mut next_n[t as usize];
        assert_eq!(
            n, *slot,
            "thread {t}: record {n} out of order or repeated (at {expected})"
        );
        assert_eq!(
            acked[t as usize][n as usize],
            record.lsn(),
            "thread {t} record {n} moved"
        );
        *slot += 1;
        expected += 1;
    }
    assert_eq!(expected - 1, total, "records recovered");
    assert!(
        next_n.iter().all(|&n| n == PER_THREAD),
        "per-thread counts: {next_n:?}"
    );
    wal.close().unwrap();
}
