//! Which way of preparing a WAL segment file gives the fastest loop of small
//! in-place appends, each followed by one `fdatasync`?
//!
//! Four ways of preparing a segment of `--segment-mib` MiB are compared:
//!
//! * `append`: an empty file; every write extends it.
//! * `fallocate`: `fallocate(mode 0)` of the full size (unwritten extents).
//! * `zeroed`: the full size written with zeros in 1 MiB chunks, then `sync_all`.
//! * `recycled`: the full size written with non-zero bytes (an old segment
//!   being reused), then `sync_all`.
//!
//! Then records of `--record-bytes` are written at increasing offsets with
//! `write_all_at`, each followed by `sync_data`, for `--seconds`. Methods are
//! interleaved (A B C D A B C D ...) for `--rounds` rounds, each round on a
//! fresh file, because the disk drifts by up to 2x between minutes; the table
//! reports medians and each round's figure.

use std::error::Error;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use rustix::fs::FallocateFlags;

type BoxResult<T> = Result<T, Box<dyn Error>>;

const MIB: u64 = 1024 * 1024;
const CHUNK: usize = 1024 * 1024;

#[derive(Debug, Parser)]
#[command(
    about = "Compare segment preparation methods for a write + fdatasync loop of small in-place appends"
)]
struct Args {
    /// Directory for the segment files (created if missing).
    #[arg(long, default_value = "./prealloc-bench-data")]
    dir: PathBuf,
    /// Size of each segment file in MiB.
    #[arg(long, default_value_t = 64)]
    segment_mib: u64,
    /// Bytes per record (one write + one fdatasync per record).
    #[arg(long, default_value_t = 256)]
    record_bytes: usize,
    /// Seconds of the timed loop per method per round.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Number of interleaved rounds over all methods.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Keep the segment files (and the directory) afterwards.
    #[arg(long)]
    keep: bool,
    /// Methods to run, in this order within each round (comma-separated).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "append,fallocate,zeroed,recycled"
    )]
    methods: Vec<Method>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Method {
    Append,
    Fallocate,
    Zeroed,
    Recycled,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Append => "append",
            Method::Fallocate => "fallocate",
            Method::Zeroed => "zeroed",
            Method::Recycled => "recycled",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A segment file that is removed when dropped unless `keep` is set.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    keep: bool,
}

impl Drop for Segment {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Result of one method in one round.
#[derive(Debug, Clone, Copy)]
struct RoundResult {
    syncs_per_sec: f64,
    prep: Duration,
    /// Bytes the preparation wrote (0 for `append` and `fallocate`).
    prep_bytes: u64,
    /// True if the timed loop stopped early because the segment was full.
    hit_end: bool,
}

fn fsync_dir(dir: &Path) -> BoxResult<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Writes `size` bytes of `byte` in 1 MiB chunks, then `sync_all`.
fn fill(file: &File, size: u64, byte: u8) -> BoxResult<()> {
    let chunk = vec![byte; CHUNK];
    let mut offset = 0u64;
    while offset < size {
        let n = usize::try_from((size - offset).min(CHUNK as u64))?;
        let part = chunk.get(..n).ok_or("chunk slice out of range")?;
        file.write_all_at(part, offset)?;
        offset += n as u64;
    }
    file.sync_all()?;
    Ok(())
}

/// Creates and prepares a fresh segment file; returns it with the time taken
/// and the number of bytes written while preparing.
fn prepare(
    method: Method,
    dir: &Path,
    path: &Path,
    size: u64,
    keep: bool,
) -> BoxResult<(File, Segment, Duration, u64)> {
    let _ = fs::remove_file(path);
    let start = Instant::now();
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)?;
    let segment = Segment {
        path: path.to_path_buf(),
        keep,
    };
    let prep_bytes = match method {
        Method::Append => {
            file.sync_all()?;
            0
        }
        Method::Fallocate => {
            rustix::fs::fallocate(&file, FallocateFlags::empty(), 0, size)?;
            file.sync_all()?;
            0
        }
        Method::Zeroed => {
            fill(&file, size, 0)?;
            size
        }
        Method::Recycled => {
            fill(&file, size, 0xA5)?;
            size
        }
    };
    fsync_dir(dir)?;
    Ok((file, segment, start.elapsed(), prep_bytes))
}

