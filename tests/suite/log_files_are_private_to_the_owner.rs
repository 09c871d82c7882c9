//! Every file and directory a log creates is private to its owner by default (files
//! 0600, directories 0700): a log holds every payload the application logged, and
//! they used to be created world-readable (0644 and 0755 under the usual umask).
//! `FileAccess::OwnerAndGroup` lets the group read; opening a log that others can
//! read warns once. (Expected modes assume a umask that takes away no owner or group
//! bits, such as 022 or 027.)

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ringwal::{Driver, FileAccess, Lsn, Wal};

use crate::common::{drivers, payload, small, temp_log};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The log directory, its files, `archive/` and the files in it.
fn everything(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        out.push(path);
    }
    out
}

/// A log with every kind of file: segments, CHECKPOINT, LOCK, archive/ with segments.
fn build(dir: &Path, driver: Driver, access: FileAccess) -> Wal {
    let wal = Wal::open(dir, small(driver).archive(true).file_access(access)).unwrap();
    for lsn in 1..=2000 {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.sync().unwrap();
    wal.checkpoint(Lsn::from(1500)).unwrap();
    wal
}

fn assert_modes(dir: &Path, file_mode: u32, dir_mode: u32) {
    let all = everything(dir);
    let names: Vec<String> = all
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    for kind in ["CHECKPOINT", "LOCK", "archive", "00000000000000000001.wal"] {
        // Segment 1 is in archive/ by now.
        assert!(names.iter().any(|n| n == kind), "no {kind} in {names:?}");
    }
    assert!(names.iter().filter(|n| n.ends_with(".wal")).count() >= 3);
    for path in all {
        let want = if path.is_dir() { dir_mode } else { file_mode };
        assert_eq!(mode(&path), want, "{}: {:o}", path.display(), mode(&path));
    }
}

#[test]
fn log_files_are_private_to_the_owner() {
    for driver in drivers() {
        let log = temp_log();
        let wal = build(&log.dir, driver, FileAccess::default());
        assert_modes(&log.dir, 0o600, 0o700);
        wal.close().unwrap();
    }
}

#[test]
fn group_read_is_an_option() {
    let log = temp_log();
    let wal = build(&log.dir, Driver::Portable, FileAccess::OwnerAndGroup);
    assert_modes(&log.dir, 0o640, 0o750);
    wal.close().unwrap();
}

/// Counts WARN events from ringwal.
struct CountWarnings(Arc<AtomicUsize>);

impl tracing::Subscriber for CountWarnings {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::WARN && meta.target().starts_with("ringwal") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn warnings_opening(dir: &Path) -> usize {
    let count = Arc::new(AtomicUsize::new(0));
    let subscriber = CountWarnings(Arc::clone(&count));
    tracing::subscriber::with_default(subscriber, || {
        Wal::open(dir, small(Driver::Portable))
            .unwrap()
            .close()
            .unwrap();
    });
    count.load(Ordering::SeqCst)
}

#[test]
fn opening_a_log_others_can_read_warns_once() {
    let log = temp_log();
    build(&log.dir, Driver::Portable, FileAccess::default())
        .close()
        .unwrap();
    assert_eq!(warnings_opening(&log.dir), 0, "a private log");
    // Every segment made readable by all, as an old version or a careless copy would.
    for path in everything(&log.dir) {
        let open = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).unwrap();
    }
    assert_eq!(
        warnings_opening(&log.dir),
        1,
        "one warning, not one per file"
    );
}

#[test]
fn the_truncation_intent_is_private() {
    let log = temp_log();
    let wal = build(&log.dir, Driver::Portable, FileAccess::default());
    let last = wal.last_lsn().get();
    wal.close().unwrap();
    // What a cut leaves while it is decided but not carried out (the intent is the
    // only file that exists just then).
    ringwal::truncation::repair::decide(&log.dir, last - 5).unwrap();
    assert_eq!(mode(&log.dir.join("TRUNCATE")), 0o600);
    let wal = Wal::open(&log.dir, small(Driver::Portable)).unwrap();
    assert_eq!(
        wal.last_lsn(),
        Lsn::from(last - 6),
        "the open finished the cut"
    );
    wal.close().unwrap();
}
