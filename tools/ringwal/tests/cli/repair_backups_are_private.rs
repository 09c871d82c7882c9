//! The bytes `repair` cuts are log payloads: its backups (the `.bin` of a torn tail,
//! the directory of a cut at corruption and what it holds) are private to the owner
//! (0600 files, 0700 directories), like the log. They used to be world-readable.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::common::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn repair_outputs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("repair-")
        })
        .collect()
}

#[test]
fn repair_backups_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = build_log(tmp.path(), 600);
    tear_tail(&dir, 40);
    ringwal().arg("repair").arg(&dir).assert().code(0);
    let saved = repair_outputs(&dir);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(mode(&saved[0]), 0o600, "{}", saved[0].display());

    write_at(&segment_path(&dir, 2), 4096 + 20, b"\xFF\xFF\xFF\xFF");
    ringwal()
        .args(["repair", "--truncate-at-corruption"])
        .arg(&dir)
        .assert()
        .code(0);
    let backup_dir = repair_outputs(&dir)
        .into_iter()
        .find(|p| p.is_dir())
        .expect("backup directory");
    assert_eq!(mode(&backup_dir), 0o700);
    let inside: Vec<_> = std::fs::read_dir(&backup_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(inside.len() >= 2, "{inside:?}");
    for path in inside {
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}
