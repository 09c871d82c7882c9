//! The one I/O seam. Which driver runs, and whether io_uring exists at all on this
//! platform and build, is decided here and nowhere else.

#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) mod direct;
pub(crate) mod file_io;
pub(crate) mod fs;
pub(crate) mod mode;
pub(crate) mod portable;
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) mod uring;

use std::ops::Range;
use std::sync::Arc;

use crate::error::Result;
use crate::options::{Driver, Options};

pub(crate) use fs::{Fs, Handle, SegmentFile};
pub(crate) use mode::Mode;

/// Environment variable that makes `Driver::Auto` skip io_uring (and `Driver::IoUring`
/// fail with `Unsupported`), to test the fallback.
pub const FORCE_PORTABLE_ENV: &str = "RINGWAL_FORCE_PORTABLE";

/// Environment variable that keeps the io_uring driver on its buffered write → fsync
/// chains where direct mode would run (`Options::direct_io` stays as set), so CI can
/// run the whole suite in that mode too.
#[cfg_attr(not(all(target_os = "linux", feature = "io-uring")), allow(dead_code))]
pub const FORCE_BUFFERED_ENV: &str = "RINGWAL_FORCE_BUFFERED";

/// One contiguous run of a flush buffer, written into one segment at one offset.
#[derive(Debug)]
pub(crate) struct Run {
    pub segment: Arc<SegmentFile>,
    pub offset: u64,
    pub bytes: Range<usize>,
}

/// One step of a flush.
#[derive(Debug)]
pub(crate) enum Op {
    /// Write a run of the flush buffer.
    Write(Run),
    /// Make a segment's data durable.
    Sync(Arc<SegmentFile>),
}

/// A staging buffer, with the index it is registered under in the driver (io_uring
/// registered buffers), if any. The index travels with the buffer so a driver never
/// has to recognise a buffer by its address.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    pub bytes: Vec<u8>,
    pub registered: Option<u16>,
}

/// A unit of work for a driver: its ops, strictly in order (a sync covers every write
/// before it in the flush). The flush completes only when all of it has.
#[derive(Debug)]
pub(crate) struct Flush {
    pub buf: Buffer,
    pub ops: Vec<Op>,
    /// Highest LSN whose bytes are in `buf` (0 for a sync-only flush).
    pub lsn_end: u64,
    /// Records in `buf`.
    pub records: u64,
    /// When this flush completes (after every earlier one), every LSN up to this one is
    /// synced; `None` for a flush without syncs.
    pub synced_end: Option<u64>,
}

impl Flush {
    pub fn syncs(&self) -> usize {
        self.ops
            .iter()
            .filter(|op| matches!(op, Op::Sync(_)))
            .count()
    }

    pub fn bytes(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Write(run) => run.bytes.len(),
                Op::Sync(_) => 0,
            })
            .sum()
    }
}

/// What a driver reports for a flush that completed.
#[derive(Debug)]
pub(crate) struct Completed {
    pub flush: Flush,
    /// Commit time of a flush that syncs: from its submission to the driver to its
    /// completion (its writes and syncs), nanoseconds; 0 when nothing was synced. Both
    /// drivers measure the same span.
    pub sync_ns: u64,
}

/// Counters a driver keeps about how it talks to the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct DriverCounters {
    /// Submission-queue entries handed to an io_uring (0 for the portable driver).
    pub ring_sqes: u64,
    /// `io_uring_enter` calls.
    pub ring_enters: u64,
    /// Write chains resumed after a short write.
    pub short_write_resumes: u64,
    /// Writes made from registered (fixed) buffers.
    pub fixed_writes: u64,
    /// Most chains seen in flight at once.
    pub chains_in_flight_peak: u64,
    /// Direct (`O_DIRECT` + `RWF_DSYNC`) writes submitted.
    pub direct_writes: u64,
    /// Direct-mode flushes that waited for a write in flight to finish with a block
    /// they also write.
    pub direct_block_waits: u64,
    /// Segments made by a linked chain on the ring (`SegmentJob`): from spare files,
    /// and new zero-filled ones.
    pub ring_reuses: u64,
    pub ring_creates: u64,
}

/// A segment to make with one linked chain on the driver's ring
/// (`IoDriver::start_segment_job`), each step after the one before has completed; the
/// same steps the segment preparer's thread takes with blocking calls
/// (`writer::segments`). The job owns everything its entries point at (descriptors,
/// the marker, the names) until every entry has completed.
#[derive(Debug)]
#[cfg_attr(
    not(all(target_os = "linux", feature = "io-uring")),
    allow(dead_code, reason = "only the io_uring driver runs these chains")
)]
pub(crate) struct SegmentJob {
    /// The segment it becomes (already named with its final path).
    pub segment: SegmentFile,
    /// The file being made into it (a spare, or a new temporary file), for errors.
    pub source: std::path::PathBuf,
    /// The log directory, where the rename happens and which is synced after it.
    pub dir: Arc<std::fs::File>,
    /// The source's and the segment's names in `dir`.
    pub from: std::ffi::CString,
    pub to: std::ffi::CString,
    pub kind: JobKind,
}

