//! repair on mid-log damage: exit 2 and no change without --truncate-at-corruption;
//! with it, the damaged segment's rest and every later segment are kept in
//! DIR/repair-<ts>/ and the log ends just before the damage.

use predicates::prelude::*;
use ringwal::{LogReader, Lsn};

use crate::common::*;

#[test]
fn refuses_without_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 300);
    corrupt_first_record(&dir);
    let before = snapshot(&dir);
    for args in [&["repair"][..], &["repair", "--dry-run"][..]] {
        ringwal()
            .args(args)
            .arg(&dir)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("refusing to repair"))
            .stderr(predicate::str::contains("segment 1, offset 4096"));
    }
    // Only the lock file may differ (repair took the lock to look).
    let lockless = |s: Vec<(std::path::PathBuf, Vec<u8>)>| {
        s.into_iter()
            .filter(|(p, _)| !p.ends_with("LOCK"))
            .collect::<Vec<_>>()
    };
    assert_eq!(lockless(snapshot(&dir)), lockless(before));
}

#[test]
fn truncates_with_the_flag_and_keeps_what_it_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 600);
    // Damage a record in the middle of segment 2: segment 1 stays whole.
    let seg2 = segment_path(&dir, 2);
    let first_in_2 = {
        let reader = LogReader::open(&dir).unwrap();
        assert!(
            reader.scan().segments[2].records > 0,
            "segment 3 holds records"
        );
        reader.scan().segments[1].first_lsn.unwrap()
    };
    write_at(&seg2, 4096 + 20, b"\xFF\xFF\xFF\xFF");
    let seg_count = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "wal")
        })
        .count();
    assert!(seg_count >= 3);

    ringwal()
        .args(["repair", "--truncate-at-corruption", "--dry-run"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "would cut segment 2 from offset 4096",
        ));

    ringwal()
        .args(["repair", "--truncate-at-corruption"])
        .arg(&dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains(
            "cut the log at segment 2, offset 4096",
        ))
        .stdout(predicate::str::contains(format!(
            "removed LSN {first_in_2} on"
        )));

    ringwal().arg("verify").arg(&dir).assert().code(0);
    let reader = LogReader::open(&dir).unwrap();
    assert_eq!(reader.scan().last_lsn, first_in_2 - 1);
    let n = reader.read_from(Lsn::from(1)).unwrap().count() as u64;
    assert_eq!(n, first_in_2 - 1);

    let backup = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.is_dir()
                && p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("repair-")
        })
        .expect("backup directory");
    // The damage is in segment 2's first record: the library's cut takes the whole
    // segment, header included (it stays as a blank spare).
    let saved = std::fs::read(backup.join("00000000000000000002.wal.from-0.bin")).unwrap();
    assert!(saved.len() > 4096 + 16);
    assert!(
        std::fs::read(&seg2).unwrap().iter().all(|b| *b == 0),
        "segment 2 zeroed"
    );
    let moved = std::fs::read(backup.join("00000000000000000003.wal")).unwrap();
    assert!(moved.iter().any(|b| *b != 0), "segment 3 held records");
}
