//! A segment deleted or truncated behind the writer's back is reported (the log is
//! poisoned with an error naming the file) instead of acknowledging records that
//! would vanish on the next open. The writer checks on a timer (every 100 ms, and at
//! each rotation), so the tests let that interval pass before the append that must fail.

/// Longer than the writer's check interval.
const PAST_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(150);

use ringwal::{Error, SegmentChange, Wal};

use crate::common::{drivers, payload, small, temp_log};

fn active_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    segs.sort();
    // A fresh log writes into its first segment (a second may be pre-created).
    segs[0].clone()
}

#[test]
fn a_removed_active_segment_poisons_the_log() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        wal.append_durable(&payload(1)).unwrap();
        std::fs::remove_file(active_segment(&log.dir)).unwrap();
        std::thread::sleep(PAST_CHECK_INTERVAL);
        let err = wal.append_durable(&payload(2)).unwrap_err();
        let Error::Poisoned { cause } = &err else {
            panic!("expected Poisoned, got {err}")
        };
        // Named for what happened, not as the sync that found it.
        assert!(
            matches!(
                **cause,
                Error::SegmentChanged {
                    segment: 1,
                    change: SegmentChange::Removed,
                    ..
                }
            ),
            "{cause:?}"
        );
        assert!(cause.to_string().contains("removed"), "{cause}");
        assert!(wal.durable_lsn().get() < 2);
        assert!(matches!(wal.close(), Err(Error::Poisoned { .. })));
    }
}

#[test]
fn a_truncated_active_segment_poisons_the_log() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        wal.append_durable(&payload(1)).unwrap();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(active_segment(&log.dir))
            .unwrap();
        file.set_len(100).unwrap();
        std::thread::sleep(PAST_CHECK_INTERVAL);
        let err = wal.append_durable(&payload(2)).unwrap_err();
        let Error::Poisoned { cause } = &err else {
            panic!("expected Poisoned, got {err}")
        };
        assert!(
            matches!(
                **cause,
                Error::SegmentChanged {
                    change: SegmentChange::Truncated { .. },
                    ..
                }
            ),
            "{cause:?}"
        );
        assert!(cause.to_string().contains("truncated"), "{cause}");
        drop(wal);
    }
}
