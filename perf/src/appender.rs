//! One way to drive any log: `Appender` is what a system does for one call (append a
//! batch and wait for its durability), and `run_appender` times that call from `T`
//! threads. Every workload uses it: the peers, ringwal's durable workloads
//! (`ringwal_run`, which the CLI's `bench` shares) and the unsynced ingest.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use ringwal::{Driver, Durability, Wal};

use crate::{BoxError, Measure, Until};

/// CPU time of the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    timespec_ns(rustix::time::clock_gettime(
        rustix::time::ClockId::ThreadCPUTime,
    ))
}

/// CPU time of the whole process (every thread), ns.
pub fn process_cpu_ns() -> u64 {
    timespec_ns(rustix::time::clock_gettime(
        rustix::time::ClockId::ProcessCPUTime,
    ))
}

fn timespec_ns(t: rustix::time::Timespec) -> u64 {
    (t.tv_sec.max(0) as u64) * 1_000_000_000 + t.tv_nsec.max(0) as u64
}

/// What one appending call does on some system.
pub trait Appender: Sync {
    /// Appends `records` from appending thread `thread` and returns when the system
    /// acknowledges them (durable, or written, depending on how it was opened).
    fn append(&self, thread: usize, records: &[&[u8]]) -> Result<(), BoxError>;

    /// Syncs issued so far, if the system counts them.
    fn syncs(&self) -> Option<u64> {
        None
    }
}

/// Times `threads` threads each calling `a.append` with `batch` records of
/// `record_bytes` until `until` (an `Until::Records` quota is split evenly).
pub fn run_appender<A: Appender + ?Sized>(
    a: &A,
    threads: usize,
    batch: usize,
    record_bytes: usize,
    until: Until,
) -> Result<Measure, BoxError> {
    let threads = threads.max(1);
    let stop = AtomicBool::new(false);
    let per_thread = match until {
        Until::Records(n) => Until::Records(n.div_ceil(threads as u64)),
        other => other,
    };
    let syncs_before = a.syncs();
    let cpu_before = process_cpu_ns();
    let start = Instant::now();
    let results: Vec<Result<Measure, BoxError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let stop = &stop;
                s.spawn(move || one_thread(a, stop, t, batch, record_bytes, per_thread))
            })
            .collect();
        if let Until::Elapsed(run_for) = until {
            std::thread::sleep(run_for);
            stop.store(true, Ordering::Relaxed);
        }
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("appender panicked".into())))
            .collect()
    });
    let elapsed = start.elapsed();
    let cpu = process_cpu_ns().saturating_sub(cpu_before);
    let mut total = Measure::new()?;
    for r in results {
        total.merge(&r?)?;
    }
    total.elapsed = elapsed;
    total.process_cpu_ns = Some(cpu);
    if let (Some(before), Some(after)) = (syncs_before, a.syncs()) {
        total.syncs = after.saturating_sub(before);
    }
    Ok(total)
}

fn one_thread<A: Appender + ?Sized>(
    a: &A,
    stop: &AtomicBool,
    thread: usize,
    batch: usize,
    record_bytes: usize,
    until: Until,
) -> Result<Measure, BoxError> {
    let mut m = Measure::new()?;
    let mut payload = vec![0xC3u8; record_bytes];
    for (dst, src) in payload.iter_mut().zip((thread as u64).to_le_bytes()) {
        *dst = src;
    }
    let records: Vec<&[u8]> = (0..batch.max(1)).map(|_| payload.as_slice()).collect();
    let cpu_start = thread_cpu_ns();
    let start = Instant::now();
    loop {
        let done = match until {
            Until::Records(n) => m.records >= n,
            Until::Elapsed(_) => stop.load(Ordering::Relaxed),
        };
        if done {
            break;
        }
        let t = Instant::now();
        a.append(thread, &records)?;
        m.latency_ns.record(t.elapsed().as_nanos() as u64)?;
        m.ops += 1;
        m.records += records.len() as u64;
        m.bytes += (records.len() * record_bytes) as u64;
    }
    m.elapsed = start.elapsed();
    m.caller_cpu_ns = Some(thread_cpu_ns().saturating_sub(cpu_start));
    Ok(m)
}

/// ringwal as an `Appender`: `append` (or `append_batch`) and, if `wait`, a wait for
/// the last record's durability under the log's `Durability`.
#[derive(Debug)]
pub struct RingwalAppender {
    /// The open log.
    pub wal: std::sync::Arc<Wal>,
    /// Wait for durability after each call (false: only append into staging).
    pub wait: bool,
    /// The background checkpointer (`RINGWAL_CHECKPOINT_MS`), stopped on close.
    checkpointer: Option<(std::sync::Arc<AtomicBool>, std::thread::JoinHandle<()>)>,
}

impl RingwalAppender {
    /// Opens a fresh log in `dir` (the same options as `ringwal_run`) and warms it up.
    pub fn open(
        dir: &Path,
        driver: Driver,
        durability: Durability,
        wait: bool,
    ) -> Result<Self, BoxError> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        let wal = std::sync::Arc::new(Wal::open(dir, crate::bench_options(driver, durability))?);
        for _ in 0..100 {
            wal.append_durable(&[0u8; 64])?;
        }
        let checkpointer = checkpoint_every().map(|every| {
            let stop = std::sync::Arc::new(AtomicBool::new(false));
            let (wal, stopped) = (std::sync::Arc::clone(&wal), std::sync::Arc::clone(&stop));
            let thread = std::thread::spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(every);
                    // What a database does once its tables hold the records: everything
                    // durable may go (the segments it retires are deleted or recycled).
                    if wal.checkpoint(wal.durable_lsn()).is_err() {
                        return;
                    }
                }
            });
            (stop, thread)
        });
        Ok(RingwalAppender {
            wal,
            wait,
            checkpointer,
        })
    }

    /// Closes the log and removes `dir`.
    pub fn close(mut self, dir: &Path) -> Result<(), BoxError> {
        if let Some((stop, thread)) = self.checkpointer.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = thread.join();
        }
        self.wal.close()?;
        std::fs::remove_dir_all(dir)?;
        Ok(())
    }
}

impl Appender for RingwalAppender {
    fn append(&self, _thread: usize, records: &[&[u8]]) -> Result<(), BoxError> {
        let last = match records {
            [one] => self.wal.append(one)?,
            many => *self.wal.append_batch(many)?.end(),
        };
        if self.wait {
            self.wal.wait_durable(last)?;
        }
        Ok(())
    }

    fn syncs(&self) -> Option<u64> {
        Some(self.wal.stats().syncs)
    }
}

/// `RINGWAL_CHECKPOINT_MS=N`: a thread checkpoints ringwal logs at their durable LSN
/// every N ms while a cell runs (off by default).
fn checkpoint_every() -> Option<std::time::Duration> {
    std::env::var("RINGWAL_CHECKPOINT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(std::time::Duration::from_millis)
}

/// The unsynced ingest (W6): `threads` threads calling `Wal::append` (records go to
/// staging; the writer drains them to the page cache behind), `Durability::Flush`.
/// Stops at `until`, then waits (untimed) for the writer to catch up, so the CPU
/// figures cover the appenders' part only and the process figure covers both.
pub fn ringwal_unsynced(
    dir: &Path,
    driver: Driver,
    threads: usize,
    record_bytes: usize,
    until: Until,
) -> Result<Measure, BoxError> {
    let a = RingwalAppender::open(dir, driver, Durability::Flush, false)?;
    let m = run_appender(&a, threads, 1, record_bytes, until)?;
    a.wal.sync()?;
    a.close(dir)?;
    Ok(m)
}
