//! verify, dump and inspect on a log whose segments were made from recycled files
//! (format 4): past their records those files hold their earlier life's frames, which
//! the tools must neither read as records nor report as damage; inspect lists the
//! spare files still kept for reuse.

use predicates::prelude::*;
use ringwal::{Lsn, Wal};

use crate::common::*;

#[test]
fn verify_exits_0_and_dump_prints_only_the_live_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let opts = options()
        .preallocate(ringwal::Preallocate::Zeroed)
        .recycle_segments(4);
    let wal = Wal::open(&dir, opts).unwrap();
    let mut last = 0;
    for lsn in 1..=1200 {
        last = wal.append_durable(&payload(lsn)).unwrap().get();
    }
    let rotations = wal.stats().rotations;
    assert!(rotations >= 4, "{rotations} rotations");
    wal.checkpoint(Lsn::from(last)).unwrap();
    // Into the recycled files, and part way through one.
    while wal.stats().segments_recycled < 2 || wal.stats().rotations < rotations + 2 {
        last = wal.append_durable(&payload(last + 1)).unwrap().get();
    }
    last = wal.append_durable(&payload(last + 1)).unwrap().get();
    wal.close().unwrap();
    let first = 1201;

    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("ok: "))
        .stdout(predicate::str::contains(format!(
            "{} records, LSN {first}..={last}",
            last - first + 1
        )));

    let out = stdout_of(&ringwal().arg("dump").arg(&dir).assert().code(0));
    let want: Vec<String> = (first..=last)
        .map(|lsn| {
            let p = payload(lsn);
            format!("{lsn} {} \"{}\"", p.len(), String::from_utf8(p).unwrap())
        })
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);

    ringwal()
        .arg("inspect")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("torn").not())
        .stdout(predicate::str::contains("kept for reuse"));
}
