//! Issue 13: a `Tail` follows the log as it grows — in LSN order, only durable records,
//! across rotations and a checkpoint that prunes the segments behind it — as a blocking
//! iterator and as a `Stream`; one that falls behind retention gets `BelowCheckpoint`
//! naming the first LSN still held, a cut below its position gets `CutBelowTail`, and a
//! `LogReader` tail follows a log another handle writes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_core::Stream;
use ringwal::{Error, LogReader, Options, Wal};

use crate::common::{drivers, payload, small, temp_log, within_a_minute};

const RECORDS: u64 = 100_000;

fn opts(driver: ringwal::Driver) -> Options {
    small(driver).archive(false)
}

/// Appends `RECORDS` in batches of 100, each batch made durable, checkpointing behind
/// what the follower has consumed so that pruning runs close behind it.
fn ingest(wal: &Wal, consumed: &AtomicU64) {
    let mut next = 1u64;
    while next <= RECORDS {
        let batch: Vec<Vec<u8>> = (next..next + 100).map(|l| payload(l % 1000)).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        wal.append_batch(&refs).unwrap();
        wal.sync().unwrap();
        next += 100;
        let behind = consumed.load(Ordering::Acquire).saturating_sub(500);
        if next % 5_000 == 1 && behind > wal.checkpoint_lsn().get() {
            wal.checkpoint(behind.into()).unwrap();
        }
    }
}

fn check(lsn: u64, payload_got: &[u8], durable: u64) {
    assert_eq!(
        payload_got,
        payload(lsn % 1000).as_slice(),
        "payload of {lsn}"
    );
    assert!(
        lsn <= durable,
        "yielded {lsn} before it was durable ({durable})"
    );
}

#[test]
fn a_blocking_tail_follows_100k_records_across_rotations_and_pruning() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Arc::new(Wal::open(&log.dir, opts(driver)).unwrap());
        let consumed = Arc::new(AtomicU64::new(0));
        let tail = wal.tail(1.into()).unwrap();
        let follower = {
            let wal = Arc::clone(&wal);
            let consumed = Arc::clone(&consumed);
            std::thread::spawn(move || {
                let mut expected = 1;
                for record in tail {
                    let record = record.unwrap();
                    assert_eq!(record.lsn().get(), expected, "LSN order");
                    check(expected, record.payload(), wal.durable_lsn().get());
                    consumed.store(expected, Ordering::Release);
                    expected += 1;
                    if expected > RECORDS {
                        break;
                    }
                }
                expected - 1
            })
        };
        ingest(&wal, &consumed);
        let followed = within_a_minute("the follower", move || follower.join().unwrap());
        assert_eq!(followed, RECORDS, "{driver:?}");
        let stats = wal.stats();
        assert!(
            stats.rotations >= 20,
            "{driver:?}: {} rotations",
            stats.rotations
        );
        assert!(
            wal.checkpoint_lsn().get() > 0,
            "{driver:?}: no checkpoint pruned"
        );
        wal.close().unwrap();
    }
}

#[test]
fn a_stream_tail_follows_the_log_in_a_task() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Arc::new(Wal::open(&log.dir, opts(driver)).unwrap());
        let consumed = Arc::new(AtomicU64::new(0));
        let mut tail = wal.tail(1.into()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let follower = {
            let wal = Arc::clone(&wal);
            let consumed = Arc::clone(&consumed);
            rt.spawn(async move {
                let mut expected = 1;
                while expected <= RECORDS {
                    let record =
                        std::future::poll_fn(|cx| std::pin::Pin::new(&mut tail).poll_next(cx))
                            .await
                            .expect("the stream ended early")
                            .unwrap();
                    assert_eq!(record.lsn().get(), expected);
                    check(expected, record.payload(), wal.durable_lsn().get());
                    consumed.store(expected, Ordering::Release);
                    expected += 1;
                }
                // After the close the stream ends.
                tail
            })
        };
        ingest(&wal, &consumed);
        let mut tail = rt.block_on(follower).unwrap();
        wal.close().unwrap();
        let end = rt.block_on(std::future::poll_fn(|cx| {
            std::pin::Pin::new(&mut tail).poll_next(cx)
        }));
        assert!(
            end.is_none(),
            "{driver:?}: the stream went on after close: {end:?}"
        );
        assert_eq!(wal.stats().wakers_registered, 0);
    }
}

