//! The portable driver: positioned writes and a data sync per touched segment, run
//! synchronously on the log-writer thread. Appenders keep filling the next batch while
//! this thread waits in the sync, which is where group commit comes from.

use std::time::Instant;

use super::fs::FileIo;
use super::{Completed, Flush, IoDriver};
use crate::error::Result;
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

    fn submit(&mut self, flush: Flush) -> Result<()> {
        debug_assert!(
            self.done.is_none(),
            "portable driver holds one flush at a time"
        );
        for run in &flush.runs {
            let bytes = flush.buf.get(run.bytes.clone()).unwrap_or_default();
            debug_assert_eq!(bytes.len(), run.bytes.len());
            self.io.write_at(&run.segment, bytes, run.offset)?;
        }
        let started = Instant::now();
        for segment in &flush.syncs {
            self.io.sync(segment)?;
        }
        let sync_ns = if flush.syncs.is_empty() {
            0
        } else {
            started.elapsed().as_nanos() as u64
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
}
