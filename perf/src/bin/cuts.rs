//! How long does `Wal::truncate_from` take when it cuts a few records off the end of
//! the active segment?
//!
//! A consensus follower cuts its log whenever a new leader's entries conflict with its
//! uncommitted suffix, so a cut sits on the replication path. Each case opens a fresh
//! log with the harness's options (64 MiB segments, `Durability::Fsync`), fills four
//! segments with 4 KB records, checkpoints them, and rotates twice more: with
//! `recycle` the active segment is then a reused file full of its earlier life, without
//! it a new zero-filled one. Then, `--cuts` times: 100 durable appends and a cut of the
//! last 50, timed. Cases run interleaved (A B C D A B C D ...) for `--rounds` rounds,
//! since the disk here drifts by up to 2x between minutes.

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use ringwal::{Driver, Durability, Lsn, Wal};

#[derive(Debug, Parser)]
#[command(
    about = "Time truncate_from of a few records in a fresh and in a recycled active segment"
)]
struct Args {
    /// Directory for the logs (created, and removed afterwards).
    #[arg(long, default_value = "./cuts-bench-data")]
    dir: PathBuf,
    /// Interleaved rounds over every case.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Cuts timed per case per round.
    #[arg(long, default_value_t = 5)]
    cuts: usize,
    /// MiB of records in the active segment before the first cut: a cut deep in a
    /// segment is what a follower meets.
    #[arg(long, default_value_t = 32)]
    fill_mib: u64,
}

/// Times `cuts` cuts in a log whose active segment is recycled (or not); returns the
/// cut times in ms and how many segments were made from recycled files.
fn run(args: &Args, driver: Driver, recycle: bool) -> Result<(Vec<f64>, u64), Box<dyn Error>> {
    let dir = args.dir.join("log");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    let options = ringwal_perf::bench_options(driver, Durability::Fsync)
        .recycle_segments(if recycle { 4 } else { 0 });
    let wal = Wal::open(&dir, options)?;
    let payload = vec![7u8; 4000];
    let batch: Vec<&[u8]> = (0..250).map(|_| &payload[..]).collect();
    let fill = |rotations: u64| -> Result<(), Box<dyn Error>> {
        while wal.stats().rotations < rotations {
            let lsns = wal.append_batch(&batch)?;
            wal.wait_durable(*lsns.end())?;
        }
        Ok(())
    };
    fill(4)?;
    wal.checkpoint(wal.sync()?)?;
    fill(wal.stats().rotations + 2)?;
    let rotations = wal.stats().rotations;
    for _ in 0..args.fill_mib * (1 << 20) / (250 * 4000) {
        let lsns = wal.append_batch(&batch)?;
        wal.wait_durable(*lsns.end())?;
    }
    if wal.stats().rotations != rotations {
        return Err("--fill-mib is more than the 64 MiB segment holds".into());
    }
    let mut times = Vec::with_capacity(args.cuts);
    for _ in 0..args.cuts {
        let mut last = Lsn::from(1);
        for _ in 0..100 {
            last = wal.append_durable(&payload)?;
        }
        let started = Instant::now();
        wal.truncate_from(Lsn::from(last.get() - 50))?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let recycled = wal.stats().segments_recycled;
    wal.close()?;
    std::fs::remove_dir_all(&dir)?;
    Ok((times, recycled))
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let mut drivers = vec![Driver::Portable];
    match ringwal_perf::io_uring_available(&args.dir) {
        Ok(()) => drivers.insert(0, Driver::IoUring),
        Err(why) => println!("io_uring driver not measured: {why}"),
    }
    let cases: Vec<(Driver, bool)> = drivers
        .iter()
        .flat_map(|&d| [(d, false), (d, true)])
        .collect();
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 1..=args.rounds {
        for (&(driver, recycle), cut_times) in cases.iter().zip(all.iter_mut()) {
            let (times, recycled) = run(&args, driver, recycle)?;
            let shown: Vec<String> = times.iter().map(|t| format!("{t:.1}")).collect();
            println!(
                "round {round} {driver:?} {:<8} ({recycled} segments recycled): cut ms {}",
                if recycle { "recycled" } else { "fresh" },
                shown.join(" ")
            );
            cut_times.extend(times);
        }
    }
    println!("median cut, ms:");
    for ((driver, recycle), times) in cases.iter().zip(&mut all) {
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
        let max = times.last().copied().unwrap_or(f64::NAN);
        println!(
            "  {driver:?} {:<8} median {median:.1}  max {max:.1}  ({} cuts)",
            if *recycle { "recycled" } else { "fresh" },
            times.len()
        );
    }
    let _ = std::fs::remove_dir(&args.dir);
    Ok(())
}
