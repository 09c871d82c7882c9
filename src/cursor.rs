//! Sequential reads of a segment file in large chunks, handing out windows of it to
//! the pure decoders in `format/`. Never allocates more than the file holds.

use std::path::{Path, PathBuf};

use crate::error::{CorruptReason, Error, IoOp, Result};
use crate::format::frame::{self, Decode, Decoded};
use crate::format::header::{HeaderState, SegmentHeader};
use crate::format::{read_u32, read_u64};
use crate::io::{Fs, Handle, Mode};
use crate::limits::{
    FRAME_ALIGN, FRAME_HEADER_BYTES, READ_CHUNK_BYTES, SEGMENT_HEADER_BYTES, frame_bytes,
};

/// How far past the expected LSN a frame found after damage may claim to be and still
/// be checked (2^40 records: more than any log holds; random bytes rarely fall inside).
pub(crate) const LSN_WINDOW: u64 = 1 << 40;

/// The search for valid data after the end of the chain checks a frame at every
/// plausible word, each over its claimed length: crafted bytes (every other word a
/// plausible header claiming a long payload) would make it quadratic. So it may
/// checksum at most `SCAN_CHECK_FACTOR` times the bytes it has reached (the furthest
/// byte any candidate covered, counted from where it started) plus
/// `SCAN_CHECK_SLACK_BYTES`. A candidate alone never costs more than its own reach, so
/// a valid frame right after damage is always found; random bytes rarely pass the LSN
/// filter at all. Past the budget the scan refuses (`CorruptReason::ScanBudgetExceeded`)
/// instead of guessing whether valid data lies further on.
const SCAN_CHECK_FACTOR: u64 = 4;
const SCAN_CHECK_SLACK_BYTES: u64 = 64 << 10;

#[derive(Debug)]
pub(crate) struct Cursor {
    file: Handle,
    path: PathBuf,
    pub len: u64,
    buf: Vec<u8>,
    buf_at: u64,
    /// Bytes a read takes at least (`READ_CHUNK_BYTES` for scans; less for point reads).
    chunk: usize,
    /// Bytes of frames checksummed so far (every decode that reached the checksum).
    pub checked_bytes: u64,
}

/// What is at one position of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Found {
    Frame(Decoded),
    /// Fewer than a frame header's bytes remain, or the frame runs past the file end.
    Truncated,
    Invalid(CorruptReason),
}

/// Reads the header of the segment at `path` with one read of at most
/// `SEGMENT_HEADER_BYTES` and closes the file again: listing a log costs this much
/// per segment, never a whole read chunk or a descriptor kept open.
pub(crate) fn read_header(fs: &Fs, path: &Path) -> Result<HeaderState> {
    let file = fs
        .open(path, Mode::Read)
        .map_err(|e| Error::io(IoOp::Open, path, e))?;
    let len = file.len().map_err(|e| Error::io(IoOp::Read, path, e))?;
    let mut block = vec![0u8; len.min(SEGMENT_HEADER_BYTES) as usize];
    let mut got = 0;
    while let Some(rest) = block.get_mut(got..).filter(|rest| !rest.is_empty()) {
        let n = file
            .read_at(rest, got as u64)
            .map_err(|e| Error::io(IoOp::Read, path, e))?;
        if n == 0 {
            break;
        }
        got += n;
    }
    block.truncate(got);
    Ok(SegmentHeader::decode(&block))
}

impl Cursor {
    pub fn open(fs: &Fs, path: &Path) -> Result<Self> {
        let file = fs
            .open(path, Mode::Read)
            .map_err(|e| Error::io(IoOp::Open, path, e))?;
        let len = file.len().map_err(|e| Error::io(IoOp::Read, path, e))?;
        Ok(Cursor {
            file,
            path: path.to_path_buf(),
            len,
            buf: Vec::new(),
            buf_at: 0,
            chunk: READ_CHUNK_BYTES,
            checked_bytes: 0,
        })
    }

    /// A cursor whose reads take at least `chunk` bytes instead of a scan's 1 MiB: for
    /// reads that start at an indexed frame and usually want a few records.
    pub fn open_for_lookup(fs: &Fs, path: &Path, chunk: usize) -> Result<Self> {
        let mut cursor = Self::open(fs, path)?;
        cursor.chunk = chunk.max(FRAME_HEADER_BYTES as usize);
        Ok(cursor)
    }

