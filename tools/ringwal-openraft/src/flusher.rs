//! Tells openraft when appended entries are durable: a thread that waits on the log's
//! durable watermark for each append, in order, and fires its callback. Group commit
//! does the rest: many appends in flight share one sync.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use openraft::RaftTypeConfig;
use openraft::storage::LogFlushed;
use ringwal::{Lsn, Wal};

use crate::error::Error;

/// Entries appended and not yet durable, by LSN.
pub(crate) type Pending<C> = Arc<Mutex<BTreeMap<u64, <C as RaftTypeConfig>::Entry>>>;

enum Job<C: RaftTypeConfig> {
    /// The append that ends at `last_lsn` is durable: report it.
    Flush {
        last_lsn: u64,
        callback: LogFlushed<C>,
    },
    /// Answered once every job sent before it is done.
    Barrier(mpsc::SyncSender<()>),
}

pub(crate) struct Flusher<C: RaftTypeConfig> {
    jobs: Option<mpsc::Sender<Job<C>>>,
    thread: Option<JoinHandle<()>>,
}

impl<C: RaftTypeConfig> std::fmt::Debug for Flusher<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher").finish_non_exhaustive()
    }
}

impl<C: RaftTypeConfig> Flusher<C> {
    pub fn start(wal: Arc<Wal>, pending: Pending<C>) -> Result<Self, Error> {
        let (tx, rx) = mpsc::channel::<Job<C>>();
        let thread = std::thread::Builder::new()
            .name("ringwal-openraft-flush".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Flush { last_lsn, callback } => {
                            let done = wal.wait_durable(Lsn::new(last_lsn));
                            if done.is_ok() {
                                let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                                let rest = p.split_off(&(last_lsn + 1));
                                *p = rest;
                            }
                            // A failure (a poisoned log) goes to openraft as an I/O
                            // error, which stops the node.
                            callback.log_io_completed(done.map_err(std::io::Error::other));
                        }
                        Job::Barrier(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })
            .map_err(|e| {
                Error::Wal(ringwal::Error::Unsupported {
                    reason: format!("cannot start the flush thread: {e}"),
                })
            })?;
        Ok(Flusher {
            jobs: Some(tx),
            thread: Some(thread),
        })
    }

    /// Fires `callback` once everything up to `last_lsn` is durable.
    pub fn submit(&self, last_lsn: u64, callback: LogFlushed<C>) {
        let job = Job::Flush { last_lsn, callback };
        if let Some(Err(mpsc::SendError(Job::Flush { callback, .. }))) =
            self.jobs.as_ref().map(|tx| tx.send(job))
        {
            callback.log_io_completed(Err(std::io::Error::other("the flush thread is gone")));
        }
    }

    /// Waits until every callback submitted so far has fired.
    pub fn barrier(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        if let Some(jobs) = &self.jobs
            && jobs.send(Job::Barrier(tx)).is_ok()
        {
            let _ = rx.recv();
        }
    }
}

impl<C: RaftTypeConfig> Drop for Flusher<C> {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
