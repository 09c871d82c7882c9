//! Recovery: scan every live segment, check headers, frame checksums and LSN density,
//! find the end of the log, and tell a torn tail (cut it) from corruption (report it).
//!
//! The end of the log is the first place where the chain of frames stops. Everything
//! after it, in that segment and in later ones, must hold no valid frame: otherwise
//! data was lost in the middle of the log and `Error::Corrupt` is returned. See
//! docs/FORMAT.md for the decision table.

use std::path::{Path, PathBuf};

use crate::Lsn;
use crate::catalog::SegmentMeta;
use crate::cursor::{Cursor, Found, Survey, Until, read_header};
use crate::error::{CorruptReason, Error, IoOp, Result};
use crate::format::checkpoint;
use crate::format::header::{HeaderState, SegmentHeader};
use crate::format::names::{CHECKPOINT_FILE, parse_segment_file_name};
use crate::io::{Fs, Mode};
use crate::limits::SEGMENT_HEADER_BYTES;
use crate::lock::LastClose;
use crate::truncation::Finished;

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
    /// Bytes at or after `valid_end` that are not zero (a torn write); in a recycled
    /// segment, only those that could be frames of this log's next records.
    pub torn_bytes: u64,
    /// The file is a reused segment (its header's `recycled` flag, or the
    /// recycled-blank marker): past its records it may hold an earlier life's bytes.
    pub recycled: bool,
    /// Sparse (LSN, frame offset) samples of the whole records, for `Wal::get`.
    pub(crate) samples: Vec<(u64, u64)>,
}

/// Where the log ends and what lies past it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tail {
    /// The segment holding the end of the log.
    pub segment: u64,
    /// Offset of the end (the next frame would go here).
    pub offset: u64,
    /// The first LSN the log does not hold: where the chain of records stops.
    pub lsn: u64,
    /// Bytes of torn writes past the end, over all segments (valid frames that no
    /// later frame vouches for included).
    pub torn_bytes: u64,
    /// Valid frames found past the end (after a hole): written, never acknowledged
    /// (nothing after them claims `lsn` was durable), so they are part of the torn tail.
    pub frames_after_hole: u64,
    /// The highest durable LSN any valid frame or segment header past the end claims:
    /// below `lsn`, or the scan would have reported corruption.
    pub durable_claimed: Option<u64>,
}

/// A torn tail recovery cut, and why it was not corruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The segment where the log now ends.
    pub segment: u64,
    /// The offset where it ends.
    pub offset: u64,
    /// The first LSN cut (the next one the log writes).
    pub lsn: Lsn,
    /// Bytes zeroed or removed past the end.
    pub bytes: u64,
    /// Valid frames past a hole that were cut with it: none of them, and no segment
    /// header after it, claimed `lsn` had been durable, so the hole is a write the power
    /// cut tore and these records were never acknowledged.
    pub frames_after_hole: u64,
    /// The highest durable LSN claimed past the end (below `lsn`), if anything claimed.
    pub durable_claimed: Option<Lsn>,
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
    /// Bytes of frames the scan checksummed: along the chain, and looking for valid
    /// data after its end. Bounded by a small multiple of the bytes scanned, whatever
    /// the bytes hold (see `CorruptReason::ScanBudgetExceeded`).
    pub bytes_checksummed: u64,
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
    /// Bytes near the end of the log (the tail segment and, within the last writer's
    /// bound on unsynced bytes, the ones before it) written again before the sync at
    /// open, because the last writer did not close cleanly (see docs/FORMAT.md,
    /// "Opening after a failure").
    pub tail_bytes_rewritten: u64,
    /// A truncation (`Wal::truncate_from`) a crash interrupted, finished by this open:
    /// the LSN it cut from.
    pub truncation_finished: Option<Lsn>,
    /// The torn tail cut, if there was one: where, how much, and what vouched for it
    /// being unacknowledged.
    pub torn_tail: Option<TornTail>,
}

/// Reads the persisted checkpoint, 0 if there is none.
pub fn read_checkpoint(dir: &Path) -> Result<u64> {
    read_checkpoint_in(&Fs::default(), dir)
}

