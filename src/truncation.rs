//! Cutting the log back: every record at or above an LSN is removed, durably, and the
//! next append reuses that LSN. A consensus log replaces an uncommitted suffix this
//! way when a new leader's entries conflict with it.
//!
//! The cut is decided by an intent file, `TRUNCATE` (the checkpoint file's layout under
//! its own magic), made durable before anything changes:
//!
//! 1. `locate` (reads only): the segment that keeps the records below the cut, the
//!    offset of the first record cut, the later segments. A cut inside a batch, or in a
//!    chain that is damaged before the cut, is refused here, before any change.
//! 2. `TRUNCATE` is written and synced, renamed into place, the directory synced.
//! 3. `execute`: the kept segment is zeroed from the cut (to the end of the records it
//!    removes in the writer's cut, `Zeroing`; to the last non-zero byte in a repair; to
//!    the file's end when an open finishes a cut) and synced (a cut at its first record
//!    zeroes its header last, in a sync of its own; the writer's cut of a recycled
//!    file writes the recycled-blank marker there);
//!    every later segment is removed, newest first; the directory is synced.
//! 4. `TRUNCATE` is removed and the directory synced. Only then may a record appended
//!    after the cut be acknowledged, so the intent can never cut it.
//!
//! An open that finds `TRUNCATE` repeats 1 and 3–4 before it scans the log: each step
//! is harmless to repeat, and a power cut anywhere leaves either the old log (the
//! truncation had not been decided, and had not returned) or the cut one.

use std::path::{Path, PathBuf};

use crate::cursor::{Cursor, Found, Until, read_header};
use crate::error::{CorruptReason, Error, IoOp, Result};
use crate::format::checkpoint::{TRUNCATE_MAGIC, decode_marker, encode_marker};
use crate::format::header::HeaderState;
use crate::format::names::TRUNCATE_FILE;
use crate::io::{Fs, Mode};
use crate::limits::{RECORD_BYTES_MAX, SEGMENT_HEADER_BYTES};
use crate::recovery::list_segments;

/// The segment that keeps the records below the cut.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub sequence: u64,
    pub path: PathBuf,
    pub first_lsn: u64,
    /// Where the first removed record starts; 0 when the cut removes every record of
    /// the segment (its header is zeroed too and it becomes blank).
    pub cut_at: u64,
    /// What the cut zeroes ends here: the end of the segment's non-zero bytes, or of
    /// the chain of records it removes (`Zeroing::PresentLife`).
    pub dirty_end: u64,
    /// `Some(sequence)` when the segment is a recycled file whose earlier life the cut
    /// leaves in place after `dirty_end`: a cut that takes the header writes the
    /// recycled-blank marker, not zeros.
    pub keeps_old_life: Option<u64>,
    /// The segment file's size.
    pub file_bytes: u64,
}

/// What a cut at `from` does to the files.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub from: u64,
    pub kept: Option<Kept>,
    /// Segments after the kept one, removed whole.
    pub removed: Vec<PathBuf>,
}

fn refuse(reason: String) -> Error {
    Error::InvalidArgument {
        what: "truncation",
        reason,
    }
}

/// Finds what a cut at `from` changes, reading only. A kept segment whose chain of
/// records ends before the cut is refused as corruption: the cut would have to zero
/// from the damage, removing records below the cut that the caller means to keep.
pub(crate) fn locate(fs: &Fs, dir: &Path, from: u64) -> Result<Plan> {
    locate_zeroing(fs, dir, from, Zeroing::AllNonZero)
}

/// How far a cut zeroes the segment it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zeroing {
    /// Every non-zero byte after the cut. A repair, or a cut a crash interrupted, does
    /// not know what lies past the records it removes.
    AllNonZero,
    /// The writer's own cut, with `active` its active segment: in that segment and in
    /// any recycled one, only the records the cut removes, the chain from the cut on.
    /// Past the active segment's chain lies nothing the writer did not write: the
    /// open's recovery left no non-zero byte there in a fresh file (it zeroes a torn
    /// tail, and refuses other damage) and no frame that could validate in a recycled
    /// one. Past a recycled file's chain lies no frame of its present life (the writer
    /// never writes past the chain's end, and recovery zeroes every valid frame past the
    /// end of the last segment), and its earlier life never validates. Reading the rest
    /// of a 64 MiB segment for non-zero bytes costs tens of ms per cut, and zeroing a
    /// recycled file's earlier life would write a whole segment for a cut of a few
    /// records. A fresh sealed segment is zeroed to its last non-zero byte: recovery
    /// does not look past the chain of a segment the next one continues, so stray bytes
    /// there were never judged.
    ///
    /// `near` is a frame the writer placed at or below the cut's LSN − 1 (from its LSN
    /// index): the walk to the cut starts there rather than at the segment's header,
    /// which would read up to a whole segment per cut. A hint that does not lead to the
    /// cut is ignored.
    PresentLife {
        active: u64,
        near: Option<crate::index::Place>,
    },
}

