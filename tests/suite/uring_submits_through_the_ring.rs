//! The io_uring driver really submits through the ring: its statistics count ring
//! entries and registered-buffer writes, the portable driver's count none, and
//! `strace` (where installed) sees no `fdatasync` syscall on the io_uring path.

use ringwal::{Driver, Wal};

use crate::common::{drivers, payload, small, temp_log};

#[test]
fn io_uring_counts_ring_entries_and_portable_counts_none() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        for i in 1..=200u64 {
            wal.append_durable(&payload(i)).unwrap();
        }
        let stats = wal.stats();
        assert_eq!(stats.driver, driver);
        match driver {
            Driver::IoUring => {
                // At least a write and a sync per flush went through the ring.
                assert!(stats.ring_sqes >= 2 * stats.flushes, "{stats:?}");
                assert!(stats.ring_enters > 0, "{stats:?}");
                // Buffered chains write from the registered staging buffers; direct mode
                // from its aligned buffers, registered too (one 64 KiB buffer here).
                if !crate::common::memlock_unconstrained() {
                    crate::common::skip(
                        "registered-buffer counts: RLIMIT_MEMLOCK applies (no CAP_IPC_LOCK), \
                         shared with the other tests, so registration may be refused",
                    );
                } else {
                    assert!(
                        stats.fixed_writes > 0,
                        "registered buffers unused: {stats:?}"
                    );
                    if stats.direct_io {
                        assert_eq!(stats.fixed_writes, stats.direct_writes, "{stats:?}");
                    }
                }
            }
            _ => {
                assert_eq!(stats.ring_sqes, 0, "{stats:?}");
                assert_eq!(stats.fixed_writes, 0, "{stats:?}");
            }
        }
        wal.close().unwrap();
    }
}

/// Child half of the strace test: appends durably when asked to.
#[cfg(feature = "io-uring")]
#[test]
fn strace_child_appends() {
    let Some(dir) = std::env::var_os("RINGWAL_STRACE_CHILD_DIR") else {
        return;
    };
    let wal = Wal::open(&dir, small(Driver::IoUring)).unwrap();
    for i in 1..=50u64 {
        wal.append_durable(&payload(i)).unwrap();
    }
    wal.close().unwrap();
}

#[cfg(feature = "io-uring")]
#[test]
fn io_uring_path_makes_no_fdatasync_syscall() {
    if !drivers().contains(&Driver::IoUring) {
        crate::common::skip("needs the io_uring driver");
        return;
    }
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        crate::common::skip("strace is not installed");
        return;
    }
    let log = temp_log();
    std::fs::create_dir_all(&log.dir).unwrap();
    let trace = log.dir.with_extension("strace");
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=fdatasync,fsync,io_uring_enter,io_uring_register",
            "-o",
        ])
        .arg(&trace)
        .arg(exe)
        .args([
            "--exact",
            "uring_submits_through_the_ring::strace_child_appends",
            "--test-threads=1",
        ])
        .env("RINGWAL_STRACE_CHILD_DIR", log.dir.join("log"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        text.contains("io_uring_enter"),
        "no ring submissions traced"
    );
    assert!(
        text.contains("IORING_REGISTER_FILES"),
        "no fixed-file registration traced"
    );
    // Preparing segments syncs files off the hot path (fsync of the new file and its
    // directory); no record write is followed by an fdatasync syscall.
    assert!(
        !text.contains("fdatasync("),
        "the io_uring path called fdatasync:\n{text}"
    );
}
