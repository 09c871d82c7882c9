//! Counters and latency histograms.

use hdrhistogram::Histogram;

use crate::options::Driver;

/// A few percentiles of one histogram.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest value.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        Percentiles {
            count: h.len(),
            p50: h.value_at_quantile(0.5),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// A snapshot of what a log has done since it was opened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// The driver writing the log.
    pub driver: Driver,
    /// Records appended.
    pub appends: u64,
    /// Payload bytes appended.
    pub append_bytes: u64,
    /// Flushes (one write of whatever was staged, plus its sync if any) completed.
    pub flushes: u64,
    /// Segment data syncs completed.
    pub syncs: u64,
    /// Bytes written to segments (frames, padding and headers).
    pub bytes_written: u64,
    /// Segments the writer moved into after the first.
    pub rotations: u64,
    /// Records per flush.
    pub batch_records: Percentiles,
    /// Bytes per flush.
    pub batch_bytes: Percentiles,
    /// Time spent syncing, per flush that synced, in microseconds.
    pub sync_latency_us: Percentiles,
    /// Submission-queue entries handed to io_uring (0 on the portable driver).
    pub ring_sqes: u64,
    /// `io_uring_enter` calls (0 on the portable driver).
    pub ring_enters: u64,
    /// Writes issued from registered buffers.
    pub fixed_writes: u64,
    /// Write chains resumed after a short write.
    pub short_write_resumes: u64,
    /// Most flushes (io_uring: linked chains) seen in flight at once.
    pub chains_in_flight_peak: u64,
}

/// The writer thread's side of the statistics.
#[derive(Debug)]
pub(crate) struct FlushStats {
    pub flushes: u64,
    pub syncs: u64,
    pub bytes_written: u64,
    pub rotations: u64,
    pub batch_records: Histogram<u64>,
    pub batch_bytes: Histogram<u64>,
    pub sync_latency_us: Histogram<u64>,
    pub driver: crate::io::DriverCounters,
}

impl FlushStats {
    /// Accounts one completed flush.
    pub fn record(
        &mut self,
        flush: &crate::io::Flush,
        sync_ns: u64,
        driver: crate::io::DriverCounters,
    ) {
        self.flushes += 1;
        let syncs = flush.syncs() as u64;
        self.syncs += syncs;
        let bytes = flush.bytes() as u64;
        self.bytes_written += bytes;
        if flush.records > 0 {
            let _ = self.batch_records.record(flush.records);
            let _ = self.batch_bytes.record(bytes);
        }
        if syncs > 0 {
            let _ = self.sync_latency_us.record((sync_ns / 1000).max(1));
        }
        self.driver = driver;
    }

    pub fn new() -> Self {
        // Three significant figures; auto-resizing keeps any value recordable.
        let hist = || {
            let mut h = Histogram::<u64>::new(3)
                .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| unreachable_hist()));
            h.auto(true);
            h
        };
        FlushStats {
            flushes: 0,
            syncs: 0,
            bytes_written: 0,
            rotations: 0,
            batch_records: hist(),
            batch_bytes: hist(),
            sync_latency_us: hist(),
            driver: crate::io::DriverCounters::default(),
        }
    }
}

#[expect(
    clippy::panic,
    reason = "Histogram::new(2) with auto-resize cannot fail; sigfig 2 is in range"
)]
fn unreachable_hist() -> Histogram<u64> {
    panic!("hdrhistogram rejected 2 significant figures")
}
