//! What does padding cost in space, and what does depth buy, by record size?
//!
//! In io_uring direct mode (`Options::direct_depth` > 1) a commit staged while another
//! is being written starts at the next 4 KiB block, so two writes in flight never share
//! a block; the bytes skipped are padding (docs/FORMAT.md, "Padding"). This runs T
//! threads of `append_durable` with records of each size at each depth, interleaved
//! (depths within a round, as the disk drifts), and prints per cell: records/s, records
//! per commit, the most commits seen in flight, padding bytes per record, and the space
//! amplification — segment bytes used (frames, headers and padding) per payload
//! byte — with the share of them that is padding.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ringwal::{Driver, Durability, Wal};

#[derive(Debug, Parser)]
#[command(
    about = "Padding and space amplification of io_uring direct mode by record size and depth"
)]
struct Args {
    /// Directory for the logs (created, and removed afterwards).
    #[arg(long, default_value = "./padding-bench-data")]
    dir: PathBuf,
    /// Seconds per cell.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Interleaved rounds.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Appending threads (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [16usize, 64])]
    threads: Vec<usize>,
    /// Record sizes in bytes (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 256, 4096])]
    sizes: Vec<usize>,
    /// Direct commits in flight (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1u32, 2, 4, 8])]
    depths: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    records_per_s: f64,
    records_per_commit: f64,
    in_flight_peak: u64,
    padding_per_record: f64,
    amplification: f64,
    padding_share: f64,
}

fn run(
    dir: &Path,
    threads: usize,
    size: usize,
    depth: u32,
    secs: f64,
) -> Result<Cell, Box<dyn Error>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let options =
        ringwal_perf::bench_options(Driver::IoUring, Durability::Fsync).direct_depth(depth);
    let wal = Arc::new(Wal::open(dir, options)?);
    if !wal.stats().direct_io {
        return Err("direct mode does not run here (see the tracing warning)".into());
    }
    // Warm up: the first segment's blocks and the writer.
    for _ in 0..100 {
        wal.append_durable(&vec![1u8; size])?;
    }
    let before = wal.stats();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let wal = Arc::clone(&wal);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || -> ringwal::Result<()> {
                let record = vec![t as u8; size];
                while !stop.load(Ordering::Relaxed) {
                    wal.append_durable(&record)?;
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().map_err(|_| "an appender panicked")??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = wal.stats();
    let records = (after.appends - before.appends) as f64;
    let payload = (after.append_bytes - before.append_bytes) as f64;
    let written = (after.bytes_written - before.bytes_written) as f64;
    let padding = (after.padding_bytes - before.padding_bytes) as f64;
    let commits = (after.flushes - before.flushes).max(1) as f64;
    let cell = Cell {
        records_per_s: records / elapsed,
        records_per_commit: records / commits,
        in_flight_peak: after.chains_in_flight_peak,
        padding_per_record: padding / records.max(1.0),
        // `bytes_written` counts frames and headers; padding is a gap the writer skips.
        amplification: (written + padding) / payload.max(1.0),
        padding_share: padding / (written + padding).max(1.0),
    };
    Arc::into_inner(wal)
        .ok_or("the log is still shared")?
        .close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(cell)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    ringwal_perf::io_uring_available(&args.dir)?;
    let dir = args.dir.join("log");
    let mut cells: Vec<((usize, usize, u32), Vec<Cell>)> = Vec::new();
    for &t in &args.threads {
        for &s in &args.sizes {
            for &d in &args.depths {
                cells.push(((t, s, d), Vec::new()));
            }
        }
    }
    for round in 1..=args.rounds {
        for ((t, s, d), results) in &mut cells {
            eprintln!(
                "round {round}/{}: {t} threads, {s} B, depth {d}",
                args.rounds
            );
            results.push(run(&dir, *t, *s, *d, args.seconds)?);
        }
    }
    std::fs::remove_dir_all(&args.dir).ok();
    println!(
        "{} s per cell, {} round(s), medians; io_uring direct mode, Durability::Fsync, 64 MiB segments",
        args.seconds, args.rounds
    );
    println!(
        "| threads | record B | depth | records/s (each round) | records/commit | peak in flight | padding B/record | space amplification | padding share |"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|---:|---:|");
    for ((t, s, d), results) in &cells {
        let rates: Vec<f64> = results.iter().map(|c| c.records_per_s).collect();
        let m = |f: fn(&Cell) -> f64| ringwal_perf::median(results.iter().map(f).collect());
        println!(
            "| {t} | {s} | {d} | {} | {:.1} | {} | {:.0} | {:.2}× | {:.0} % |",
            ringwal_perf::joined(&rates, 0),
            m(|c| c.records_per_commit),
            results.iter().map(|c| c.in_flight_peak).max().unwrap_or(0),
            m(|c| c.padding_per_record),
            m(|c| c.amplification),
            100.0 * m(|c| c.padding_share),
        );
    }
    Ok(())
}
