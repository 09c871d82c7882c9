//! Bulk durable ingest from one caller that keeps batches in flight.
//!
//! The harness's W3 is one caller that appends a batch and waits for it before the next
//! one, so its encoding never overlaps a sync and at most one commit is ever in flight.
//! A bulk loader need not wait like that: it can append batch N+1 (and more) before it
//! waits for batch N. This runs one caller appending batches of `--batch` records of
//! `--record-bytes` and waiting only for the batch `--ahead` batches behind, for each
//! (driver, `direct_depth`, ahead) case, interleaved with the raw references in every
//! round: `pwrite` + `fdatasync` of one batch's bytes per sync, and the io_uring
//! O_DIRECT + `RWF_DSYNC` loop with 1 and 4 such writes in flight.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use ringwal::{Driver, Durability, Wal};
use ringwal_perf::{BoxError, Until};

#[derive(Debug, Parser)]
#[command(about = "Bulk durable ingest from one caller keeping batches in flight")]
struct Args {
    /// Directory for the logs and raw files (created, and removed afterwards).
    #[arg(long, default_value = "./bulk-bench-data")]
    dir: PathBuf,
    /// Seconds per cell.
    #[arg(long, default_value_t = 1.5)]
    seconds: f64,
    /// Interleaved rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Records per batch.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 128)]
    record_bytes: usize,
}

struct Case {
    driver: Driver,
    depth: u32,
    ahead: usize,
}

struct Run {
    records_per_s: f64,
    records_per_commit: f64,
    in_flight_peak: u64,
    padding_per_record: f64,
}

fn ingest(dir: &Path, case: &Case, args: &Args) -> Result<Run, BoxError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let options =
        ringwal_perf::bench_options(case.driver, Durability::Fsync).direct_depth(case.depth);
    let wal = Wal::open(dir, options)?;
    // As the harness does: the first segment's blocks and the writer warmed up.
    for _ in 0..100 {
        wal.append_durable(&[0u8; 64])?;
    }
    let record = vec![0xA5u8; args.record_bytes];
    let batch: Vec<&[u8]> = (0..args.batch).map(|_| record.as_slice()).collect();
    let before = wal.stats();
    let mut pending = VecDeque::new();
    let mut durable = 0u64;
    let run_for = Duration::from_secs_f64(args.seconds);
    let started = Instant::now();
    while started.elapsed() < run_for {
        let lsns = wal.append_batch(&batch)?;
        pending.push_back(*lsns.end());
        while pending.len() > case.ahead {
            if let Some(last) = pending.pop_front() {
                wal.wait_durable(last)?;
                durable += args.batch as u64;
            }
        }
    }
    while let Some(last) = pending.pop_front() {
        wal.wait_durable(last)?;
        durable += args.batch as u64;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = wal.stats();
    let records = (after.appends - before.appends) as f64;
    let run = Run {
        records_per_s: durable as f64 / elapsed,
        records_per_commit: records / (after.flushes - before.flushes).max(1) as f64,
        in_flight_peak: after.chains_in_flight_peak,
        padding_per_record: (after.padding_bytes - before.padding_bytes) as f64 / records.max(1.0),
    };
    wal.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(run)
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let uring = ringwal_perf::io_uring_available(&args.dir).is_ok();
    let mut cases = Vec::new();
    if uring {
        for (depth, ahead) in [(1, 0), (1, 1), (2, 1), (4, 3)] {
            cases.push(Case {
                driver: Driver::IoUring,
                depth,
                ahead,
            });
        }
    }
    for ahead in [0, 1] {
        cases.push(Case {
            driver: Driver::Portable,
            depth: 1,
            ahead,
        });
    }
    #[cfg(target_os = "linux")]
    let direct_refs: Vec<usize> =
        if uring && ringwal_perf::direct::direct_available(&args.dir.join("probe")).is_ok() {
            vec![1, 4]
        } else {
            Vec::new()
        };
    #[cfg(not(target_os = "linux"))]
    let direct_refs: Vec<usize> = Vec::new();
    let until = Until::Elapsed(Duration::from_secs_f64(args.seconds));
    let raw_dir = args.dir.join("raw");
    let log = args.dir.join("log");
    let mut raw = Vec::new();
    let mut direct: Vec<Vec<f64>> = vec![Vec::new(); direct_refs.len()];
    let mut runs: Vec<Vec<Run>> = cases.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds {
        eprintln!("round {round}/{}", args.rounds);
        raw.push(
            ringwal_perf::raw_baseline_until(&raw_dir, args.record_bytes, args.batch, until, true)?
                .records_per_s(),
        );
        #[cfg(target_os = "linux")]
        for (depth, out) in direct_refs.iter().zip(direct.iter_mut()) {
            let m = ringwal_perf::direct::raw_uring_direct_loop(
                &raw_dir,
                args.record_bytes,
                args.batch,
                *depth,
                until,
            )?;
            out.push(m.records_per_s());
        }
        for (case, out) in cases.iter().zip(runs.iter_mut()) {
            out.push(ingest(&log, case, &args)?);
        }
    }
    std::fs::remove_dir_all(&args.dir).ok();
    let fmt = |v: &[f64]| ringwal_perf::joined(v, 0);
    let ratios = |v: &[f64]| ringwal_perf::joined_ratios(v, &raw);
    println!(
        "one caller, batches of {} × {} B, {} s per cell, {} rounds; ratio to raw pwrite + fdatasync of one batch per sync, same round",
        args.batch, args.record_bytes, args.seconds, args.rounds
    );
    println!(
        "| system | direct_depth | batches ahead | records/s | ratio to raw | records/commit | peak in flight | padding B/record |"
    );
    println!("|---|---:|---:|---|---|---:|---:|---:|");
    println!(
        "| raw pwrite + fdatasync | | | {} | 1.00 | | | |",
        fmt(&raw)
    );
    for (depth, rates) in direct_refs.iter().zip(&direct) {
        println!(
            "| raw io_uring O_DIRECT + RWF_DSYNC | {depth} | | {} | {} | | | |",
            fmt(rates),
            ratios(rates)
        );
    }
    for (case, rs) in cases.iter().zip(&runs) {
        let rates: Vec<f64> = rs.iter().map(|r| r.records_per_s).collect();
        let depth = if case.driver == Driver::IoUring {
            case.depth.to_string()
        } else {
            "—".to_string()
        };
        println!(
            "| ringwal {:?} | {depth} | {} | {} | {} | {:.0} | {} | {:.1} |",
            case.driver,
            case.ahead,
            fmt(&rates),
            ratios(&rates),
            ringwal_perf::median(rs.iter().map(|r| r.records_per_commit).collect()),
            rs.iter().map(|r| r.in_flight_peak).max().unwrap_or(0),
            ringwal_perf::median(rs.iter().map(|r| r.padding_per_record).collect()),
        );
    }
    Ok(())
}
