//! Serial durable appends with the appending thread pinned to each CPU in turn (and
//! not pinned), for both drivers, interleaved with the raw `pwrite` + `fdatasync`
//! loop.
//!
//! Why: on the project's 2-vCPU VM every disk interrupt lands on one CPU
//! (`/proc/interrupts`, `virtio1-req.0`), and the work that completes a sync runs
//! there: the interrupt itself, the direct-I/O completion worker (a per-CPU
//! workqueue, so bound to that CPU), and often the woken writer. An appender whose
//! wait spins on that CPU without yielding holds that work up; on 2026-12-02 serial
//! appends ran at 0.48–0.67× raw with the appender on the interrupt's CPU and
//! 0.93–1.34× on the other, on both drivers, which is where serial io_uring's
//! "erratic" runs came from (the scheduler places a new appender on either CPU). The
//! log's own threads are not pinned (the log is opened before the appender pins itself).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use ringwal::{Driver, Durability, Wal};

#[derive(Debug, Parser)]
#[command(about = "Serial durable appends with the appender pinned to each CPU, both drivers")]
struct Args {
    /// Directory for the log and the raw file (created, and removed afterwards).
    #[arg(long, default_value = "./pinned-bench-data")]
    dir: PathBuf,
    /// Seconds per cell.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Interleaved rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

#[cfg(target_os = "linux")]
fn pin(cpu: usize) -> Result<(), String> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it, and
    // sched_setaffinity reads exactly its size.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "sched_setaffinity to CPU {cpu}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: usize) -> Result<(), String> {
    Err("pinning is only done on Linux".into())
}

/// Serial 256 B `append_durable` for `secs` from a thread pinned to `cpu` (or not).
fn ringwal_serial(
    dir: &Path,
    driver: Driver,
    cpu: Option<usize>,
    secs: f64,
) -> Result<f64, ringwal_perf::BoxError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let wal = Wal::open(dir, ringwal_perf::bench_options(driver, Durability::Fsync))?;
    let appender = std::thread::spawn(move || -> Result<(Wal, f64), String> {
        if let Some(cpu) = cpu {
            pin(cpu)?;
        }
        let record = [7u8; 256];
        for _ in 0..200 {
            wal.append_durable(&record).map_err(|e| e.to_string())?;
        }
        let started = Instant::now();
        let mut n = 0u64;
        while started.elapsed() < Duration::from_secs_f64(secs) {
            wal.append_durable(&record).map_err(|e| e.to_string())?;
            n += 1;
        }
        Ok((wal, n as f64 / started.elapsed().as_secs_f64()))
    });
    let (wal, rate) = appender.join().map_err(|_| "the appender panicked")??;
    wal.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(rate)
}

fn main() -> Result<(), ringwal_perf::BoxError> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let mut drivers = vec![Driver::Portable];
    if ringwal_perf::io_uring_available(&args.dir).is_ok() {
        drivers.insert(0, Driver::IoUring);
    }
    let placements: Vec<Option<usize>> = (0..cpus).map(Some).chain([None]).collect();
    let mut cases = Vec::new();
    for &driver in &drivers {
        for &cpu in &placements {
            cases.push((driver, cpu, Vec::new()));
        }
    }
    let mut raw = Vec::new();
    let log = args.dir.join("log");
    let raw_dir = args.dir.join("raw");
    for round in 1..=args.rounds {
        eprintln!("round {round}/{}", args.rounds);
        let duration = Duration::from_secs_f64(args.seconds);
        std::fs::create_dir_all(&raw_dir)?;
        raw.push(ringwal_perf::raw_baseline(&raw_dir, 256, 1, duration, true)?.records_per_s());
        std::fs::remove_dir_all(&raw_dir)?;
        for (driver, cpu, rates) in &mut cases {
            rates.push(ringwal_serial(&log, *driver, *cpu, args.seconds)?);
        }
    }
    std::fs::remove_dir_all(&args.dir).ok();
    let fmt = |v: &[f64]| ringwal_perf::joined(v, 0);
    println!(
        "serial durable 256 B appends, {} s per cell, {} rounds; ratio to raw in the same round",
        args.seconds, args.rounds
    );
    println!("| system | appender | records/s | ratio to raw |");
    println!("|---|---|---|---|");
    println!("| raw pwrite + fdatasync | — | {} | |", fmt(&raw));
    for (driver, cpu, rates) in &cases {
        let placed = cpu.map_or("not pinned".to_string(), |c| format!("CPU {c}"));
        println!(
            "| ringwal {driver:?} | {placed} | {} | {} |",
            fmt(rates),
            ringwal_perf::joined_ratios(rates, &raw)
        );
    }
    Ok(())
}
