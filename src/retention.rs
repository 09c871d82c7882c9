//! Retiring checkpointed segments: into `archive/` (then pruning the archive to its
//! count and byte limits, oldest first) or deleted. Every rename or removal is made
//! durable by syncing the directories involved; an error is returned, never swallowed.

use std::path::{Path, PathBuf};

use crate::error::{Error, IoOp, Result};
use crate::format::checkpoint;
use crate::format::names::{ARCHIVE_DIR, CHECKPOINT_FILE, TMP_SUFFIX, segment_file_name};
use crate::io::fs::{sync_data, sync_dir};
use crate::recovery::list_segments;

#[derive(Debug, Clone)]
pub(crate) struct Retention {
    pub dir: PathBuf,
    pub archive: bool,
    pub segments_max: u64,
    pub bytes_max: u64,
}

/// What one retirement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Retired {
    pub archived: u64,
    pub deleted: u64,
    pub pruned: u64,
}

impl Retention {
    pub fn archive_dir(&self) -> PathBuf {
        self.dir.join(ARCHIVE_DIR)
    }

    /// Retires the given live segments (all of whose records are checkpointed).
    pub fn retire(&self, sequences: &[u64]) -> Result<Retired> {
        let mut done = Retired::default();
        if sequences.is_empty() {
            return Ok(done);
        }
        let archive = self.archive_dir();
        if self.archive {
            std::fs::create_dir_all(&archive).map_err(|e| Error::io(IoOp::Open, &archive, e))?;
            sync_dir(&self.dir)?;
        }
        for &seq in sequences {
            let from = self.dir.join(segment_file_name(seq));
            if self.archive {
                let to = archive.join(segment_file_name(seq));
                std::fs::rename(&from, &to).map_err(|e| Error::io(IoOp::Rename, &from, e))?;
                done.archived += 1;
            } else {
                std::fs::remove_file(&from).map_err(|e| Error::io(IoOp::Rename, &from, e))?;
                done.deleted += 1;
            }
        }
        if self.archive {
            // The new names must be durable before the old ones are known to be gone.
            sync_dir(&archive)?;
        }
        sync_dir(&self.dir)?;
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
        for (seq, path) in list_segments(&archive)? {
            let bytes = std::fs::metadata(&path)
                .map_err(|e| Error::io(IoOp::Read, &path, e))?
                .len();
            files.push((seq, path, bytes));
        }
        let mut count = files.len() as u64;
        let mut total: u64 = files.iter().map(|(_, _, b)| b).sum();
        let mut pruned = 0;
        for (_, path, bytes) in &files {
            if count <= self.segments_max && total <= self.bytes_max {
                break;
            }
            std::fs::remove_file(path).map_err(|e| Error::io(IoOp::Rename, path, e))?;
            count -= 1;
            total -= bytes;
            pruned += 1;
        }
        if pruned > 0 {
            sync_dir(&archive)?;
        }
        Ok(pruned)
    }

    /// The highest archived sequence, so new segments never reuse a name in `archive/`.
    pub fn archived_max(&self) -> Result<Option<u64>> {
        let archive = self.archive_dir();
        if !archive.is_dir() {
            return Ok(None);
        }
        Ok(list_segments(&archive)?.last().map(|(seq, _)| *seq))
    }
}

/// Replaces the checkpoint file atomically and durably.
pub(crate) fn write_checkpoint(dir: &Path, lsn: u64) -> Result<()> {
    let path = dir.join(CHECKPOINT_FILE);
    let tmp = dir.join(format!("{CHECKPOINT_FILE}{TMP_SUFFIX}"));
    let file = std::fs::File::create(&tmp).map_err(|e| Error::io(IoOp::Open, &tmp, e))?;
    crate::io::fs::write_all_at(&file, &checkpoint::encode(lsn), 0)
        .map_err(|e| Error::io(IoOp::Write, &tmp, e))?;
    sync_data(&file).map_err(|e| Error::io(IoOp::Sync, &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(IoOp::Rename, &tmp, e))?;
    sync_dir(dir)
}