/// `locate` with the zeroing asked for.
pub(crate) fn locate_zeroing(fs: &Fs, dir: &Path, from: u64, zeroing: Zeroing) -> Result<Plan> {
    let (plan, short) = locate_inner(fs, dir, from, zeroing)?;
    match short {
        Some(short) => Err(short.refusal(from)),
        None => Ok(plan),
    }
}

/// Where the kept segment's chain ends when it ends before the cut.
#[derive(Debug, Clone, Copy)]
struct Short {
    sequence: u64,
    at: u64,
    /// The first LSN below the cut that the chain does not hold.
    lsn: u64,
}

impl Short {
    fn refusal(self, from: u64) -> Error {
        Error::corrupt(
            self.sequence,
            self.at,
            CorruptReason::Truncation(format!(
                "the records end at LSN {}, before the cut from {from}",
                self.lsn
            )),
        )
    }
}

fn locate_inner(fs: &Fs, dir: &Path, from: u64, zeroing: Zeroing) -> Result<(Plan, Option<Short>)> {
    let mut segments = Vec::new();
    for (seq, path) in list_segments(fs, dir)? {
        // A small header read per segment, the file closed again (no chunk read).
        let state = read_header(fs, &path)?;
        let first = match &state {
            HeaderState::Valid(h) => Some(h.first_lsn),
            _ => None,
        };
        let recycled = crate::format::header::SegmentHeader::recycled_state(&state);
        segments.push((seq, path, first, recycled));
    }
    // The last segment holding a record below the cut keeps them; every segment after
    // it goes. Segments before it are left to the scan, which judges them.
    let kept_at = segments
        .iter()
        .rposition(|(_, _, first, _)| first.is_some_and(|f| f <= from));
    let Some(kept_at) = kept_at else {
        // No segment with a header holds a record below the cut: every segment goes,
        // from the first that holds a valid frame below the cut on (none of them
        // normally: a headless segment is a header whose zeroing a crash cut short).
        // Those up to it are damage the scan reports, never deleted here.
        let mut keep = 0;
        for (i, (seq, path, _, recycled)) in segments.iter().enumerate() {
            let mut cur = Cursor::open(fs, path)?;
            // A recycled file's old bytes never validate, but may look like frames
            // enough to exceed the survey's budget: there the survey stops instead.
            let below = cur.survey_within(
                SEGMENT_HEADER_BYTES..u64::MAX,
                *seq,
                RECORD_BYTES_MAX,
                1..from,
                Until::FirstValid,
                recycled.then_some(crate::cursor::LSN_WINDOW),
            )?;
            if below.frames > 0 {
                keep = i + 1;
            }
        }
        let removed = segments
            .split_off(keep)
            .into_iter()
            .map(|(_, path, _, _)| path)
            .collect();
        let plan = Plan {
            from,
            kept: None,
            removed,
        };
        return Ok((plan, None));
    };
    let removed = segments
        .split_off(kept_at + 1)
        .into_iter()
        .map(|(_, path, _, _)| path)
        .collect();
    let Some((sequence, path, Some(first_lsn), recycled)) = segments.pop() else {
        return Err(refuse("no segment keeps the records below the cut".into()));
    };
    let mut cur = Cursor::open(fs, &path)?;
    let near = match zeroing {
        Zeroing::PresentLife { near: Some(p), .. }
            if p.sequence == sequence && (first_lsn..from).contains(&p.lsn) =>
        {
            Some((p.offset, p.lsn))
        }
        _ => None,
    };
    let (cut_at, short) = if first_lsn == from {
        (0, None)
    } else {
        match cut_offset(&mut cur, sequence, (first_lsn, near), from)? {
            (at, lsn) if lsn < from => (at, Some(Short { sequence, at, lsn })),
            (at, _) => (at, None),
        }
    };
    let present_life = match zeroing {
        Zeroing::AllNonZero => false,
        Zeroing::PresentLife { active, .. } => recycled || sequence == active,
    };
    let dirty_end = if present_life {
        let (at, expected) = match cut_at {
            0 => (SEGMENT_HEADER_BYTES, first_lsn),
            at => (at, from),
        };
        walk(&mut cur, sequence, at, expected, u64::MAX)?.at
    } else {
        cur.nonzero_end(cut_at)?
    };
    let keeps_old_life = (present_life && recycled).then_some(sequence);
    let plan = Plan {
        from,
        kept: Some(Kept {
            sequence,
            path,
            first_lsn,
            cut_at,
            dirty_end,
            keeps_old_life,
            file_bytes: cur.len,
        }),
        removed,
    };
    Ok((plan, short))
}