/// The timed loop: one `write_all_at` + one `sync_data` per record, at
/// increasing offsets, until `duration` passes or the segment is full.
/// Returns (syncs per second, whether the segment end was reached).
fn timed_loop(
    file: &File,
    size: u64,
    record_bytes: usize,
    duration: Duration,
) -> BoxResult<(f64, bool)> {
    let mut record = vec![0u8; record_bytes];
    let record_len = record_bytes as u64;
    let mut offset = 0u64;
    let mut syncs = 0u64;
    let mut hit_end = false;
    let start = Instant::now();
    loop {
        if offset + record_len > size {
            hit_end = true;
            break;
        }
        // Changing content, so no layer can skip a write of identical data.
        let stamp = syncs.to_le_bytes();
        for (dst, src) in record.iter_mut().zip(stamp.iter().cycle()) {
            *dst = src ^ 0x5A;
        }
        file.write_all_at(&record, offset)?;
        file.sync_data()?;
        offset += record_len;
        syncs += 1;
        if start.elapsed() >= duration {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((syncs as f64 / secs, hit_end))
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted.get(mid).copied().unwrap_or(f64::NAN)
    } else {
        match (sorted.get(mid.wrapping_sub(1)), sorted.get(mid)) {
            (Some(a), Some(b)) => (a + b) / 2.0,
            _ => f64::NAN,
        }
    }
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    if args.record_bytes == 0 {
        return Err("--record-bytes must be at least 1".into());
    }
    if args.rounds == 0 {
        return Err("--rounds must be at least 1".into());
    }
    if args.methods.is_empty() {
        return Err("--methods must name at least one method".into());
    }
    for (i, m) in args.methods.iter().enumerate() {
        if args.methods.iter().skip(i + 1).any(|other| other == m) {
            return Err(format!("--methods lists {m} twice").into());
        }
    }
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        return Err("--seconds must be a positive number".into());
    }
    let size = args
        .segment_mib
        .checked_mul(MIB)
        .ok_or("--segment-mib too large")?;
    if size < args.record_bytes as u64 {
        return Err("segment is smaller than one record".into());
    }
    let duration = Duration::from_secs_f64(args.seconds);

    let created_dir = !args.dir.exists();
    fs::create_dir_all(&args.dir)?;
    let dir = args.dir.canonicalize()?;

    println!(
        "prealloc: segment {} MiB, record {} B, {} s per method per round, {} rounds, dir {}",
        args.segment_mib,
        args.record_bytes,
        args.seconds,
        args.rounds,
        dir.display()
    );
    println!("one write_all_at + one sync_data (fdatasync) per record, sequential offsets");
    println!();

    let mut results: Vec<(Method, Vec<RoundResult>)> =
        args.methods.iter().map(|&m| (m, Vec::new())).collect();

    for round in 1..=args.rounds {
        for (method, per_round) in results.iter_mut() {
            let path = dir.join(format!("{}-round{round}.seg", method.name()));
            let (file, _segment, prep, prep_bytes) =
                prepare(*method, &dir, &path, size, args.keep)?;
            let (syncs_per_sec, hit_end) = timed_loop(&file, size, args.record_bytes, duration)?;
            println!(
                "round {round} {method:<9} {syncs_per_sec:>9.0} syncs/s  prep {:>8.1} ms{}",
                prep.as_secs_f64() * 1e3,
                if hit_end {
                    "  (segment full: stopped early)"
                } else {
                    ""
                }
            );
            std::io::stdout().flush()?;
            per_round.push(RoundResult {
                syncs_per_sec,
                prep,
                prep_bytes,
                hit_end,
            });
            drop(file);
            // `_segment` is dropped here, removing the file unless --keep.
        }
    }

    let zeroed_median = results
        .iter()
        .find(|(m, _)| *m == Method::Zeroed)
        .map(|(_, r)| median(&r.iter().map(|x| x.syncs_per_sec).collect::<Vec<_>>()))
        .unwrap_or(f64::NAN);

    println!();
    let mut header = format!("{:<10} {:>12}", "method", "median/s");
    for round in 1..=args.rounds {
        header.push_str(&format!(" {:>9}", format!("r{round}/s")));
    }
    header.push_str(&format!(
        " {:>10} {:>10} {:>11}",
        "vs zeroed", "prep ms", "prep MB/s"
    ));
    println!("{header}");
    println!("{}", "-".repeat(header.len()));
    for (method, rounds) in &results {
        let rates: Vec<f64> = rounds.iter().map(|r| r.syncs_per_sec).collect();
        let med = median(&rates);
        let prep_ms = median(
            &rounds
                .iter()
                .map(|r| r.prep.as_secs_f64() * 1e3)
                .collect::<Vec<_>>(),
        );
        let prep_mbps = median(
            &rounds
                .iter()
                .map(|r| r.prep_bytes as f64 / 1e6 / r.prep.as_secs_f64())
                .collect::<Vec<_>>(),
        );
        let mut line = format!("{:<10} {:>12.0}", method.name(), med);
        for rate in &rates {
            line.push_str(&format!(" {rate:>9.0}"));
        }
        let prep_mbps = if rounds.iter().all(|r| r.prep_bytes == 0) {
            "-".to_string()
        } else {
            format!("{prep_mbps:.0}")
        };
        let ratio = if zeroed_median.is_finite() && zeroed_median > 0.0 {
            format!("{:.2}x", med / zeroed_median)
        } else {
            "-".to_string()
        };
        line.push_str(&format!(" {ratio:>10} {prep_ms:>10.1} {prep_mbps:>11}"));
        if rounds.iter().any(|r| r.hit_end) {
            line.push_str("  (segment filled in some round)");
        }
        println!("{line}");
    }
    println!();
    println!(
        "prep = create + prepare + sync_all + fsync(dir); prep MB/s counts bytes written while preparing \
         ('-' when none). recycled's prep is the cost of making the old segment; reusing a real \
         old segment costs only a rename."
    );

    if !args.keep && created_dir {
        // Only succeeds if empty, i.e. we leave anything we did not create.
        let _ = fs::remove_dir(&dir);
    }
    Ok(())
}
