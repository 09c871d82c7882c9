//! Benchmark harness for ringwal (see perf/README.md): the raw-disk baseline and the
//! durable-ingest workloads, measured the same way for every system.

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use ringwal::{Driver, Durability, Options, Wal};

pub mod appender;
#[cfg(target_os = "linux")]
pub mod direct;
pub mod peers;
pub mod report;
#[cfg(target_os = "linux")]
pub mod uring;

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
    /// ringwal only: most flushes (commits) in flight at once.
    pub flushes_in_flight_peak: Option<u64>,
    /// ringwal only: bytes of padding between commits (direct mode, several in flight).
    pub padding_bytes: Option<u64>,
    /// ringwal only: segments made from recycled files (`Stats::segments_recycled`).
    pub segments_recycled: Option<u64>,
    /// CPU time the appending threads spent (their own clocks, summed), when measured.
    pub caller_cpu_ns: Option<u64>,
    /// CPU time of the whole process (every thread, background writers included)
    /// during the timed part, when measured.
    pub process_cpu_ns: Option<u64>,
}

impl Measure {
    pub(crate) fn new() -> Result<Self, BoxError> {
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
            flushes_in_flight_peak: None,
            padding_bytes: None,
            segments_recycled: None,
            caller_cpu_ns: None,
            process_cpu_ns: None,
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

    pub(crate) fn merge(&mut self, other: &Measure) -> Result<(), BoxError> {
        self.caller_cpu_ns = match (self.caller_cpu_ns, other.caller_cpu_ns) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
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
    raw_baseline_until(dir, record_bytes, batch, Until::Elapsed(run_for), prezeroed)
}

/// When a timed run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// After this much wall time.
    Elapsed(Duration),
    /// Once this many records were made durable (over all threads; whole operations,
    /// so a batch workload may end slightly past it).
    Records(u64),
}

impl Until {
    pub(crate) fn reached(self, start: Instant, records: u64) -> bool {
        match self {
            Until::Elapsed(d) => start.elapsed() >= d,
            Until::Records(n) => records >= n,
        }
    }
}

/// `raw_baseline`, stopping at `until`.
pub fn raw_baseline_until(
    dir: &Path,
    record_bytes: usize,
    batch: usize,
    until: Until,
    prezeroed: bool,
) -> Result<Measure, BoxError> {
    raw_loop(dir, record_bytes, batch, until, prezeroed, true)
}

/// The raw O_DIRECT loop's least write granularity and buffer alignment (a page);
/// larger when `statx(STATX_DIOALIGN)` asks for more.
pub const DIRECT_MIN_BLOCK: usize = 4096;

/// Size of the raw loops' file (they wrap around to its start when they reach its end).
pub const RAW_FILE_BYTES: u64 = 256 << 20;

/// Creates `path` as a file of `bytes` written full of zeros and synced (with the
/// file's directory entry left to the caller: the benchmarks remove it afterwards).
pub fn prezeroed_file(path: &Path, bytes: u64) -> Result<std::fs::File, BoxError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let zeros = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < bytes {
        file.write_all_at(&zeros, at)?;
        at += zeros.len() as u64;
    }
    file.sync_all()?;
    Ok(file)
}

