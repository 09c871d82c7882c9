//! `dump` of a log damaged in the middle prints every record before the damage, then
//! the damage, and exits 2. It used to print nothing at all.

use predicates::prelude::*;
use ringwal::LogReader;

use crate::common::{build_log, payload, ringwal, segment_path, stdout_of, write_at};

#[test]
fn dump_of_a_damaged_log_prints_records_before_the_damage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    let scan = LogReader::open(&dir).unwrap().scan().clone();
    let second = scan.segments.iter().find(|s| s.sequence == 2).unwrap();
    let first_of_second = second.first_lsn.unwrap();
    assert!(
        scan.last_lsn > first_of_second + 10,
        "records follow the damage"
    );
    // Flip a payload byte of segment 2's first record: valid records follow it.
    let path = segment_path(&dir, 2);
    let at = 4096 + 16;
    let byte = std::fs::read(&path).unwrap()[at as usize];
    write_at(&path, at, &[byte ^ 0xFF]);

    let assert = ringwal()
        .arg("dump")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "corrupt log: segment 2, offset 4096",
        ));
    let out = stdout_of(&assert);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len() as u64,
        first_of_second - 1,
        "every record of segment 1, nothing from the damage on"
    );
    for (i, line) in lines.iter().enumerate() {
        let lsn = i as u64 + 1;
        let text = String::from_utf8(payload(lsn)).unwrap();
        assert!(
            line.starts_with(&format!("{lsn} {} ", text.len())) && line.contains(&text),
            "line {lsn}: {line}"
        );
    }

    // `--from` inside the good part prints from there; `--limit` still applies.
    let out = stdout_of(
        &ringwal()
            .args(["dump", "--from", "3", "--limit", "2"])
            .arg(&dir)
            .assert()
            .code(2),
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with("3 "), "{out}");
}
