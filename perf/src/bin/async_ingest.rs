//! Async durable ingest (issue 13): does awaiting durability cost more than blocking?
//!
//! Per driver, interleaved round by round (A B C A B C …, medians reported):
//! * `threads`: T OS threads, each `append` + `wait_durable` of a 256 B record;
//! * `tasks`: T tokio tasks on a 2-worker runtime, each `append_async` + `durable().await`;
//! * `tasks-many`: the same with 1,000 tasks (more records per commit);
//! * `tail lag`: during a `threads` run, a follower (`Wal::tail`) timestamps each
//!   record it receives; lag = receive time − the appender's acknowledgement time, as
//!   a median, beside the median commit (sync) time of the same run.
//!
//! Ratios: tasks / threads of the same round; the raw serial pwrite + fdatasync rate of
//! the same round is printed as the reference.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use ringwal::{Driver, Durability, Lsn, Wal};
use ringwal_perf::{BoxError, bench_options, io_uring_available, raw_baseline};

#[derive(Parser, Debug)]
#[command(about = "Async vs blocking durable ingest, and tail lag")]
struct Args {
    #[arg(long, default_value = "ringwal-async-bench")]
    dir: PathBuf,
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Concurrent appenders (threads, and tasks in the `tasks` cell).
    #[arg(long, default_value_t = 16)]
    appenders: usize,
    /// Tasks in the `tasks-many` cell.
    #[arg(long, default_value_t = 1000)]
    many: usize,
    #[arg(long, default_value_t = 256)]
    record_bytes: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn open(dir: &Path, driver: Driver) -> Result<Arc<Wal>, BoxError> {
    let _ = std::fs::remove_dir_all(dir);
    let wal = Wal::open(dir, bench_options(driver, Durability::Fsync))?;
    for _ in 0..100 {
        wal.append_durable(b"warm-up")?;
    }
    Ok(Arc::new(wal))
}

/// T threads appending and blocking; returns records/s and, with `lag`, the tail
/// lag median (µs) and the run's median commit time (µs).
fn threads(
    dir: &Path,
    driver: Driver,
    t: usize,
    bytes: usize,
    run_for: Duration,
    lag: bool,
) -> Result<(f64, Option<(f64, f64)>), BoxError> {
    let wal = open(dir, driver)?;
    let stop = Arc::new(AtomicBool::new(false));
    // Acknowledgement times by LSN (ns since `t0`), for the follower's lag.
    const SLOTS: usize = 1 << 22;
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let t0 = Instant::now();
    let follower = lag
        .then(|| -> Result<_, BoxError> {
            let mut tail = wal.tail(wal.last_lsn().next())?;
            let acked = Arc::clone(&acked);
            let stop = Arc::clone(&stop);
            Ok(std::thread::spawn(move || {
                let mut lags = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let Ok(Some(r)) = tail.next_timeout(Duration::from_millis(50)) else {
                        continue;
                    };
                    let got = t0.elapsed().as_nanos() as i64;
                    let slot = acked.get(r.lsn().get() as usize % SLOTS);
                    // The appender may not have stamped its ack yet: count that as 0.
                    let at = slot.map_or(0, |s| s.load(Ordering::Acquire)) as i64;
                    lags.push(if at == 0 {
                        0.0
                    } else {
                        (got - at) as f64 / 1e3
                    });
                }
                lags
            }))
        })
        .transpose()?;
    let before = wal.stats().appends;
    let start = Instant::now();
    let handles: Vec<_> = (0..t)
        .map(|_| {
            let wal = Arc::clone(&wal);
            let stop = Arc::clone(&stop);
            let acked = Arc::clone(&acked);
            std::thread::spawn(move || -> Result<(), ringwal::Error> {
                let payload = vec![7u8; bytes];
                while !stop.load(Ordering::Relaxed) {
                    let lsn = wal.append(&payload)?;
                    wal.wait_durable(lsn)?;
                    if let Some(slot) = acked.get(lsn.get() as usize % SLOTS) {
                        slot.store(t0.elapsed().as_nanos() as u64, Ordering::Release);
                    }
                }
                Ok(())
            })
        })
        .collect();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().map_err(|_| "appender panicked")??;
    }
    let rate = (wal.stats().appends - before) as f64 / start.elapsed().as_secs_f64();
    let lag = match follower {
        Some(f) => {
            let lags = f.join().map_err(|_| "follower panicked")?;
            let commit = wal.stats().sync_latency_us.p50 as f64;
            Some((median(lags), commit))
        }
        None => None,
    };
    wal.close()?;
    Ok((rate, lag))
}