/// Where a walk along a segment's chain of frames stopped.
#[derive(Debug, Clone, Copy)]
struct Walked {
    /// The offset after the last frame walked.
    at: u64,
    /// The LSN the next frame would carry.
    expected: u64,
    /// Whether the last frame walked says its batch continues.
    in_batch: bool,
}

/// Walks the chain of frames from `at`, where LSN `expected` should be, up to LSN
/// `until` (exclusive) or the chain's end.
fn walk(cur: &mut Cursor, sequence: u64, at: u64, expected: u64, until: u64) -> Result<Walked> {
    let mut w = Walked {
        at,
        expected,
        in_batch: false,
    };
    while w.expected < until {
        match cur.chain_frame_at(w.at, sequence, RECORD_BYTES_MAX, w.expected)? {
            (found_at, Found::Frame(d)) if d.lsn == w.expected => {
                w.at = found_at + d.frame_len as u64;
                w.expected += 1;
                w.in_batch = d.batch_continues;
            }
            _ => break,
        }
    }
    Ok(w)
}

/// The offset of the frame of LSN `from` in a segment whose first LSN is below it, and
/// the LSN the chain reached there (below `from` when it ends before the cut). The walk
/// starts at `near` (offset, LSN below `from`) when that leads to the cut, else at the
/// header. Starting below `from` walks at least the frame before the cut, which says
/// whether the cut falls inside a batch.
fn cut_offset(
    cur: &mut Cursor,
    sequence: u64,
    (first_lsn, near): (u64, Option<(u64, u64)>),
    from: u64,
) -> Result<(u64, u64)> {
    let from_near = match near {
        Some((at, lsn)) => Some(walk(cur, sequence, at, lsn, from)?),
        None => None,
    };
    let w = match from_near {
        Some(w) if w.expected == from => w,
        _ => walk(cur, sequence, SEGMENT_HEADER_BYTES, first_lsn, from)?,
    };
    if w.in_batch && w.expected == from {
        return Err(refuse(format!(
            "LSN {from} lies inside a batch appended with append_batch; a batch is cut whole or not at all"
        )));
    }
    Ok((w.at, w.expected))
}

/// Carries out a located cut (step 3). Repeating it is harmless.
pub(crate) fn execute(fs: &Fs, dir: &Path, plan: &Plan) -> Result<()> {
    if let Some(k) = &plan.kept {
        // A cut that zeroes every non-zero byte after it leaves nothing of an earlier
        // life behind, and a header it takes leaves zeros; one that keeps the earlier
        // life writes the recycled-blank marker in its place.
        zero_segment(fs, &k.path, k.cut_at, k.dirty_end, k.keeps_old_life)?;
    }
    for path in plan.removed.iter().rev() {
        match fs.remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(IoOp::Remove, path, e)),
        }
    }
    if !plan.removed.is_empty() {
        fs.sync_dir(dir)?;
    }
    tracing::info!(
        from = plan.from,
        segments_removed = plan.removed.len(),
        "log truncated"
    );
    Ok(())
}

