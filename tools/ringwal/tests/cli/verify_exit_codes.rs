//! verify: 0 clean, 1 torn tail (with the bytes it would cut), 2 corruption (segment,
//! offset, reason); it never changes a byte.

use predicates::prelude::*;

use crate::common::*;

#[test]
fn clean_log_exits_0() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("ok: "))
        .stdout(predicate::str::contains("300 records, LSN 1..=300"));
}

#[test]
fn torn_tail_exits_1_and_says_what_it_would_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    let (segment, offset) = tear_tail(&dir, 40);
    let before = snapshot(&dir);
    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "torn tail: segment {segment}, offset {offset}: repair would cut 40 bytes"
        )));
    assert_eq!(snapshot(&dir), before, "verify changed the log");
}

#[test]
fn mid_log_damage_exits_2_with_segment_offset_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    let (segment, offset) = corrupt_first_record(&dir);
    let before = snapshot(&dir);
    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(2)
        .stdout(predicate::str::contains(format!(
            "corrupt: segment {segment}, offset {offset}: "
        )))
        .stdout(predicate::str::contains("was written after LSN"));
    assert_eq!(snapshot(&dir), before, "verify changed the log");
}

#[test]
fn missing_segment_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    std::fs::remove_file(segment_path(&dir, 2)).unwrap();
    ringwal()
        .arg("verify")
        .arg(&dir)
        .assert()
        .code(2)
        .stdout(predicate::str::contains("segment 2 is missing"));
}
