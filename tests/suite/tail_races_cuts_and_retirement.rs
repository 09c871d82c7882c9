//! A tail racing the writer (found in review): a files tail at the end of a segment
//! whose successor is missing waited past its timeout, relocating forever; a tail that
//! read while a `truncate_from` zeroed bytes could report corruption; a tail started
//! while a checkpoint retired segments could too, and so could `Wal::get`. Followers here race cuts and
//! checkpoints: the only errors allowed are the typed ones a follower acts on.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringwal::{Error, LogReader, Lsn, Wal};

use crate::common::{drivers, payload, small, temp_log, within_a_minute};

#[test]
fn a_files_tail_without_a_next_segment_times_out() {
    let log = temp_log();
    let wal = Wal::open(&log.dir, small(ringwal::Driver::Portable)).unwrap();
    for lsn in 1..=3u64 {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.close().unwrap();
    // The pre-created next segment, removed: nothing follows the first one.
    for entry in std::fs::read_dir(&log.dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("00000000000000000002"))
        {
            std::fs::remove_file(path).unwrap();
        }
    }
    let dir = log.dir.clone();
    within_a_minute("next_timeout at the end of the log", move || {
        let reader = LogReader::open(&dir).unwrap();
        let mut tail = reader.tail(Lsn::from(1)).unwrap();
        for lsn in 1..=3u64 {
            let record = tail.next_timeout(Duration::from_secs(5)).unwrap().unwrap();
            assert_eq!(record.lsn().get(), lsn);
        }
        let started = Instant::now();
        assert!(
            tail.next_timeout(Duration::from_millis(100))
                .unwrap()
                .is_none()
        );
        // A bound far above the timeout: it only turns a spin into a failure.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{:?}",
            started.elapsed()
        );
    });
}

#[test]
fn tails_racing_cuts_and_checkpoints_get_only_typed_errors() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Arc::new(Wal::open(&log.dir, small(driver)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let mut followers: Vec<_> = (0..2)
            .map(|_| {
                let (wal, stop) = (Arc::clone(&wal), Arc::clone(&stop));
                std::thread::spawn(move || follow(&wal, &stop))
            })
            .collect();
        let (w, s) = (Arc::clone(&wal), Arc::clone(&stop));
        followers.push(std::thread::spawn(move || look_up(&w, &s)));
        let mut last = 0u64;
        for round in 0..150u64 {
            for _ in 0..40 {
                last = wal.append(&payload(last + 1)).unwrap().get();
            }
            wal.sync().unwrap();
            match round % 3 {
                0 if last > 30 => {
                    let from = last - 15;
                    wal.truncate_from(Lsn::new(from)).unwrap();
                    last = from - 1;
                }
                1 => wal
                    .checkpoint(Lsn::new(last.saturating_sub(60).max(1)))
                    .unwrap(),
                _ => {}
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut yielded = 0;
        for f in followers {
            yielded += within_a_minute("a follower", move || f.join().unwrap());
        }
        assert!(yielded > 0, "{driver:?}: the followers read nothing");
        wal.close().unwrap();
    }
}

/// Follows from the durable end, starting over on the errors a follower acts on.
fn follow(wal: &Wal, stop: &AtomicBool) -> u64 {
    let mut yielded = 0;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut tail) = wal.tail(wal.durable_lsn().next()) else {
            continue;
        };
        loop {
            match tail.next_timeout(Duration::from_millis(20)) {
                Ok(Some(_)) => yielded += 1,
                Ok(None) if stop.load(Ordering::Relaxed) => return yielded,
                Ok(None) => {}
                Err(Error::CutBelowTail { .. } | Error::BelowCheckpoint { .. } | Error::Closed) => {
                    break;
                }
                Err(e) => panic!("a follower got {e:?}"),
            }
        }
    }
    yielded
}

/// Point lookups of the newest records while the log is cut and retired under them.
fn look_up(wal: &Wal, stop: &AtomicBool) -> u64 {
    let mut found = 0;
    while !stop.load(Ordering::Relaxed) {
        let last = wal.durable_lsn().get();
        for lsn in last.saturating_sub(50).max(1)..=last {
            match wal.get(Lsn::new(lsn)) {
                Ok(Some(_)) => found += 1,
                Ok(None) | Err(Error::BelowCheckpoint { .. } | Error::Closed) => {}
                Err(e) => panic!("get({lsn}) got {e:?}"),
            }
        }
    }
    found
}