/// The largest new segment a `JobKind::Create` chain makes: its zeros go out in at
/// most 64 pieces of at most 16 MiB (the piece is a buffer the driver keeps). Larger
/// segments are made on the preparer's thread.
#[cfg_attr(not(all(target_os = "linux", feature = "io-uring")), allow(dead_code))]
pub(crate) const RING_CREATE_BYTES_MAX: u64 = 1 << 30;

/// What a `SegmentJob` writes before the rename.
#[derive(Debug)]
#[cfg_attr(
    not(all(target_os = "linux", feature = "io-uring")),
    allow(dead_code, reason = "only the io_uring driver runs these chains")
)]
pub(crate) enum JobKind {
    /// A spare: the recycled-blank marker over its header → fdatasync → its cached
    /// pages dropped (direct mode).
    Reuse { marker: Vec<u8> },
    /// A new, empty file: zeros over its whole length through its `O_DIRECT`
    /// descriptor (`SegmentFile::direct`) in linked pieces → fsync.
    Create { len: u64 },
}

/// Wakes a writer that is blocked inside the driver waiting for completions.
pub(crate) trait Wake: Send + Sync + std::fmt::Debug {
    fn wake(&self);
}

/// A driver writes flushes and retires them in submission order.
pub(crate) trait IoDriver: Send {
    /// Which driver this is.
    fn kind(&self) -> Driver;
    /// Most flushes that may be in flight at once.
    fn depth(&self) -> usize;
    /// Buffers for staging (`count` of `capacity` bytes), registered with the kernel
    /// where the driver can. The caller must keep every one alive, and never let one
    /// reallocate, for as long as the driver lives.
    fn buffers(&mut self, count: usize, capacity: usize) -> Vec<Buffer>;
    /// Something that interrupts `reap(wait = true)`, if the driver can block there.
    fn waker(&self) -> Option<Arc<dyn Wake>>;
    /// Starts `flush`. The portable driver finishes it before returning. A flush
    /// holds at most `limits::FLUSH_OPS_MAX` ops on `FLUSH_SEGMENTS_MAX + 1` segments.
    fn submit(&mut self, flush: Flush) -> Result<()>;
    /// Appends completed flushes, oldest first, to `done`. With `wait`, blocks until
    /// something happens (a completion or a wake) if any flush is in flight.
    fn reap(&mut self, done: &mut Vec<Completed>, wait: bool) -> Result<()>;
    /// Flushes submitted and not yet handed back by `reap`.
    fn in_flight(&self) -> usize;
    /// Counters so far.
    fn counters(&self) -> DriverCounters;
    /// Settles how to write into `dir` before the first flush (io_uring: whether
    /// direct mode works there).
    fn prepare(&mut self, _dir: &std::path::Path) {}
    /// The block direct writes align to, when commits are direct (`O_DIRECT` +
    /// `RWF_DSYNC`) writes.
    fn direct_block(&self) -> Option<u64> {
        None
    }
    /// Whether commits are direct writes.
    fn direct(&self) -> bool {
        self.direct_block().is_some()
    }
    /// Whether `start_segment_job` runs here (io_uring with the opcodes it needs, and
    /// `Options::prepare_on_ring`). A `JobKind::Create` job also needs direct mode.
    fn segment_jobs_on_ring(&self) -> bool {
        false
    }
    /// Starts `job`'s chain; one at a time. Its completions are handled as they come,
    /// beside the flushes', and `finish_segment_job` collects the outcome. `Some(job)`
    /// back: nothing was queued (no room in the submission queue right now, or no
    /// ring); the caller makes the segment another way.
    fn start_segment_job(&mut self, job: SegmentJob) -> Result<Option<SegmentJob>> {
        Ok(Some(job))
    }
    /// Waits for the chain `start_segment_job` queued: the segment, or the first error
    /// of the chain (its file may then be renamed or not; the log is poisoned).
    fn finish_segment_job(&mut self) -> Result<SegmentFile> {
        Err(crate::Error::internal("no segment is being made on a ring"))
    }
}

fn force_portable() -> bool {
    env_set(FORCE_PORTABLE_ENV)
}

/// Whether a switch variable is set to something other than empty or `0`.
pub(crate) fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Builds the driver the options ask for: io_uring for `Auto` where it works (saying
/// once, through tracing, why not otherwise), the portable driver for `Portable`.
pub(crate) fn open_driver(options: &Options) -> Result<Box<dyn IoDriver>> {
    let portable = || {
        Box::new(portable::PortableDriver::new(
            file_io::FileIo::from_options(options),
        ))
    };
    if options.driver == Driver::Portable {
        return Ok(portable());
    }
    if !options.fs.is_os() {
        // The kernel does io_uring's I/O: it can only reach real files.
        if options.driver == Driver::IoUring {
            return Err(crate::Error::Unsupported {
                reason: "io_uring driver: a simulated filesystem has no kernel files".into(),
            });
        }
        return Ok(portable());
    }
    let why_not = if force_portable() {
        format!("{FORCE_PORTABLE_ENV} is set")
    } else {
        match open_uring(options) {
            Ok(driver) => return Ok(driver),
            Err(why) => why,
        }
    };
    if options.driver == Driver::IoUring {
        return Err(crate::Error::Unsupported {
            reason: format!("io_uring driver: {why_not}"),
        });
    }
    warn_fallback_once(&why_not);
    Ok(portable())
}

fn warn_fallback_once(why: &str) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            reason = why,
            "io_uring unavailable; ringwal uses the portable driver"
        );
    });
}