/// Zeroes `[cut_at, dirty_end)` of a segment and syncs it. The frames go first; when
/// the cut takes the header too (`cut_at` 0), it goes last, in a write and sync of its
/// own: while it is intact a repeat of the cut finds this segment again, and once it is
/// gone every frame behind it already is. (Zeroing both in one write, a torn write
/// could keep frames behind a zeroed header: a corrupt log.) A header cut from a
/// recycled file (`recycled`: its sequence) is replaced by the recycled-blank marker,
/// since bytes of the file's earlier life may remain after `dirty_end`.
pub(crate) fn zero_segment(
    fs: &Fs,
    path: &Path,
    cut_at: u64,
    dirty_end: u64,
    recycled: Option<u64>,
) -> Result<()> {
    let zero = |from: u64, to: u64| -> Result<()> {
        let file = fs
            .open(path, Mode::ReadWrite)
            .map_err(|e| Error::io(IoOp::Open, path, e))?;
        crate::io::fs::write_zeros(&file, from, to)
            .map_err(|e| Error::io(IoOp::Truncate, path, e))?;
        file.sync_data().map_err(|e| Error::io(IoOp::Sync, path, e))
    };
    let body_from = cut_at.max(SEGMENT_HEADER_BYTES);
    if dirty_end > body_from {
        zero(body_from, dirty_end)?;
    }
    match (cut_at, recycled) {
        (0, Some(sequence)) => {
            let file = fs
                .open(path, Mode::ReadWrite)
                .map_err(|e| Error::io(IoOp::Open, path, e))?;
            let marker = crate::format::header::SegmentHeader::recycled_blank(sequence);
            file.write_all_at(&marker, 0)
                .map_err(|e| Error::io(IoOp::Truncate, path, e))?;
            file.sync_data()
                .map_err(|e| Error::io(IoOp::Sync, path, e))?;
        }
        (0, None) => zero(0, SEGMENT_HEADER_BYTES)?,
        _ => {}
    }
    Ok(())
}

/// Records the intent to cut at `from` (step 2).
pub(crate) fn write_intent(fs: &Fs, dir: &Path, from: u64) -> Result<()> {
    fs.replace_file_durably(dir, TRUNCATE_FILE, &encode_marker(TRUNCATE_MAGIC, from))
}

/// Removes the intent (step 4).
pub(crate) fn clear_intent(fs: &Fs, dir: &Path) -> Result<()> {
    let path = dir.join(TRUNCATE_FILE);
    fs.remove_file(&path)
        .map_err(|e| Error::io(IoOp::Remove, &path, e))?;
    fs.sync_dir(dir)
}

