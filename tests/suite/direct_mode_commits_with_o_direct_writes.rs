//! io_uring direct mode (`Options::direct_io`, default on): with `Durability::Fsync`
//! and pre-zeroed segments, each commit is an `O_DIRECT` + `RWF_DSYNC` write and no
//! fsync; the log reads back whole across rotations and reopens, also when commits
//! start in the middle of a block (the block's earlier bytes are rewritten from memory
//! or read once after a reopen or a cut). `direct_io(false)`, another durability or
//! another preallocation keep the buffered write → fsync chains, and `stats()` says
//! which runs.

use std::sync::Arc;

use ringwal::{Driver, Durability, Lsn, Options, Preallocate, Wal};

use crate::common::{drivers, kernel_renames_on_ring, payload, skip, temp_log};

fn uring() -> bool {
    if std::env::var_os("RINGWAL_FORCE_BUFFERED").is_some_and(|v| !v.is_empty() && v != "0") {
        skip("direct_mode_commits_with_o_direct_writes: RINGWAL_FORCE_BUFFERED is set");
        return false;
    }
    if drivers().contains(&Driver::IoUring) {
        return true;
    }
    skip("direct_mode_commits_with_o_direct_writes: io_uring is not available here");
    false
}

fn options() -> Options {
    Options::default()
        .driver(Driver::IoUring)
        .segment_bytes(64 << 10)
        .record_bytes_max(8 << 10)
        .staging_bytes_max(64 << 10)
}

fn check(dir: &std::path::Path, options: Options, last: u64) {
    let wal = Wal::open(dir, options).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(last));
    let mut expected = 1;
    for record in wal.read_from(Lsn::from(1u64)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected);
        assert_eq!(
            record.payload(),
            payload(expected).as_slice(),
            "LSN {expected}"
        );
        expected += 1;
    }
    assert_eq!(expected, last + 1);
    wal.close().unwrap();
}

#[test]
fn serial_and_concurrent_commits_are_direct_and_read_back() {
    if !uring() {
        return;
    }
    let log = temp_log();
    let wal = Arc::new(Wal::open(&log.dir, options()).unwrap());
    for lsn in 1..=300 {
        assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
    }
    let stats = wal.stats();
    assert!(stats.direct_io, "direct mode did not run: {stats:?}");
    assert!(stats.direct_writes >= 300, "{stats:?}");
    // Many appenders: commits carry several records, start inside blocks, rotate.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for _ in 0..200 {
                    wal.append_durable(&[t as u8; 300]).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(wal.stats().rotations > 3);
    wal.close().unwrap();
    let wal = Wal::open(&log.dir, options()).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(1_100u64));
    let n = wal.read_from(Lsn::from(1u64)).unwrap().count();
    assert_eq!(n, 1_100);
    wal.close().unwrap();
}

#[test]
fn commits_after_a_reopen_and_a_cut_keep_the_block_they_start_in() {
    if !uring() {
        return;
    }
    let log = temp_log();
    let wal = Wal::open(&log.dir, options()).unwrap();
    for lsn in 1..=50 {
        wal.append_durable(&payload(lsn)).unwrap();
    }
    wal.close().unwrap();
    // The first commit after the reopen starts inside a block it must read first.
    let wal = Wal::open(&log.dir, options()).unwrap();
    for lsn in 51..=80 {
        wal.append_durable(&payload(lsn)).unwrap();
    }
    assert!(wal.stats().direct_io);
    // After a cut, commits start where the cut left the block.
    wal.truncate_from(Lsn::from(70u64)).unwrap();
    for lsn in 70..=120 {
        assert_eq!(wal.append_durable(&payload(lsn)).unwrap(), Lsn::from(lsn));
    }
    wal.close().unwrap();
    check(&log.dir, options(), 120);
}

#[test]
fn other_settings_keep_the_buffered_chains() {
    if !uring() {
        return;
    }
    for (what, opts) in [
        ("direct_io(false)", options().direct_io(false)),
        ("Durability::Flush", options().durability(Durability::Flush)),
        (
            "Preallocate::Grow",
            options().preallocate(Preallocate::Grow),
        ),
    ] {
        let log = temp_log();
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        for lsn in 1..=40 {
            wal.append_durable(&payload(lsn)).unwrap();
        }
        let stats = wal.stats();
        assert!(!stats.direct_io, "{what}: {stats:?}");
        assert_eq!(stats.direct_writes, 0, "{what}");
        wal.close().unwrap();
        check(&log.dir, opts, 40);
    }
}

/// Several direct commits in flight (`direct_depth`), one of them completing after the
/// commits behind it (a fault plan holds its completion back): commits staged while
/// another is in flight start at the next block (padding), and the log reads back
/// whole, in order, after a reopen.
#[test]
fn pipelined_commits_completing_out_of_order_read_back_whole() {
    if !uring() {
        return;
    }
    let log = temp_log();
    let pipelined = || {
        options()
            .direct_depth(4)
            .inject_faults(ringwal::testing::FaultPlan::complete_out_of_order(3))
    };
    let wal = Arc::new(Wal::open(&log.dir, pipelined()).unwrap());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let wal = Arc::clone(&wal);
            std::thread::spawn(move || {
                for i in 0..300u64 {
                    let record = vec![t as u8; (40 + 13 * i % 700) as usize];
                    if i % 3 == 0 {
                        wal.append_durable(&record).unwrap();
                    } else {
                        wal.append(&record).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    wal.sync().unwrap();
    let stats = wal.stats();
    assert!(stats.direct_io, "{stats:?}");
    eprintln!(
        "pipelined: {} flushes, at most {} in flight, {} bytes of padding, {} block waits",
        stats.flushes, stats.chains_in_flight_peak, stats.padding_bytes, stats.direct_block_waits
    );
    // Staging never put a commit into a block a write in flight covers (padding, or
    // the next segment when padding does not fit), so no flush had to wait for one.
    assert_eq!(stats.direct_block_waits, 0, "{stats:?}");
    let durable = wal.durable_lsn();
    assert_eq!(durable, Lsn::from(1_200u64));
    let wal = Arc::into_inner(wal).unwrap();
    wal.close().unwrap();
    let wal = Wal::open(&log.dir, pipelined()).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(1_200u64));
    let mut per_thread = [0u64; 4];
    for (n, record) in wal.read_from(Lsn::from(1u64)).unwrap().enumerate() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), n as u64 + 1);
        let t = record.payload()[0] as usize;
        let i = per_thread[t];
        assert_eq!(
            record.payload().len() as u64,
            40 + 13 * i % 700,
            "thread {t} record {i}"
        );
        per_thread[t] += 1;
    }
    assert_eq!(per_thread, [300; 4]);
    wal.close().unwrap();
}

