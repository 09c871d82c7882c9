//! Format 2 in the tools: a hole in the unsynced tail with valid records after it that
//! nothing vouches for (a power cut kept later writes and lost an earlier one) is a torn
//! tail to `verify` (exit 1) and `inspect`, and `repair` cuts it, hole and all; the same
//! hole under records the lock file vouches for is corruption (exit 2).

use predicates::prelude::*;
use ringwal::{Durability, LogReader, Wal};

use crate::common::*;

/// 40 records written and never synced (each frame claims nothing durable), the power
/// cut before the close could record them durable, and the third-last one lost.
fn log_with_a_hole(tmp: &std::path::Path, power_cut: bool) -> std::path::PathBuf {
    let dir = tmp.join("wal");
    let wal = Wal::open(&dir, options().durability(Durability::Flush)).unwrap();
    for lsn in 1..=40 {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.close().unwrap();
    if power_cut {
        std::fs::write(dir.join("LOCK"), "pid 0 (\"power cut\")\n").unwrap();
    }
    let scan = LogReader::open(&dir).unwrap().scan().clone();
    assert_eq!(scan.last_lsn, 40);
    let segment = scan.segments.iter().rfind(|s| s.records > 0).unwrap();
    assert!(segment.records > 3, "{segment:?}");
    // Walk the frames (24-byte header: crc, len, lsn, durable) to record 38.
    let bytes = std::fs::read(&segment.path).unwrap();
    let mut at = 4096usize;
    loop {
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) & !(1 << 31);
        let lsn = u64::from_le_bytes(bytes[at + 8..at + 16].try_into().unwrap());
        let frame = (24 + len as usize).div_ceil(8) * 8;
        if lsn == 38 {
            write_at(&segment.path, at as u64, &vec![0u8; frame]);
            break;
        }
        at += frame;
    }
    dir
}

#[test]
fn verify_calls_it_a_torn_tail_and_repair_cuts_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = log_with_a_hole(tmp.path(), true);
    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("torn tail"));
    ringwal().arg("repair").arg(&dir).assert().code(0);
    ringwal().arg("verify").arg(&dir).assert().code(0);
    let scan = LogReader::open(&dir).unwrap().scan().clone();
    assert_eq!(scan.last_lsn, 37);
}

#[test]
fn the_same_hole_under_a_clean_close_is_corruption() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = log_with_a_hole(tmp.path(), false);
    let segments = |dir: &std::path::Path| {
        let mut all = snapshot(dir);
        all.retain(|(path, _)| path.extension().is_some_and(|e| e == "wal"));
        all
    };
    let before = segments(&dir);
    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "lock file records every LSN up to 40",
        ));
    ringwal().arg("repair").arg(&dir).assert().code(2);
    assert!(
        segments(&dir) == before,
        "a refused repair changed a segment"
    );
    // The tool held the lock meanwhile; the lock file still vouches for the records.
    let lock = std::fs::read_to_string(dir.join("LOCK")).unwrap();
    assert!(lock.contains("durable_lsn 40 40"), "{lock}");
}
