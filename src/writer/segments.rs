//! Segment files: preparing the next one off the hot path, and opening the ones the
//! writer moves into.
//!
//! A segment is prepared under a temporary name (`<seq>.wal.tmp`), given its space as
//! `Options::preallocate` says, synced, renamed to its final name, and then the
//! directory is synced. Only then is it handed to the writer, so a segment's directory
//! entry is durable before any record in it can be reported durable. A spare file (a
//! retired segment kept for reuse, `writer::spares`) is used instead when there is one:
//! the recycled-blank marker over its old header, synced, then the same rename and
//! directory sync, without zero-filling. With a driver that commits with direct writes,
//! the segment also comes with its `O_DIRECT` descriptor and without cached pages.
//!
//! On io_uring (`Options::prepare_on_ring`) the same steps for a spare, and for a new
//! file in direct mode, run as one linked chain on the writer's ring instead of on the
//! thread (`SegmentJob`): the writer opens the descriptors when it asks for the next
//! segment and collects the chain when it rotates into it.

use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;

use crate::error::{Error, IoOp, Result};
use crate::format::names::{TMP_SUFFIX, segment_file_name};
use crate::io::fs::write_zeros;
use crate::io::{Fs, Handle, IoDriver, JobKind, Mode, SegmentFile, SegmentJob};
use crate::options::Preallocate;

/// How to make new segments.
#[derive(Debug, Clone)]
pub(crate) struct SegmentSpec {
    pub fs: Fs,
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub preallocate: Preallocate,
    /// The block the driver's direct writes align to, when it commits with them: each
    /// new segment is zeroed through its `O_DIRECT` descriptor and handed over with
    /// it and without cached pages (`SegmentFile::direct`).
    pub direct_block: Option<u64>,
    /// Retired segment files to reuse before making new ones.
    pub spares: super::spares::Spares,
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

    /// Creates segment `sequence`, durably (file and directory entry): from a spare
    /// file if the pool has one, else a new file.
    pub fn create(&self, sequence: u64) -> Result<SegmentFile> {
        while let Some(spare) = self.spares.take() {
            if let Some(made) = self.reuse(&spare, sequence)? {
                return Ok(made);
            }
        }
        let path = self.path(sequence);
        let tmp = self.tmp_path(sequence);
        let file = self
            .fs
            .open(&tmp, Mode::CreateTruncate)
            .map_err(|e| Error::io(IoOp::Open, &tmp, e))?;
        let prepared = self.ready_for_direct(&file, &tmp).and_then(|direct| {
            self.allocate(&file, direct.as_deref(), &tmp)?;
            file.sync_all()
                .map_err(|e| Error::io(IoOp::Sync, &tmp, e))?;
            if direct.is_some() {
                crate::io::drop_cached_pages(&file);
            }
            self.fs
                .rename(&tmp, &path)
                .map_err(|e| Error::io(IoOp::Rename, &tmp, e))?;
            self.fs.sync_dir(&self.dir)?;
            Ok(direct)
        });
        let direct = match prepared {
            Ok(direct) => direct,
            Err(e) => {
                // Leave no half-made file behind (a full disk should not keep its space).
                let _ = self.fs.remove_file(&tmp);
                return Err(e);
            }
        };
        let floor_bytes = match self.preallocate {
            Preallocate::Grow => 0,
            Preallocate::Zeroed | Preallocate::Fallocate => self.segment_bytes,
        };
        Ok(SegmentFile {
            sequence,
            path,
            file,
            floor_bytes,
            direct,
            recycled: false,
        })
    }

    /// Makes segment `sequence` from the spare file `spare`: the recycled-blank marker
    /// over its old header, synced, then the rename to the new name and the directory
    /// sync. `None` (the spare removed) when the file is gone or not `segment_bytes`
    /// long. No zeros are written: the old frames stay and never validate in the new
    /// life (docs/FORMAT.md, "Recycled segments").
    fn reuse(&self, spare: &Path, sequence: u64) -> Result<Option<SegmentFile>> {
        let Some((file, len)) = self.open_spare(spare)? else {
            return Ok(None);
        };
        let marker = crate::format::header::SegmentHeader::recycled_blank(sequence);
        file.write_all_at(&marker, 0)
            .map_err(|e| Error::io(IoOp::Preallocate, spare, e))?;
        file.sync_data()
            .map_err(|e| Error::io(IoOp::Sync, spare, e))?;
        let direct = self.ready_for_direct(&file, spare)?;
        if direct.is_some() {
            // The old life's pages: each would have to be invalidated by the first
            // direct write over it.
            crate::io::drop_cached_pages(&file);
        }
        let path = self.path(sequence);
        self.fs
            .rename(spare, &path)
            .map_err(|e| Error::io(IoOp::Rename, spare, e))?;
        self.fs.sync_dir(&self.dir)?;
        self.spares.note_reused();
        Ok(Some(Self::recycled(sequence, path, (file, len), direct)))
    }

