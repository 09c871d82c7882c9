//! dump: records with LSNs; printable payloads quoted, anything else in hex; --from,
//! --limit and the three formats.

use predicates::prelude::*;

use crate::common::*;

#[test]
fn text_format_with_from_and_limit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    let out = stdout_of(
        &ringwal()
            .args(["dump", "--from", "120", "--limit", "3"])
            .arg(&dir)
            .assert()
            .code(0),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let p = payload(120);
    assert_eq!(
        lines[0],
        format!("120 {} \"{}\"", p.len(), String::from_utf8(p).unwrap())
    );
    assert!(lines[2].starts_with("122 "));
}

#[test]
fn control_bytes_become_hex_and_json_is_one_object_per_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("wal");
    let wal = ringwal::Wal::open(&dir, options()).unwrap();
    wal.append(b"plain \"quoted\"").unwrap();
    wal.append(b"\x1b[2Jbell\x07").unwrap();
    wal.append(&[0, 1, 255]).unwrap();
    wal.sync().unwrap();
    wal.close().unwrap();

    let text = ringwal().arg("dump").arg(&dir).assert().code(0);
    let out = stdout_of(&text);
    assert!(!out.bytes().any(|b| b < 0x20 && b != b'\n'), "{out:?}");
    assert_eq!(
        out,
        "1 14 \"plain \\\"quoted\\\"\"\n2 9 hex:1b5b324a62656c6c07\n3 3 hex:0001ff\n"
    );

    ringwal()
        .args(["dump", "--format", "hex", "--from", "3"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout("3 3 0001ff\n");

    let json = stdout_of(
        &ringwal()
            .args(["dump", "--format", "json"])
            .arg(&dir)
            .assert()
            .code(0),
    );
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["lsn"], 1);
    assert_eq!(rows[0]["text"], "plain \"quoted\"");
    assert_eq!(rows[1]["hex"], "1b5b324a62656c6c07");
    assert_eq!(rows[2]["bytes"], 3);
}

#[test]
fn torn_log_dumps_every_whole_record_and_corrupt_log_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 50);
    tear_tail(&dir, 24);
    let out = stdout_of(&ringwal().arg("dump").arg(&dir).assert().code(0));
    assert_eq!(out.lines().count(), 50);

    corrupt_first_record(&dir);
    ringwal()
        .arg("dump")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "corrupt log: segment 1, offset 4096",
        ));
}
