//! With a tiny staging buffer, `try_append` says `WouldBlock` once the buffer is full
//! instead of waiting, without using up an LSN; `append` waits instead and never says
//! `WouldBlock`; every record that was accepted is recovered; and no flush ever carries
//! more than `staging_bytes_max` bytes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use ringwal::{Driver, Durability, Error, Lsn, Options, Wal};

use crate::common::{drivers, eventually, temp_log, within_a_minute};

/// Room for eight 1000-byte records (1024 bytes framed), or four plus a segment header.
/// Every flush is then 1024·k or 4096 + 1024·k bytes, at most 8192; a flush of exactly
/// the limit is covered by the last test below.
const STAGING_BYTES: u64 = 8192;
const PAYLOAD_BYTES: usize = 1000;
const THREADS: u32 = 4;
/// Bound on the successful `try_append`s per thread while looking for a `WouldBlock`.
const TRIES_MAX: u32 = 20_000;
const BLOCKING_PER_THREAD: u32 = 300;

fn options(driver: Driver) -> Options {
    Options::default()
        .driver(driver)
        .segment_bytes(1 << 20)
        .record_bytes_max(2048)
        .staging_bytes_max(STAGING_BYTES)
        .durability(Durability::Flush)
}

fn payload(thread: u32, n: u32) -> Vec<u8> {
    let mut p = vec![(thread as u8) ^ (n as u8); PAYLOAD_BYTES];
    p[..4].copy_from_slice(&thread.to_le_bytes());
    p[4..8].copy_from_slice(&n.to_le_bytes());
    p
}

#[test]
fn try_append_would_block_and_append_waits() {
    for driver in drivers() {
        within_a_minute("appends at the staging limit", move || {
            staging_limit(driver)
        });
    }
}

fn staging_limit(driver: Driver) {
    let log = temp_log();
    let wal = Wal::open(&log.dir, options(driver)).unwrap();
    let saw_would_block = AtomicBool::new(false);
    let mut accepted: HashMap<Lsn, Vec<u8>> = HashMap::new();

    // Hammer try_append until some thread finds staging full.
    let tried: Vec<Vec<(Lsn, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (wal, saw) = (&wal, &saw_would_block);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    let mut n = 0;
                    while n < TRIES_MAX && !saw.load(Ordering::Relaxed) {
                        let p = payload(t, n);
                        match wal.try_append(&p) {
                            Ok(lsn) => {
                                mine.push((lsn, p));
                                n += 1;
                            }
                            Err(Error::WouldBlock) => saw.store(true, Ordering::Relaxed),
                            Err(e) => panic!("try_append: {e}"),
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        saw_would_block.load(Ordering::Relaxed),
        "try_append never found staging full"
    );
    accepted.extend(tried.into_iter().flatten());
    assert_eq!(
        wal.last_lsn().get(),
        accepted.len() as u64,
        "a refused try_append used up an LSN"
    );

    // Blocking appends on the same full-all-the-time buffer always get through.
    let blocking: Vec<Vec<(Lsn, Vec<u8>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let wal = &wal;
                s.spawn(move || {
                    (0..BLOCKING_PER_THREAD)
                        .map(|n| {
                            let p = payload(t + THREADS, n);
                            match wal.append(&p) {
                                Ok(lsn) => (lsn, p),
                                Err(e) => panic!("append must wait, not fail: {e}"),
                            }
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    accepted.extend(blocking.into_iter().flatten());
    let total = accepted.len() as u64;
    assert_eq!(wal.sync().unwrap(), Lsn::from(total));

    let stats = wal.stats();
    assert!(stats.batch_bytes.count > 0);
    assert!(
        stats.batch_bytes.max <= STAGING_BYTES,
        "a flush carried {} bytes, staging_bytes_max is {STAGING_BYTES}",
        stats.batch_bytes.max
    );
    wal.close().unwrap();

    let wal = Wal::open(&log.dir, options(driver)).unwrap();
    let mut expected = 1;
    for record in wal.read_from(Lsn::from(1)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected, "LSNs must be dense");
        assert_eq!(
            Some(&record.payload().to_vec()),
            accepted.get(&record.lsn()),
            "payload of {}",
            record.lsn()
        );
        expected += 1;
    }
    assert_eq!(expected - 1, total);
    wal.close().unwrap();
}

#[test]
fn a_flush_that_fills_staging_exactly_is_reported_within_the_limit() {
    for driver in drivers() {
        let log = temp_log();
        let limit = 8192;
        let opts = options(driver).staging_bytes_max(limit);
        let wal = Wal::open(&log.dir, opts).unwrap();
        // A segment header plus four 1024-byte frames: exactly `limit`, staged under one
        // lock, so the writer takes it as one flush.
        let payloads: Vec<Vec<u8>> = (0..4)
            .map(|i| vec![i as u8 + 1; 1024 - ringwal::limits::FRAME_HEADER_BYTES as usize])
            .collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        wal.append_batch(&refs).unwrap();
        wal.sync().unwrap();
        // The writer publishes its statistics just after it wakes the waiters.
        eventually("the flush is counted", || wal.stats().batch_bytes.count > 0);
        let stats = wal.stats();
        assert_eq!(
            stats.bytes_written, limit,
            "the batch should go out as one flush"
        );
        assert_eq!(stats.batch_bytes.count, 1);
        assert!(
            stats.batch_bytes.max <= limit,
            "stats say a flush carried {} bytes; staging holds at most {limit}",
            stats.batch_bytes.max
        );
        wal.close().unwrap();
    }
}
