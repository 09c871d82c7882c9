//! `ringwal bench`: the durable-ingest suite — serial durable appends, concurrent
//! durable appends, bulk batches and a recovery scan — for the raw write+fdatasync
//! baseline and each available driver, interleaved round by round so a disk's drift
//! hits every system alike. The measuring is `ringwal-perf`'s; this module picks the
//! cells, runs them under a progress bar and prints the table (and `--json`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use ringwal::{Driver, Durability};
use ringwal_perf::{
    Measure, Summary, Until, Workload, io_uring_available, raw_baseline_until, raw_read_baseline,
    recovery_scan, ringwal_run_until, table_bound_row, table_header, table_row,
};
use serde::Serialize;

use crate::failure::{EXIT_OK, Failure};

/// The `bench` flags, already parsed.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// Where the benchmark files go.
    pub dir: PathBuf,
    /// Keep `dir` afterwards.
    pub keep: bool,
    /// Drivers to measure (empty: every available one).
    pub drivers: Vec<Driver>,
    /// Appending threads for the concurrent workload.
    pub threads: usize,
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Records per batch in the bulk workload.
    pub batch: usize,
    /// When each cell stops.
    pub until: Until,
    /// Rounds (each cell runs once per round).
    pub rounds: usize,
    /// Durability for the ringwal cells.
    pub durability: Durability,
    /// Payload megabytes in the log the recovery scan reads.
    pub recovery_mb: u64,
    /// Leave out the raw baseline (no ratios).
    pub no_raw: bool,
    /// Where to write the results as JSON.
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum System {
    Raw,
    Ringwal(Driver),
}

impl System {
    fn name(self, kind: Kind) -> &'static str {
        match self {
            System::Raw if kind == Kind::Recovery => "raw sequential read",
            System::Raw => "raw pwrite+fdatasync",
            System::Ringwal(Driver::IoUring) => "ringwal io_uring",
            System::Ringwal(_) => "ringwal portable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Serial,
    Concurrent,
    Bulk,
    Recovery,
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    kind: Kind,
    system: System,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Serial => "serial durable",
            Kind::Concurrent => "concurrent durable",
            Kind::Bulk => "bulk batches",
            Kind::Recovery => "recovery scan",
        }
    }

    /// The raw cell this workload's ratio is taken against: the serial loop for the
    /// concurrent workload (one raw writer is the single-writer limit), the same
    /// workload otherwise.
    fn raw_reference(self) -> Kind {
        match self {
            Kind::Concurrent => Kind::Serial,
            other => other,
        }
    }
}

/// One row of the results, as written to `--json`.
#[derive(Debug, Serialize)]
struct JsonRow {
    workload: &'static str,
    system: &'static str,
    records_per_s: f64,
    mb_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    ratio_to_raw: Option<f64>,
    records_per_sync: Option<f64>,
    rounds: usize,
}

#[derive(Debug, Serialize)]
struct JsonReport {
    record_bytes: usize,
    threads: usize,
    batch: usize,
    rounds: usize,
    durability: String,
    stop: String,
    recovery_mb: u64,
    results: Vec<JsonRow>,
}

/// Runs the suite and prints the table.
pub fn bench(args: &BenchArgs) -> Result<u8, Failure> {
    let created = !args.dir.exists();
    std::fs::create_dir_all(&args.dir)
        .map_err(|e| Failure::error(format!("cannot create {}: {e}", args.dir.display())))?;
    let outcome = run_suite(args);
    if !args.keep {
        clean_up(&args.dir, created);
    }
    let (cells, results) = outcome?;
    print_and_save(args, &cells, &results)?;
    Ok(EXIT_OK)
}

fn boxed(e: ringwal_perf::BoxError) -> Failure {
    Failure::error(e.to_string())
}

fn systems(args: &BenchArgs) -> Vec<System> {
    let mut out = Vec::new();
    if !args.no_raw {
        out.push(System::Raw);
    }
    let wanted = |d: Driver| args.drivers.is_empty() || args.drivers.contains(&d);
    if wanted(Driver::Portable) {
        out.push(System::Ringwal(Driver::Portable));
    }
    if wanted(Driver::IoUring) {
        match io_uring_available(&args.dir) {
            Ok(()) => out.push(System::Ringwal(Driver::IoUring)),
            Err(why) => eprintln!("io_uring driver not measured: {why}"),
        }
    }
    out
}

fn cells(systems: &[System]) -> Vec<Cell> {
    let mut out = Vec::new();
    for kind in [Kind::Serial, Kind::Concurrent, Kind::Bulk, Kind::Recovery] {
        for &system in systems {
            // The raw loop is a single writer: its concurrent bound is threads x serial.
            if !(system == System::Raw && kind == Kind::Concurrent) {
                out.push(Cell { kind, system });
            }
        }
    }
    out
}

type Results = Vec<Vec<Measure>>;

