//! Recovery: scan every live segment, check headers, frame checksums and LSN density,
//! find the end of the log, and tell a torn tail (cut it) from corruption (report it).
//!
//! The end of the log is the first place where the chain of frames stops. Everything
//! after it, in that segment and in later ones, must hold no valid frame: otherwise
//! data was lost in the middle of the log and `Error::Corrupt` is returned. See
//! docs/FORMAT.md for the decision table.

use std::path::{Path, PathBuf};

use crate::Lsn;
use crate::cursor::{Cursor, Found};
use crate::error::{CorruptReason, Error, IoOp, Result};
use crate::format::checkpoint;
use crate::format::header::{HeaderState, SegmentHeader};
use crate::format::names::{CHECKPOINT_FILE, parse_segment_file_name};
use crate::io::{Fs, Mode};
use crate::limits::SEGMENT_HEADER_BYTES;

/// What recovery found in one live segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentInfo {
    /// Sequence number (from the file name).
    pub sequence: u64,
    /// The file.
    pub path: PathBuf,
    /// File size in bytes.
    pub file_bytes: u64,
    /// The decoded header, if valid.
    pub header: Option<SegmentHeader>,
    /// LSN of the first and last whole record, if any.
    pub first_lsn: Option<u64>,
    /// LSN of the last whole record.
    pub last_lsn: Option<u64>,
    /// Whole records.
    pub records: u64,
    /// Offset just past the last whole record (0 for a segment without a valid header).
    pub valid_end: u64,
    /// Whether this segment lies after the end of the log (blank or torn).
    pub beyond_end: bool,
    /// Bytes at or after `valid_end` that are not zero (a torn write).
    pub torn_bytes: u64,
}

/// Where the log ends and what lies past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tail {
    /// The segment holding the end of the log.
    pub segment: u64,
    /// Offset of the end (the next frame would go here).
    pub offset: u64,
    /// Bytes of torn writes past the end, over all segments.
    pub torn_bytes: u64,
}

/// The result of scanning a log directory, changing nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Scan {
    /// Live segments in sequence order.
    pub segments: Vec<SegmentInfo>,
    /// The persisted checkpoint (0 if none).
    pub checkpoint: u64,
    /// The last whole record (0 if none).
    pub last_lsn: u64,
    /// Whole records in live segments.
    pub records: u64,
    /// The end of the log, if any segment exists.
    pub tail: Option<Tail>,
    /// A truncation a crash interrupted: the first LSN it removes. The scan reads the
    /// log as it will be once the next open finishes the cut (records from this LSN on
    /// are left out, their bytes counted as torn).
    pub truncation_pending: Option<u64>,
}

/// What opening a log found and repaired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// Live segments holding records.
    pub segments: u64,
    /// Records found.
    pub records: u64,
    /// The log's last LSN: the last record found, or the checkpoint if it retired them all.
    pub last_lsn: Lsn,
    /// The persisted checkpoint.
    pub checkpoint_lsn: Lsn,
    /// Bytes of torn writes removed from the tail.
    pub torn_bytes_cut: u64,
    /// Segments removed because they lay wholly past the end (torn or surplus blanks).
    pub segments_removed: u64,
    /// Bytes of the tail segment written again before the sync at open, because the
    /// last writer did not close cleanly (see docs/FORMAT.md, "Opening after a failure").
    pub tail_bytes_rewritten: u64,
    /// A truncation (`Wal::truncate_from`) a crash interrupted, finished by this open:
    /// the LSN it cut from.
    pub truncation_finished: Option<Lsn>,
}

/// Reads the persisted checkpoint, 0 if there is none.
pub fn read_checkpoint(dir: &Path) -> Result<u64> {
    read_checkpoint_in(&Fs::default(), dir)
}

pub(crate) fn read_checkpoint_in(fs: &Fs, dir: &Path) -> Result<u64> {
    let path = dir.join(CHECKPOINT_FILE);
    match fs.read(&path) {
        Ok(bytes) => checkpoint::decode(&bytes).map_err(|reason| Error::corrupt(0, 0, reason)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(IoOp::Read, path, e)),
    }
}