    /// At least `need` bytes from `at` (fewer only at the end of the file).
    pub fn window(&mut self, at: u64, need: usize) -> Result<&[u8]> {
        let have_end = self.buf_at + self.buf.len() as u64;
        if at < self.buf_at || at + need as u64 > have_end {
            let want = need.max(self.chunk) as u64;
            let take = want.min(self.len.saturating_sub(at)) as usize;
            self.buf.resize(take, 0);
            let got = self
                .file
                .read_at(&mut self.buf, at)
                .map_err(|e| Error::io(IoOp::Read, &self.path, e))?;
            self.buf.truncate(got);
            self.buf_at = at;
        }
        let from = (at - self.buf_at) as usize;
        Ok(self.buf.get(from..).unwrap_or_default())
    }

    /// Decodes the frame at `at` written into segment `sequence`.
    pub fn frame_at(&mut self, at: u64, sequence: u64, record_bytes_max: u64) -> Result<Found> {
        if at + FRAME_HEADER_BYTES > self.len {
            return Ok(Found::Truncated);
        }
        let len = self.len;
        let bytes = self.window(at, FRAME_HEADER_BYTES as usize)?;
        let decoded = match frame::decode(bytes, sequence, record_bytes_max) {
            Decode::NeedBytes(total) => {
                if at + total as u64 > len {
                    return Ok(Found::Truncated);
                }
                let bytes = self.window(at, total)?;
                frame::decode(bytes, sequence, record_bytes_max)
            }
            other => other,
        };
        Ok(match decoded {
            Decode::Frame(d) => {
                self.checked_bytes += d.frame_len as u64;
                Found::Frame(d)
            }
            Decode::Invalid(r) => {
                if let CorruptReason::Checksum { .. } = r {
                    self.checked_bytes += frame_bytes(self.claimed_len(at));
                }
                Found::Invalid(r)
            }
            Decode::NeedBytes(_) => Found::Truncated,
        })
    }

    /// The next frame of a chain that expects LSN `expected` at `at`: the frame at `at`,
    /// or, when that is not the expected frame, `at` lies inside a `PAD_BLOCK`, every
    /// byte from `at` to the block's end is zero and the block after starts with the
    /// expected frame, that frame (padding, docs/FORMAT.md). Returns where what it
    /// returns lies.
    pub fn chain_frame_at(
        &mut self,
        at: u64,
        sequence: u64,
        record_bytes_max: u64,
        expected: u64,
    ) -> Result<(u64, Found)> {
        let found = self.frame_at(at, sequence, record_bytes_max)?;
        if matches!(&found, Found::Frame(d) if d.lsn == expected) {
            return Ok((at, found));
        }
        let want = crate::format::bytes_to_block_end(at);
        let Some(next) = crate::format::padding_end(at, self.window(at, want)?) else {
            return Ok((at, found));
        };
        match self.frame_at(next, sequence, record_bytes_max)? {
            Found::Frame(d) if d.lsn == expected => Ok((next, Found::Frame(d))),
            _ => Ok((at, found)),
        }
    }

    /// The payload length the frame header at `at` claims (0 if unreadable); called
    /// right after a decode at `at`, so the header is in the buffer.
    fn claimed_len(&self, at: u64) -> u64 {
        let from = at.saturating_sub(self.buf_at) as usize;
        let field = self
            .buf
            .get(from..)
            .and_then(|b| read_u32(b, 4))
            .unwrap_or(0);
        u64::from(field & !frame::BATCH_CONTINUES)
    }

    /// The payload of a frame decoded at `at`.
    pub fn payload(&mut self, at: u64, d: &Decoded) -> Result<Vec<u8>> {
        let bytes = self.window(at, d.frame_len)?;
        let have = bytes.len();
        bytes
            .get(d.payload_at..d.payload_at + d.payload_len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| {
                // The frame decoded from this same window: an empty payload here would
                // hand a reader a record that is not the one on disk.
                Error::internal(format!(
                    "payload {}..{} of the frame at {at} outside the {have} bytes read",
                    d.payload_at,
                    d.payload_at + d.payload_len
                ))
            })
    }

