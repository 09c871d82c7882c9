//! Issue 11, item 1, as a rule: every combination of options that `Options::validate`
//! accepts works on both drivers. A property test draws options (segment size from the
//! minimum up, staging size, chains in flight, ring size, record limit, durability,
//! preallocation, archiving) and a workload (appends, batches of every size up to what a
//! segment holds, syncs, checkpoints), runs it on each driver, and checks that nothing
//! poisons, that a call is refused only for an argument it must refuse, and that every
//! record reads back after a reopen.
//!
//! `PROPTEST_CASES` sets the number of cases (default 24; each runs on both drivers).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use ringwal::{Driver, Durability, Error, Options, Preallocate, Wal};

use crate::common::{drivers, temp_log};

/// Framed bytes of a payload (the format's frame header, 8-byte alignment).
fn framed(len: u64) -> u64 {
    (ringwal::limits::FRAME_HEADER_BYTES + len).div_ceil(8) * 8
}

const HEADER: u64 = 4096;

#[derive(Debug, Clone)]
enum Step {
    Append(u64),
    /// Count, and a length for each record (as a fraction of the record limit).
    Batch(u64, u64),
    Sync,
    /// Checkpoint at this fraction (per mille) of the last LSN.
    Checkpoint(u64),
}

fn options() -> impl Strategy<Value = Options> {
    (
        (
            prop_oneof![Just(8192u64), 8192u64..20_000, 20_000u64..(2 << 20)],
            prop_oneof![Just(4096u64), 4096u64..65_536, 65_536u64..(8 << 20)],
            prop_oneof![Just(1u32), 1u32..=8, 9u32..=64],
            (0u32..=12).prop_map(|p| 1u32 << p),
            1u64..=1000,
        ),
        (
            prop_oneof![
                Just(Durability::Fsync),
                Just(Durability::Flush),
                (1u64..20).prop_map(|ms| Durability::Periodic(Duration::from_millis(ms))),
            ],
            prop_oneof![
                Just(Preallocate::Zeroed),
                Just(Preallocate::Fallocate),
                Just(Preallocate::Grow)
            ],
            any::<bool>(),
            1u64..4,
        ),
    )
        .prop_map(
            |((segment, staging, chains, ring, record_permille), rest)| {
                let (durability, preallocate, archive, archive_max) = rest;
                // The record limit as a share of what a segment and a staging buffer
                // can hold, so most drawn options pass validation; some do not, and
                // those are skipped below (validation refusing them is its own test).
                let room = segment
                    .min(staging)
                    .saturating_sub(HEADER + ringwal::limits::FRAME_HEADER_BYTES)
                    .max(1);
                let record_max = (room * record_permille / 1000).max(1);
                Options::default()
                    .segment_bytes(segment)
                    .staging_bytes_max(staging)
                    .chains_in_flight_max(chains)
                    // The same draw for direct mode (io_uring, Fsync, Zeroed): several
                    // commits in flight, with padding between them.
                    .direct_depth(chains)
                    .ring_entries(ring)
                    .record_bytes_max(record_max)
                    .durability(durability)
                    .preallocate(preallocate)
                    .archive(archive)
                    .archive_segments_max(archive_max)
            },
        )
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            4 => (0u64..=1000).prop_map(Step::Append),
            3 => (1u64..=80, 0u64..=1000).prop_map(|(n, l)| Step::Batch(n, l)),
            1 => Just(Step::Sync),
            1 => (0u64..=1000).prop_map(Step::Checkpoint),
        ],
        1..60,
    )
}

/// The payload of `lsn`, `len` bytes long.
fn payload(lsn: u64, len: u64) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i ^ lsn) as u8).collect();
    for (dst, src) in p.iter_mut().zip(lsn.to_le_bytes()) {
        *dst = src;
    }
    p
}

/// Record lengths drawn up to the limit, most of them small so a case stays quick.
fn length(record_max: u64, permille: u64) -> u64 {
    match permille {
        1000 => record_max,
        p if p > 950 => record_max * p / 1000,
        p => (record_max * p / 1000).min(4096),
    }
}