/// Live segment files by sequence, in order.
pub(crate) fn list_segments(fs: &Fs, dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = fs.list(dir).map_err(|e| Error::io(IoOp::Open, dir, e))?;
    let mut out = Vec::new();
    for (name, path) in entries {
        if let Some(seq) = name.to_str().and_then(parse_segment_file_name) {
            out.push((seq, path));
        }
    }
    out.sort_unstable_by_key(|(seq, _)| *seq);
    Ok(out)
}

/// How the frames of one segment ran.
struct FrameRun {
    first: Option<u64>,
    last: Option<u64>,
    records: u64,
    /// End of the last whole record (or batch).
    valid_end: u64,
    /// Where the chain stopped.
    stop: u64,
    /// Why it stopped, when a frame was there but not the expected one.
    stop_reason: Option<CorruptReason>,
    open_batch: bool,
}

fn scan_frames(
    cur: &mut Cursor,
    sequence: u64,
    first_lsn: u64,
    (record_bytes_max, lsn_end): (u64, u64),
) -> Result<FrameRun> {
    let mut run = FrameRun {
        first: None,
        last: None,
        records: 0,
        valid_end: SEGMENT_HEADER_BYTES,
        stop: SEGMENT_HEADER_BYTES,
        stop_reason: None,
        open_batch: false,
    };
    let mut at = SEGMENT_HEADER_BYTES;
    let mut expected = first_lsn;
    let mut pending = 0u64;
    // A pending truncation removes everything from `lsn_end` on: the chain ends there.
    while expected < lsn_end {
        match cur.frame_at(at, sequence, record_bytes_max)? {
            Found::Frame(d) if d.lsn == expected => {
                at += d.frame_len as u64;
                expected += 1;
                pending += 1;
                if !d.batch_continues {
                    run.first.get_or_insert(expected - pending);
                    run.last = Some(expected - 1);
                    run.records += pending;
                    run.valid_end = at;
                    pending = 0;
                }
            }
            Found::Frame(d) => {
                run.stop_reason = Some(CorruptReason::LsnOutOfOrder {
                    expected,
                    got: d.lsn,
                });
                break;
            }
            Found::Invalid(reason) => {
                run.stop_reason = Some(reason);
                break;
            }
            Found::Truncated => break,
        }
    }
    run.stop = at;
    run.open_batch = pending > 0;
    Ok(run)
}

/// Scans a log directory without changing anything. `Err(Corrupt)` when the log is
/// damaged in a way that is not a torn tail.
pub fn scan(dir: &Path, record_bytes_max: u64) -> Result<Scan> {
    scan_in(&Fs::default(), dir, record_bytes_max)
}