/// The raw loop behind `raw_baseline_until`; with `sync = false` it only writes (the
/// page-cache cost of one `pwrite` per batch: the unsynced ingest's reference).
/// Measures the calling thread's CPU time too.
pub fn raw_loop(
    dir: &Path,
    record_bytes: usize,
    batch: usize,
    until: Until,
    prezeroed: bool,
    sync: bool,
) -> Result<Measure, BoxError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("raw-baseline.dat");
    let step = (record_bytes * batch) as u64;
    let file_bytes: u64 = RAW_FILE_BYTES;
    let file = if prezeroed {
        prezeroed_file(&path, file_bytes)?
    } else {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?
    };
    let buf = vec![0xA5u8; step as usize];
    let mut m = Measure::new()?;
    let cpu_start = appender::thread_cpu_ns();
    let process_cpu_start = appender::process_cpu_ns();
    let start = Instant::now();
    let mut at = 0u64;
    while !until.reached(start, m.records) {
        let t = Instant::now();
        if at + step > file_bytes {
            at = 0;
        }
        file.write_all_at(&buf, at)?;
        if sync {
            file.sync_data()?;
            m.syncs += 1;
        }
        at += step;
        m.latency_ns.record(t.elapsed().as_nanos() as u64)?;
        m.ops += 1;
        m.records += batch as u64;
        m.bytes += step;
    }
    m.elapsed = start.elapsed();
    m.caller_cpu_ns = Some(appender::thread_cpu_ns().saturating_sub(cpu_start));
    m.process_cpu_ns = Some(appender::process_cpu_ns().saturating_sub(process_cpu_start));
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
    ringwal_run_until(dir, driver, durability, w, Until::Elapsed(w.run_for))
}

/// `ringwal_run`, stopping at `until` (`w.run_for` is not used).
pub fn ringwal_run_until(
    dir: &Path,
    driver: Driver,
    durability: Durability,
    w: Workload,
    until: Until,
) -> Result<Measure, BoxError> {
    let a = appender::RingwalAppender::open(dir, driver, durability, true)?;
    let mut total = appender::run_appender(&a, w.threads, w.batch, w.record_bytes, until)?;
    let stats = a.wal.stats();
    total.sync_p50_us = Some(stats.sync_latency_us.p50);
    total.flushes_in_flight_peak = Some(stats.chains_in_flight_peak);
    total.padding_bytes = Some(stats.padding_bytes);
    total.segments_recycled = Some(stats.segments_recycled);
    a.close(dir)?;
    Ok(total)
}

/// The options every benchmarked ringwal log uses: 64 MiB segments, 8 MiB staging, and
/// knobs for experiments — `RINGWAL_PREALLOC=zeroed|fallocate|grow`,
/// `RINGWAL_CHAINS=N` (io_uring buffered chains in flight), `RINGWAL_DIRECT_DEPTH=N`
/// (io_uring direct commits in flight), `RINGWAL_DIRECT=0` (buffered chains) and
/// `RINGWAL_RECYCLE=N` (spare segment files kept; 0: no recycling),
/// `RINGWAL_RING_PREP=0` (spares made into segments on the preparer's thread, not
/// by a chain on the io_uring writer's ring). With
/// `RINGWAL_CHECKPOINT_MS=N` a thread checkpoints every N ms (`appender`).
pub fn bench_options(driver: Driver, durability: Durability) -> Options {
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
    let knob = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    let options = match knob("RINGWAL_CHAINS") {
        Some(chains) => options.chains_in_flight_max(chains),
        None => options,
    };
    let options = match knob("RINGWAL_DIRECT_DEPTH") {
        Some(depth) => options.direct_depth(depth),
        None => options,
    };
    let options = match knob("RINGWAL_RECYCLE") {
        Some(count) => options.recycle_segments(count),
        None => options,
    };
    let options = match knob("RINGWAL_RING_PREP") {
        Some(on) => options.prepare_on_ring(on != 0),
        None => options,
    };
    match knob("RINGWAL_DIRECT") {
        Some(on) => options.direct_io(on != 0),
        None => options,
    }
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

/// Builds a fresh log of about `log_bytes` payload bytes in `dir` with `driver`
/// (records of `record_bytes`, written with `Durability::Flush` and one final sync:
/// the build is not what is measured), closes it, then times what a restart pays:
/// `LogReader::open` (the recovery scan of every header and frame) plus reading every
/// record back. One operation; its latency is the whole scan. The log is removed.
pub fn recovery_scan(
    dir: &Path,
    driver: Driver,
    record_bytes: usize,
    log_bytes: u64,
) -> Result<Measure, BoxError> {
    build_log(dir, driver, record_bytes, log_bytes)?;
    let m = scan_log(dir)?;
    std::fs::remove_dir_all(dir)?;
    Ok(m)
}

/// Writes a fresh log of about `log_bytes` payload bytes in `dir` (see `recovery_scan`).
pub fn build_log(
    dir: &Path,
    driver: Driver,
    record_bytes: usize,
    log_bytes: u64,
) -> Result<(), BoxError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let options = Options::default()
        .driver(driver)
        .durability(Durability::Flush)
        .segment_bytes(64 << 20)
        .staging_bytes_max(8 << 20);
    let wal = Wal::open(dir, options)?;
    let payload = vec![0x5Au8; record_bytes];
    let per_batch = ((1usize << 20) / record_bytes.max(1)).clamp(1, 4096);
    let batch: Vec<&[u8]> = (0..per_batch).map(|_| payload.as_slice()).collect();
    let mut written = 0u64;
    while written < log_bytes {
        wal.append_batch(&batch)?;
        written += (per_batch * record_bytes) as u64;
    }
    wal.sync()?;
    wal.close()?;
    Ok(())
}

