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

/// A histogram (three significant figures) plus the exact largest value: hdrhistogram
/// reports a bucket's highest equivalent value, which can exceed anything recorded.
#[derive(Debug)]
pub(crate) struct Hist {
    h: Histogram<u64>,
    max: u64,
}

impl Hist {
    fn new() -> Self {
        // Three significant figures; auto-resizing keeps any value recordable.
        let mut h = Histogram::<u64>::new(3)
            .unwrap_or_else(|_| Histogram::new(2).unwrap_or_else(|_| unreachable_hist()));
        h.auto(true);
        Hist { h, max: 0 }
    }

    pub fn record(&mut self, value: u64) {
        // With auto-resize on, recording cannot fail.
        let _ = self.h.record(value);
        self.max = self.max.max(value);
    }

    pub fn percentiles(&self) -> Percentiles {
        let q = |q: f64| self.h.value_at_quantile(q).min(self.max);
        Percentiles {
            count: self.h.len(),
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: self.max,
            mean: self.h.mean(),
        }
    }
}

/// A snapshot of what a log has done since it was opened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// The driver writing the log.
    pub driver: Driver,
    /// Whether the io_uring driver commits with direct (`O_DIRECT` + `RWF_DSYNC`)
    /// writes, rather than buffered writes linked to fsyncs (see
    /// `Options::direct_io`); false on the portable driver.
    pub direct_io: bool,
    /// Direct writes submitted.
    pub direct_writes: u64,
    /// Direct-mode flushes that had to wait for a write in flight to finish with a
    /// block they write too (padding avoids most of these).
    pub direct_block_waits: u64,
    /// Records appended.
    pub appends: u64,
    /// Payload bytes appended.
    pub append_bytes: u64,
    /// Bytes of segments skipped as padding: a commit that starts while the one before
    /// it is still being written in the same block starts at the next block instead
    /// (direct mode with several commits in flight; docs/FORMAT.md, "Padding").
    pub padding_bytes: u64,
    /// Flushes (one write of whatever was staged, plus its sync if any) completed.
    pub flushes: u64,
    /// Segment data syncs completed.
    pub syncs: u64,
    /// Bytes of frames and segment headers written to segments. Padding, a gap the
    /// writer skips rather than writes, is in `padding_bytes`; direct mode also
    /// rewrites the rest of a commit's first and last blocks, counted in neither.
    pub bytes_written: u64,
    /// Segments the writer moved into after the first.
    pub rotations: u64,
    /// Segments made from a retired segment's file instead of a new, zero-filled one
    /// (`Options::recycle_segments`), since the log was opened.
    pub segments_recycled: u64,
    /// Of those, the ones made by a linked chain on the io_uring writer's ring
    /// (`Options::prepare_on_ring`) rather than on the segment preparer's thread.
    pub segments_recycled_on_ring: u64,
    /// New segment files made (zero-filled through `O_DIRECT`, synced, renamed into
    /// place) by a linked chain on the io_uring writer's ring, in direct mode with
    /// `Options::prepare_on_ring`; the others are made on the preparer's thread.
    pub segments_created_on_ring: u64,
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
    /// Async waiters (`durable` futures, `SyncTicket`s being awaited, tails) whose
    /// wakers are registered with the watermark right now.
    pub wakers_registered: u64,
}

/// The writer thread's side of the statistics.
#[derive(Debug)]
pub(crate) struct FlushStats {
    pub flushes: u64,
    pub syncs: u64,
    pub bytes_written: u64,
    pub rotations: u64,
    pub batch_records: Hist,
    pub batch_bytes: Hist,
    pub sync_latency_us: Hist,
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
            self.batch_records.record(flush.records);
            self.batch_bytes.record(bytes);
        }
        if syncs > 0 {
            self.sync_latency_us.record((sync_ns / 1000).max(1));
        }
        self.driver = driver;
    }

    pub fn new() -> Self {
        let hist = Hist::new;
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