pub(crate) fn read_checkpoint_in(fs: &Fs, dir: &Path) -> Result<u64> {
    let path = dir.join(CHECKPOINT_FILE);
    match fs.read(&path) {
        Ok(bytes) => checkpoint::decode(&bytes).map_err(|reason| match reason {
            CorruptReason::UnsupportedVersion(found) => Error::UnsupportedFormat {
                path,
                found,
                supported: crate::format::FORMAT_VERSION,
            },
            reason => Error::corrupt(0, 0, reason),
        }),
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
    /// The LSN after the last valid frame in the chain, whole batch or not.
    chain_end: u64,
    /// (LSN, offset) of a batch's first frame every `INDEX_STRIDE_BYTES` or more.
    samples: Vec<(u64, u64)>,
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
        chain_end: first_lsn,
        samples: Vec::new(),
    };
    let mut at = SEGMENT_HEADER_BYTES;
    let mut batch_at = at;
    let mut expected = first_lsn;
    let mut pending = 0u64;
    // A pending truncation removes everything from `lsn_end` on: the chain ends there.
    while expected < lsn_end {
        let (found_at, found) = cur.chain_frame_at(at, sequence, record_bytes_max, expected)?;
        match found {
            Found::Frame(d) if d.lsn == expected => {
                if pending == 0 {
                    // Padding lies between commits, so before a batch's first frame.
                    batch_at = found_at;
                }
                at = found_at + d.frame_len as u64;
                expected += 1;
                pending += 1;
                if !d.batch_continues {
                    let batch_first = expected - pending;
                    let due = run.samples.last().is_none_or(|&(_, last_at)| {
                        batch_at >= last_at + crate::index::INDEX_STRIDE_BYTES
                    });
                    if due {
                        run.samples.push((batch_first, batch_at));
                    }
                    batch_at = at;
                    run.first.get_or_insert(batch_first);
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
    run.chain_end = expected;
    Ok(run)
}

/// Scans a log directory without changing anything. `Err(Corrupt)` when the log is
/// damaged in a way that is not a torn tail.
pub fn scan(dir: &Path, record_bytes_max: u64) -> Result<Scan> {
    scan_in(&Fs::default(), dir, record_bytes_max)
}

/// A read-only scan: the durable LSN the lock file records vouches like a checkpoint,
/// and the way the last writer left the log bounds where it can have written.
pub(crate) fn scan_in(fs: &Fs, dir: &Path, record_bytes_max: u64) -> Result<Scan> {
    let (last_close, durable) = crate::lock::last_close_in(fs, dir);
    scan_vouched(fs, dir, record_bytes_max, (durable, last_close))
}

/// How many bytes past the end of its synced records a writer that left the log as
/// `last_close` says can have written (any, when it does not say).
fn stale_reach(last_close: LastClose) -> u64 {
    match last_close {
        LastClose::Clean => 0,
        LastClose::Unclean {
            unsynced_bytes_max: Some(bound),
        } => bound,
        LastClose::Unclean {
            unsynced_bytes_max: None,
        } => u64::MAX,
    }
}

/// Scans with `durable_recorded`, the LSN the lock file said was durable (0: none),
/// and how the last writer closed.
fn scan_vouched(
    fs: &Fs,
    dir: &Path,
    record_bytes_max: u64,
    (durable_recorded, last_close): (u64, LastClose),
) -> Result<Scan> {
    let checkpoint = read_checkpoint_in(fs, dir)?;
    // Recovery finishes a pending truncation before it scans; a read-only scan sees
    // the log as the truncation will leave it.
    let truncation_pending = crate::truncation::pending(fs, dir)?;
    let files = list_segments(fs, dir)?;
    check_contiguous(&files)?;
    // Headers first: whether segment i+1 continues the chain decides how segment i
    // ends. One file at a time, and nothing kept but the decoded header, so the
    // descriptors and memory a scan uses do not grow with the number of segments.
    let listed = read_headers(fs, files)?;
    let mut walk = Walk {
        out: Scan {
            segments: Vec::with_capacity(listed.len()),
            checkpoint,
            last_lsn: 0,
            records: 0,
            tail: None,
            truncation_pending,
            bytes_checksummed: 0,
        },
        expected: None,
        record_bytes_max,
        lsn_end: truncation_pending.unwrap_or(u64::MAX),
        past: PastEnd::default(),
        durable_recorded,
        stale_reach: stale_reach(last_close),
        bad_next_header: None,
    };
    let next_firsts: Vec<Option<u64>> = listed
        .iter()
        .skip(1)
        .map(|l| l.first_lsn())
        .chain(std::iter::once(None))
        .collect();
    for (segment, next_first) in listed.into_iter().zip(next_firsts) {
        walk.segment(fs, segment, next_first)?;
    }
    walk.judge_the_end()?;
    Ok(walk.out)
}

/// Segment files must be numbered without a hole.
fn check_contiguous(files: &[(u64, PathBuf)]) -> Result<()> {
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
    Ok(())
}

/// A live segment as the header pass found it: all a scan keeps per segment between
/// its two passes (no open file, no read buffer).
struct Listed {
    sequence: u64,
    path: PathBuf,
    header: HeaderState,
}

impl Listed {
    fn first_lsn(&self) -> Option<u64> {
        match &self.header {
            HeaderState::Valid(h) => Some(h.first_lsn),
            _ => None,
        }
    }
}

/// Reads every segment's header, one file open at a time. A header that passed its
/// checksum but cannot be used is never a torn write: another format version is
/// `UnsupportedFormat`, an impossible durable floor is corruption.
fn read_headers(fs: &Fs, files: Vec<(u64, PathBuf)>) -> Result<Vec<Listed>> {
    let mut listed = Vec::with_capacity(files.len());
    for (sequence, path) in files {
        let header = read_header(fs, &path)?;
        match &header {
            HeaderState::Valid(SegmentHeader {
                sequence: named, ..
            })
            | HeaderState::RecycledBlank { sequence: named }
                if *named != sequence =>
            {
                let why = format!("file name says segment {sequence}, header says {named}");
                return Err(Error::corrupt(
                    sequence,
                    0,
                    CorruptReason::HeaderMismatch(why),
                ));
            }
            HeaderState::Invalid(CorruptReason::UnsupportedVersion(found)) => {
                return Err(Error::UnsupportedFormat {
                    path,
                    found: *found,
                    supported: crate::format::FORMAT_VERSION,
                });
            }
            HeaderState::Invalid(reason) if SegmentHeader::checksummed_but_refused(&header) => {
                return Err(Error::corrupt(sequence, 0, reason.clone()));
            }
            _ => {}
        }
        listed.push(Listed {
            sequence,
            path,
            header,
        });
    }
    Ok(listed)
}

/// What lies past the end of the chain, over every segment: valid frames (a hole's
/// far side) and the highest durable claim among them and the segment headers there.
#[derive(Debug, Default)]
struct PastEnd {
    frames: u64,
    /// (claimed durable LSN, segment, offset) of the highest claim.
    vouch: Option<(u64, u64, u64)>,
}

impl PastEnd {
    fn claim(&mut self, durable: u64, segment: u64, offset: u64) {
        if self.vouch.is_none_or(|(best, _, _)| durable > best) {
            self.vouch = Some((durable, segment, offset));
        }
    }

    fn add(&mut self, segment: u64, found: &Survey) {
        self.frames += found.frames;
        if let Some((durable, at)) = found.vouch {
            self.claim(durable, segment, at);
        }
    }
}

/// The scan's second pass: along the chain, one segment (one open file) at a time.
struct Walk {
    out: Scan,
    /// The LSN the chain needs next, once a segment has set it.
    expected: Option<u64>,
    record_bytes_max: u64,
    /// A pending truncation removes everything from here on.
    lsn_end: u64,
    past: PastEnd,
    /// What the lock file says was durable (0: nothing).
    durable_recorded: u64,
    /// How far past the chain's end the last writer can have written: where recycled
    /// segments stop being surveyed (see `survey_segment`).
    stale_reach: u64,
    /// When the chain ended cleanly at the end of a segment and the next segment's
    /// header does not carry it on: that header, and why. If the end proves to be
    /// damage, this is where the log broke.
    bad_next_header: Option<(u64, CorruptReason)>,
}

/// How far past the end of the chain a recycled segment is surveyed.
#[derive(Debug, Clone, Copy)]
struct Reach {
    /// What the lock file recorded durable (capped below a pending cut).
    recorded: u64,
    /// The last writer's bound on bytes written past its synced records.
    unsynced: u64,
}

impl Reach {
    /// For a chain that stops at `lsn`: the last writer's bound when `lsn` was
    /// unsynced; everything when the lock file recorded it durable (the stop is then
    /// damage inside synced records, and what lies after it may vouch for them).
    fn past(self, lsn: u64) -> u64 {
        if lsn <= self.recorded {
            u64::MAX
        } else {
            self.unsynced
        }
    }
}

impl Walk {
    fn reach(&self) -> Reach {
        // A checkpoint is written only over synced records: a chain that stops at or
        // below it is damage, surveyed in full like one below the recorded durable LSN.
        let vouched = self.durable_recorded.max(self.out.checkpoint);
        Reach {
            recorded: vouched.min(self.lsn_end.saturating_sub(1)),
            unsynced: self.stale_reach,
        }
    }

    fn segment(&mut self, fs: &Fs, listed: Listed, next_first: Option<u64>) -> Result<()> {
        let mut cur = Cursor::open(fs, &listed.path)?;
        let mut info = SegmentInfo {
            sequence: listed.sequence,
            path: listed.path,
            file_bytes: cur.len,
            header: None,
            first_lsn: None,
            last_lsn: None,
            records: 0,
            valid_end: 0,
            beyond_end: self.out.tail.is_some(),
            torn_bytes: 0,
            recycled: SegmentHeader::recycled_state(&listed.header),
            samples: Vec::new(),
        };
        if let HeaderState::Valid(h) = &listed.header {
            info.header = Some(*h);
        }
        let ended = self.classify(&mut cur, &mut info, &listed.header, next_first)?;
        let out = &mut self.out;
        out.bytes_checksummed += cur.checked_bytes;
        drop(cur);
        out.records += info.records;
        if let Some(last) = info.last_lsn {
            out.last_lsn = last;
            self.expected = Some(last + 1);
        } else if let Some(h) = info.header.filter(|_| !info.beyond_end) {
            self.expected = Some(h.first_lsn);
        }
        if let Some(tail) = ended {
            out.tail = Some(tail);
        }
        if let Some(tail) = out.tail.as_mut() {
            tail.torn_bytes += info.torn_bytes;
        }
        out.segments.push(info);
        Ok(())
    }

    /// Scans one segment according to where the chain stands: past its end, reaching
    /// a headed segment, or reaching one without a header. Returns the tail if the
    /// log ends in this segment.
    fn classify(
        &mut self,
        cur: &mut Cursor,
        info: &mut SegmentInfo,
        state: &HeaderState,
        next_first: Option<u64>,
    ) -> Result<Option<Tail>> {
        let seq = info.sequence;
        let lsn_min = self.expected.unwrap_or(self.out.checkpoint + 1);
        let limits = (self.record_bytes_max, lsn_min..self.lsn_end);
        match (&self.out.tail, state) {
            (Some(tail), _) => {
                if seq == tail.segment + 1 && tail.torn_bytes == 0 {
                    self.bad_next_header = next_header_fault(state, tail.lsn).map(|r| (seq, r));
                }
                let stop = tail.lsn;
                self.survey_past_the_end(cur, info, state, (limits, stop))?;
                if let HeaderState::Valid(h) = state {
                    self.past.claim(h.durable_floor, seq, 0);
                }
                Ok(None)
            }
            (None, HeaderState::Valid(h)) => {
                // `lsn_min` is where the chain stands: the header must carry on from it
                // (or, for the first segment, start at or below the checkpoint's next).
                if h.first_lsn != self.expected.unwrap_or(h.first_lsn) || h.first_lsn > lsn_min {
                    let reason = CorruptReason::LsnOutOfOrder {
                        expected: lsn_min,
                        got: h.first_lsn,
                    };
                    return Err(Error::corrupt(seq, 0, reason));
                }
                let limits = (self.record_bytes_max, self.lsn_end);
                let reach = self.reach();
                scan_live(cur, info, (*h, next_first), limits, (reach, &mut self.past))
            }
            (None, _) => {
                // The chain reached a segment without a valid header: never written (a
                // blank), or its first write torn. The log ends at its start.
                self.survey_past_the_end(cur, info, state, (limits, lsn_min))?;
                Ok(Some(Tail {
                    segment: seq,
                    offset: 0,
                    lsn: lsn_min,
                    torn_bytes: 0,
                    frames_after_hole: 0,
                    durable_claimed: None,
                }))
            }
        }
    }

    /// Surveys a segment that lies wholly past the end of the chain (which stops at
    /// LSN `stop`) from its data area: what it holds joins what lies past the end, and
    /// its non-zero bytes (in a recycled file, what could be frames) are torn.
    fn survey_past_the_end(
        &mut self,
        cur: &mut Cursor,
        info: &mut SegmentInfo,
        state: &HeaderState,
        (limits, stop): ((u64, std::ops::Range<u64>), u64),
    ) -> Result<()> {
        let recycled = SegmentHeader::recycled_state(state);
        let stale = (recycled, self.reach().past(stop));
        let from = (info.sequence, SEGMENT_HEADER_BYTES);
        let found = survey_segment(cur, from, limits, stale)?;
        self.past.add(info.sequence, &found);
        info.torn_bytes = dirty_bytes(state, found.dirty_end(recycled));
        Ok(())
    }

    /// Once every segment is read: the log ends where its chain stops, and what lies
    /// after is a torn tail unless something proves it held durable records — a valid
    /// frame or segment header past the end claiming the first missing LSN durable, or
    /// a checkpoint at or above it (a checkpoint is only written over synced records).
    /// See docs/FORMAT.md, "Recovery decision table".
    fn judge_the_end(&mut self) -> Result<()> {
        let Some(tail) = self.out.tail.as_mut() else {
            return Ok(());
        };
        let past = &self.past;
        tail.frames_after_hole = past.frames;
        tail.durable_claimed = past.vouch.map(|(durable, _, _)| durable);
        let damaged = tail.torn_bytes > 0 || past.frames > 0;
        // A pending truncation removes everything from `lsn_end` on, whatever the lock
        // file says about it.
        let recorded_cap = self.lsn_end.saturating_sub(1);
        let recorded = self.durable_recorded.min(recorded_cap);
        // A claim about records a pending truncation removes proves nothing: the cut
        // takes them whatever they held.
        let reason = match past.vouch {
            Some((durable, by_segment, by_offset)) if durable.min(recorded_cap) >= tail.lsn => {
                CorruptReason::DamagedDurableData {
                    lsn: tail.lsn,
                    durable,
                    vouched_by_segment: by_segment,
                    vouched_by_offset: by_offset,
                }
            }
            _ if damaged && tail.lsn <= self.out.checkpoint => {
                CorruptReason::DamagedBelowCheckpoint {
                    lsn: tail.lsn,
                    checkpoint: self.out.checkpoint,
                }
            }
            // Also a clean end: records the lock file vouches for are simply missing
            // (a lost page read back as zeros). Not below the checkpoint: those are
            // retired, and a tail a checkpoint passed is handled at open.
            // And below the checkpoint when the lock file vouches for records above it:
            // those are missing, not retired.
            _ if tail.lsn <= recorded
                && (damaged
                    || tail.lsn > self.out.checkpoint
                    || recorded > self.out.checkpoint) =>
            {
                CorruptReason::DamagedBelowRecordedDurable {
                    lsn: tail.lsn,
                    durable: recorded,
                }
            }
            _ => return Ok(()),
        };
        // The log broke at the next segment's header when the chain ended cleanly
        // before it; otherwise where the chain stopped.
        Err(match self.bad_next_header.take() {
            Some((segment, own)) => Error::corrupt(segment, 0, own),
            None => Error::corrupt(tail.segment, tail.offset, reason),
        })
    }
}

/// Why the header of the segment right after a chain that ended cleanly at `lsn` does
/// not carry the chain on (`None` for a blank, which is how an unused segment looks).
fn next_header_fault(state: &HeaderState, lsn: u64) -> Option<CorruptReason> {
    match state {
        HeaderState::Invalid(reason) => Some(reason.clone()),
        HeaderState::Valid(h) if h.first_lsn != lsn => Some(CorruptReason::LsnOutOfOrder {
            expected: lsn,
            got: h.first_lsn,
        }),
        _ => None,
    }
}

/// Surveys a segment past the end of the chain from `from` (the data area of a
/// segment wholly past the end) to its end.
///
/// A recycled segment (`recycled`) holds its earlier life's bytes after whatever its
/// new life wrote, and the new life cannot have written more than `stale_reach` bytes
/// past the chain's end (the last writer's bound on unsynced bytes, from the lock
/// file: 0 after a clean close): only that span is surveyed, and only for LSNs that
/// many bytes of frames can reach. The earlier life's
/// frames never validate, but an arbitrary payload can look like many long frames
/// whose checksums together exceed the survey's budget; there, what the survey could
/// not finish counts as torn up to the end of the span (recovery zeroes it), instead
/// of the log being refused for a budget meant for damage.
fn survey_segment(
    cur: &mut Cursor,
    (seq, from): (u64, u64),
    (record_bytes_max, lsns): (u64, std::ops::Range<u64>),
    (recycled, stale_reach): (bool, u64),
) -> Result<Survey> {
    if !recycled {
        return cur.survey(from, seq, record_bytes_max, lsns, Until::End);
    }
    let end = from.saturating_add(stale_reach).min(cur.len);
    // Frames written past the chain's end number at most one per smallest frame of
    // the bytes the last writer may have left unsynced.
    let window = match stale_reach {
        u64::MAX => crate::cursor::LSN_WINDOW,
        bytes => bytes / crate::limits::frame_bytes(0) + 1,
    };
    let mut found = cur.survey_within(
        from..end,
        seq,
        record_bytes_max,
        lsns,
        Until::End,
        Some(window),
    )?;
    if stale_reach != u64::MAX && !found.budget_ran_out {
        // Only unsynced writes can lie here: what they left is the frame where the
        // chain stops (a torn write starts there) and valid frames after a hole. Any
        // other candidate is the earlier life's bytes or a torn frame, and neither can
        // ever validate: they stay, as the rest of the earlier life does. (An old frame
        // with an empty payload, read 8 bytes early, passes the LSN window by chance.)
        found.plausible_end = found.valid_end.max(found.start_end);
    }
    if found.budget_ran_out {
        tracing::warn!(
            segment = seq,
            from,
            end,
            "recovery could not tell a recycled segment's new bytes from its old ones \
             within the scan budget: the rest of the span the last writer may have \
             written counts as torn"
        );
    }
    Ok(found)
}

/// Scans the frames of a segment the chain reached. Returns the tail if the log ends
/// here (the next segment does not continue the chain).
fn scan_live(
    cur: &mut Cursor,
    info: &mut SegmentInfo,
    (header, next_first): (SegmentHeader, Option<u64>),
    (record_bytes_max, lsn_end): (u64, u64),
    (reach, past): (Reach, &mut PastEnd),
) -> Result<Option<Tail>> {
    let seq = info.sequence;
    let run = scan_frames(cur, seq, header.first_lsn, (record_bytes_max, lsn_end))?;
    info.first_lsn = run.first;
    info.last_lsn = run.last;
    info.records = run.records;
    info.valid_end = run.valid_end;
    info.samples = run.samples;
    // A segment whose frames run up to where the next one starts is sealed, even when
    // its last frames are a batch cut short (that is the `IncompleteBatch` below, not a
    // torn tail: the writer only moves on once a batch is whole).
    let chain_continues = next_first == Some(run.chain_end) && run.chain_end > header.first_lsn;
    if chain_continues && run.chain_end < lsn_end {
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
    // A whole frame that passed its checksum where the chain stops is never a torn
    // write: the wrong LSN, or a durable claim it cannot make.
    if let Some(
        r @ (CorruptReason::LsnOutOfOrder { .. } | CorruptReason::DurableClaimOutOfRange { .. }),
    ) = run.stop_reason
    {
        return Err(Error::corrupt(seq, run.stop, r));
    }
    // The log ends here; what follows is judged once every segment is read.
    let lsn = run.last.map_or(header.first_lsn, |last| last + 1);
    let found = survey_segment(
        cur,
        (seq, run.stop),
        (record_bytes_max, lsn..lsn_end),
        (header.recycled, reach.past(lsn)),
    )?;
    past.add(seq, &found);
    let dirty_end = found.dirty_end(header.recycled).unwrap_or(0).max(run.stop);
    info.torn_bytes = dirty_end.saturating_sub(run.valid_end);
    Ok(Some(Tail {
        segment: seq,
        offset: run.valid_end,
        lsn,
        torn_bytes: 0,
        frames_after_hole: 0,
        durable_claimed: None,
    }))
}

/// Non-zero bytes in a segment that holds no record.
fn dirty_bytes(state: &HeaderState, dirty_end: Option<u64>) -> u64 {
    match (state, dirty_end) {
        (_, Some(end)) => end,
        (HeaderState::Blank | HeaderState::RecycledBlank { .. }, None) => 0,
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
    pub catalog: std::collections::BTreeMap<u64, SegmentMeta>,
    pub next_lsn: u64,
    pub checkpoint: u64,
    /// A sequence above every segment recovery saw (for a fresh active segment).
    pub next_sequence: u64,
    /// Where the live records are, sparsely (see `crate::index`).
    pub index: crate::index::LsnIndex,
}

/// Scans, then repairs what recovery may repair on its own: zeroes a torn tail and
/// removes segments that lie wholly past the end. Logs what it cut. `last_close` (from
/// the lock file) says how much of the end of the log may be unsynced.
pub(crate) fn recover(
    dir: &Path,
    options: &crate::Options,
    (last_close, durable_recorded): (LastClose, u64),
) -> Result<Recovered> {
    let fs = &options.fs;
    // A cut that was decided (its intent is durable) is finished before anything else.
    let finished = crate::truncation::finish_pending(fs, dir, read_checkpoint_in(fs, dir)?)?;
    // Frames are read with the format's limit, not the options': a log reopened with a
    // smaller `record_bytes_max` must not take its larger records for torn bytes.
    // A decided cut removed what lay above it, whatever the lock file still says (the
    // writer lowers it before deciding a cut; an intent written some other way must
    // not make the cut's own end look like lost records).
    let durable_recorded = finished
        .cut_from()
        .map_or(durable_recorded, |from| durable_recorded.min(from - 1));
    let scan = scan_vouched(
        fs,
        dir,
        crate::limits::RECORD_BYTES_MAX,
        (durable_recorded, last_close),
    )?;
    if options.recovery_mode == crate::RecoveryMode::Strict {
        refuse_torn_tail(&scan)?;
    }
    let mut report = RecoveryReport {
        checkpoint_lsn: Lsn::new(scan.checkpoint),
        last_lsn: Lsn::new(scan.last_lsn),
        records: scan.records,
        truncation_finished: finished.cut_from().map(Lsn::new),
        ..RecoveryReport::default()
    };
    let mut kept = Kept::default();
    for info in &scan.segments {
        if info.beyond_end {
            kept.past_the_end(fs, info, &mut report)?;
        } else {
            kept.live(fs, dir, info, &scan, &mut report)?;
        }
    }
    let next_lsn = scan.last_lsn.max(scan.checkpoint) + 1;
    report.torn_tail = torn_tail_cut(&scan, report.torn_bytes_cut);
    if let Finished::LeftToRecovery(from) = finished {
        finish_cut_left_to_recovery(fs, dir, from, next_lsn)?;
    }
    report.tail_bytes_rewritten = make_kept_durable(fs, dir, &scan, kept.next_blank, last_close)?;
    // The log's last LSN, also when a checkpoint retired every record.
    report.last_lsn = Lsn::new(next_lsn - 1);
    let next_sequence = scan.segments.last().map_or(1, |info| info.sequence + 1);
    Ok(Recovered {
        index: kept.index,
        next_sequence,
        report,
        active: kept.active,
        next_blank: kept.next_blank,
        catalog: kept.catalog,
        next_lsn,
        checkpoint: scan.checkpoint,
    })
}

/// What recovery reports of the torn tail it cut (`bytes` in all), logging a cut that
/// took valid records after a hole.
fn torn_tail_cut(scan: &Scan, bytes: u64) -> Option<TornTail> {
    let t = scan.tail.filter(|_| bytes > 0)?;
    let torn = TornTail {
        segment: t.segment,
        offset: t.offset,
        lsn: Lsn::new(t.lsn),
        bytes,
        frames_after_hole: t.frames_after_hole,
        durable_claimed: t.durable_claimed.map(Lsn::new),
    };
    if torn.frames_after_hole > 0 {
        tracing::warn!(
            segment = torn.segment,
            offset = torn.offset,
            lsn = t.lsn,
            frames_after_hole = torn.frames_after_hole,
            durable_claimed = t.durable_claimed,
            "recovery cut valid records after a hole: nothing after the hole claimed it \
             durable, so a power cut kept later unsynced writes and lost earlier ones"
        );
    }
    Some(torn)
}

/// A cut whose records ended before it (`truncation::Finished::LeftToRecovery`):
/// everything from the end of the chain on was cut with the torn tail, the records the
/// intent names included (they lie past that end), so the intent is done. (The cut of
/// a torn tail replaced it with its own and removed that already.)
fn finish_cut_left_to_recovery(fs: &Fs, dir: &Path, from: u64, next_lsn: u64) -> Result<()> {
    if crate::truncation::pending(fs, dir)?.is_some() {
        crate::truncation::clear_intent(fs, dir)?;
    }
    tracing::warn!(
        from,
        end = next_lsn,
        "recovery finished a truncation a crash interrupted below its cut"
    );
    Ok(())
}

/// `RecoveryMode::Strict`: a torn tail is reported, not cut.
fn refuse_torn_tail(scan: &Scan) -> Result<()> {
    let Some(t) = scan.tail else {
        return Ok(());
    };
    // A tail segment with a header but no whole record is the start of a torn write
    // too (header and first frames go out in one write): the tolerant mode zeroes
    // the header, so strict mode must refuse rather than change it.
    let header_only = scan
        .segments
        .iter()
        .any(|s| s.sequence == t.segment && s.records == 0 && s.header.is_some());
    if t.torn_bytes == 0 && !header_only {
        return Ok(());
    }
    let (offset, header_bytes) = if header_only {
        (0, SEGMENT_HEADER_BYTES)
    } else {
        (t.offset, 0)
    };
    Err(Error::TornTail {
        segment: t.segment,
        offset,
        bytes: t.torn_bytes + header_bytes,
    })
}

/// What recovery keeps, built segment by segment.
#[derive(Default)]
struct Kept {
    catalog: std::collections::BTreeMap<u64, SegmentMeta>,
    index: crate::index::LsnIndex,
    active: Option<(u64, u64)>,
    next_blank: Option<u64>,
}

impl Kept {
    /// A segment wholly past the end: kept as the next blank segment if it is one and
    /// comes right after the active one, removed otherwise.
    fn past_the_end(
        &mut self,
        fs: &Fs,
        info: &SegmentInfo,
        report: &mut RecoveryReport,
    ) -> Result<()> {
        let keep = info.torn_bytes == 0
            && info.header.is_none()
            && self.next_blank.is_none()
            && self.active.is_some_and(|(seq, _)| seq + 1 == info.sequence);
        if keep {
            self.next_blank = Some(info.sequence);
            return Ok(());
        }
        tracing::warn!(
            segment = info.sequence,
            torn_bytes = info.torn_bytes,
            "recovery removes a segment past the end of the log"
        );
        fs.remove_file(&info.path)
            .map_err(|e| Error::io(IoOp::Remove, &info.path, e))?;
        report.segments_removed += 1;
        report.torn_bytes_cut += info.torn_bytes;
        Ok(())
    }

    /// A segment the chain reached: catalogued if it holds records; the tail's torn
    /// bytes are cut and it becomes the active segment.
    fn live(
        &mut self,
        fs: &Fs,
        dir: &Path,
        info: &SegmentInfo,
        scan: &Scan,
        report: &mut RecoveryReport,
    ) -> Result<()> {
        let is_tail = scan.tail.is_some_and(|t| t.segment == info.sequence);
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
            let meta = SegmentMeta {
                first_lsn: first,
                last_lsn: sealed,
            };
            self.catalog.insert(info.sequence, meta);
            for &(lsn, at) in &info.samples {
                self.index.observe(info.sequence, lsn, at);
            }
            report.segments += 1;
        }
        if !is_tail {
            return Ok(());
        }
        // A tail segment without records gets a fresh header at its first write.
        let (from, offset) = if info.records == 0 {
            (0, 0)
        } else {
            (info.valid_end, info.valid_end)
        };
        let cut_end = info.valid_end + info.torn_bytes;
        if cut_end > from && (info.torn_bytes > 0 || info.records == 0 && info.header.is_some()) {
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
            self.active = Some((info.sequence, offset));
        }
        Ok(())
    }
}

/// Makes what recovery keeps durable before the writer builds on it, and returns the
/// bytes written again.
///
/// Two ways kept records can be readable yet not on disk, and both lie within the last
/// writer's bound on unsynced bytes (`lock::unsynced_bytes_max`), back from the end of
/// the log across segments: writes a process crash left in the page cache (a sync
/// makes them durable), and writes whose sync failed, which Linux marks clean without
/// writing them, so that a sync alone skips them (see `rewrite_range`). So the last
/// `window` bytes of records are read and written back, segment after segment from the
/// tail, and each segment they touch is synced, with the tail, the blank segment kept
/// next, and the directory. `window` is nothing after a clean close, and the whole log
/// when the lock file does not give a bound.
fn make_kept_durable(
    fs: &Fs,
    dir: &Path,
    scan: &Scan,
    next_blank: Option<u64>,
    last_close: LastClose,
) -> Result<u64> {
    let mut left = match last_close {
        LastClose::Clean => Some(0),
        LastClose::Unclean { unsynced_bytes_max } => unsynced_bytes_max,
    };
    let mut rewritten = 0;
    let live = scan.segments.iter().filter(|i| !i.beyond_end);
    for (i, info) in live.rev().enumerate() {
        let reached = left.is_none_or(|l| l > 0);
        let data = if info.records > 0 {
            info.valid_end.saturating_sub(SEGMENT_HEADER_BYTES)
        } else {
            0
        };
        if reached && data > 0 {
            let take = left.map_or(data, |l| l.min(data));
            // A segment rewritten whole includes its header, written with its first
            // records and so unsynced with them.
            let from = if take == data {
                0
            } else {
                info.valid_end - take
            };
            rewrite_range(fs, &info.path, from, info.valid_end)?;
            rewritten += info.valid_end - from;
            left = left.map(|l| l - take);
        }
        if !reached && i > 0 {
            break;
        }
        sync_file(fs, &info.path)?;
    }
    let blank = scan
        .segments
        .iter()
        .filter(|i| Some(i.sequence) == next_blank);
    for info in blank {
        sync_file(fs, &info.path)?;
    }
    fs.sync_dir(dir)?;
    Ok(rewritten)
}

fn sync_file(fs: &Fs, path: &Path) -> Result<()> {
    let file = fs
        .open(path, Mode::ReadWrite)
        .map_err(|e| Error::io(IoOp::Open, path, e))?;
    file.sync_data().map_err(|e| Error::io(IoOp::Sync, path, e))
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
    let chunk_bytes = (to - from).min(crate::limits::READ_CHUNK_BYTES as u64);
    let mut buf = Vec::with_capacity(chunk_bytes as usize);
    let mut at = from;
    while at < to {
        buf.resize((to - at).min(chunk_bytes) as usize, 0);
        let got = file
            .read_at(&mut buf, at)
            .map_err(|e| Error::io(IoOp::Read, path, e))?;
        if got == 0 {
            break;
        }
        buf.truncate(got);
        file.write_all_at(&buf, at)
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
    // A recycled file keeps its earlier life's bytes past the cut: a cut that takes
    // its header leaves the recycled-blank marker, not zeros, so the next scan knows.
    let recycled = info.recycled.then_some(info.sequence);
    let cut_lsn = match (info.last_lsn, info.header) {
        (Some(last), _) => Some(last + 1),
        (None, Some(h)) => Some(h.first_lsn),
        (None, None) => None,
    };
    match cut_lsn.filter(|lsn| *lsn > checkpoint) {
        Some(lsn) => {
            crate::truncation::write_intent(fs, dir, lsn)?;
            crate::truncation::zero_segment(fs, &info.path, from, to, recycled)?;
            crate::truncation::clear_intent(fs, dir)
        }
        None => crate::truncation::zero_segment(fs, &info.path, from, to, recycled),
    }
}
