//! Shared by this crate's test binaries: whether the io_uring driver runs here, and
//! skips that `.ci/run` can count.

use ringwal::{Driver, Options, Wal};

/// Whether a log opens with the io_uring driver and `opts`. Where
/// `RINGWAL_REQUIRE_IO_URING` is set (`.ci/run` sets it where io_uring is enabled) a
/// ring that cannot be opened fails the test; elsewhere the skip is noted.
pub fn io_uring_runs(opts: Options) -> bool {
    let probe = tempfile::tempdir().unwrap();
    match Wal::open(probe.path().join("probe"), opts.driver(Driver::IoUring)) {
        Ok(wal) => {
            wal.close().unwrap();
            true
        }
        Err(e) if ringwal::test_support::io_uring_required() => {
            panic!("RINGWAL_REQUIRE_IO_URING is set but the io_uring driver cannot open: {e}")
        }
        Err(e) => {
            note_skip("driver", &format!("io_uring driver not run: {e}"));
            false
        }
    }
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