    /// The segment a spare file (`file`, `len` bytes) becomes.
    fn recycled(
        sequence: u64,
        path: PathBuf,
        (file, len): (Handle, u64),
        direct: Option<Arc<File>>,
    ) -> SegmentFile {
        SegmentFile {
            sequence,
            path,
            file,
            floor_bytes: len,
            direct,
            recycled: true,
        }
    }

    /// The steps of `reuse` after the opening, as a job for the driver's ring
    /// (`SegmentJob`), for the next usable spare; `None` when the pool has none. The
    /// descriptors are opened here (on the writer's thread: opening takes microseconds;
    /// the syncs and the rename, which take milliseconds, go to the ring).
    pub fn reuse_job(&self, sequence: u64, dir: &Arc<File>) -> Result<Option<SegmentJob>> {
        while let Some(spare) = self.spares.take() {
            let Some((file, len)) = self.open_spare(&spare)? else {
                continue;
            };
            let direct = self.ready_for_direct(&file, &spare)?;
            let path = self.path(sequence);
            let segment = Self::recycled(sequence, path, (file, len), direct);
            let marker = crate::format::header::SegmentHeader::recycled_blank(sequence);
            return self
                .job(segment, spare, dir, JobKind::Reuse { marker })
                .map(Some);
        }
        Ok(None)
    }

    /// The steps of `create` after the opening, as a job for the driver's ring: zeros
    /// through the new file's `O_DIRECT` descriptor, its fsync, the rename and the
    /// directory sync. `None` where the thread must make it: without direct mode, with
    /// `Preallocate` other than `Zeroed`, a size that is not whole blocks, or one above
    /// `io::RING_CREATE_BYTES_MAX`. Returns
    /// the temporary file's path too, which the caller removes if the chain fails.
    pub fn create_job(
        &self,
        sequence: u64,
        dir: &Arc<File>,
    ) -> Result<Option<(SegmentJob, PathBuf)>> {
        let whole_blocks = self
            .direct_block
            .is_some_and(|block| self.segment_bytes.is_multiple_of(block));
        let fits = self.segment_bytes <= crate::io::RING_CREATE_BYTES_MAX;
        if !whole_blocks || !fits || self.preallocate != Preallocate::Zeroed {
            return Ok(None);
        }
        let tmp = self.tmp_path(sequence);
        let file = self
            .fs
            .open(&tmp, Mode::CreateTruncate)
            .map_err(|e| Error::io(IoOp::Open, &tmp, e))?;
        let made = self.ready_for_direct(&file, &tmp).and_then(|direct| {
            self.injected_fault(&tmp)?;
            let segment = SegmentFile {
                sequence,
                path: self.path(sequence),
                file,
                floor_bytes: self.segment_bytes,
                direct,
                recycled: false,
            };
            let kind = JobKind::Create {
                len: self.segment_bytes,
            };
            self.job(segment, tmp.clone(), dir, kind)
        });
        match made {
            Ok(job) => Ok(Some((job, tmp))),
            Err(e) => {
                let _ = self.fs.remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// A job making `source` (in the log directory) into `segment`.
    fn job(
        &self,
        segment: SegmentFile,
        source: PathBuf,
        dir: &Arc<File>,
        kind: JobKind,
    ) -> Result<SegmentJob> {
        let name = |path: &Path| {
            let name = path.file_name().unwrap_or_default().as_encoded_bytes();
            CString::new(name).map_err(|e| Error::Unsupported {
                reason: format!("segment file name {}: {e}", path.display()),
            })
        };
        let (from, to) = (name(&source)?, name(&segment.path)?);
        Ok(SegmentJob {
            segment,
            source,
            dir: Arc::clone(dir),
            from,
            to,
            kind,
        })
    }

    fn tmp_path(&self, sequence: u64) -> PathBuf {
        self.dir
            .join(format!("{}{TMP_SUFFIX}", segment_file_name(sequence)))
    }

    /// Opens a spare file for reuse: with its length, or `None` (the spare removed)
    /// when it is gone or not `segment_bytes` long.
    fn open_spare(&self, spare: &Path) -> Result<Option<(Handle, u64)>> {
        let file = match self.fs.open(spare, Mode::ReadWrite) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(IoOp::Open, spare, e)),
        };
        let len = file.len().map_err(|e| Error::io(IoOp::Stat, spare, e))?;
        if len != self.segment_bytes {
            drop(file);
            self.fs
                .remove_file(spare)
                .map_err(|e| Error::io(IoOp::Remove, spare, e))?;
            return Ok(None);
        }
        self.injected_fault(spare)?;
        Ok(Some((file, len)))
    }

    /// Test builds: fails the Nth segment creation (or reuse) as the fault plan says.
    fn injected_fault(&self, path: &Path) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some((plan, made)) = &self.faults {
            let nth = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if let Some(e) = plan.segment_create_error(nth) {
                return Err(Error::io(IoOp::Preallocate, path, e));
            }
        }
        let _ = path;
        Ok(())
    }

