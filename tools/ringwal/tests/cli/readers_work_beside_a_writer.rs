//! inspect, dump and verify read a log another process holds open for writing,
//! without blocking it, and call bytes past the last record "in progress"; repair
//! refuses to run.

use predicates::prelude::*;
use ringwal::Wal;

use crate::common::*;

#[test]
fn tail_in_progress_not_torn_and_repair_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 100);
    let wal = Wal::open(&dir, options()).unwrap();
    tear_tail(&dir, 32);

    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("tail in progress"));
    let out = stdout_of(
        &ringwal()
            .args(["inspect", "--json"])
            .arg(&dir)
            .assert()
            .code(0),
    );
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["tail"]["state"], "in_progress");
    assert_eq!(report["writer_active"], true);
    let dump = stdout_of(&ringwal().arg("dump").arg(&dir).assert().code(0));
    assert_eq!(dump.lines().count(), 100);

    let before = snapshot(&dir);
    for args in [&["repair"][..], &["repair", "--dry-run"][..]] {
        ringwal()
            .args(args)
            .arg(&dir)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("refusing to repair"));
    }
    assert_eq!(snapshot(&dir), before);

    // The writer was never blocked.
    let lsn = wal.append_durable(b"after the tools").unwrap();
    assert_eq!(lsn.get(), 101);
    wal.close().unwrap();
}