    /// The end of the last non-zero byte at or after `from` (`from` when there is
    /// none), read a chunk at a time.
    pub fn nonzero_end(&mut self, from: u64) -> Result<u64> {
        let mut end = from;
        let mut at = from;
        while at < self.len {
            let chunk = self.window(at, READ_CHUNK_BYTES)?;
            if chunk.is_empty() {
                break;
            }
            let n = chunk.len() as u64;
            if let Some(i) = chunk.iter().rposition(|&b| b != 0) {
                end = at + i as u64 + 1;
            }
            at += n;
        }
        Ok(end)
    }

    /// Walks `from` to the end of the file (aligned positions) for valid frames of
    /// `sequence` and the end of non-zero bytes; `Until::FirstValid` stops at the first
    /// valid frame, `Until::End` steps over each valid frame and goes on, keeping the
    /// highest durable claim among them.
    ///
    /// Only frames whose LSN is at least `lsns.start` (and not absurdly beyond it) are
    /// candidates: anything written after the end of the chain carries a later LSN, and
    /// the filter keeps a scan over garbage from checksumming at every position. Frames
    /// at or above `lsns.end` (the records a pending truncation is removing) are not
    /// counted or returned, but their durable claims are kept: what they say about the
    /// records below the cut stays true. A frame that passes its checksum with an
    /// impossible durable claim is corruption.
    pub fn survey(
        &mut self,
        from: u64,
        sequence: u64,
        record_bytes_max: u64,
        lsns: std::ops::Range<u64>,
        until: Until,
    ) -> Result<Survey> {
        let end = self.len;
        self.survey_within(from..end, sequence, record_bytes_max, lsns, until, None)
    }

    /// `survey` over frames that start in `span` (they may end past it). In a recycled
    /// segment (`recycled: Some(window)`) a candidate must also claim less than its own
    /// LSN durable (as every frame does) and carry an LSN below `lsns.start + window`
    /// (the records the last writer can have written past the chain's end): an earlier
    /// life's frames, read from a misaligned offset, put their checksum and length
    /// where an LSN goes, a value that passes the loose `LSN_WINDOW` whenever the length
    /// is small. A survey that would exceed the budget stops there instead of refusing:
    /// what it found so far is kept, and the rest of the span counts as dirty
    /// (`Survey::budget_ran_out`). Old payloads can look like many long frames; a budget
    /// meant to refuse crafted damage must not refuse a healthy recycled file.
    pub fn survey_within(
        &mut self,
        span: std::ops::Range<u64>,
        sequence: u64,
        record_bytes_max: u64,
        lsns: std::ops::Range<u64>,
        until: Until,
        recycled: Option<u64>,
    ) -> Result<Survey> {
        let window = recycled.map_or(LSN_WINDOW, |w| w.min(LSN_WINDOW));
        let (from, end) = (span.start, span.end.min(self.len));
        let lsn_min = lsns.start.max(1);
        let align = FRAME_ALIGN;
        let mut at = from - from % align;
        let mut out = Survey::default();
        let file_len = self.len;
        // The budget counts from here: what this search checksummed, and how far it
        // reached from `from`.
        let (checked_before, mut reach) = (self.checked_bytes, from);
        // Where a write starting at `from` puts its first frame: there, or past the
        // padding to the next block (`Cursor::chain_frame_at`). Only the first non-zero
        // word can be it.
        let mut first_word = true;
        let padded = from.next_multiple_of(crate::limits::PAD_BLOCK);
        while at < end {
            let Some(next) = self.next_nonzero_word(at)? else {
                break;
            };
            at = next;
            let at_start = std::mem::take(&mut first_word) && (at == from || at == padded);
            if at >= end {
                break;
            }
            let head = self.window(at, FRAME_HEADER_BYTES as usize)?;
            out.dirty_end = Some((at + align).min(file_len));
            let lsn = read_u64(head, 8).unwrap_or(0);
            let durable = read_u64(head, 16).unwrap_or(0);
            let len = u64::from(read_u32(head, 4).unwrap_or(0) & !frame::BATCH_CONTINUES);
            let plausible = at >= from
                && lsn >= lsn_min
                && lsn - lsn_min < window
                && (recycled.is_none() || durable < lsn)
                && len <= record_bytes_max
                && at + frame_bytes(len) <= file_len;
            if !plausible {
                at += align;
                continue;
            }
            reach = reach.max(at + frame_bytes(len));
            out.plausible_end = out.plausible_end.max(Some(at + frame_bytes(len)));
            if at_start {
                out.start_end = Some(at + frame_bytes(len));
            }
            let checked = self.checked_bytes - checked_before;
            let allowed = SCAN_CHECK_FACTOR * (reach - from) + SCAN_CHECK_SLACK_BYTES;
            if checked + frame_bytes(len) > allowed && recycled.is_some() {
                out.budget_ran_out = true;
                out.dirty_end = out.dirty_end.max(Some(end));
                out.plausible_end = out.plausible_end.max(Some(end));
                return Ok(out);
            }
            if checked + frame_bytes(len) > allowed {
                let reason = CorruptReason::ScanBudgetExceeded {
                    offset: at,
                    bytes_checked: checked,
                };
                return Err(Error::corrupt(sequence, at, reason));
            }
            match self.frame_at(at, sequence, record_bytes_max)? {
                Found::Frame(d) => {
                    if out.vouch.is_none_or(|(claim, _)| d.durable > claim) {
                        out.vouch = Some((d.durable, at));
                    }
                    if d.lsn < lsns.end {
                        out.frames += 1;
                        if until == Until::FirstValid {
                            return Ok(out);
                        }
                    }
                    at += d.frame_len as u64;
                    out.dirty_end = Some(at.min(file_len));
                    out.valid_end = Some(at.min(file_len));
                }
                Found::Invalid(reason @ CorruptReason::DurableClaimOutOfRange { .. }) => {
                    return Err(Error::corrupt(sequence, at, reason));
                }
                _ => at += align,
            }
        }
        Ok(out)
    }

