//! Segment recycling: files of retired segments kept for reuse, so bulk ingest
//! writes each byte once instead of zero-filling every new segment first.
//!
//! A checkpoint that deletes (not archives) segments renames up to
//! `Options::recycle_segments` of them to `<old seq>.spare` instead, and syncs the
//! directory. The segment preparer takes a spare before it makes a new file: it writes
//! the recycled-blank marker over the old header and syncs it, then renames the file to
//! its new name and syncs the directory (`SegmentSpec::create`). The old frames stay in
//! the file; they never validate in its new life (docs/FORMAT.md, "Recycled
//! segments"). Only the old header has to go first: a file named for its new sequence
//! must never carry a header naming the old one.
//!
//! Only files exactly `segment_bytes` long are reused (a spare left by other options
//! is removed), and recycling is off where a reused file would not serve: archiving
//! keeps retired segments, `Preallocate::Grow` files are not full size, and the
//! test-only `pad_every_commit` leaves padding unwritten on buffered writes.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, IoOp, Result};
use crate::format::names::{parse_spare_file_name, spare_file_name};
use crate::io::{Fs, Mode};

/// The pool of spare files, shared by retirement (which fills it) and the segment
/// preparer (which empties it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Spares {
    files: Arc<Mutex<VecDeque<PathBuf>>>,
    /// Most files kept; 0: recycling is off.
    max: usize,
    /// Files reused as new segments.
    reused: Arc<AtomicU64>,
}

impl Spares {
    pub fn new(max: usize) -> Spares {
        Spares {
            max,
            ..Spares::default()
        }
    }

    fn files(&self) -> std::sync::MutexGuard<'_, VecDeque<PathBuf>> {
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many more files the pool takes.
    pub fn room(&self) -> usize {
        self.max.saturating_sub(self.files().len())
    }

    /// Adds files whose rename to a spare name is durable.
    pub fn add(&self, paths: impl IntoIterator<Item = PathBuf>) {
        self.files().extend(paths);
    }

    /// A spare file to reuse, if any.
    pub fn take(&self) -> Option<PathBuf> {
        self.files().pop_front()
    }

    pub fn note_reused(&self) {
        self.reused.fetch_add(1, Ordering::Relaxed);
    }

    /// Files reused as new segments since the log was opened.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }

    /// The highest old sequence among the files in the pool. A new segment must be
    /// numbered above it: a file reused under its own old number would carry frames
    /// that validate.
    pub fn sequence_max(&self) -> Option<u64> {
        self.files()
            .iter()
            .filter_map(|p| p.file_name()?.to_str().and_then(parse_spare_file_name))
            .max()
    }

    /// The spare path for retired segment `sequence`.
    pub fn path_for(dir: &Path, sequence: u64) -> PathBuf {
        dir.join(spare_file_name(sequence))
    }

    /// At open: takes the spare files a previous writer left in `dir` into the pool,
    /// oldest first, up to its size, and removes the rest (all of them with recycling
    /// off), syncing the directory if it removed any.
    pub fn collect(&self, fs: &Fs, dir: &Path, segment_bytes: u64) -> Result<()> {
        let entries = fs.list(dir).map_err(|e| Error::io(IoOp::Open, dir, e))?;
        let mut found: Vec<(u64, PathBuf)> = entries
            .into_iter()
            .filter_map(|(name, path)| {
                name.to_str()
                    .and_then(parse_spare_file_name)
                    .map(|seq| (seq, path))
            })
            .collect();
        found.sort_unstable();
        let mut removed = false;
        for (_, path) in found {
            let fits = self.room() > 0
                && fs
                    .open(&path, Mode::Read)
                    .and_then(|f| f.len())
                    .is_ok_and(|len| len == segment_bytes);
            if fits {
                self.add([path]);
            } else {
                fs.remove_file(&path)
                    .map_err(|e| Error::io(IoOp::Remove, &path, e))?;
                removed = true;
            }
        }
        if removed {
            fs.sync_dir(dir)?;
        }
        Ok(())
    }
}