/// Times opening the log in `dir` (the recovery scan) and reading every record back.
pub fn scan_log(dir: &Path) -> Result<Measure, BoxError> {
    let mut m = Measure::new()?;
    let start = Instant::now();
    let reader = ringwal::LogReader::open(dir)?;
    for record in reader.read_from(ringwal::Lsn::from(1))? {
        let record = record?;
        m.records += 1;
        m.bytes += record.payload().len() as u64;
    }
    m.elapsed = start.elapsed();
    m.ops = 1;
    m.latency_ns.record(m.elapsed.as_nanos() as u64)?;
    Ok(m)
}

/// The raw counterpart of `recovery_scan`: write a file of `log_bytes` (synced, not
/// measured), then time reading it back sequentially in 1 MiB reads. Records are
/// counted as if the file held `record_bytes` records, so rates compare.
pub fn raw_read_baseline(
    dir: &Path,
    record_bytes: usize,
    log_bytes: u64,
) -> Result<Measure, BoxError> {
    let path = dir.join("raw-read.dat");
    write_raw_file(&path, log_bytes)?;
    let m = read_raw_file(&path, record_bytes)?;
    std::fs::remove_file(&path)?;
    Ok(m)
}

/// Writes `path` full of `log_bytes` non-zero bytes and syncs it.
pub fn write_raw_file(path: &Path, log_bytes: u64) -> Result<(), BoxError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let chunk = vec![0x5Au8; 1 << 20];
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    let mut at = 0u64;
    while at < log_bytes {
        file.write_all_at(&chunk, at)?;
        at += chunk.len() as u64;
    }
    file.sync_all()?;
    Ok(())
}

/// Times reading `path` sequentially in 1 MiB reads (records counted as `record_bytes`).
pub fn read_raw_file(path: &Path, record_bytes: usize) -> Result<Measure, BoxError> {
    let mut m = Measure::new()?;
    let mut buf = vec![0u8; 1 << 20];
    let start = Instant::now();
    let file = std::fs::File::open(path)?;
    let mut at = 0u64;
    loop {
        let n = file.read_at(&mut buf, at)?;
        if n == 0 {
            break;
        }
        at += n as u64;
    }
    m.elapsed = start.elapsed();
    m.ops = 1;
    m.bytes = at;
    m.records = at / record_bytes.max(1) as u64;
    m.latency_ns.record(m.elapsed.as_nanos() as u64)?;
    Ok(m)
}

/// Drops the page cache (`echo 3 > /proc/sys/vm/drop_caches`, after a `sync`), so the
/// next read comes from the disk. Needs root; says why when it cannot.
pub fn drop_caches() -> Result<(), String> {
    rustix::fs::sync();
    std::fs::write("/proc/sys/vm/drop_caches", b"3\n").map_err(|e| e.to_string())
}

