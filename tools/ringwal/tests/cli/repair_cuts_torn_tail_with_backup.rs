//! repair on a torn tail: --dry-run changes nothing; a real run keeps the cut bytes in
//! DIR/repair-<ts>.bin, keeps every whole record, and leaves a log that verifies clean
//! and takes new appends.

use predicates::prelude::*;
use ringwal::{LogReader, Lsn, Wal};

use crate::common::*;

fn backups(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("repair-")
        })
        .collect();
    out.sort();
    out
}

#[test]
fn dry_run_then_repair() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    let (segment, offset) = tear_tail(&dir, 40);

    let before = snapshot(&dir);
    ringwal()
        .args(["repair", "--dry-run"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "would cut segment {segment} bytes {offset}..{}",
            offset + 40
        )));
    assert_eq!(snapshot(&dir), before, "dry run changed the log");

    ringwal()
        .arg("repair")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("repaired: cut 40 torn bytes"));
    let saved = backups(&dir);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert!(saved[0].extension().is_some_and(|e| e == "bin"));
    assert_eq!(std::fs::read(&saved[0]).unwrap(), vec![0xEE; 40]);

    ringwal().arg("verify").arg(&dir).assert().code(0);
    let reader = LogReader::open(&dir).unwrap();
    assert_eq!(reader.scan().last_lsn, 300);
    let records: Vec<_> = reader
        .read_from(Lsn::from(1))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(records.len(), 300);
    assert_eq!(records[299].payload(), payload(300).as_slice());

    let wal = Wal::open(&dir, options()).unwrap();
    assert_eq!(wal.append_durable(b"next").unwrap().get(), 301);
    wal.close().unwrap();
}

#[test]
fn clean_log_needs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 20);
    ringwal()
        .arg("repair")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("nothing to repair"));
    assert!(backups(&dir).is_empty());
}

#[test]
fn large_records_survive_the_reopen() {
    // Records over the default 1 MiB limit must not be taken for damage when repair
    // reopens the log.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let big = vec![7u8; (1 << 20) + 100];
    let options = ringwal::Options::default()
        .segment_bytes(4 << 20)
        .record_bytes_max(2 << 20)
        .staging_bytes_max(4 << 20)
        .preallocate(ringwal::Preallocate::Grow);
    let wal = Wal::open(&dir, options).unwrap();
    wal.append(&big).unwrap();
    wal.append(&big).unwrap();
    wal.sync().unwrap();
    wal.close().unwrap();
    tear_tail(&dir, 16);
    ringwal().arg("repair").arg(&dir).assert().code(0);
    let reader = LogReader::open(&dir).unwrap();
    assert_eq!(reader.scan().last_lsn, 2);
    assert!(reader.scan().tail.unwrap().torn_bytes == 0);
}