#[test]
fn a_tail_behind_retention_gets_the_first_lsn_still_held() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, opts(driver)).unwrap();
        let mut tail = wal.tail(1.into()).unwrap();
        for lsn in 1..=3_000u64 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.sync().unwrap();
        wal.checkpoint(2_000.into()).unwrap();
        match tail.next() {
            Some(Err(Error::BelowCheckpoint {
                requested,
                first_available,
                checkpoint,
            })) => {
                assert_eq!(requested.get(), 1);
                assert_eq!(checkpoint.get(), 2_000);
                assert!(first_available.get() > 1 && first_available.get() <= 2_001);
                // The first LSN it names is really there.
                let mut again = wal.tail(first_available).unwrap();
                let record = again.next().unwrap().unwrap();
                assert_eq!(record.lsn(), first_available);
            }
            other => panic!("{driver:?}: expected BelowCheckpoint, got {other:?}"),
        }
        assert!(tail.next().is_none(), "a failed tail yields nothing more");
        // Made after the pruning, a tail from below is refused at once.
        assert!(matches!(
            wal.tail(1.into()),
            Err(Error::BelowCheckpoint { .. })
        ));
        wal.close().unwrap();
    }
}

#[test]
fn a_cut_below_a_tail_is_an_error_and_above_it_is_followed() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, opts(driver)).unwrap();
        for lsn in 1..=100u64 {
            wal.append(&payload(lsn)).unwrap();
        }
        wal.sync().unwrap();
        let mut behind = wal.tail(1.into()).unwrap();
        let mut ahead = wal.tail(1.into()).unwrap();
        for _ in 0..80 {
            ahead.next().unwrap().unwrap();
        }
        for _ in 0..20 {
            behind.next().unwrap().unwrap();
        }
        // Cut from 50: `ahead` already yielded 50..=80, `behind` has yielded 1..=20.
        wal.truncate_from(50.into()).unwrap();
        for lsn in 50..=60u64 {
            wal.append(format!("new {lsn}").as_bytes()).unwrap();
        }
        wal.sync().unwrap();
        match ahead.next_timeout(Duration::from_secs(10)) {
            Err(Error::CutBelowTail { cut, position }) => {
                assert_eq!((cut.get(), position.get()), (50, 81), "{driver:?}");
            }
            other => panic!("{driver:?}: expected CutBelowTail, got {other:?}"),
        }
        for lsn in 21..=60u64 {
            let record = behind.next().unwrap().unwrap();
            assert_eq!(record.lsn().get(), lsn);
            if lsn >= 50 {
                assert_eq!(
                    record.payload(),
                    format!("new {lsn}").as_bytes(),
                    "{driver:?}"
                );
            } else {
                assert_eq!(record.payload(), payload(lsn).as_slice());
            }
        }
        wal.close().unwrap();
    }
}

#[test]
fn a_log_reader_tail_follows_what_another_handle_writes() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, opts(driver)).unwrap();
        wal.append_durable(b"first").unwrap();
        let reader = LogReader::open(&log.dir).unwrap();
        let dir = log.dir.clone();
        let mut tail = reader.tail(1.into()).unwrap();
        let follower = std::thread::spawn(move || {
            let _keep = dir;
            let mut got = Vec::new();
            while got.len() < 2_000 {
                match tail.next_timeout(Duration::from_secs(30)).unwrap() {
                    Some(record) => got.push(record),
                    None => panic!("nothing new for 30 s after {}", got.len()),
                }
            }
            got
        });
        for lsn in 2..=2_000u64 {
            wal.append(&payload(lsn)).unwrap();
            if lsn % 100 == 0 {
                wal.sync().unwrap();
            }
        }
        wal.sync().unwrap();
        let got = within_a_minute("the files tail", move || follower.join().unwrap());
        for (i, record) in got.iter().enumerate() {
            let lsn = i as u64 + 1;
            assert_eq!(record.lsn().get(), lsn);
            if lsn > 1 {
                assert_eq!(record.payload(), payload(lsn).as_slice(), "{driver:?}");
            }
        }
        wal.close().unwrap();
    }
}