    /// The new segment's `O_DIRECT` descriptor, opened here so rotation does not open
    /// it on the writer's thread; `None` unless the driver commits with direct writes.
    fn ready_for_direct(&self, file: &Handle, path: &Path) -> Result<Option<Arc<File>>> {
        match self.direct_block {
            Some(_) => {
                crate::io::open_direct(path, file).map_err(|e| Error::io(IoOp::Open, path, e))
            }
            None => Ok(None),
        }
    }

    fn allocate(&self, file: &Handle, direct: Option<&File>, path: &Path) -> Result<()> {
        self.injected_fault(path)?;
        let done = match self.preallocate {
            Preallocate::Grow => Ok(()),
            Preallocate::Zeroed => match (direct, self.direct_block) {
                (Some(direct), Some(block)) => {
                    crate::io::write_zeros_direct(direct, file, self.segment_bytes, block)
                }
                _ => write_zeros(file, 0, self.segment_bytes),
            },
            Preallocate::Fallocate => file.allocate(self.segment_bytes),
        };
        done.map_err(|e| Error::io(IoOp::Preallocate, path, e))
    }
}

/// A background thread that prepares the next segment while the current one fills.
#[derive(Debug)]
pub(crate) struct Preparer {
    requests: Option<Sender<u64>>,
    ready: Receiver<(u64, Result<SegmentFile>)>,
    thread: Option<JoinHandle<()>>,
    /// A segment made and not taken yet: found blank by recovery, or (eager mode)
    /// made as soon as it was requested.
    made: Option<(u64, Result<SegmentFile>)>,
    /// A request sent and not yet received.
    outstanding: bool,
    /// `request` waits for the segment. Under the simulator the preparer's file
    /// operations then fall at the same place among the writer's in every run, so a
    /// seed replays exactly; on real files the preparation overlaps the writes.
    eager: bool,
    /// The writer's copy of the spec, for jobs on the driver's ring.
    spec: SegmentSpec,
    /// The log directory's descriptor, which ring jobs rename in and sync (opened at
    /// the first one).
    ring_dir: Option<Arc<File>>,
    /// The segment a chain on the driver's ring is making: its sequence, and for a
    /// new file its temporary path (removed if the chain fails).
    on_ring: Option<(u64, Option<PathBuf>)>,
}

