//! Helpers: mounting (or a reason to skip), the drivers to run, payloads, checks.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ringwal::{Driver, Lsn, Options, RecoveryReport, Wal};
use ringwal_faultfs::Mounted;

/// A backing directory and a mount point, removed when dropped (after the mount).
pub struct Place {
    pub _tmp: tempfile::TempDir,
    pub backing: PathBuf,
    pub mnt: PathBuf,
}

impl Place {
    pub fn new() -> Place {
        let tmp = tempfile::tempdir().unwrap();
        let backing = tmp.path().join("backing");
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&backing).unwrap();
        std::fs::create_dir(&mnt).unwrap();
        Place {
            _tmp: tmp,
            backing,
            mnt,
        }
    }

    pub fn mount(&self) -> Mounted {
        ringwal_faultfs::mount(&self.backing, &self.mnt).unwrap()
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.mnt.join("wal")
    }
}

/// `Some(reason)` when FUSE cannot be used here; tries one mount.
pub fn skip_reason() -> Option<String> {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        return Some("mounting FUSE without fusermount needs root".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse does not exist".into());
    }
    let place = Place::new();
    match ringwal_faultfs::mount(&place.backing, &place.mnt) {
        Ok(m) => {
            let probe = place.mnt.join("probe");
            let written = std::fs::write(&probe, b"x").and_then(|()| std::fs::read(&probe));
            let _ = m.unmount();
            match written {
                Ok(b) if b == b"x" => None,
                Ok(_) => Some("a file written through FUSE read back wrong".into()),
                Err(e) => Some(format!("I/O through the FUSE mount failed: {e}")),
            }
        }
        Err(e) => Some(format!("cannot mount FUSE: {e}")),
    }
}

/// Portable, plus io_uring where a ring can be set up. Where
/// `RINGWAL_REQUIRE_IO_URING` is set (`.ci/run` sets it where io_uring is enabled) a
/// ring that cannot be opened fails the test instead of being skipped.
pub fn drivers() -> Vec<Driver> {
    let mut out = vec![Driver::Portable];
    let tmp = tempfile::tempdir().unwrap();
    match Wal::open(tmp.path().join("probe"), small(Driver::IoUring)) {
        Ok(wal) => {
            wal.close().unwrap();
            out.push(Driver::IoUring);
        }
        Err(e) if ringwal::test_support::io_uring_required() => {
            panic!("RINGWAL_REQUIRE_IO_URING is set but the io_uring driver cannot open: {e}")
        }
        Err(e) => note_skip("driver", &format!("io_uring driver not run: {e}")),
    }
    out
}

/// Says that the running test skips its work for `reason`: printed, and appended to
/// the file named by `RINGWAL_SKIP_LOG` so `.ci/run` counts it as skipped, not passed.
/// Call it on the test's own thread (libtest names it after the test), then return.
pub fn skip(reason: &str) {
    note_skip("test", reason);
}

fn note_skip(kind: &str, reason: &str) {
    ringwal::test_support::note_skip(kind, reason)
        .unwrap_or_else(|e| panic!("cannot note a skip in the skip log: {e}"));
}

/// Small segments so runs rotate often.
pub fn small(driver: Driver) -> Options {
    Options::default()
        .driver(driver)
        .segment_bytes(64 << 10)
        .record_bytes_max(8 << 10)
        .staging_bytes_max(256 << 10)
}

/// The payload of the `n`th record of thread `t`.
pub fn payload(t: u64, n: u64) -> Vec<u8> {
    let mut p = format!("t{t}-n{n}|").into_bytes();
    p.extend((0..(n * 131 + t * 7) % 2500).map(|i| (i as u8).wrapping_mul(29) ^ n as u8));
    p
}

/// Reopens the log (it must open by itself: no repair) and checks: the persisted
/// checkpoint is at least `checkpointed` (the last checkpoint call that succeeded);
/// above it LSNs are dense and every acknowledged `(lsn, payload)` is present; appends
/// go on. Returns the last LSN and what recovery did.
pub fn check_log(
    dir: &Path,
    opts: Options,
    acked: &[(u64, Vec<u8>)],
    checkpointed: u64,
) -> (u64, RecoveryReport) {
    let wal = Wal::open(dir, opts).unwrap();
    let recovery = wal.recovery_report();
    let checkpoint = wal.checkpoint_lsn().get();
    assert!(
        checkpoint >= checkpointed,
        "checkpoint {checkpointed} was acknowledged, the log reopened at {checkpoint}"
    );
    let mut found = std::collections::HashMap::new();
    let mut expected = checkpoint + 1;
    for record in wal.read_from(Lsn::from(expected)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected, "LSNs must be dense");
        expected += 1;
        found.insert(record.lsn().get(), record.into_payload());
    }
    let last = expected - 1;
    for (lsn, p) in acked.iter().filter(|(lsn, _)| *lsn > checkpoint) {
        let got = found
            .get(lsn)
            .unwrap_or_else(|| panic!("acknowledged LSN {lsn} lost (log ends at {last})"));
        assert_eq!(got, p, "payload of acknowledged LSN {lsn}");
    }
    assert_eq!(
        wal.append_durable(b"after recovery").unwrap(),
        Lsn::from(last + 1),
        "appends go on after the end"
    );
    wal.close().unwrap();
    (last, recovery)
}

/// A seed from the clock, printed.
pub fn seed(what: &str) -> u64 {
    let seed = std::env::var("FAULTFS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
                | 1
        });
    // The seed picks the cut delays and tear points; thread timing still varies.
    eprintln!("{what}: seed {seed} (FAULTFS_SEED={seed} replays the same choices)");
    seed
}

pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Runs `f` on a thread and fails if it has not returned within a minute (a hang
/// guard, not a performance threshold).
pub fn within_a_minute<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let v = f();
        let _ = tx.send(());
        v
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(_) => panic!("{what} did not return within a minute"),
    }
}