/// Issue 14, item 5: in direct mode new segments are made by a linked chain on the
/// writer's ring (zeros through `O_DIRECT`, fsync, rename, directory fsync), unless
/// `prepare_on_ring(false)` keeps them on the preparer's thread; either way the log
/// rotates through them and reads back whole after a reopen, with no temporary file
/// left behind.
#[test]
fn new_segments_are_made_on_the_ring_or_the_thread_as_asked() {
    const RECORDS: u64 = 3000;
    if !uring() {
        return;
    }
    for on_ring in [true, false] {
        let log = temp_log();
        let options = options().prepare_on_ring(on_ring);
        let wal = Wal::open(&log.dir, options.clone()).unwrap();
        for lsn in 1..=RECORDS {
            wal.append(&payload(lsn)).unwrap();
            if lsn % 50 == 0 {
                wal.sync().unwrap();
            }
        }
        let stats = wal.stats();
        assert!(stats.direct_io, "direct mode did not run: {stats:?}");
        assert!(stats.rotations >= 4, "{stats:?}");
        if on_ring && !kernel_renames_on_ring() {
            skip(
                "new segments made on the ring: this kernel's io_uring has no RENAMEAT (Linux 5.11)",
            );
        } else if on_ring {
            // The segment made at open and the one after each rotation but the last.
            assert!(
                stats.segments_created_on_ring >= stats.rotations,
                "{stats:?}"
            );
        } else {
            assert_eq!(stats.segments_created_on_ring, 0, "{stats:?}");
        }
        wal.close().unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(&log.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        check(&log.dir, options, RECORDS);
    }
}

/// Issue 14, item 1: direct commits go out with `WRITE_FIXED` from aligned buffers
/// registered with the ring, also as commits change size (a spare too small is freed
/// and its slot reused: with depth 1 the table has two slots and this run makes at
/// least three buffers); where the kernel refuses the registration (RLIMIT_MEMLOCK,
/// injected here) they go out as plain writes. Either way the log reads back whole.
#[test]
fn direct_commits_write_from_registered_buffers_or_plain_when_refused() {
    if !uring() {
        return;
    }
    let opts = || {
        Options::default()
            .driver(Driver::IoUring)
            .segment_bytes(1 << 20)
            .record_bytes_max(8 << 10)
            .staging_bytes_max(256 << 10)
            // Depth 1: one live copy, two slots; three sizes reuse the slots.
            .direct_depth(1)
    };
    for refuse in [false, true] {
        let plan = ringwal::testing::FaultPlan {
            refuse_buffer_registration: refuse,
            ..Default::default()
        };
        let log = temp_log();
        let wal = Wal::open(&log.dir, opts().inject_faults(plan)).unwrap();
        let mut lsn = 0u64;
        // Small commits, then 12- and 25-record batches of 8 KiB records (~100 KiB and
        // ~200 KiB commits), then small ones again, over several segments.
        for round in 0..6u64 {
            for batch in [1u64, 12, 1, 25, 1] {
                let records: Vec<Vec<u8>> = (0..batch)
                    .map(|i| {
                        vec![(round * 31 + batch + i) as u8; if batch == 1 { 300 } else { 8000 }]
                    })
                    .collect();
                let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
                let lsns = wal.append_batch(&refs).unwrap();
                wal.wait_durable(*lsns.end()).unwrap();
                lsn += batch;
                assert_eq!(*lsns.end(), Lsn::from(lsn));
            }
        }
        let stats = wal.stats();
        assert!(stats.direct_io, "{stats:?}");
        assert!(stats.direct_writes >= 30, "{stats:?}");
        if refuse {
            assert_eq!(stats.fixed_writes, 0, "registration refused: {stats:?}");
        } else if !crate::common::memlock_unconstrained() {
            assert!(stats.fixed_writes <= stats.direct_writes, "{stats:?}");
            skip(
                "direct_commits_write_from_registered_buffers: RLIMIT_MEMLOCK applies (no \
                 CAP_IPC_LOCK), shared with the other tests, so registration may be refused",
            );
        } else {
            assert_eq!(
                stats.fixed_writes, stats.direct_writes,
                "every direct write from a registered buffer: {stats:?}"
            );
        }
        wal.close().unwrap();
        let wal = Wal::open(&log.dir, opts()).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::from(lsn));
        let mut n = 0u64;
        for record in wal.read_from(Lsn::from(1u64)).unwrap() {
            let record = record.unwrap();
            n += 1;
            assert_eq!(record.lsn().get(), n);
        }
        assert_eq!(n, lsn);
        wal.close().unwrap();
    }
}