pub(crate) fn scan_in(fs: &Fs, dir: &Path, record_bytes_max: u64) -> Result<Scan> {
    let checkpoint = read_checkpoint_in(fs, dir)?;
    // Recovery finishes a pending truncation before it scans; a read-only scan sees
    // the log as the truncation will leave it.
    let truncation_pending = crate::truncation::pending(fs, dir)?;
    let lsn_end = truncation_pending.unwrap_or(u64::MAX);
    let files = list_segments(fs, dir)?;
    for pair in files.windows(2) {
        if let [(a, _), (b, _)] = pair
            && *b != a + 1
        {
            return Err(Error::corrupt(
                a + 1,
                0,
                CorruptReason::MissingSegment { sequence: a + 1 },
            ));
        }
    }
    // Headers first: whether segment i+1 continues the chain decides how segment i ends.
    let mut opened = Vec::with_capacity(files.len());
    for (seq, path) in &files {
        let mut cur = Cursor::open(fs, path)?;
        let state = SegmentHeader::decode(cur.window(0, SEGMENT_HEADER_BYTES as usize)?);
        if let HeaderState::Valid(h) = &state
            && h.sequence != *seq
        {
            let why = format!("file name says segment {seq}, header says {}", h.sequence);
            return Err(Error::corrupt(*seq, 0, CorruptReason::HeaderMismatch(why)));
        }
        opened.push((*seq, path.clone(), cur, state));
    }
    let next_firsts: Vec<Option<u64>> = opened
        .iter()
        .skip(1)
        .map(|(_, _, _, state)| match state {
            HeaderState::Valid(h) => Some(h.first_lsn),
            _ => None,
        })
        .chain(std::iter::once(None))
        .collect();
    let mut out = Scan {
        segments: Vec::new(),
        checkpoint,
        last_lsn: 0,
        records: 0,
        tail: None,
        truncation_pending,
    };
    let mut expected: Option<u64> = None;
    for ((seq, path, mut cur, state), next_first) in opened.into_iter().zip(next_firsts) {
        let mut info = SegmentInfo {
            sequence: seq,
            path,
            file_bytes: cur.len,
            header: None,
            first_lsn: None,
            last_lsn: None,
            records: 0,
            valid_end: 0,
            beyond_end: out.tail.is_some(),
            torn_bytes: 0,
        };
        if let HeaderState::Valid(h) = &state {
            info.header = Some(*h);
        }
        let ended = match (&out.tail, &state) {
            (Some(tail), _) => {
                let lsn_min = expected.unwrap_or(checkpoint + 1);
                info.torn_bytes = check_beyond_end(
                    &mut cur,
                    seq,
                    &state,
                    tail,
                    expected,
                    (record_bytes_max, lsn_min..lsn_end),
                )?;
                None
            }
            (None, HeaderState::Valid(h)) => {
                let floor = expected.unwrap_or(checkpoint + 1);
                if h.first_lsn != expected.unwrap_or(h.first_lsn) || h.first_lsn > floor {
                    let reason = CorruptReason::LsnOutOfOrder {
                        expected: floor,
                        got: h.first_lsn,
                    };
                    return Err(Error::corrupt(seq, 0, reason));
                }
                scan_live(
                    &mut cur,
                    &mut info,
                    *h,
                    next_first,
                    (record_bytes_max, lsn_end),
                )?
            }
            (None, _) => {
                let lsn_min = expected.unwrap_or(checkpoint + 1);
                info.torn_bytes =
                    check_blank_start(&mut cur, seq, &state, (record_bytes_max, lsn_min..lsn_end))?;
                Some(Tail {
                    segment: seq,
                    offset: 0,
                    torn_bytes: 0,
                })
            }
        };
        out.records += info.records;
        if let Some(last) = info.last_lsn {
            out.last_lsn = last;
            expected = Some(last + 1);
        } else if let Some(h) = info.header.filter(|_| !info.beyond_end) {
            expected = Some(h.first_lsn);
        }
        if let Some(tail) = ended {
            out.tail = Some(tail);
        }
        if let Some(tail) = out.tail.as_mut() {
            tail.torn_bytes += info.torn_bytes;
        }
        out.segments.push(info);
    }
    Ok(out)
}

/// Scans the frames of a segment the chain reached. Returns the tail if the log ends
/// here (the next segment does not continue the chain).
fn scan_live(
    cur: &mut Cursor,
    info: &mut SegmentInfo,
    header: SegmentHeader,
    next_first: Option<u64>,
    (record_bytes_max, lsn_end): (u64, u64),
) -> Result<Option<Tail>> {
    let seq = info.sequence;
    let run = scan_frames(cur, seq, header.first_lsn, (record_bytes_max, lsn_end))?;
    info.first_lsn = run.first;
    info.last_lsn = run.last;
    info.records = run.records;
    info.valid_end = run.valid_end;
    let last = run.last.unwrap_or(header.first_lsn - 1);
    if next_first == Some(last + 1) && run.records > 0 && last + 1 < lsn_end {
        // Sealed: the next segment carries on.
        if run.open_batch {
            return Err(Error::corrupt(
                seq,
                run.valid_end,
                CorruptReason::IncompleteBatch,
            ));
        }
        return Ok(None);
    }
    // The log ends here: nothing after the stop may validate.
    let lsn_min = run.last.map_or(header.first_lsn, |last| last + 1);
    let (valid, dirty_end) =
        cur.find_valid_after(run.stop, seq, record_bytes_max, lsn_min..lsn_end)?;
    if let Some(at) = valid {
        let reason = match run.stop_reason {
            Some(r @ CorruptReason::LsnOutOfOrder { .. }) => r,
            _ => CorruptReason::DamagedBeforeValidData { valid_frame_at: at },
        };
        return Err(Error::corrupt(seq, run.stop, reason));
    }
    if let Some(r @ CorruptReason::LsnOutOfOrder { .. }) = run.stop_reason {
        // A whole, valid frame with the wrong LSN is never a torn write.
        return Err(Error::corrupt(seq, run.stop, r));
    }
    let dirty_end = dirty_end.unwrap_or(0).max(run.stop);
    info.torn_bytes = dirty_end.saturating_sub(run.valid_end);
    Ok(Some(Tail {
        segment: seq,
        offset: run.valid_end,
        torn_bytes: 0,
    }))
}