/// T tokio tasks on 2 workers appending and awaiting; records/s.
fn tasks(
    dir: &Path,
    driver: Driver,
    t: usize,
    bytes: usize,
    run_for: Duration,
) -> Result<f64, BoxError> {
    let wal = open(dir, driver)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let stop = Arc::new(AtomicBool::new(false));
    let before = wal.stats().appends;
    let start = Instant::now();
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..t {
            let wal = Arc::clone(&wal);
            let stop = Arc::clone(&stop);
            set.spawn(async move {
                let payload = vec![7u8; bytes];
                while !stop.load(Ordering::Relaxed) {
                    let lsn: Lsn = wal.append_async(&payload).await?;
                    wal.durable(lsn).await?;
                }
                Ok::<(), ringwal::Error>(())
            });
        }
        tokio::time::sleep(run_for).await;
        stop.store(true, Ordering::Relaxed);
        while let Some(done) = set.join_next().await {
            done??;
        }
        Ok::<(), BoxError>(())
    })?;
    let rate = (wal.stats().appends - before) as f64 / start.elapsed().as_secs_f64();
    wal.close()?;
    Ok(rate)
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let run_for = Duration::from_secs_f64(args.seconds);
    let mut drivers = vec![Driver::Portable];
    match io_uring_available(&args.dir) {
        Ok(()) => drivers.push(Driver::IoUring),
        Err(why) => println!("io_uring skipped: {why}"),
    }
    let log = args.dir.join("log");
    println!(
        "| driver | round | raw serial /s | {t} threads /s | {t} tasks /s | {m} tasks /s | tasks/threads | many/threads | tail lag p50 µs | commit p50 µs |",
        t = args.appenders,
        m = args.many
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut ratios: Vec<(Driver, f64, f64, f64, f64)> = Vec::new();
    for round in 1..=args.rounds {
        for &driver in &drivers {
            let raw = raw_baseline(&args.dir, args.record_bytes, 1, run_for, true)?.records_per_s();
            let (th, lag) = threads(
                &log,
                driver,
                args.appenders,
                args.record_bytes,
                run_for,
                true,
            )?;
            let ta = tasks(&log, driver, args.appenders, args.record_bytes, run_for)?;
            let many = tasks(&log, driver, args.many, args.record_bytes, run_for)?;
            let (lag_us, commit_us) = lag.unwrap_or((0.0, 0.0));
            println!(
                "| {driver:?} | {round} | {raw:.0} | {th:.0} | {ta:.0} | {many:.0} | {:.2} | {:.2} | {lag_us:.0} | {commit_us:.0} |",
                ta / th,
                many / th
            );
            ratios.push((driver, ta / th, many / th, lag_us, commit_us));
        }
    }
    for &driver in &drivers {
        let of = |f: fn(&(Driver, f64, f64, f64, f64)) -> f64| {
            median(ratios.iter().filter(|r| r.0 == driver).map(f).collect())
        };
        println!(
            "{driver:?} medians: tasks/threads {:.2} (target >= 0.9), {} tasks/threads {:.2} (target >= 1.5), tail lag p50 {:.0} µs vs commit p50 {:.0} µs",
            of(|r| r.1),
            args.many,
            of(|r| r.2),
            of(|r| r.3),
            of(|r| r.4)
        );
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    Ok(())
}
