//! The one I/O seam. Which driver runs, and whether io_uring exists at all on this
//! platform and build, is decided here and nowhere else.

pub(crate) mod fs;
pub(crate) mod portable;

use std::ops::Range;
use std::sync::Arc;

use crate::error::Result;
use crate::options::{Driver, Options};

pub(crate) use fs::SegmentFile;

/// One contiguous run of a flush buffer, written into one segment at one offset.
#[derive(Debug)]
pub(crate) struct Run {
    pub segment: Arc<SegmentFile>,
    pub offset: u64,
    pub bytes: Range<usize>,
}

/// A unit of work for a driver: write every run, then make every segment in `syncs`
/// durable. The flush completes only when all of it has.
#[derive(Debug)]
pub(crate) struct Flush {
    pub buf: Vec<u8>,
    pub runs: Vec<Run>,
    pub syncs: Vec<Arc<SegmentFile>>,
    /// Highest LSN whose bytes are in `buf` (0 for a sync-only flush).
    pub lsn_end: u64,
    /// Records in `buf`.
    pub records: u64,
}

/// What a driver reports for a flush that completed.
#[derive(Debug)]
pub(crate) struct Completed {
    pub flush: Flush,
    /// Time spent in the sync calls, in nanoseconds (0 when nothing was synced).
    pub sync_ns: u64,
}

/// A driver writes flushes and retires them in submission order.
pub(crate) trait IoDriver: Send {
    /// Which driver this is.
    fn kind(&self) -> Driver;
    /// Most flushes that may be in flight at once.
    fn depth(&self) -> usize;
    /// Starts `flush`. The portable driver finishes it before returning.
    fn submit(&mut self, flush: Flush) -> Result<()>;
    /// Appends completed flushes, oldest first, to `done`. With `wait`, blocks until at
    /// least one completes if any is in flight.
    fn reap(&mut self, done: &mut Vec<Completed>, wait: bool) -> Result<()>;
    /// Flushes submitted and not yet reaped.
    fn in_flight(&self) -> usize;
}

/// Builds the driver the options ask for.
pub(crate) fn open_driver(options: &Options) -> Result<Box<dyn IoDriver>> {
    let io = fs::FileIo::from_options(options);
    match options.driver {
        Driver::Portable | Driver::Auto => Ok(Box::new(portable::PortableDriver::new(io))),
        Driver::IoUring => Err(crate::Error::Unsupported {
            reason: "the io_uring driver is not built yet; use Driver::Portable or Driver::Auto"
                .into(),
        }),
    }
}