/// An `O_DIRECT` descriptor of the new segment file at `path` (checked to be `file`);
/// `None` for a file that is not a kernel file, or without io_uring.
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) fn open_direct(
    path: &std::path::Path,
    file: &Handle,
) -> std::io::Result<Option<std::sync::Arc<std::fs::File>>> {
    match file.os_file() {
        Some(f) => direct::open_direct(path, f).map(|d| Some(std::sync::Arc::new(d))),
        None => Ok(None),
    }
}

/// Zeros over `0..len` of a new segment through its `O_DIRECT` descriptor (see
/// `direct::write_zeros_direct`).
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) fn write_zeros_direct(
    direct: &std::fs::File,
    file: &Handle,
    len: u64,
    block: u64,
) -> std::io::Result<()> {
    match file.os_file() {
        Some(f) => direct::write_zeros_direct(direct, f, len, block),
        None => fs::write_zeros(file, 0, len),
    }
}

/// Drops the cached pages of a segment that is to take direct writes.
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) fn drop_cached_pages(file: &Handle) {
    if let Some(f) = file.os_file() {
        direct::drop_cached_pages(f);
    }
}

/// Without io_uring nothing writes directly.
#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
pub(crate) fn open_direct(
    _path: &std::path::Path,
    _file: &Handle,
) -> std::io::Result<Option<std::sync::Arc<std::fs::File>>> {
    Ok(None)
}

/// Without io_uring nothing writes directly: plain zeros.
#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
pub(crate) fn write_zeros_direct(
    _direct: &std::fs::File,
    file: &Handle,
    len: u64,
    _block: u64,
) -> std::io::Result<()> {
    fs::write_zeros(file, 0, len)
}

/// Without io_uring nothing writes directly.
#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
pub(crate) fn drop_cached_pages(_file: &Handle) {}

#[cfg(all(target_os = "linux", feature = "io-uring"))]
fn open_uring(options: &Options) -> std::result::Result<Box<dyn IoDriver>, String> {
    uring::UringDriver::open(options).map(|d| Box::new(d) as Box<dyn IoDriver>)
}

#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
fn open_uring(_options: &Options) -> std::result::Result<Box<dyn IoDriver>, String> {
    Err(if cfg!(target_os = "linux") {
        "this build has no `io-uring` feature".into()
    } else {
        "io_uring exists only on Linux".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11, item 7: a flush whose write names bytes outside its buffer (an
    /// internal range bug) used to be written as an empty write and acknowledged. Each
    /// driver refuses it with `Error::Internal`, which the writer turns into poison.
    fn out_of_range_flush(dir: &std::path::Path) -> Flush {
        let path = dir.join("segment");
        std::fs::write(&path, vec![0u8; 8192]).unwrap();
        let segment = Arc::new(SegmentFile::open(&Fs::default(), 1, path).unwrap());
        Flush {
            buf: Buffer {
                bytes: vec![7u8; 100],
                registered: None,
            },
            ops: vec![
                Op::Write(Run {
                    segment: Arc::clone(&segment),
                    offset: 4096,
                    bytes: 50..300,
                }),
                Op::Sync(segment),
            ],
            lsn_end: 1,
            records: 1,
            synced_end: Some(1),
        }
    }

    fn assert_refused(mut driver: Box<dyn IoDriver>) {
        let tmp = tempfile::tempdir().unwrap();
        let result = driver
            .submit(out_of_range_flush(tmp.path()))
            .and_then(|()| {
                let mut done = Vec::new();
                driver.reap(&mut done, true)
            });
        match result {
            Err(crate::Error::Internal { what }) => assert!(what.contains("50..300"), "{what}"),
            other => panic!(
                "{:?}: expected Error::Internal, got {other:?}",
                driver.kind()
            ),
        }
    }

    #[test]
    fn a_write_outside_its_buffer_is_an_internal_error_on_every_driver() {
        let options = Options::default().driver(Driver::Portable);
        assert_refused(open_driver(&options).unwrap());
        #[cfg(all(target_os = "linux", feature = "io-uring"))]
        match uring::UringDriver::open(&Options::default()) {
            Ok(driver) => assert_refused(Box::new(driver)),
            Err(why) if std::env::var_os("RINGWAL_REQUIRE_IO_URING").is_some() => {
                panic!("RINGWAL_REQUIRE_IO_URING is set but no ring opens: {why}")
            }
            Err(why) => eprintln!("io_uring half skipped: {why}"),
        }
    }
}
