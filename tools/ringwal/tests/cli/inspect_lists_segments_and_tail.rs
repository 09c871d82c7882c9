//! inspect: one row per segment (live and archived) with LSNs, records, bytes and
//! state; totals; the tail's verdict; the same as JSON.

use predicates::prelude::*;
use ringwal::{Lsn, Wal};

use crate::common::*;

fn inspect_json(dir: &std::path::Path) -> serde_json::Value {
    inspect_json_exits(dir, 0)
}

fn inspect_json_exits(dir: &std::path::Path, code: i32) -> serde_json::Value {
    let out = stdout_of(
        &ringwal()
            .args(["inspect", "--json"])
            .arg(dir)
            .assert()
            .code(code),
    );
    serde_json::from_str(&out).unwrap()
}

#[test]
fn clean_log_rows_add_up() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    let report = inspect_json(&dir);
    let segments = report["segments"].as_array().unwrap();
    assert!(segments.len() >= 3, "{report}");
    assert_eq!(segments[0]["first_lsn"], 1);
    assert_eq!(segments[0]["state"], "sealed");
    let records: u64 = segments
        .iter()
        .map(|s| s["records"].as_u64().unwrap())
        .sum();
    assert_eq!(records, 300);
    assert_eq!(report["records"], 300);
    assert_eq!(report["last_lsn"], 300);
    assert_eq!(report["tail"]["state"], "clean");
    let active: Vec<_> = segments.iter().filter(|s| s["state"] == "active").collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["last_lsn"], 300);

    ringwal()
        .arg("inspect")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("00000000000000000001.wal"))
        .stdout(predicate::str::contains("sealed"))
        .stdout(predicate::str::contains("300 records, last LSN 300"))
        .stdout(predicate::str::contains("tail: clean"));
}

#[test]
fn torn_and_corrupt_logs_are_summarised() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    let (segment, offset) = tear_tail(&dir, 40);
    let report = inspect_json(&dir);
    assert_eq!(report["tail"]["state"], "torn");
    assert_eq!(report["tail"]["segment"], segment);
    assert_eq!(report["tail"]["offset"], offset);
    assert_eq!(report["tail"]["bytes"], 40);
    ringwal()
        .arg("inspect")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(format!(
            "tail: torn in segment {segment} at offset {offset}: 40 bytes"
        )));

    // A corrupt log exits 2, like `verify`, and still shows every segment.
    corrupt_first_record(&dir);
    let report = inspect_json_exits(&dir, 2);
    assert_eq!(report["tail"]["state"], "corrupt");
    assert_eq!(report["tail"]["segment"], 1);
    assert_eq!(
        report["segments"][0]["first_lsn"], 1,
        "rows come from headers"
    );
    let rows = report["segments"].as_array().unwrap().len();
    assert_eq!(
        rows,
        std::fs::read_dir(&dir).unwrap().count() - 1,
        "a row per segment file (all but LOCK): {report}"
    );
    ringwal()
        .arg("inspect")
        .arg(&dir)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("corrupt: segment 1, offset 4096"));
}

#[test]
fn archived_segments_are_listed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let wal = Wal::open(&dir, options().archive(true)).unwrap();
    for lsn in 1..=300 {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.sync().unwrap();
    wal.checkpoint(Lsn::from(250)).unwrap();
    wal.close().unwrap();
    let report = inspect_json(&dir);
    let segments = report["segments"].as_array().unwrap();
    let archived: Vec<_> = segments
        .iter()
        .filter(|s| s["state"] == "archived")
        .collect();
    assert!(!archived.is_empty(), "{report}");
    assert_eq!(archived[0]["first_lsn"], 1);
    assert_eq!(report["checkpoint"], 250);
}

#[test]
fn a_pending_truncation_is_shown_and_its_records_left_out() {
    use ringwal::format::{checkpoint, names};
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    // What a crash leaves after `truncate_from(200)` recorded its intent.
    let intent = checkpoint::encode_marker(checkpoint::TRUNCATE_MAGIC, 200);
    std::fs::write(dir.join(names::TRUNCATE_FILE), intent).unwrap();
    let report = inspect_json(&dir);
    assert_eq!(report["truncation_pending"], 200, "{report}");
    assert_eq!(report["last_lsn"], 199);
    ringwal()
        .arg("inspect")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "truncation pending: records from LSN 200",
        ));
    // The next open finishes the cut.
    let wal = Wal::open(&dir, options()).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::new(199));
    assert_eq!(
        wal.recovery_report().truncation_finished,
        Some(Lsn::new(200))
    );
}
