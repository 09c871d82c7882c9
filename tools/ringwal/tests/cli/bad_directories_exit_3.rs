//! A missing directory, a directory that is not a log, an unreadable segment and bad
//! usage: one line on stderr, exit 3, no panic.

use predicates::prelude::*;

use crate::common::*;

fn one_line_exit_3(args: &[&std::ffi::OsStr]) -> String {
    let assert = ringwal().args(args).assert().code(3);
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(assert.get_output().stdout.is_empty());
    stderr
}

#[test]
fn missing_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    for cmd in ["inspect", "dump", "verify", "repair"] {
        let err = one_line_exit_3(&[cmd.as_ref(), missing.as_os_str()]);
        assert!(err.contains("nope"), "{cmd}: {err}");
    }
}

#[test]
fn directory_that_is_not_a_log() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "hello").unwrap();
    for cmd in ["inspect", "dump", "verify", "repair"] {
        let err = one_line_exit_3(&[cmd.as_ref(), tmp.path().as_os_str()]);
        assert!(err.contains("not a ringwal log directory"), "{cmd}: {err}");
    }
    assert!(
        !tmp.path().join("LOCK").exists(),
        "repair created a lock file"
    );
}

#[test]
fn unreadable_segment_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 10);
    // A directory where a segment file should be: unreadable even for root.
    let _ = std::fs::remove_file(segment_path(&dir, 2));
    std::fs::create_dir(segment_path(&dir, 2)).unwrap();
    for cmd in ["inspect", "dump", "verify"] {
        one_line_exit_3(&[cmd.as_ref(), dir.as_os_str()]);
    }
}

#[test]
fn usage_errors() {
    one_line_exit_3(&["frobnicate".as_ref()]);
    one_line_exit_3(&[
        "dump".as_ref(),
        ".".as_ref(),
        "--format".as_ref(),
        "xml".as_ref(),
    ]);
    ringwal()
        .arg("--help")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("verify"));
}
