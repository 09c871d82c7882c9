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
        Err(e) if io_uring_required() => {
            panic!("RINGWAL_REQUIRE_IO_URING is set but the io_uring driver cannot open: {e}")
        }
        Err(e) => {
            note_skip("driver", &format!("io_uring driver not run: {e}"));
            false
        }
    }
}

fn io_uring_required() -> bool {
    std::env::var_os("RINGWAL_REQUIRE_IO_URING").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Says that the running test skips its work for `reason`: printed, and appended to
/// the file named by `RINGWAL_SKIP_LOG` so `.ci/run` counts it as skipped, not passed.
/// Call it on the test's own thread (libtest names it after the test), then return.
pub fn skip(reason: &str) {
    note_skip("test", reason);
}

/// One `kind<TAB>test<TAB>reason` line in the skip log (see `.ci/run`).
fn note_skip(kind: &str, reason: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("an unnamed test thread")
        .to_string();
    eprintln!("skipped ({kind}) {test}: {reason}");
    let Some(path) = std::env::var_os("RINGWAL_SKIP_LOG") else {
        return;
    };
    // One `write` per line on an O_APPEND file, so parallel tests do not interleave.
    let line = format!("{kind}\t{test}\t{}\n", reason.replace(['\t', '\n'], " "));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .unwrap();
}