/// The chain reached a segment with no valid header: a pre-created segment never
/// written, or a first write torn. Returns the torn bytes; errs if frames validate.
fn check_blank_start(
    cur: &mut Cursor,
    seq: u64,
    state: &HeaderState,
    (record_bytes_max, lsns): (u64, std::ops::Range<u64>),
) -> Result<u64> {
    let (valid, dirty_end) =
        cur.find_valid_after(SEGMENT_HEADER_BYTES, seq, record_bytes_max, lsns)?;
    if valid.is_some() {
        let reason = match state {
            HeaderState::Invalid(r) => r.clone(),
            _ => CorruptReason::HeaderMismatch("blank header in front of valid frames".into()),
        };
        return Err(Error::corrupt(seq, 0, reason));
    }
    Ok(dirty_bytes(state, dirty_end))
}

/// A segment after the end of the log: nothing in it may validate. `expected` is the
/// LSN the chain needed next when it ended.
fn check_beyond_end(
    cur: &mut Cursor,
    seq: u64,
    state: &HeaderState,
    tail: &Tail,
    expected: Option<u64>,
    (record_bytes_max, lsns): (u64, std::ops::Range<u64>),
) -> Result<u64> {
    let (valid, dirty_end) =
        cur.find_valid_after(SEGMENT_HEADER_BYTES, seq, record_bytes_max, lsns)?;
    if let Some(at) = valid {
        // Data after the end: name the place the chain broke. That is this segment's
        // own header when it is bad, or when the log ended cleanly (nothing torn) just
        // before this segment and its header does not carry on from there; otherwise
        // it is the damage at the end of the chain.
        let clean_end_before = tail.torn_bytes == 0 && seq == tail.segment + 1;
        let own = match state {
            HeaderState::Invalid(reason) => Some(reason.clone()),
            HeaderState::Blank => Some(CorruptReason::HeaderMismatch(
                "blank header in front of valid frames".into(),
            )),
            HeaderState::Valid(h) => match expected {
                Some(want) if clean_end_before && h.first_lsn != want => {
                    Some(CorruptReason::LsnOutOfOrder {
                        expected: want,
                        got: h.first_lsn,
                    })
                }
                _ => None,
            },
        };
        return Err(match own {
            Some(reason) => Error::corrupt(seq, 0, reason),
            None => Error::corrupt(
                tail.segment,
                tail.offset,
                CorruptReason::DamagedBeforeValidData { valid_frame_at: at },
            ),
        });
    }
    Ok(dirty_bytes(state, dirty_end))
}

/// Non-zero bytes in a segment that holds no record.
fn dirty_bytes(state: &HeaderState, dirty_end: Option<u64>) -> u64 {
    match (state, dirty_end) {
        (_, Some(end)) => end,
        (HeaderState::Blank, None) => 0,
        (_, None) => SEGMENT_HEADER_BYTES,
    }
}

/// What `Wal::open` needs to start writing after recovery.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub report: RecoveryReport,
    /// The segment the next record goes into, and where (0: it needs a header).
    pub active: Option<(u64, u64)>,
    /// A blank segment right after the active one, ready to be used next.
    pub next_blank: Option<u64>,
    /// Live segments with records: sequence → (first LSN, last LSN if sealed).
    pub catalog: std::collections::BTreeMap<u64, crate::writer::staging::SegmentMeta>,
    pub next_lsn: u64,
    pub checkpoint: u64,
    /// A sequence above every segment recovery saw (for a fresh active segment).
    pub next_sequence: u64,
}