/// The cut a crash interrupted, if any.
pub(crate) fn pending(fs: &Fs, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(TRUNCATE_FILE);
    match fs.read(&path) {
        Ok(bytes) => {
            decode_marker(TRUNCATE_MAGIC, &bytes)
                .map(Some)
                .map_err(|reason| match reason {
                    CorruptReason::UnsupportedVersion(found) => Error::UnsupportedFormat {
                        path,
                        found,
                        supported: crate::format::FORMAT_VERSION,
                    },
                    reason => Error::corrupt(0, 0, CorruptReason::Truncation(reason.to_string())),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(IoOp::Read, path, e)),
    }
}

/// What an open did with a cut a crash interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finished {
    /// No cut was pending.
    Nothing,
    /// The cut from this LSN was carried out.
    Cut(u64),
    /// The cut from this LSN was left to recovery: the kept segment's records end
    /// before it (a power cut tore writes below the cut that were never synced, or
    /// damaged ones that were). The scan judges that end like any other, with the
    /// intent still pending, and recovery removes the intent once its own cut of
    /// the torn tail (which reaches below this one) is done.
    LeftToRecovery(u64),
}

impl Finished {
    /// The LSN the finished cut was from, whoever completes it.
    pub(crate) fn cut_from(self) -> Option<u64> {
        match self {
            Finished::Nothing => None,
            Finished::Cut(from) | Finished::LeftToRecovery(from) => Some(from),
        }
    }
}

/// Finishes a cut a crash interrupted (steps 1, 3, 4), before recovery scans.
pub(crate) fn finish_pending(fs: &Fs, dir: &Path, checkpoint: u64) -> Result<Finished> {
    let Some(from) = pending(fs, dir)? else {
        return Ok(Finished::Nothing);
    };
    if from <= checkpoint {
        return Err(Error::corrupt(
            0,
            0,
            CorruptReason::Truncation(format!(
                "a cut from LSN {from} would remove records at or below the checkpoint {checkpoint}"
            )),
        ));
    }
    // The writer refuses such a cut before it records the intent: one on disk is damage.
    let (mut plan, short) =
        locate_inner(fs, dir, from, Zeroing::AllNonZero).map_err(|e| match e {
            Error::InvalidArgument { reason, .. } => {
                Error::corrupt(0, 0, CorruptReason::Truncation(reason))
            }
            other => other,
        })?;
    if short.is_some() {
        return Ok(Finished::LeftToRecovery(from));
    }
    // The zeros read back may be only in memory: a failed sync of the interrupted cut's
    // zeroing marks its pages clean without writing them, and the disk still holds the
    // records it was cutting. So the whole rest of the segment is zeroed again, not
    // just what reads back as non-zero.
    if let Some(k) = plan.kept.as_mut() {
        k.dirty_end = k.file_bytes.max(k.dirty_end);
    }
    // The intent read back may not be durable: a same-boot reopen after its directory
    // sync failed still sees it. Zeroing under an intent a power cut can take away
    // would leave zeros in front of valid frames and no record of the cut, so it is
    // recorded again (written, synced, renamed, directory synced) first.
    write_intent(fs, dir, from)?;
    execute(fs, dir, &plan)?;
    clear_intent(fs, dir)?;
    tracing::warn!(from, "recovery finished a truncation a crash interrupted");
    Ok(Finished::Cut(from))
}

/// The library's cut, for `ringwal repair --truncate-at-corruption`: the tool cuts a
/// damaged log through the same intent protocol as `Wal::truncate_from`, so a crash
/// during a repair is finished by the next open. Not a stable API. The caller holds
/// the log's lock (`LogLock`).
#[doc(hidden)]
pub mod repair {
    use std::path::{Path, PathBuf};

    use super::{Plan, execute, locate, refuse, write_intent};
    use crate::cursor::{Cursor, Found};
    use crate::error::Result;
    use crate::format::header::{HeaderState, SegmentHeader};
    use crate::io::Fs;
    use crate::limits::{RECORD_BYTES_MAX, SEGMENT_HEADER_BYTES};
    use crate::recovery::{list_segments, read_checkpoint_in};

    /// What a cut changes: the bytes of one segment from an offset on, and whole
    /// segments after it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CutPlan {
        /// The first LSN removed.
        pub from: u64,
        /// The segment cut part way: its path, the offset from which it is zeroed (0:
        /// header too), and its length.
        pub kept: Option<(PathBuf, u64, u64)>,
        /// Segments removed whole.
        pub removed: Vec<PathBuf>,
    }

    /// The first LSN after the log's whole prefix: walking the segments from the
    /// first, frame by frame, to the first header or frame that does not continue the
    /// chain, the LSN after the last whole record or batch before it.
    pub fn damaged_suffix_from(dir: &Path) -> Result<u64> {
        let fs = Fs::default();
        let mut whole_end = read_checkpoint_in(&fs, dir)? + 1;
        let mut next: Option<u64> = None;
        for (sequence, path) in list_segments(&fs, dir)? {
            let mut cur = Cursor::open(&fs, &path)?;
            let first = match SegmentHeader::decode(cur.window(0, SEGMENT_HEADER_BYTES as usize)?) {
                HeaderState::Valid(h) if next.is_none_or(|n| n == h.first_lsn) => h.first_lsn,
                _ => break,
            };
            if next.is_none() {
                whole_end = whole_end.max(first);
            }
            let mut expected = first;
            let mut at = SEGMENT_HEADER_BYTES;
            let mut in_batch = false;
            while let (found_at, Found::Frame(d)) =
                cur.chain_frame_at(at, sequence, RECORD_BYTES_MAX, expected)?
            {
                if d.lsn != expected {
                    break;
                }
                at = found_at + d.frame_len as u64;
                expected += 1;
                in_batch = d.batch_continues;
                if !in_batch {
                    whole_end = whole_end.max(expected);
                }
            }
            // A batch never spans segments: one open at a segment's end is damage.
            if in_batch {
                break;
            }
            next = Some(expected);
        }
        Ok(whole_end)
    }

    /// What a cut from `from` would change, reading only.
    pub fn plan(dir: &Path, from: u64) -> Result<CutPlan> {
        let plan = checked_plan(&Fs::default(), dir, from)?;
        Ok(CutPlan {
            from,
            kept: plan.kept.map(|k| (k.path, k.cut_at, k.file_bytes)),
            removed: plan.removed,
        })
    }

    fn checked_plan(fs: &Fs, dir: &Path, from: u64) -> Result<Plan> {
        let checkpoint = read_checkpoint_in(fs, dir)?;
        if from <= checkpoint {
            return Err(refuse(format!(
                "LSN {from} is at or below the checkpoint {checkpoint}"
            )));
        }
        locate(fs, dir, from)
    }

    /// Decides a cut from `from` (steps 1-2): checks it, then records the intent
    /// durably. From here on the next `Wal::open` finishes the cut if `cut` does not.
    pub fn decide(dir: &Path, from: u64) -> Result<()> {
        let fs = Fs::default();
        // Refused (inside a batch, valid records after damage below the cut) before
        // anything changes.
        checked_plan(&fs, dir, from)?;
        // The lock file must stop vouching for the records the cut removes before the
        // cut is decided: their LSNs are reused by the next appends.
        crate::lock::lower_recorded(&fs, dir, from - 1)?;
        write_intent(&fs, dir, from)
    }

    /// Removes every record from `from` on, durably: the intent is recorded first, so
    /// an open after a crash part way finishes the cut (steps 1-4 of the module).
    pub fn cut(dir: &Path, from: u64) -> Result<()> {
        decide(dir, from)?;
        let fs = Fs::default();
        let plan = locate(&fs, dir, from)?;
        execute(&fs, dir, &plan)?;
        super::clear_intent(&fs, dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Driver, Options, Wal};

    /// The writer's hint (a frame at or below the cut's LSN − 1) only saves reading:
    /// a right one, a wrong one and none give the same cut, and a cut inside a batch is
    /// refused either way.
    #[test]
    fn a_hint_to_the_cut_changes_nothing_but_where_the_walk_starts() {
        let dir = tempfile::tempdir().unwrap();
        let opts = Options::default()
            .driver(Driver::Portable)
            .segment_bytes(1 << 20);
        let wal = Wal::open(dir.path(), opts).unwrap();
        for i in 0..2000u64 {
            wal.append(&vec![i as u8; (i % 300) as usize]).unwrap();
        }
        // LSNs 2001..=2003 are one batch.
        wal.append_batch(&[b"a", b"b", b"c"]).unwrap();
        wal.append(b"after the batch").unwrap();
        wal.close().unwrap();
        let fs = Fs::default();
        let plain = |from: u64| locate(&fs, dir.path(), from);
        // Every record is in the first segment.
        let sequence = plain(2004).unwrap().kept.unwrap().sequence;
        let hinted = |from: u64, offset: u64, lsn: u64| {
            let near = Some(crate::index::Place {
                sequence,
                offset,
                lsn,
            });
            let zeroing = Zeroing::PresentLife { active: 0, near };
            locate_zeroing(&fs, dir.path(), from, zeroing)
        };
        for from in [2, 3, 700, 1500, 1999, 2000, 2001, 2004] {
            let want = plain(from).unwrap().kept.unwrap().cut_at;
            // The frame of an LSN below the cut (a batch's frames are not cut points:
            // its first one stands in), the frame of `from` (not below the cut:
            // ignored), and an offset inside a frame.
            let below = if (2002..=2004).contains(&from) {
                2001
            } else {
                from - 1
            };
            let before = plain(below).unwrap().kept.unwrap().cut_at;
            for (offset, lsn) in [(before, below), (want, from), (before + 8, below)] {
                let got = hinted(from, offset, lsn).unwrap().kept.unwrap().cut_at;
                assert_eq!(got, want, "cut from {from}, hint ({offset}, {lsn})");
            }
        }
        for inside in [2002, 2003] {
            assert!(plain(inside).is_err());
            let before = plain(2001).unwrap().kept.unwrap().cut_at;
            assert!(
                hinted(inside, before, 2001).is_err(),
                "a cut inside a batch from a hint"
            );
        }
    }
}