/// The median of `v` (the upper one of an even count; 0 when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Round-by-round figures as "a · b · c", with `decimals` decimals.
pub fn joined(v: &[f64], decimals: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// Round-by-round ratios of `v` to `reference` (the same round's), as "a · b · c".
pub fn joined_ratios(v: &[f64], reference: &[f64]) -> String {
    let ratios: Vec<f64> = v.iter().zip(reference).map(|(a, b)| a / b).collect();
    joined(&ratios, 2)
}

/// The medians over the rounds of one table cell.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Records per second.
    pub records_per_s: f64,
    /// Payload megabytes (1e6) per second.
    pub mb_per_s: f64,
    /// Latency quantiles in microseconds.
    pub p50_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Largest latency seen in any round, µs.
    pub max_us: f64,
    /// Records made durable per sync (`None` for a run without syncs: a scan).
    pub records_per_sync: Option<f64>,
    /// ringwal's median sync time (the raw loop: its op latency), µs; `None` without syncs.
    pub sync_p50_us: Option<f64>,
    /// ringwal: most commits in flight at once (highest over the rounds).
    pub flushes_in_flight_peak: Option<u64>,
    /// ringwal: padding bytes per record (median over the rounds).
    pub padding_bytes_per_record: Option<f64>,
    /// ringwal: segments made from recycled files (most in any round).
    pub segments_recycled: Option<u64>,
    /// Rounds the medians are over.
    pub rounds: usize,
}

impl Summary {
    /// Medians of each figure over `rounds` (one `Measure` per round); `None` if empty.
    pub fn of(rounds: &[Measure]) -> Option<Summary> {
        if rounds.is_empty() {
            return None;
        }
        let med = |f: &dyn Fn(&Measure) -> f64| median(rounds.iter().map(f).collect());
        let p50_us = med(&|m| m.latency_us(0.5));
        let synced = rounds.iter().any(|m| m.syncs > 0);
        Some(Summary {
            records_per_s: med(&Measure::records_per_s),
            mb_per_s: med(&Measure::mb_per_s),
            p50_us,
            p99_us: med(&|m| m.latency_us(0.99)),
            p999_us: med(&|m| m.latency_us(0.999)),
            max_us: rounds
                .iter()
                .map(|m| m.latency_ns.max() as f64 / 1000.0)
                .fold(0.0, f64::max),
            records_per_sync: synced.then(|| med(&|m| m.records as f64 / m.syncs.max(1) as f64)),
            sync_p50_us: synced.then(|| med(&|m| m.sync_p50_us.map_or(p50_us, |v| v as f64))),
            flushes_in_flight_peak: rounds.iter().filter_map(|m| m.flushes_in_flight_peak).max(),
            padding_bytes_per_record: rounds
                .iter()
                .any(|m| m.padding_bytes.is_some())
                .then(|| med(&|m| m.padding_bytes.unwrap_or(0) as f64 / m.records.max(1) as f64)),
            segments_recycled: rounds.iter().filter_map(|m| m.segments_recycled).max(),
            rounds: rounds.len(),
        })
    }
}

/// The ingest table's heading line (`table_row` lines go under it).
pub fn table_header() -> String {
    format!(
        "{:<20} {:<38} {:>11} {:>8} {:>7} {:>9} {:>9} {:>9} {:>10} {:>12}",
        "workload",
        "system",
        "records/s",
        "MB/s",
        "ratio",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "recs/sync",
        "sync p50 us"
    )
}

/// One line of the ingest table; `ratio` is the cell's rate over its raw reference.
pub fn table_row(workload: &str, system: &str, s: &Summary, ratio: f64) -> String {
    let or_dash = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
    format!(
        "{workload:<20} {system:<38} {:>11.0} {:>8.1} {ratio:>6.2}x {:>9.1} {:>9.1} {:>9.1} {:>10} {:>12}",
        s.records_per_s,
        s.mb_per_s,
        s.p50_us,
        s.p99_us,
        s.p999_us,
        or_dash(s.records_per_sync),
        or_dash(s.sync_p50_us)
    )
}

/// The line under a concurrent workload giving the bound `threads` raw writers reach.
pub fn table_bound_row(workload: &str, threads: usize, raw_serial_per_s: f64) -> String {
    format!(
        "{workload:<20} {:<38} {:>11.0}",
        format!("bound: {threads} x raw serial"),
        raw_serial_per_s * threads as f64
    )
}