/// Scans, then repairs what recovery may repair on its own: zeroes a torn tail and
/// removes segments that lie wholly past the end. Logs what it cut.
pub(crate) fn recover(
    dir: &Path,
    options: &crate::Options,
    rewrite_tail: bool,
) -> Result<Recovered> {
    let fs = &options.fs;
    // A cut that was decided (its intent is durable) is finished before anything else.
    let finished = crate::truncation::finish_pending(fs, dir, read_checkpoint_in(fs, dir)?)?;
    // Frames are read with the format's limit, not the options': a log reopened with a
    // smaller `record_bytes_max` must not take its larger records for torn bytes.
    let scan = scan_in(fs, dir, crate::limits::RECORD_BYTES_MAX)?;
    let mut report = RecoveryReport {
        checkpoint_lsn: Lsn::new(scan.checkpoint),
        last_lsn: Lsn::new(scan.last_lsn),
        records: scan.records,
        truncation_finished: finished.map(Lsn::new),
        ..RecoveryReport::default()
    };
    let mut catalog = std::collections::BTreeMap::new();
    let mut active = None;
    let mut next_blank = None;
    let tail = scan.tail;
    if options.recovery_mode == crate::RecoveryMode::Strict
        && let Some(t) = tail
    {
        // A tail segment with a header but no whole record is the start of a torn write
        // too (header and first frames go out in one write): the tolerant mode zeroes
        // the header, so strict mode must refuse rather than change it.
        let header_only = scan
            .segments
            .iter()
            .any(|s| s.sequence == t.segment && s.records == 0 && s.header.is_some());
        if t.torn_bytes > 0 || header_only {
            let (offset, header_bytes) = if header_only {
                (0, SEGMENT_HEADER_BYTES)
            } else {
                (t.offset, 0)
            };
            return Err(Error::TornTail {
                segment: t.segment,
                offset,
                bytes: t.torn_bytes + header_bytes,
            });
        }
    }
    for info in &scan.segments {
        let is_tail = tail.is_some_and(|t| t.segment == info.sequence);
        if info.beyond_end {
            let keep = info.torn_bytes == 0
                && info.header.is_none()
                && next_blank.is_none()
                && active.is_some_and(|(seq, _)| seq + 1 == info.sequence);
            if keep {
                next_blank = Some(info.sequence);
            } else {
                tracing::warn!(
                    segment = info.sequence,
                    torn_bytes = info.torn_bytes,
                    "recovery removes a segment past the end of the log"
                );
                fs.remove_file(&info.path)
                    .map_err(|e| Error::io(IoOp::Remove, &info.path, e))?;
                report.segments_removed += 1;
                report.torn_bytes_cut += info.torn_bytes;
            }
            continue;
        }
        // A tail whose records all lie below the persisted checkpoint cannot be
        // continued: the next LSN is `checkpoint + 1`, and writing it after `last` would
        // leave a gap in the segment's chain that the next scan calls corruption. The
        // writer never persists a checkpoint above the synced records, so this takes a
        // log damaged or restored from outside (a tail cut back, an old segment copied
        // in); recovery still must not make it worse. It is sealed here so the writer
        // retires it at open, like any wholly checkpointed segment, and starts a fresh
        // segment at `checkpoint + 1`.
        let tail_below_checkpoint = is_tail && info.last_lsn.is_some_and(|l| l < scan.checkpoint);
        if let (Some(first), Some(last)) = (info.first_lsn, info.last_lsn) {
            let sealed = (!is_tail || tail_below_checkpoint).then_some(last);
            catalog.insert(
                info.sequence,
                crate::writer::staging::SegmentMeta {
                    first_lsn: first,
                    last_lsn: sealed,
                },
            );
            report.segments += 1;
        }
        if is_tail {
            // A tail segment without records gets a fresh header at its first write.
            let (from, offset) = if info.records == 0 {
                (0, 0)
            } else {
                (info.valid_end, info.valid_end)
            };
            let cut_end = info.valid_end + info.torn_bytes;
            if cut_end > from && (info.torn_bytes > 0 || info.records == 0 && info.header.is_some())
            {
                cut_torn_tail(fs, dir, info, (from, cut_end), scan.checkpoint)?;
                tracing::warn!(
                    segment = info.sequence,
                    offset = from,
                    bytes = cut_end - from,
                    "recovery cut a torn tail"
                );
                report.torn_bytes_cut += cut_end - from;
            }
            if !tail_below_checkpoint {
                active = Some((info.sequence, offset));
                if rewrite_tail && offset > 0 {
                    rewrite_range(fs, &info.path, 0, offset)?;
                    report.tail_bytes_rewritten = offset;
                }
            }
        }
    }
    // What recovery keeps may include writes that reached the page cache but were never
    // synced (a process crash, not a power cut): sync every kept segment and the
    // directory now, so later acknowledgements never rest on unsynced earlier records.
    for info in scan
        .segments
        .iter()
        .filter(|i| !i.beyond_end || Some(i.sequence) == next_blank)
    {
        let file = fs
            .open(&info.path, Mode::ReadWrite)
            .map_err(|e| Error::io(IoOp::Open, &info.path, e))?;
        file.sync_data()
            .map_err(|e| Error::io(IoOp::Sync, &info.path, e))?;
    }
    fs.sync_dir(dir)?;
    let next_lsn = scan.last_lsn.max(scan.checkpoint) + 1;
    // The log's last LSN, also when a checkpoint retired every record.
    report.last_lsn = Lsn::new(next_lsn - 1);
    let next_sequence = scan.segments.last().map_or(1, |info| info.sequence + 1);
    Ok(Recovered {
        next_sequence,
        report,
        active,
        next_blank,
        catalog,
        next_lsn,
        checkpoint: scan.checkpoint,
    })
}

