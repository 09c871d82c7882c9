//! Opening a log directory read-only and judging its state: clean, torn tail, tail in
//! progress (a writer holds the log), or corrupt. Shared by inspect, dump, verify and
//! repair so they agree on what they report.

use std::path::{Path, PathBuf};

use ringwal::format::names::{ARCHIVE_DIR, CHECKPOINT_FILE, parse_segment_file_name};
use ringwal::limits::SEGMENT_HEADER_BYTES;
use ringwal::{Error, LogReader, Scan};

use crate::failure::Failure;

/// Checks that `dir` exists, is a directory, and looks like a ringwal log (holds a
/// segment file, a checkpoint, or archived segments). Changes nothing.
pub fn require_log_dir(dir: &Path) -> Result<(), Failure> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| Failure::error(format!("cannot open {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(Failure::error(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let looks_like_log = !segment_files(dir)?.is_empty()
        || dir.join(CHECKPOINT_FILE).is_file()
        || segment_files(&dir.join(ARCHIVE_DIR)).is_ok_and(|s| !s.is_empty());
    if !looks_like_log {
        return Err(Failure::error(format!(
            "{} is not a ringwal log directory (no segment files)",
            dir.display()
        )));
    }
    Ok(())
}

/// Segment files (`<20 digits>.wal`) directly in `dir`, by sequence.
pub fn segment_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Failure> {
    files_named(dir, parse_segment_file_name)
}

/// The spare files in `dir` (retired segments kept for reuse), by their old sequence.
pub fn spare_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Failure> {
    files_named(dir, ringwal::format::names::parse_spare_file_name)
}

fn files_named(dir: &Path, parse: fn(&str) -> Option<u64>) -> Result<Vec<(u64, PathBuf)>, Failure> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Failure::error(format!("cannot list {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry =
            entry.map_err(|e| Failure::error(format!("cannot list {}: {e}", dir.display())))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse) {
            out.push((seq, entry.path()));
        }
    }
    out.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// Bytes a tail repair would cut: where it starts and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TailCut {
    /// The segment holding the end of the log.
    pub segment: u64,
    /// Offset of the first byte past the last whole record (0 when the segment's
    /// header itself goes: a header without a whole record is a torn first write).
    pub offset: u64,
    /// Bytes that would be cut, over all segments.
    pub bytes: u64,
}

/// What a read-only look at a log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every record whole, nothing past the end.
    Clean,
    /// Bytes past the last whole record while a writer holds the log: a write in
    /// flight, not damage.
    InProgress(TailCut),
    /// A torn write past the last whole record (repair cuts it).
    Torn(TailCut),
    /// Damage that is not a torn tail.
    Corrupt {
        /// Segment sequence (0: the checkpoint file).
        segment: u64,
        /// Byte offset in the segment file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// A scanned log: the reader when the scan succeeded, and the verdict.
#[derive(Debug)]
pub struct Examined {
    /// `None` when the log is corrupt (the library refuses to read it).
    pub reader: Option<LogReader>,
    /// The verdict.
    pub health: Health,
}

/// Scans `dir` read-only (no lock, nothing written). I/O errors and a directory that
/// is not a log are failures; corruption is a verdict.
pub fn examine(dir: &Path) -> Result<Examined, Failure> {
    require_log_dir(dir)?;
    match LogReader::open(dir) {
        Ok(reader) => {
            let health = match tail_cut(reader.scan()) {
                None => Health::Clean,
                Some(cut) if reader.writer_active() => Health::InProgress(cut),
                Some(cut) => Health::Torn(cut),
            };
            Ok(Examined {
                reader: Some(reader),
                health,
            })
        }
        Err(Error::Corrupt {
            segment,
            offset,
            reason,
        }) => Ok(Examined {
            reader: None,
            health: Health::Corrupt {
                segment,
                offset,
                reason: reason.to_string(),
            },
        }),
        Err(e) => Err(e.into()),
    }
}

/// The torn tail of a scan, as recovery would cut it; `None` when there is nothing.
pub fn tail_cut(scan: &Scan) -> Option<TailCut> {
    let tail = scan.tail?;
    // Recovery also zeroes a tail segment holding a header but no whole record.
    let header_only = scan
        .segments
        .iter()
        .any(|s| s.sequence == tail.segment && s.records == 0 && s.header.is_some());
    if tail.torn_bytes == 0 && !header_only {
        return None;
    }
    let (offset, header_bytes) = if header_only {
        (0, SEGMENT_HEADER_BYTES)
    } else {
        (tail.offset, 0)
    };
    Some(TailCut {
        segment: tail.segment,
        offset,
        bytes: tail.torn_bytes + header_bytes,
    })
}

/// One byte range of one segment file that a tail repair removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CutRange {
    /// Segment sequence.
    pub segment: u64,
    /// The file.
    pub path: PathBuf,
    /// First byte cut.
    pub from: u64,
    /// One past the last byte cut.
    pub to: u64,
}

/// The ranges recovery zeroes or removes for `scan`'s torn tail (mirrors
/// `ringwal::recovery`: the tail segment from its last whole record, and every torn
/// segment past the end, whole).
pub fn cut_ranges(scan: &Scan) -> Vec<CutRange> {
    let Some(tail) = scan.tail else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in &scan.segments {
        let range = if s.beyond_end {
            (s.torn_bytes > 0).then_some((0, s.torn_bytes))
        } else if s.sequence == tail.segment {
            let from = if s.records == 0 { 0 } else { s.valid_end };
            let to = s.valid_end + s.torn_bytes;
            let cut = s.torn_bytes > 0 || (s.records == 0 && s.header.is_some());
            (cut && to > from).then_some((from, to))
        } else {
            None
        };
        if let Some((from, to)) = range {
            out.push(CutRange {
                segment: s.sequence,
                path: s.path.clone(),
                from,
                to,
            });
        }
    }
    out
}
