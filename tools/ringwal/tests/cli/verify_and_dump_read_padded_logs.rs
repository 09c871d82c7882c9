//! verify and dump on a log with padding between commits (format 3): every commit of
//! the log starts at a 4 KiB block, most leaving zeros behind the commit before; verify
//! exits 0 counting every record and dump prints every one of them.

use predicates::prelude::*;
use ringwal::Wal;

use crate::common::*;

const RECORDS: u64 = 60;

/// Every 5th record fills a block exactly (24-byte frame header + 4072): the commit
/// after it follows without padding; the others end inside a block.
fn padded_payload(lsn: u64) -> Vec<u8> {
    if lsn.is_multiple_of(5) {
        vec![b'z'; 4072]
    } else {
        payload(lsn)
    }
}

#[test]
fn verify_exits_0_and_dump_prints_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, options().pad_every_commit(true)).unwrap();
    for lsn in 1..=RECORDS {
        assert_eq!(wal.append_durable(&padded_payload(lsn)).unwrap().get(), lsn);
    }
    let stats = wal.stats();
    assert!(stats.padding_bytes > 0, "{stats:?}");
    assert!(stats.rotations > 3, "{stats:?}");
    wal.close().unwrap();

    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("ok: "))
        .stdout(predicate::str::contains(format!(
            "{RECORDS} records, LSN 1..={RECORDS}"
        )));

    let out = stdout_of(&ringwal().arg("dump").arg(&dir).assert().code(0));
    let want: Vec<String> = (1..=RECORDS)
        .map(|lsn| {
            let p = padded_payload(lsn);
            format!("{lsn} {} \"{}\"", p.len(), String::from_utf8(p).unwrap())
        })
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);
}