/// Reads `[from, to)` of a file and writes the same bytes back, a bounded chunk at a
/// time (the caller syncs).
///
/// Why: after a failed `fsync`, Linux marks the unsynced pages clean without writing
/// them; they stay readable until evicted, and a later `fsync` reports success without
/// writing them. A log reopened in the same boot would read those records, sync, and
/// build new acknowledgements on bytes that are not on disk. Writing them again makes
/// them dirty, so the sync at open covers them for real.
fn rewrite_range(fs: &Fs, path: &Path, from: u64, to: u64) -> Result<()> {
    let file = fs
        .open(path, Mode::ReadWrite)
        .map_err(|e| Error::io(IoOp::Open, path, e))?;
    let mut buf = vec![0u8; (to - from).min(crate::limits::READ_CHUNK_BYTES as u64) as usize];
    let mut at = from;
    while at < to {
        let want = (to - at).min(buf.len() as u64) as usize;
        let chunk = buf.get_mut(..want).unwrap_or_default();
        let got = file
            .read_at(chunk, at)
            .map_err(|e| Error::io(IoOp::Read, path, e))?;
        let bytes = chunk.get(..got).unwrap_or_default();
        if bytes.is_empty() {
            break;
        }
        file.write_all_at(bytes, at)
            .map_err(|e| Error::io(IoOp::Write, path, e))?;
        at += got as u64;
    }
    Ok(())
}

/// Zeroes a torn tail, `[from, to)` of the tail segment. The torn bytes may hold valid
/// frames (an unfinished batch): if a crash tore the zeroing, zeros in front of them
/// would read as damage before valid data. So the cut is made a truncation whose intent
/// is durable first, and a crash in the middle is finished by the next open the same
/// way (see `crate::truncation`). Without an LSN to name (no header) or below the
/// checkpoint (a log changed from outside) the bytes are zeroed alone.
fn cut_torn_tail(
    fs: &Fs,
    dir: &Path,
    info: &SegmentInfo,
    (from, to): (u64, u64),
    checkpoint: u64,
) -> Result<()> {
    let cut_lsn = match (info.last_lsn, info.header) {
        (Some(last), _) => Some(last + 1),
        (None, Some(h)) => Some(h.first_lsn),
        (None, None) => None,
    };
    match cut_lsn.filter(|lsn| *lsn > checkpoint) {
        Some(lsn) => {
            crate::truncation::write_intent(fs, dir, lsn)?;
            crate::truncation::zero_segment(fs, &info.path, from, to)?;
            crate::truncation::clear_intent(fs, dir)
        }
        None => crate::truncation::zero_segment(fs, &info.path, from, to),
    }
}
