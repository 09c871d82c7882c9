//! Helpers shared by the suite.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ringwal::{Driver, Options, Wal};

/// A temporary directory that lives as long as the value.
pub struct TempLog {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

pub fn temp_log() -> TempLog {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    TempLog { _tmp: tmp, dir }
}

pub use ringwal::test_support::{REQUIRE_IO_URING_ENV as REQUIRE_IO_URING, io_uring_required};

/// Every driver this machine and build can run. In a build with the `io-uring`
/// feature the io_uring driver joins the list when it can open a ring; otherwise the test fails if `RINGWAL_REQUIRE_IO_URING` is
/// set, and else the skip is printed and noted in the skip log.
pub fn drivers() -> Vec<Driver> {
    let mut out = vec![Driver::Portable];
    if !cfg!(feature = "io-uring") {
        // Built without the io_uring driver (`--no-default-features`): there is nothing
        // to skip at run time.
        return out;
    }
    let probe = temp_log();
    // `small` keeps the probe's options valid: a probe refused for its options would
    // skip io_uring for the wrong reason.
    match Wal::open(&probe.dir, small(Driver::IoUring)) {
        Ok(wal) => {
            wal.close().expect("close probe");
            out.push(Driver::IoUring);
        }
        Err(e) if io_uring_required() => {
            panic!("{REQUIRE_IO_URING} is set but the io_uring driver cannot open: {e}")
        }
        Err(e) => note_skip("driver", &format!("io_uring driver not run: {e}")),
    }
    out
}

/// Says that the running test skips its work for `reason` (a capability this machine
/// lacks): printed, and noted in the skip log so CI counts the test as skipped, not
/// passed. Call it just before returning early, on the test's own thread.
pub fn skip(reason: &str) {
    note_skip("test", reason);
}

fn note_skip(kind: &str, reason: &str) {
    ringwal::test_support::note_skip(kind, reason)
        .unwrap_or_else(|e| panic!("cannot note a skip in the skip log: {e}"));
}

/// Small segments so tests rotate often.
pub fn small(driver: Driver) -> Options {
    Options::default()
        .driver(driver)
        .segment_bytes(64 << 10)
        .record_bytes_max(8 << 10)
        .staging_bytes_max(256 << 10)
}

/// The payload tests write for `lsn`: recognisable, varying in length.
pub fn payload(lsn: u64) -> Vec<u8> {
    let len = (lsn * 37 % 300) as usize;
    let mut p = format!("record-{lsn}:").into_bytes();
    p.extend((0..len).map(|i| (i as u64 ^ lsn) as u8));
    p
}

/// Reads everything from LSN 1 and checks density and payloads up to `last`.
pub fn assert_log_holds(dir: &Path, opts: Options, from: u64, last: u64) {
    let wal = Wal::open(dir, opts).expect("reopen");
    let mut expected = from;
    for record in wal.read_from(from.into()).expect("read_from") {
        let record = record.expect("record");
        assert_eq!(record.lsn().get(), expected, "LSNs must be dense");
        assert_eq!(
            record.payload(),
            payload(expected).as_slice(),
            "payload of {expected}"
        );
        expected += 1;
    }
    assert_eq!(expected - 1, last, "last LSN recovered");
    wal.close().expect("close");
}

/// A small xorshift generator: tests that pick random values print the seed so a
/// failure can be replayed.
pub struct XorShift(u64);

impl XorShift {
    /// Seeded from the clock; prints the seed.
    pub fn from_time(what: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
        let seed = nanos | 1;
        eprintln!("{what}: xorshift seed {seed}");
        XorShift(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A value in `lo..=hi`.
    pub fn in_range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// `len` bytes, none of them zero.
    pub fn non_zero_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| (self.next_u64() % 255 + 1) as u8)
            .collect()
    }
}

/// A command that re-runs this test binary with only the test `test_path` (a module
/// path such as `some_file::child_fn`). The child test does its work only when the
/// caller also sets the environment variable it looks for.
pub fn child_command(test_path: &str) -> std::process::Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", test_path, "--nocapture", "--test-threads=1"]);
    cmd
}

/// The name a child process gets its driver by.
pub fn driver_name(driver: Driver) -> &'static str {
    match driver {
        Driver::IoUring => "io_uring",
        Driver::Auto => "auto",
        _ => "portable",
    }
}

/// The inverse of `driver_name`.
pub fn driver_from_name(name: &str) -> Driver {
    match name {
        "io_uring" => Driver::IoUring,
        "auto" => Driver::Auto,
        _ => Driver::Portable,
    }
}

/// Polls `cond` until it holds. The writer thread publishes some things (statistics)
/// just after it wakes waiters, so a test may see them a moment late. The bound only
/// turns a hang into a failure; it is not a performance threshold.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("never happened: {what}");
}

/// Runs `f` on a helper thread and fails the test if it has not returned within a
/// minute, so a call that wrongly blocks forever (a lost wake-up, a waiter never told
/// about a failure) fails instead of hanging the suite. The bound is a hang guard, far
/// above the time the work takes; it is not a performance threshold. A panic in `f` is
/// passed on as it is.
pub fn within_a_minute<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    use std::sync::mpsc::RecvTimeoutError;
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let v = f();
        let _ = tx.send(());
        v
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(()) | Err(RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{what} did not return within a minute"),
    }
}

/// A portable-driver log of small segments in `dir` holding records `1..=records` with
/// `payload(lsn)`, synced, still open; with the options it was opened with.
pub fn portable_log_of(dir: &Path, records: u64) -> (Wal, Options) {
    let opts = small(Driver::Portable);
    let wal = Wal::open(dir, opts.clone()).expect("open");
    for lsn in 1..=records {
        wal.append(&payload(lsn)).expect("append");
    }
    wal.sync().expect("sync");
    (wal, opts)
}

/// Whether the kernel is new enough (5.11) for `IORING_OP_RENAMEAT`, which making
/// segments on the ring needs (the driver probes for it and otherwise uses the thread).
pub fn kernel_renames_on_ring() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (5, 11)
}

/// Whether this process may pin memory without limit: `CAP_IPC_LOCK` (bit 14 of
/// `CapEff`) or an unlimited RLIMIT_MEMLOCK. Otherwise io_uring charges registered
/// buffers to the user's locked-memory count, which every process and test of that
/// user shares, so whether a registration succeeds is not up to the test.
pub fn memlock_unconstrained() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    let ipc_lock = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps >> 14 & 1 == 1);
    let unlimited = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits
                .lines()
                .find(|l| l.starts_with("Max locked memory"))?;
            Some(line.split_whitespace().nth(3)? == "unlimited")
        })
        .unwrap_or(false);
    ipc_lock || unlimited
}