fn run_suite(args: &BenchArgs) -> Result<(Vec<Cell>, Results), Failure> {
    let systems = systems(args);
    let cells = cells(&systems);
    let mut results: Results = vec![Vec::new(); cells.len()];
    let bar = ProgressBar::new((cells.len() * args.rounds) as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}] {msg}")
    {
        bar.set_style(style);
    }
    for round in 0..args.rounds {
        for (cell, out) in cells.iter().zip(results.iter_mut()) {
            bar.set_message(format!(
                "round {}/{}: {} / {}",
                round + 1,
                args.rounds,
                cell.kind.name(),
                cell.system.name(cell.kind)
            ));
            let m = run_cell(args, *cell).inspect_err(|_| bar.abandon())?;
            out.push(m);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok((cells, results))
}

fn run_cell(args: &BenchArgs, cell: Cell) -> Result<Measure, Failure> {
    let dir = &args.dir;
    let log_bytes = args.recovery_mb << 20;
    let workload = |threads, batch| Workload {
        threads,
        batch,
        record_bytes: args.record_bytes,
        run_for: match args.until {
            Until::Elapsed(d) => d,
            Until::Records(_) => Duration::ZERO,
        },
    };
    let r = match (cell.system, cell.kind) {
        (System::Raw, Kind::Serial) => {
            raw_baseline_until(dir, args.record_bytes, 1, args.until, true)
        }
        (System::Raw, Kind::Bulk) => {
            raw_baseline_until(dir, args.record_bytes, args.batch, args.until, true)
        }
        (System::Raw, _) => raw_read_baseline(dir, args.record_bytes, log_bytes),
        (System::Ringwal(d), Kind::Recovery) => {
            recovery_scan(&dir.join("wal"), d, args.record_bytes, log_bytes)
        }
        (System::Ringwal(d), kind) => {
            let w = match kind {
                Kind::Concurrent => workload(args.threads, 1),
                Kind::Bulk => workload(1, args.batch),
                _ => workload(1, 1),
            };
            ringwal_run_until(&dir.join("wal"), d, args.durability, w, args.until)
        }
    };
    r.map_err(boxed)
}

/// Removes what the suite left: the whole directory if the suite created it, else
/// only its own files (never a user's directory).
fn clean_up(dir: &Path, created: bool) {
    if created {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    for leftover in ["wal", "probe-io-uring"] {
        let _ = std::fs::remove_dir_all(dir.join(leftover));
    }
    for leftover in ["raw-baseline.dat", "raw-read.dat"] {
        let _ = std::fs::remove_file(dir.join(leftover));
    }
}

fn print_and_save(args: &BenchArgs, cells: &[Cell], results: &Results) -> Result<(), Failure> {
    let summary_of = |kind: Kind, system: System| {
        cells
            .iter()
            .zip(results)
            .find(|(c, _)| c.kind == kind && c.system == system)
            .and_then(|(_, ms)| Summary::of(ms))
    };
    let stop = match args.until {
        Until::Elapsed(d) => format!("{:.1} s per cell", d.as_secs_f64()),
        Until::Records(n) => format!("{n} records per cell"),
    };
    println!(
        "{} B records, {stop}, {} round(s), medians; {} threads concurrent, {}-record batches, \
         {} MB recovery log; ratio = records/s over the raw reference (serial raw for the \
         concurrent rows; a sequential read of the same bytes for the recovery scan)",
        args.record_bytes, args.rounds, args.threads, args.batch, args.recovery_mb
    );
    println!("{}", table_header());
    let mut rows = Vec::new();
    let mut last_kind = None;
    for (cell, ms) in cells.iter().zip(results) {
        let Some(s) = Summary::of(ms) else { continue };
        if last_kind == Some(Kind::Concurrent) && cell.kind != Kind::Concurrent {
            bound_line(args, &summary_of);
        }
        last_kind = Some(cell.kind);
        let raw = summary_of(cell.kind.raw_reference(), System::Raw)
            .map(|r| r.records_per_s)
            .filter(|r| *r > 0.0);
        let ratio = raw.map(|r| s.records_per_s / r);
        println!(
            "{}",
            table_row(
                cell.kind.name(),
                cell.system.name(cell.kind),
                &s,
                ratio.unwrap_or(0.0)
            )
        );
        rows.push(JsonRow {
            workload: cell.kind.name(),
            system: cell.system.name(cell.kind),
            records_per_s: s.records_per_s,
            mb_per_s: s.mb_per_s,
            p50_us: s.p50_us,
            p99_us: s.p99_us,
            p999_us: s.p999_us,
            ratio_to_raw: ratio,
            records_per_sync: s.records_per_sync,
            rounds: s.rounds,
        });
    }
    println!("(recovery scan rows: one operation per round, latency = the whole open + read)");
    match &args.json {
        Some(path) => save_json(args, path, stop, rows),
        None => Ok(()),
    }
}

fn save_json(
    args: &BenchArgs,
    path: &Path,
    stop: String,
    rows: Vec<JsonRow>,
) -> Result<(), Failure> {
    let report = JsonReport {
        record_bytes: args.record_bytes,
        threads: args.threads,
        batch: args.batch,
        rounds: args.rounds,
        durability: format!("{:?}", args.durability),
        stop,
        recovery_mb: args.recovery_mb,
        results: rows,
    };
    let text =
        serde_json::to_string_pretty(&report).map_err(|e| Failure::error(format!("json: {e}")))?;
    std::fs::write(path, text + "\n")
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))
}

fn bound_line(args: &BenchArgs, summary_of: &dyn Fn(Kind, System) -> Option<Summary>) {
    if let Some(raw) = summary_of(Kind::Serial, System::Raw) {
        println!(
            "{}",
            table_bound_row(Kind::Concurrent.name(), args.threads, raw.records_per_s)
        );
    }
}
