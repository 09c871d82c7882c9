//! Opening a log of many segments: `Wal::open` time and peak RSS for logs of 10, 1,000
//! and 100,000 live segments (issue 11, item 2: descriptors and memory must not grow
//! with a buffer per segment).
//!
//! Each log is fabricated with the format encoders: segment `n` holds a header and the
//! one record `n` (about 4.2 KiB, two 4 KiB blocks on disk: 100,000 segments take about
//! 800 MB), no checkpoint, and a `LOCK` file saying the last writer closed cleanly (as
//! after `Wal::close`), so the open measures the scan rather than the rewrite an
//! unclean close asks for. Every size is measured in a fresh child process (this
//! binary with `--child`), so its peak RSS (`VmHWM` of /proc/self/status) is its own;
//! the child also reports the peak before the open (the process's baseline) and after
//! reading every record back. Logs are removed after each size unless `--keep`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use ringwal::format::frame::{self, FrameSpec};
use ringwal::format::header::SegmentHeader;
use ringwal::format::names::{LOCK_FILE, segment_file_name};
use ringwal::{Lsn, Options, Preallocate, Wal};
use ringwal_perf::BoxError;

const SEGMENT_BYTES: u64 = 64 << 10;

#[derive(Parser, Debug)]
#[command(about = "Wal::open time and peak RSS for logs of many segments")]
struct Args {
    /// Directory the logs are fabricated under (created if missing).
    #[arg(long, default_value = "ringwal-segments-bench")]
    dir: PathBuf,
    /// Segment counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "10,1000,100000")]
    sizes: Vec<u64>,
    /// Keep the fabricated logs.
    #[arg(long)]
    keep: bool,
    /// Internal: open and read the log in this directory, print one result line.
    #[arg(long, hide = true)]
    child: Option<PathBuf>,
}

fn payload(lsn: u64) -> Vec<u8> {
    format!("record {lsn} of the segment-count benchmark").into_bytes()
}

fn fabricate(dir: &Path, segments: u64) -> Result<(), BoxError> {
    std::fs::create_dir_all(dir)?;
    for seq in 1..=segments {
        let mut bytes = SegmentHeader {
            sequence: seq,
            first_lsn: seq,
            capacity: SEGMENT_BYTES,
            durable_floor: seq - 1,
            recycled: false,
        }
        .to_block();
        let body = payload(seq);
        let spec = FrameSpec {
            lsn: seq,
            durable: seq - 1,
            sequence: seq,
            payload: &body,
            payload_crc: frame::payload_crc(&body),
            batch_continues: false,
        };
        frame::encode_into(&spec, &mut bytes);
        std::fs::write(dir.join(segment_file_name(seq)), bytes)?;
    }
    // What `Wal::close` leaves: the next open needs no rewrite.
    std::fs::write(dir.join(LOCK_FILE), "closed cleanly by pid 0\n")?;
    Ok(())
}

/// `VmHWM` (peak resident set) of this process, KiB.
fn peak_rss_kib() -> Result<u64, BoxError> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    let kib = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()?;
    Ok(kib)
}

fn child(dir: &Path) -> Result<(), BoxError> {
    let base_kib = peak_rss_kib()?;
    let options = Options::default()
        .segment_bytes(SEGMENT_BYTES)
        .record_bytes_max(4 << 10)
        .preallocate(Preallocate::Grow);
    let start = Instant::now();
    let wal = Wal::open(dir, options)?;
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    let open_kib = peak_rss_kib()?;
    let start = Instant::now();
    let mut records = 0u64;
    for record in wal.read_from(Lsn::new(1))? {
        record?;
        records += 1;
    }
    let read_ms = start.elapsed().as_secs_f64() * 1e3;
    let read_kib = peak_rss_kib()?;
    wal.close()?;
    println!("{open_ms:.1} {open_kib} {base_kib} {read_ms:.1} {read_kib} {records}");
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    if let Some(dir) = &args.child {
        return child(dir);
    }
    let exe = std::env::current_exe()?;
    println!(
        "| live segments | Wal::open ms | peak RSS after open, MiB | baseline MiB | read all ms | peak RSS after read, MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for &segments in &args.sizes {
        let dir = args.dir.join(format!("log-{segments}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        fabricate(&dir, segments)?;
        let out = std::process::Command::new(&exe)
            .arg("--child")
            .arg(&dir)
            .output()?;
        if !args.keep {
            std::fs::remove_dir_all(&dir)?;
        }
        let line = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "{segments} segments: the child failed: {line}{}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        let f: Vec<f64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        let [open_ms, open_kib, base_kib, read_ms, read_kib, records] = f[..] else {
            return Err(format!("unexpected child output {line:?}").into());
        };
        if records as u64 != segments {
            return Err(format!("{segments} segments but {records} records read").into());
        }
        let mib = |kib: f64| kib / 1024.0;
        println!(
            "| {segments} | {open_ms:.1} | {:.1} | {:.1} | {read_ms:.1} | {:.1} |",
            mib(open_kib),
            mib(base_kib),
            mib(read_kib)
        );
    }
    Ok(())
}
