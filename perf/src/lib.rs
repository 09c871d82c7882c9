//! Benchmark harness for ringwal (see perf/README.md): the raw-disk baseline and the
//! durable-ingest workloads, measured the same way for every system.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringwal::{Driver, Durability, Options, Wal};

/// Boxed error for the harness binaries.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What one timed run did.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Durable operations completed (records, or batches for batch workloads).
    pub ops: u64,
    /// Records made durable.
    pub records: u64,
    /// Payload bytes made durable.
    pub bytes: u64,
    /// Wall time of the timed part.
    pub elapsed: Duration,
    /// Per-operation latency in nanoseconds.
    pub latency_ns: Histogram<u64>,
    /// Syncs the system issued (ringwal's stats; the raw loop: one per op).
    pub syncs: u64,
    /// ringwal only: median time inside the sync calls, µs.
    pub sync_p50_us: Option<u64>,
}

impl Measure {
    fn new() -> Result<Self, BoxError> {
        let mut h = Histogram::new(3)?;
        h.auto(true);
        Ok(Measure {
            ops: 0,
            records: 0,
            bytes: 0,
            elapsed: Duration::ZERO,
            latency_ns: h,
            syncs: 0,
            sync_p50_us: None,
        })
    }

    /// Records per second.
    pub fn records_per_s(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Payload megabytes (1e6) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Latency quantile in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        self.latency_ns.value_at_quantile(q) as f64 / 1000.0
    }

    fn merge(&mut self, other: &Measure) -> Result<(), BoxError> {
        self.ops += other.ops;
        self.records += other.records;
        self.bytes += other.bytes;
        self.syncs += other.syncs;
        self.latency_ns.add(&other.latency_ns)?;
        Ok(())
    }
}

/// The physical limit for one writer: `write_all_at` + `sync_data` of `record_bytes`
/// at increasing offsets of a file already written full of zeros and synced (or, with
/// `prezeroed = false`, a file that grows with each write).
pub fn raw_baseline(
    dir: &Path,
    record_bytes: usize,
    batch: usize,
    run_for: Duration,
    prezeroed: bool,
) -> Result<Measure, BoxError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("raw-baseline.dat");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    let step = (record_bytes * batch) as u64;
    let file_bytes: u64 = 256 << 20;
    if prezeroed {
        let zeros = vec![0u8; 1 << 20];
        let mut at = 0;
        while at < file_bytes {
            file.write_all_at(&zeros, at)?;
            at += zeros.len() as u64;
        }
        file.sync_all()?;
    }
    let buf = vec![0xA5u8; step as usize];
    let mut m = Measure::new()?;
    let start = Instant::now();
    let mut at = 0u64;
    while start.elapsed() < run_for {
        let t = Instant::now();
        if at + step > file_bytes {
            at = 0;
        }
        file.write_all_at(&buf, at)?;
        file.sync_data()?;
        at += step;
        m.latency_ns.record(t.elapsed().as_nanos() as u64)?;
        m.ops += 1;
        m.records += batch as u64;
        m.bytes += step;
        m.syncs += 1;
    }
    m.elapsed = start.elapsed();
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(m)
}

/// A ringwal workload.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    /// Appending threads.
    pub threads: usize,
    /// Records per append call (1 = `append_durable`; more = `append_batch` + wait).
    pub batch: usize,
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// How long to run.
    pub run_for: Duration,
}

/// Runs `workload` against a fresh ringwal log in `dir` with `driver`.
pub fn ringwal_run(
    dir: &Path,
    driver: Driver,
    durability: Durability,
    w: Workload,
) -> Result<Measure, BoxError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let prealloc = match std::env::var("RINGWAL_PREALLOC").as_deref() {
        Ok("fallocate") => ringwal::Preallocate::Fallocate,
        Ok("grow") => ringwal::Preallocate::Grow,
        _ => ringwal::Preallocate::Zeroed,
    };
    let options = Options::default()
        .driver(driver)
        .durability(durability)
        .segment_bytes(64 << 20)
        .staging_bytes_max(8 << 20)
        .preallocate(prealloc);
    let options = match std::env::var("RINGWAL_CHAINS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(chains) => options.chains_in_flight_max(chains),
        None => options,
    };
    let wal = Wal::open(dir, options)?;
    // Warm up: the first segment's preparation and page faults stay out of the figure.
    for _ in 0..100 {
        wal.append_durable(&[0u8; 64])?;
    }
    let syncs_before = wal.stats().syncs;
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let results: Vec<Result<Measure, BoxError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..w.threads)
            .map(|t| {
                s.spawn({
                    let wal = &wal;
                    let stop = &stop;
                    move || one_appender(wal, stop, t, w)
                })
            })
            .collect();
        std::thread::sleep(w.run_for);
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("appender panicked".into())))
            .collect()
    });
    let elapsed = start.elapsed();
    let mut total = Measure::new()?;
    for r in results {
        total.merge(&r?)?;
    }
    total.elapsed = elapsed;
    let stats = wal.stats();
    total.syncs = stats.syncs - syncs_before;
    total.sync_p50_us = Some(stats.sync_latency_us.p50);
    wal.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(total)
}

fn one_appender(
    wal: &Wal,
    stop: &AtomicBool,
    thread: usize,
    w: Workload,
) -> Result<Measure, BoxError> {
    let mut m = Measure::new()?;
    let mut payload = vec![0u8; w.record_bytes];
    let tag = (thread as u64).to_le_bytes();
    for (dst, src) in payload.iter_mut().zip(tag.iter()) {
        *dst = *src;
    }
    let batch: Vec<&[u8]> = (0..w.batch).map(|_| payload.as_slice()).collect();
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        if w.batch == 1 {
            wal.append_durable(&payload)?;
        } else {
            let range = wal.append_batch(&batch)?;
            wal.wait_durable(*range.end())?;
        }
        m.latency_ns.record(t.elapsed().as_nanos() as u64)?;
        m.ops += 1;
        m.records += w.batch as u64;
        m.bytes += (w.batch * w.record_bytes) as u64;
    }
    Ok(m)
}

/// Whether the io_uring driver can run here (and why not).
pub fn io_uring_available(dir: &Path) -> Result<(), String> {
    let probe = dir.join("probe-io-uring");
    let r = Wal::open(
        &probe,
        Options::default()
            .segment_bytes(4 << 20)
            .driver(Driver::IoUring),
    );
    let out = match r {
        Ok(wal) => wal.close().map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let _ = std::fs::remove_dir_all(&probe);
    out
}