/// Runs `steps` and returns every (LSN, payload) appended and the checkpoint.
fn run(wal: &Wal, opts: &Options, steps: &[Step]) -> Result<(Vec<Vec<u8>>, u64), String> {
    let record_max = opts.get_record_bytes_max();
    let segment = opts.get_segment_bytes();
    let staging = opts.get_staging_bytes_max();
    let mut appended: Vec<Vec<u8>> = Vec::new();
    let mut checkpoint = 0;
    for step in steps {
        let next = appended.len() as u64 + 1;
        match *step {
            Step::Append(p) => {
                let p = payload(next, length(record_max, p));
                let lsn = wal.append(&p).map_err(|e| format!("append: {e}"))?;
                if lsn.get() != next {
                    return Err(format!("append got LSN {lsn}, expected {next}"));
                }
                appended.push(p);
            }
            Step::Batch(count, p) => {
                let len = length(record_max, p);
                let batch: Vec<Vec<u8>> = (0..count).map(|i| payload(next + i, len)).collect();
                let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
                let frames = count * framed(len);
                let fits = frames + HEADER <= segment && frames + HEADER <= staging;
                match wal.append_batch(&refs) {
                    Ok(range) if fits && range.start().get() == next => appended.extend(batch),
                    Err(Error::InvalidArgument { .. }) if !fits => {}
                    other => {
                        return Err(format!(
                            "batch of {count} x {len} bytes (fits: {fits}): {other:?}"
                        ));
                    }
                }
            }
            Step::Sync => {
                let lsn = wal.sync().map_err(|e| format!("sync: {e}"))?;
                if lsn.get() != appended.len() as u64 {
                    return Err(format!("sync returned {lsn}, appended {}", appended.len()));
                }
            }
            Step::Checkpoint(permille) => {
                let at = (appended.len() as u64 * permille / 1000).max(checkpoint);
                if at > 0 {
                    wal.checkpoint(at.into())
                        .map_err(|e| format!("checkpoint {at}: {e}"))?;
                    checkpoint = at;
                }
            }
        }
    }
    Ok((appended, checkpoint))
}

fn check_case(driver: Driver, opts: Options, steps: &[Step]) -> Result<(), String> {
    let opts = opts.driver(driver);
    let log = temp_log();
    let wal = Wal::open(&log.dir, opts.clone()).map_err(|e| format!("open: {e}"))?;
    let (appended, checkpoint) = run(&wal, &opts, steps)?;
    wal.close().map_err(|e| format!("close: {e}"))?;
    let wal = Wal::open(&log.dir, opts).map_err(|e| format!("reopen: {e}"))?;
    let mut next = checkpoint + 1;
    let reader = wal
        .read_from(next.into())
        .map_err(|e| format!("read_from {next}: {e}"))?;
    for record in reader {
        let record = record.map_err(|e| format!("read at {next}: {e}"))?;
        let want = appended.get(next as usize - 1);
        if record.lsn().get() != next || Some(&record.payload().to_vec()) != want {
            return Err(format!(
                "record {} is not the one appended as {next}",
                record.lsn()
            ));
        }
        next += 1;
    }
    if next - 1 != appended.len() as u64 {
        return Err(format!(
            "read back to {}, appended {}",
            next - 1,
            appended.len()
        ));
    }
    wal.close().map_err(|e| format!("close after reopen: {e}"))
}

#[test]
fn every_accepted_option_combination_works_on_every_driver() {
    let drivers = drivers();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        max_global_rejects: 100_000,
        ..Config::default()
    });
    let accepted = std::sync::atomic::AtomicU64::new(0);
    runner
        .run(&(options(), steps()), |(opts, steps)| {
            prop_assume!(opts.validate().is_ok());
            accepted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            for &driver in &drivers {
                if let Err(why) = check_case(driver, opts.clone(), &steps) {
                    return Err(TestCaseError::fail(format!("{driver:?}: {why}")));
                }
            }
            Ok(())
        })
        .unwrap();
    assert!(
        accepted.into_inner() >= u64::from(cases),
        "too few accepted cases ran"
    );
}
