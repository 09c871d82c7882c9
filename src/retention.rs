//! Retiring checkpointed segments: into `archive/` (then pruning the archive to its
//! count and byte limits, oldest first), kept as spare files for reuse
//! (`writer::spares`), or deleted. Every rename or removal is made
//! durable by syncing the directories involved; an error is returned, never swallowed.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoOp, Result};
use crate::format::checkpoint;
use crate::format::names::{ARCHIVE_DIR, CHECKPOINT_FILE, segment_file_name};
use crate::io::{Fs, Mode};
use crate::recovery::list_segments;
use crate::writer::spares::Spares;

#[derive(Debug, Clone)]
pub(crate) struct Retention {
    pub fs: Fs,
    pub dir: PathBuf,
    pub archive: bool,
    pub segments_max: u64,
    pub bytes_max: u64,
    /// Without archiving: where retired segment files go for reuse, while it has room.
    pub spares: crate::writer::spares::Spares,
}

/// What one retirement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Retired {
    pub archived: u64,
    pub deleted: u64,
    pub pruned: u64,
    /// Kept as spare files for reuse.
    pub recycled: u64,
}

impl Retention {
    pub fn archive_dir(&self) -> PathBuf {
        self.dir.join(ARCHIVE_DIR)
    }

    /// Retires the given live segments (all of whose records are checkpointed),
    /// oldest first. Safe to repeat after a failure: a segment already moved or
    /// removed by an earlier attempt counts as retired. The caller keeps the segments
    /// in its catalog until this returns `Ok`, so a failed retirement is tried again
    /// (with any later segments) and never leaves a gap below live segments.
    pub fn retire(&self, sequences: &[u64]) -> Result<Retired> {
        let mut done = Retired::default();
        if sequences.is_empty() {
            return Ok(done);
        }
        let archive = self.archive_dir();
        if self.archive {
            self.fs.create_dir_all_durable(&archive)?;
        }
        let mut sequences = sequences.to_vec();
        sequences.sort_unstable();
        let room = if self.archive { 0 } else { self.spares.room() };
        let mut spares = Vec::new();
        for seq in sequences {
            let from = self.dir.join(segment_file_name(seq));
            let spare = (spares.len() < room).then(|| Spares::path_for(&self.dir, seq));
            let moved = match (&spare, self.archive) {
                (_, true) => self.fs.rename(&from, &archive.join(segment_file_name(seq))),
                (Some(spare), false) => self.fs.rename(&from, spare),
                (None, false) => self.fs.remove_file(&from),
            };
            match moved {
                Ok(()) if self.archive => done.archived += 1,
                Ok(()) => match spare {
                    Some(spare) => {
                        done.recycled += 1;
                        spares.push(spare);
                    }
                    None => done.deleted += 1,
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::debug!(segment = seq, "segment already retired");
                }
                Err(e) => {
                    let op = if self.archive || spare.is_some() {
                        IoOp::Rename
                    } else {
                        IoOp::Remove
                    };
                    return Err(Error::io(op, &from, e));
                }
            }
        }
        if self.archive {
            // The new names must be durable before the old ones are known to be gone.
            self.fs.sync_dir(&archive)?;
        }
        self.fs.sync_dir(&self.dir)?;
        // Only now may the preparer reuse them: their new names are durable.
        self.spares.add(spares);
        if self.archive {
            done.pruned = self.prune()?;
        }
        tracing::debug!(?done, "retired checkpointed segments");
        Ok(done)
    }

    /// Removes the oldest archived segments until the archive is within its limits.
    pub fn prune(&self) -> Result<u64> {
        let archive = self.archive_dir();
        let mut files = Vec::new();
        for (seq, path) in list_segments(&self.fs, &archive)? {
            let bytes = self
                .fs
                .open(&path, Mode::Read)
                .and_then(|f| f.len())
                .map_err(|e| Error::io(IoOp::Read, &path, e))?;
            files.push((seq, path, bytes));
        }
        let mut count = files.len() as u64;
        let mut total: u64 = files.iter().map(|(_, _, b)| b).sum();
        let mut pruned = 0;
        for (_, path, bytes) in &files {
            if count <= self.segments_max && total <= self.bytes_max {
                break;
            }
            self.fs
                .remove_file(path)
                .map_err(|e| Error::io(IoOp::Remove, path, e))?;
            count -= 1;
            total -= bytes;
            pruned += 1;
        }
        if pruned > 0 {
            self.fs.sync_dir(&archive)?;
        }
        Ok(pruned)
    }

    /// The highest archived sequence, so new segments never reuse a name in `archive/`.
    pub fn archived_max(&self) -> Result<Option<u64>> {
        let archive = self.archive_dir();
        if !self.fs.is_dir(&archive) {
            return Ok(None);
        }
        Ok(list_segments(&self.fs, &archive)?
            .last()
            .map(|(seq, _)| *seq))
    }
}

/// Replaces the checkpoint file atomically and durably.
pub(crate) fn write_checkpoint(fs: &Fs, dir: &Path, lsn: u64) -> Result<()> {
    fs.replace_file_durably(dir, CHECKPOINT_FILE, &checkpoint::encode(lsn))
}