    /// The first aligned position at or after `at` (aligned) whose 8-byte word is not
    /// zero, skipping zeros a buffer at a time (a preallocated segment is mostly zeros;
    /// only a non-zero word can start a frame worth decoding).
    fn next_nonzero_word(&mut self, mut at: u64) -> Result<Option<u64>> {
        let align = FRAME_ALIGN;
        while at < self.len {
            let ahead = self.window(at, FRAME_HEADER_BYTES as usize)?;
            if ahead.is_empty() {
                break;
            }
            let words = ahead.chunks_exact(align as usize);
            let tail_nonzero = words.remainder().iter().any(|&b| b != 0);
            let whole = (ahead.len() / align as usize) as u64 * align;
            match words
                .map(|w| w.iter().fold(0u8, |acc, &b| acc | b))
                .position(|or| or != 0)
            {
                Some(i) => return Ok(Some(at + i as u64 * align)),
                None if !tail_nonzero => at += ahead.len() as u64,
                None => return Ok(Some(at + whole)),
            }
        }
        Ok(None)
    }
}

/// How far `Cursor::survey` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Until {
    /// Stop at the first valid frame.
    FirstValid,
    /// Go to the end of the file.
    End,
}

/// What `Cursor::survey` found past a point.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Survey {
    /// Valid frames found.
    pub frames: u64,
    /// The highest durable claim among them, and the offset of the frame making it.
    pub vouch: Option<(u64, u64)>,
    /// End of the last non-zero 8-byte word (or valid frame); `None` when all zero.
    pub dirty_end: Option<u64>,
    /// The furthest end of a frame that could be one of the log's next records (valid,
    /// or plausible enough to have been checksummed); `None` when there is none. In a
    /// recycled segment only this much is torn: the rest is its earlier life's bytes,
    /// which never validate in this one.
    pub plausible_end: Option<u64>,
    /// A recycled segment's survey stopped at its budget (`Cursor::survey_within`).
    pub budget_ran_out: bool,
    /// The end of the last valid frame; `None` when there is none.
    pub valid_end: Option<u64>,
    /// The end of a plausible frame where a write starting at the survey's start puts
    /// its first frame (there, or past zero padding to the next block); `None` when
    /// there is none.
    pub start_end: Option<u64>,
}

impl Survey {
    /// The end of what a cut must zero: every non-zero byte, or in a segment that may
    /// hold an earlier life's bytes (`recycled`), what could be a frame of this one.
    pub fn dirty_end(&self, recycled: bool) -> Option<u64> {
        if recycled {
            self.plausible_end
        } else {
            self.dirty_end
        }
    }
}
