//! Segment files: preparing the next one off the hot path, and opening the ones the
//! writer moves into.
//!
//! A segment is prepared under a temporary name (`<seq>.wal.tmp`), given its space as
//! `Options::preallocate` says, synced, renamed to its final name, and then the
//! directory is synced. Only then is it handed to the writer, so a segment's directory
//! entry is durable before any record in it can be reported durable.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::error::{Error, IoOp, Result};
use crate::format::names::{TMP_SUFFIX, segment_file_name};
use crate::io::SegmentFile;
use crate::io::fs::{sync_dir, write_all_at};
use crate::options::Preallocate;

/// Bytes written per call when pre-zeroing.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// How to make new segments.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSpec {
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub preallocate: Preallocate,
    /// Test builds: fail the Nth segment creation as the plan says.
    #[cfg(feature = "fault-injection")]
    pub faults: Option<(
        crate::testing::FaultPlan,
        std::sync::Arc<std::sync::atomic::AtomicU64>,
    )>,
}

impl SegmentSpec {
    pub fn path(&self, sequence: u64) -> PathBuf {
        self.dir.join(segment_file_name(sequence))
    }

    /// Creates segment `sequence`, durably (file and directory entry).
    pub fn create(&self, sequence: u64) -> Result<SegmentFile> {
        let path = self.path(sequence);
        let tmp = self
            .dir
            .join(format!("{}{TMP_SUFFIX}", segment_file_name(sequence)));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(|e| Error::io(IoOp::Open, &tmp, e))?;
        let prepared = self.allocate(&file, &tmp).and_then(|()| {
            file.sync_all()
                .map_err(|e| Error::io(IoOp::Sync, &tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(IoOp::Rename, &tmp, e))?;
            sync_dir(&self.dir)
        });
        if let Err(e) = prepared {
            // Leave no half-made file behind (a full disk should not keep its space).
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        let floor_bytes = match self.preallocate {
            Preallocate::Grow => 0,
            Preallocate::Zeroed | Preallocate::Fallocate => self.segment_bytes,
        };
        Ok(SegmentFile {
            sequence,
            path,
            file,
            floor_bytes,
        })
    }

    fn allocate(&self, file: &std::fs::File, path: &Path) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some((plan, made)) = &self.faults {
            let nth = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if let Some(e) = plan.segment_create_error(nth) {
                return Err(Error::io(IoOp::Preallocate, path, e));
            }
        }
        match self.preallocate {
            Preallocate::Grow => Ok(()),
            Preallocate::Zeroed => {
                let zeros = vec![0u8; ZERO_CHUNK_BYTES];
                let mut at = 0u64;
                while at < self.segment_bytes {
                    let n = (self.segment_bytes - at).min(ZERO_CHUNK_BYTES as u64) as usize;
                    write_all_at(file, zeros.get(..n).unwrap_or_default(), at)
                        .map_err(|e| Error::io(IoOp::Preallocate, path, e))?;
                    at += n as u64;
                }
                Ok(())
            }
            Preallocate::Fallocate => {
                #[cfg(target_os = "linux")]
                {
                    rustix::fs::fallocate(
                        file,
                        rustix::fs::FallocateFlags::empty(),
                        0,
                        self.segment_bytes,
                    )
                    .map_err(|e| Error::io(IoOp::Preallocate, path, e.into()))
                }
                #[cfg(not(target_os = "linux"))]
                {
                    file.set_len(self.segment_bytes)
                        .map_err(|e| Error::io(IoOp::Preallocate, path, e))
                }
            }
        }
    }
}

/// A background thread that prepares the next segment while the current one fills.
#[derive(Debug)]
pub(crate) struct Preparer {
    requests: Option<Sender<u64>>,
    ready: Receiver<(u64, Result<SegmentFile>)>,
    thread: Option<JoinHandle<()>>,
    /// A segment already prepared before the thread started (found blank by recovery).
    found: Option<SegmentFile>,
}

impl Preparer {
    pub fn start(spec: SegmentSpec, found: Option<SegmentFile>) -> Result<Self> {
        let (req_tx, req_rx) = mpsc::channel::<u64>();
        let (done_tx, done_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ringwal-prepare".into())
            .spawn(move || {
                for sequence in req_rx {
                    let made = spec.create(sequence);
                    if done_tx.send((sequence, made)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::io(IoOp::Open, "ringwal-prepare thread", e))?;
        Ok(Preparer {
            requests: Some(req_tx),
            ready: done_rx,
            thread: Some(thread),
            found,
        })
    }

    /// Starts preparing `sequence` in the background.
    pub fn request(&mut self, sequence: u64) {
        if self.found.as_ref().is_some_and(|f| f.sequence == sequence) {
            return;
        }
        if let Some(tx) = &self.requests {
            // A send fails only if the thread is gone; `take` will then report it.
            let _ = tx.send(sequence);
        }
    }

    /// The prepared segment `sequence`, waiting for it if it is not ready yet.
    pub fn take(&mut self, sequence: u64) -> Result<SegmentFile> {
        if let Some(found) = self.found.take() {
            if found.sequence == sequence {
                return Ok(found);
            }
            self.found = Some(found);
        }
        match self.ready.recv() {
            Ok((got, made)) if got == sequence => made,
            Ok((got, _)) => Err(Error::InvalidArgument {
                what: "segment sequence",
                reason: format!("writer needed segment {sequence}, preparer made {got}"),
            }),
            Err(_) => Err(Error::io(
                IoOp::Preallocate,
                "ringwal-prepare thread",
                std::io::Error::other("segment preparer thread exited"),
            )),
        }
    }

    /// Stops the thread after the segment it is working on (if any).
    pub fn stop(&mut self) {
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.stop();
    }
}