impl Preparer {
    pub fn start(spec: SegmentSpec, found: Option<SegmentFile>) -> Result<Self> {
        let eager = !spec.fs.is_os();
        let kept = spec.clone();
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
            made: found.map(|f| (f.sequence, Ok(f))),
            outstanding: false,
            eager,
            spec: kept,
            ring_dir: None,
            on_ring: None,
        })
    }

    /// Starts preparing `sequence` in the background: from a spare with a chain on
    /// `driver`'s ring where it can (`IoDriver::segment_jobs_on_ring`), else on the thread.
    pub fn request(&mut self, sequence: u64, driver: &mut dyn IoDriver) {
        if self.made.as_ref().is_some_and(|(got, _)| *got == sequence) {
            return;
        }
        if !self.eager
            && self.on_ring.is_none()
            && !self.outstanding
            && driver.segment_jobs_on_ring()
        {
            match self.start_on_ring(sequence, driver) {
                Ok(Some(tmp)) => {
                    self.on_ring = Some((sequence, tmp));
                    return;
                }
                // The thread makes it (see `SegmentSpec::create_job`).
                Ok(None) => {}
                Err(e) => {
                    self.made = Some((sequence, Err(e)));
                    return;
                }
            }
        }
        if let Some(tx) = &self.requests {
            // A send fails only if the thread is gone; `take` will then report it.
            let _ = tx.send(sequence);
            self.outstanding = true;
        }
        if self.eager {
            self.made = Some(self.receive());
        }
    }

    /// Starts a chain on the ring making `sequence`, from the next spare or else as a
    /// new file; `Some` with the new file's temporary path (`None` for a spare), or
    /// `None` when the thread must make it.
    fn start_on_ring(
        &mut self,
        sequence: u64,
        driver: &mut dyn IoDriver,
    ) -> Result<Option<Option<PathBuf>>> {
        let dir = match &self.ring_dir {
            Some(dir) => Arc::clone(dir),
            None => {
                let dir = File::open(&self.spec.dir)
                    .map_err(|e| Error::io(IoOp::Open, &self.spec.dir, e))?;
                Arc::clone(self.ring_dir.insert(Arc::new(dir)))
            }
        };
        if let Some(job) = self.spec.reuse_job(sequence, &dir)? {
            return match driver.start_segment_job(job)? {
                None => Ok(Some(None)),
                Some(back) => {
                    // Not queued: the spare goes back to the pool for the thread.
                    self.spec.spares.add([back.source]);
                    Ok(None)
                }
            };
        }
        if driver.direct_block().is_none() {
            return Ok(None);
        }
        let Some((job, tmp)) = self.spec.create_job(sequence, &dir)? else {
            return Ok(None);
        };
        match driver.start_segment_job(job) {
            Ok(None) => Ok(Some(Some(tmp))),
            not_queued => {
                let _ = self.spec.fs.remove_file(&tmp);
                not_queued.map(|_| None)
            }
        }
    }

    /// Collects the chain on the ring for `on_ring`.
    fn finish_on_ring(
        &mut self,
        driver: &mut dyn IoDriver,
        tmp: Option<PathBuf>,
    ) -> Result<SegmentFile> {
        let made = driver.finish_segment_job();
        match (&made, tmp) {
            (Ok(_), None) => self.spec.spares.note_reused(),
            // Leave no half-made file behind (a full disk should not keep its space).
            (Err(_), Some(tmp)) => drop(self.spec.fs.remove_file(&tmp)),
            _ => {}
        }
        made
    }

    fn receive(&mut self) -> (u64, Result<SegmentFile>) {
        self.outstanding = false;
        self.ready.recv().unwrap_or_else(|_| {
            let gone = std::io::Error::other("segment preparer thread exited");
            (
                0,
                Err(Error::io(IoOp::Preallocate, "ringwal-prepare thread", gone)),
            )
        })
    }

    /// The prepared segment `sequence`, waiting for it if it is not ready yet.
    pub fn take(&mut self, sequence: u64, driver: &mut dyn IoDriver) -> Result<SegmentFile> {
        let (got, made) = if let Some((got, tmp)) = self.on_ring.take() {
            (got, self.finish_on_ring(driver, tmp))
        } else {
            self.take_made(sequence)
        };
        if got != sequence && made.is_ok() {
            return Err(Error::InvalidArgument {
                what: "segment sequence",
                reason: format!("writer needed segment {sequence}, preparer made {got}"),
            });
        }
        made
    }

    /// What the thread made (or recovery found), waiting for the thread if needed.
    fn take_made(&mut self, sequence: u64) -> (u64, Result<SegmentFile>) {
        match self.made.take() {
            Some((got, made)) if got == sequence => (got, made),
            kept => {
                self.made = kept;
                self.receive()
            }
        }
    }

    /// Waits for a preparation under way and returns the sequence of what was made,
    /// which stays made: a cut of the log that keeps the segment before it keeps it
    /// too (else see `discard`). A chain on the ring that failed is an error (the cut
    /// then poisons the log): a step of it left undone could still land behind the
    /// cut. A preparation the thread failed is forgotten, and `None` returned.
    pub fn settle(&mut self, driver: &mut dyn IoDriver) -> Result<Option<u64>> {
        if let Some((sequence, tmp)) = self.on_ring.take() {
            let made = self.finish_on_ring(driver, tmp)?;
            self.made = Some((sequence, Ok(made)));
        }
        if self.outstanding {
            self.made = Some(self.receive());
        }
        match &self.made {
            Some((sequence, Ok(_))) => Ok(Some(*sequence)),
            _ => {
                self.made = None;
                Ok(None)
            }
        }
    }

    /// Forgets what was made: a cut of the log removed it with the other segments
    /// after the cut. Call `settle` first.
    pub fn discard(&mut self) {
        debug_assert!(self.on_ring.is_none() && !self.outstanding);
        self.made = None;
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
