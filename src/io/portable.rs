//! The portable driver: positioned writes and data syncs, in order, run synchronously
//! on the log-writer thread. Appenders keep filling the next batch while this thread
//! waits in the sync, which is where group commit comes from.

use std::sync::Arc;
use std::time::Instant;

use super::file_io::FileIo;
use super::{Buffer, Completed, DriverCounters, Flush, IoDriver, Op, Wake};
use crate::error::{Error, Result};
use crate::options::Driver;

#[derive(Debug)]
pub(crate) struct PortableDriver {
    io: FileIo,
    done: Option<Completed>,
}

impl PortableDriver {
    pub fn new(io: FileIo) -> Self {
        PortableDriver { io, done: None }
    }
}

impl IoDriver for PortableDriver {
    fn kind(&self) -> Driver {
        Driver::Portable
    }

    fn depth(&self) -> usize {
        1
    }

    fn buffers(&mut self, count: usize, capacity: usize) -> Vec<Buffer> {
        (0..count)
            .map(|_| Buffer {
                bytes: Vec::with_capacity(capacity),
                registered: None,
            })
            .collect()
    }

    fn waker(&self) -> Option<Arc<dyn Wake>> {
        None
    }

    fn submit(&mut self, flush: Flush) -> Result<()> {
        debug_assert!(
            self.done.is_none(),
            "portable driver holds one flush at a time"
        );
        // Same span as the io_uring driver: the whole flush, writes included.
        let started = Instant::now();
        for op in &flush.ops {
            match op {
                Op::Write(run) => {
                    let Some(bytes) = flush.buf.bytes.get(run.bytes.clone()) else {
                        return Err(Error::internal(format!(
                            "a write of bytes {:?} of a {}-byte flush buffer",
                            run.bytes,
                            flush.buf.bytes.len()
                        )));
                    };
                    self.io.write_at(&run.segment, bytes, run.offset)?;
                }
                Op::Sync(segment) => self.io.sync(segment)?,
            }
        }
        let sync_ns = if flush.syncs() > 0 {
            started.elapsed().as_nanos() as u64
        } else {
            0
        };
        self.done = Some(Completed { flush, sync_ns });
        Ok(())
    }

    fn reap(&mut self, done: &mut Vec<Completed>, _wait: bool) -> Result<()> {
        done.extend(self.done.take());
        Ok(())
    }

    fn in_flight(&self) -> usize {
        usize::from(self.done.is_some())
    }

    fn counters(&self) -> DriverCounters {
        DriverCounters::default()
    }
}
