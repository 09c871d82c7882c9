//! The `ringwal` command-line tool, as a library: `Cli` parses, `run` does the work and
//! returns the exit code. `main.rs` only wires the two together.
//!
//! Exit codes (every command): 0 fine, 1 torn tail (verify), 2 corruption (`inspect`
//! and `dump` still print what they can read first), 3 usage or I/O error, or a
//! directory that is not a log.

pub mod bench;
pub mod dump;
pub mod failure;
pub mod inspect;
pub mod logdir;
pub mod render;
pub mod repair;
pub mod verify;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use ringwal::{Driver, Durability};
use ringwal_perf::Until;

pub use failure::{EXIT_CORRUPT, EXIT_ERROR, EXIT_OK, EXIT_TORN, Failure};

/// Inspect, check, repair and benchmark ringwal logs.
#[derive(Debug, Parser)]
#[command(name = "ringwal", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Durable-ingest benchmark: raw write+fdatasync baseline and every available driver.
    Bench(BenchFlags),
    /// Table of segments, totals, and the state of the tail (exit 2 if corrupt).
    Inspect {
        /// The log directory.
        dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Records with their LSNs (payloads as quoted printable text or hex); of a
    /// corrupt log, every record before the damage, then exit 2.
    Dump {
        /// The log directory.
        dir: PathBuf,
        /// First LSN to show (default: the first in the log).
        #[arg(long)]
        from: Option<u64>,
        /// Records to show at most.
        #[arg(long)]
        limit: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = dump::DumpFormat::Text)]
        format: dump::DumpFormat,
    },
    /// Check every header and frame checksum and LSN density; changes nothing.
    /// Exit 0 clean, 1 torn tail, 2 corruption, 3 usage or I/O error.
    Verify {
        /// The log directory.
        dir: PathBuf,
    },
    /// Cut a torn tail (kept in DIR/repair-<timestamp>.bin); refuses corruption unless
    /// --truncate-at-corruption. Refuses while a writer holds the log.
    Repair {
        /// The log directory.
        dir: PathBuf,
        /// Say what would be cut; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also cut the log at mid-log corruption (valid records after it are lost;
        /// everything cut is kept in DIR/repair-<timestamp>/).
        #[arg(long)]
        truncate_at_corruption: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DriverChoice {
    /// Every driver that can run here.
    All,
    /// Positioned writes + fdatasync.
    Portable,
    /// The io_uring driver.
    IoUring,
}

#[derive(Debug, clap::Args)]
struct BenchFlags {
    /// Directory for the benchmark files (removed afterwards unless --keep).
    #[arg(long, default_value = "ringwal-bench-data")]
    dir: PathBuf,
    /// Keep the benchmark directory.
    #[arg(long)]
    keep: bool,
    /// Driver(s) to measure.
    #[arg(long, value_enum, default_value_t = DriverChoice::All)]
    driver: DriverChoice,
    /// Appending threads in the concurrent workload.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: u16,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=(1 << 20)))]
    record_bytes: u32,
    /// Stop each cell after this many records (instead of --duration).
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..))]
    records: Option<u64>,
    /// Seconds per cell per round.
    #[arg(long, default_value_t = 1.0)]
    duration: f64,
    /// Rounds; cells are interleaved round by round.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=100))]
    rounds: u16,
    /// Records per batch in the bulk workload.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,
    /// Durability of the ringwal cells: fsync, flush, or periodic:<ms>.
    #[arg(long, default_value = "fsync", value_parser = parse_durability)]
    durability: Durability,
    /// Payload megabytes in the log the recovery scan reads.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65536))]
    recovery_mb: u64,
    /// Leave out the raw baseline (no ratios).
    #[arg(long)]
    no_raw: bool,
    /// Also write the results to this file as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_durability(s: &str) -> Result<Durability, String> {
    match s {
        "fsync" => Ok(Durability::Fsync),
        "flush" => Ok(Durability::Flush),
        _ => {
            let ms = s
                .strip_prefix("periodic:")
                .and_then(|ms| ms.parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .ok_or_else(|| format!("`{s}`: expected fsync, flush or periodic:<ms>"))?;
            Ok(Durability::Periodic(Duration::from_millis(ms)))
        }
    }
}

impl Cli {
    /// Parses the command line. Help and version are printed here (exit 0); a usage
    /// error is one line with exit code 3.
    pub fn from_args<I, T>(args: I) -> Result<Cli, Failure>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        Cli::try_parse_from(args).map_err(|e| {
            use clap::error::ErrorKind;
            match e.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    let code = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                        EXIT_ERROR
                    } else {
                        EXIT_OK
                    };
                    Failure::printed(code)
                }
                _ => {
                    // clap's message up to its first blank line, on one line (a
                    // missing argument's name sits on the line after the sentence).
                    let text = e.to_string();
                    let head: Vec<&str> = text
                        .lines()
                        .take_while(|l| !l.trim().is_empty())
                        .map(str::trim)
                        .collect();
                    let head = head.join(" ");
                    let head = head.strip_prefix("error: ").unwrap_or(&head);
                    Failure::error(format!("{head} (see `ringwal --help`)"))
                }
            }
        })
    }
}

/// Runs the parsed command; the `Ok` value is the exit code.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Bench(f) => bench::bench(&bench_args(f)),
        Command::Inspect { dir, json } => inspect::inspect(&dir, json),
        Command::Dump {
            dir,
            from,
            limit,
            format,
        } => dump::dump(&dir, from, limit, format),
        Command::Verify { dir } => verify::verify(&dir),
        Command::Repair {
            dir,
            dry_run,
            truncate_at_corruption,
        } => repair::repair(
            &dir,
            repair::RepairArgs {
                dry_run,
                truncate_at_corruption,
            },
        ),
    }
}

fn bench_args(f: BenchFlags) -> bench::BenchArgs {
    let until = match f.records {
        Some(n) => Until::Records(n),
        None => Until::Elapsed(Duration::from_secs_f64(f.duration.clamp(0.01, 3600.0))),
    };
    bench::BenchArgs {
        dir: f.dir,
        keep: f.keep,
        drivers: match f.driver {
            DriverChoice::All => Vec::new(),
            DriverChoice::Portable => vec![Driver::Portable],
            DriverChoice::IoUring => vec![Driver::IoUring],
        },
        threads: usize::from(f.threads),
        record_bytes: f.record_bytes as usize,
        batch: f.batch as usize,
        until,
        rounds: usize::from(f.rounds),
        durability: f.durability,
        recovery_mb: f.recovery_mb,
        no_raw: f.no_raw,
        json: f.json,
    }
}
