//! Support for ringwal's own test suites (the crate's, faultfs's, the openraft
//! store's): one place for how a test says it skipped its work, so CI counts skips
//! rather than passing them silently. Not a stable API.

use std::io;

/// Set (to anything but `0`) where the io_uring driver must run: ringwal's test suites
/// then fail a test whose ring cannot open instead of quietly testing only the portable
/// driver (`.ci/run` sets it where the kernel has io_uring enabled).
pub const REQUIRE_IO_URING_ENV: &str = "RINGWAL_REQUIRE_IO_URING";

/// The file (named by this variable) where ringwal's test suites note what they
/// skipped, one `kind<TAB>test<TAB>reason` line each, for `.ci/run`'s closing tally.
pub const SKIP_LOG_ENV: &str = "RINGWAL_SKIP_LOG";

/// Whether the environment demands the io_uring driver (see `REQUIRE_IO_URING_ENV`).
pub fn io_uring_required() -> bool {
    std::env::var_os(REQUIRE_IO_URING_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Notes that the running test skips `kind` of its work (`"test"`: all of it;
/// `"driver"`: one driver) for `reason`: printed, and appended to the skip log (see
/// `SKIP_LOG_ENV`) so CI counts it as skipped, not passed. Call it on the test's own
/// thread (libtest names it after the test). An error means the skip could not be
/// noted, and the test should fail rather than pass silently.
pub fn note_skip(kind: &str, reason: &str) -> io::Result<()> {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("an unnamed test thread")
        .to_string();
    eprintln!("skipped ({kind}) {test}: {reason}");
    let Some(path) = std::env::var_os(SKIP_LOG_ENV) else {
        return Ok(());
    };
    // One short `write` per line on an O_APPEND file: lines from tests running in
    // parallel (or in several test binaries) do not interleave.
    let line = format!("{kind}\t{test}\t{}\n", reason.replace(['\t', '\n'], " "));
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
}
