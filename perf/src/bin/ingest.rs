//! The durable-ingest benchmark: the raw write+fdatasync baseline and ringwal on every
//! available driver, interleaved round by round, printed as a table with ratios to the
//! raw serial rate measured in the same run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use ringwal::{Driver, Durability};
use ringwal_perf::{
    BoxError, Measure, Summary, Workload, io_uring_available, raw_baseline, ringwal_run,
    table_bound_row, table_header, table_row,
};

#[derive(Parser, Debug)]
#[command(about = "Durable-ingest benchmark: ringwal drivers vs the raw write+fdatasync limit")]
struct Args {
    /// Directory for the benchmark files (removed afterwards).
    #[arg(long, default_value = "ringwal-bench-data")]
    dir: PathBuf,
    /// Seconds per cell per round.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Rounds (cells are interleaved A B C A B C ... to cancel the disk's drift).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 256)]
    record_bytes: usize,
    /// Threads for the concurrent workload.
    #[arg(long, default_value_t = 16)]
    threads: usize,
    /// Records per batch for the bulk workload.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Workloads to run (comma-separated): serial, concurrent, bulk.
    #[arg(long, value_delimiter = ',', default_value = "serial,concurrent,bulk")]
    workloads: Vec<String>,
    /// Systems to run (comma-separated): raw, raw-growing, portable, io_uring.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "raw,raw-growing,portable,io_uring"
    )]
    systems: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum System {
    Raw,
    RawGrowing,
    Ringwal(Driver),
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Raw => "raw pwrite+fdatasync (pre-zeroed)",
            System::RawGrowing => "raw pwrite+fdatasync (growing file)",
            System::Ringwal(Driver::IoUring) => "ringwal io_uring",
            System::Ringwal(_) => "ringwal portable",
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let run_for = Duration::from_secs_f64(args.seconds);
    let wanted = |name: &str| args.systems.iter().any(|s| s == name);
    let mut systems = Vec::new();
    for (name, system) in [
        ("raw", System::Raw),
        ("raw-growing", System::RawGrowing),
        ("portable", System::Ringwal(Driver::Portable)),
    ] {
        if wanted(name) {
            systems.push(system);
        }
    }
    if wanted("io_uring") {
        match io_uring_available(&args.dir) {
            Ok(()) => systems.push(System::Ringwal(Driver::IoUring)),
            Err(why) => println!("io_uring driver not measured: {why}"),
        }
    }
    let all_workloads = [
        (
            "serial durable",
            Workload {
                threads: 1,
                batch: 1,
                record_bytes: args.record_bytes,
                run_for,
            },
        ),
        (
            "concurrent durable",
            Workload {
                threads: args.threads,
                batch: 1,
                record_bytes: args.record_bytes,
                run_for,
            },
        ),
        (
            "bulk batches",
            Workload {
                threads: 1,
                batch: args.batch,
                record_bytes: args.record_bytes,
                run_for,
            },
        ),
    ];
    let workloads: Vec<_> = all_workloads
        .into_iter()
        .filter(|(name, _)| args.workloads.iter().any(|w| name.starts_with(w.as_str())))
        .collect();
    // results[workload][system] = one Measure per round
    let mut results: Vec<Vec<Vec<Measure>>> =
        vec![vec![Vec::new(); systems.len()]; workloads.len()];
    for round in 0..args.rounds {
        for (wi, (wname, w)) in workloads.iter().enumerate() {
            for (si, system) in systems.iter().enumerate() {
                let raw_like = matches!(system, System::Raw | System::RawGrowing);
                if raw_like && w.threads > 1 {
                    continue; // the raw loop is single-writer; its bound is threads x serial
                }
                eprintln!(
                    "round {} / {}: {wname} / {}",
                    round + 1,
                    args.rounds,
                    system.name()
                );
                let m = match system {
                    System::Raw => raw_baseline(&args.dir, w.record_bytes, w.batch, run_for, true)?,
                    System::RawGrowing => {
                        raw_baseline(&args.dir, w.record_bytes, w.batch, run_for, false)?
                    }
                    System::Ringwal(d) => {
                        ringwal_run(&args.dir.join("wal"), *d, Durability::Fsync, *w)?
                    }
                };
                if let Some(cell) = results.get_mut(wi).and_then(|r| r.get_mut(si)) {
                    cell.push(m);
                }
            }
        }
    }
    // The ratio's base: the raw pre-zeroed loop on the serial workload, when both ran.
    let raw_serial = workloads
        .iter()
        .position(|(name, w)| w.threads == 1 && w.batch == 1 && name.starts_with("serial"))
        .zip(systems.iter().position(|s| *s == System::Raw))
        .and_then(|(wi, si)| results.get(wi).and_then(|r| r.get(si)))
        .map(|ms| median(ms.iter().map(Measure::records_per_s).collect()))
        .unwrap_or(0.0);
    println!();
    println!(
        "{} B records, {} s x {} rounds per cell, medians; ratio = records/s over the raw serial pre-zeroed rate ({raw_serial:.0}/s)",
        args.record_bytes, args.seconds, args.rounds
    );
    println!("{}", table_header());
    for (wi, (wname, w)) in workloads.iter().enumerate() {
        for (si, system) in systems.iter().enumerate() {
            let Some(summary) = results
                .get(wi)
                .and_then(|r| r.get(si))
                .and_then(|ms| Summary::of(ms))
            else {
                continue;
            };
            let ratio = if raw_serial > 0.0 {
                summary.records_per_s / raw_serial
            } else {
                0.0
            };
            println!("{}", table_row(wname, system.name(), &summary, ratio));
        }
        if w.threads > 1 {
            println!("{}", table_bound_row(wname, w.threads, raw_serial));
        }
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    Ok(())
}
