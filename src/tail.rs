//! Following the log as it grows: a [`Tail`] yields records in LSN order as they become
//! durable (or, with [`Tail::written`], as they are written), across rotations, as a
//! blocking iterator or as a `futures_core::Stream`.
//!
//! A tail made by [`crate::Wal::tail`] waits on the log's own watermark: it wakes when
//! its next LSN is covered, never by polling, and reads only bytes the watermark vouches
//! for. A tail made by [`crate::LogReader::tail`] for another process cannot see the
//! writer's watermark: it polls the files (with a backoff) and yields what they hold.
//!
//! A tail owns its file handle and buffer (`Send + Unpin + 'static`), reads one segment
//! at a time with a bounded buffer, and never skips: a record retired by a checkpoint
//! before the tail reached it is `Error::BelowCheckpoint` (naming the first LSN still
//! held), and a cut of the log below what it already yielded is `Error::CutBelowTail`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::Lsn;
use crate::error::{CorruptReason, Error, IoOp, Result};
use crate::format::frame::{self, Decode};
use crate::format::names::segment_file_name;
use crate::io::{Fs, Handle, Mode};
use crate::limits::{FRAME_HEADER_BYTES, RECORD_BYTES_MAX, SEGMENT_HEADER_BYTES};
use crate::reader::{Probe, Record, below_first, first_available, locate_start, probe};
use crate::recovery::read_checkpoint_in;
use crate::writer::thread::Shared;
use crate::writer::watermark::{AsyncWait, Level};

/// Bytes a tail reads at once (it re-reads rather than grow past a record's length).
const TAIL_CHUNK_BYTES: usize = 64 << 10;
/// A cross-process tail's polling interval: it starts short and backs off to this.
const FILES_POLL_MAX: Duration = Duration::from_millis(20);
const FILES_POLL_MIN: Duration = Duration::from_micros(200);

/// How a tail learns that there is more to read.
#[derive(Debug)]
enum Follow {
    /// The writer's watermark, in this process.
    Local {
        shared: Arc<Shared>,
        level: Level,
        /// Cuts of the log this tail has accounted for.
        cuts_seen: u64,
        /// The async registration for `next`, while a stream waits.
        wait: Option<AsyncWait>,
    },
    /// The files, polled (another process writes them).
    Files { poll: Duration },
}

/// The segment a tail reads, with a window of its bytes.
#[derive(Debug)]
struct Open {
    sequence: u64,
    file: Handle,
    /// Offset of the next frame.
    at: u64,
    buf: Vec<u8>,
    buf_at: u64,
    /// The watermark when `buf` was read: records up to it were in the file then.
    buf_bound: u64,
}

/// A follower of the log; see the module docs. Made by [`crate::Wal::tail`] or
/// [`crate::LogReader::tail`].
#[derive(Debug)]
pub struct Tail {
    fs: Fs,
    dir: PathBuf,
    follow: Follow,
    next: u64,
    open: Option<Open>,
    /// Records of a whole batch decoded and not yet handed out.
    ready: VecDeque<Record>,
    /// Set after an error or the end: the tail yields nothing more.
    done: bool,
}

impl Tail {
    pub(crate) fn local(fs: Fs, dir: PathBuf, shared: Arc<Shared>, from: u64) -> Self {
        let cuts_seen = shared.watermark.cuts_made();
        Tail {
            fs,
            dir,
            follow: Follow::Local {
                shared,
                level: Level::Synced,
                cuts_seen,
                wait: None,
            },
            next: from.max(1),
            open: None,
            ready: VecDeque::new(),
            done: false,
        }
    }

    pub(crate) fn files(fs: Fs, dir: PathBuf, from: u64) -> Self {
        Tail {
            fs,
            dir,
            follow: Follow::Files {
                poll: FILES_POLL_MIN,
            },
            next: from.max(1),
            open: None,
            ready: VecDeque::new(),
            done: false,
        }
    }

    /// Follows the *written* watermark instead of the durable one: records are yielded
    /// once the writer handed them to the OS, before they are synced — so a power cut
    /// may take back records this tail already yielded. For followers that can redo
    /// work; a replica that must only ship durable data keeps the default.
    pub fn written(mut self) -> Self {
        if let Follow::Local { level, wait, .. } = &mut self.follow {
            *level = Level::Written;
            *wait = None;
        }
        self
    }

    /// The LSN the tail yields next.
    pub fn next_lsn(&self) -> Lsn {
        Lsn::new(self.ready.front().map_or(self.next, |r| r.lsn().get()))
    }

    /// Checks for an eager error (a start below retention) before the first read.
    pub(crate) fn check_start(&mut self) -> Result<()> {
        if self.bound()? >= self.next {
            self.locate()?;
        }
        Ok(())
    }

    /// The highest LSN the tail may read now (`u64::MAX` for a files tail: whatever
    /// validates), after checking for cuts.
    fn bound(&mut self) -> Result<u64> {
        let Follow::Local {
            shared,
            level,
            cuts_seen,
            ..
        } = &mut self.follow
        else {
            return Ok(u64::MAX);
        };
        let (lowest, made) = shared.watermark.cut_since(*cuts_seen);
        if let Some(cut) = lowest {
            *cuts_seen = made;
            let position = self.ready.front().map_or(self.next, |r| r.lsn().get());
            // Records at or above `position` were not yet yielded: a cut there only
            // replaces what the tail will read. Below it, yielded records are gone.
            if cut < position {
                return Err(Error::CutBelowTail {
                    cut: Lsn::new(cut),
                    position: Lsn::new(position),
                });
            }
            // The bytes after the cut changed: read them again.
            self.open = None;
            self.ready.clear();
            self.next = position;
        }
        Ok(shared.watermark.get(*level))
    }

    /// The next record if the log holds it now (`Ok(None)`: not yet).
    fn try_next(&mut self) -> Result<Option<Record>> {
        let bound = self.bound()?;
        if let Some(record) = self.ready.pop_front() {
            return Ok(Some(record));
        }
        if self.next > bound {
            return Ok(None);
        }
        let first = self.next;
        loop {
            if self.open.is_none() && !self.locate()? {
                return self.checked(first, |t| t.missing(bound, None));
            }
            if let Some(batch) = self.read_batch(bound)? {
                return self.checked(first, |t| {
                    t.ready.extend(batch);
                    Ok(t.ready.pop_front())
                });
            }
            if !self.advance_segment()? {
                let place = self.open.as_ref().map(|o| (o.sequence, o.at));
                return self.checked(first, |t| t.missing(bound, place));
            }
        }
    }

    /// Hands out what a read found only if no cut began since `bound()` looked (a
    /// cut zeroes bytes after stepping the watermark back): otherwise forgets the read,
    /// back at `first`, and returns `Ok(None)` so the caller's next turn sees the cut.
    fn checked(
        &mut self,
        first: u64,
        then: impl FnOnce(&mut Self) -> Result<Option<Record>>,
    ) -> Result<Option<Record>> {
        if let Follow::Local {
            shared, cuts_seen, ..
        } = &self.follow
            && shared.watermark.cuts_made() != *cuts_seen
        {
            self.open = None;
            self.ready.clear();
            self.next = first;
            return Ok(None);
        }
        then(self)
    }

    /// Nothing to read at `next`: for a files tail, not yet; for a local tail whose
    /// watermark covers it, the record is missing from the files.
    fn missing(&self, bound: u64, place: Option<(u64, u64)>) -> Result<Option<Record>> {
        if matches!(self.follow, Follow::Files { .. }) || self.next > bound {
            return Ok(None);
        }
        let (segment, offset) = place.unwrap_or((0, 0));
        Err(Error::corrupt(
            segment,
            offset,
            CorruptReason::LsnOutOfOrder {
                expected: self.next,
                got: 0,
            },
        ))
    }

    /// Opens the segment holding `next` and finds its frame. `Ok(false)` when no
    /// segment holds it yet; `BelowCheckpoint` when retention removed it.
    fn locate(&mut self) -> Result<bool> {
        let (files, found) = locate_start(&self.fs, &self.dir, self.next)?;
        let Some((sequence, path)) = found.and_then(|(at, _)| files.get(at)) else {
            let checkpoint = read_checkpoint_in(&self.fs, &self.dir)?;
            if self.next <= checkpoint {
                let first = first_available(&self.fs, &files)?;
                return Err(below_first(&self.fs, &self.dir, self.next, first));
            }
            return Ok(false);
        };
        self.open_segment(*sequence, path)?;
        self.skip_to_next()
    }

    fn open_segment(&mut self, sequence: u64, path: &Path) -> Result<()> {
        let file = self
            .fs
            .open(path, Mode::Read)
            .map_err(|e| Error::io(IoOp::Open, path, e))?;
        self.open = Some(Open {
            sequence,
            file,
            at: SEGMENT_HEADER_BYTES,
            buf: Vec::new(),
            buf_at: 0,
            buf_bound: 0,
        });
        Ok(())
    }

    /// Walks the open segment's frames up to the one holding `next`.
    fn skip_to_next(&mut self) -> Result<bool> {
        let mut expected = None;
        loop {
            let bound = u64::MAX;
            let Some((lsn, len, _)) = self.frame_here(bound, expected)? else {
                return Ok(true);
            };
            if lsn >= self.next {
                return Ok(true);
            }
            if let Some(open) = self.open.as_mut() {
                open.at += len as u64;
            }
            expected = Some(lsn + 1);
        }
    }

    /// `decode_here`, stepping over padding (docs/FORMAT.md) when the chain expects
    /// `expected` and the frame at the position is not it: with every byte to the end
    /// of the position's block zero and the expected frame at the next block, the
    /// position moves there.
    fn frame_here(
        &mut self,
        bound: u64,
        expected: Option<u64>,
    ) -> Result<Option<(u64, usize, frame::Decoded)>> {
        let found = self.decode_here(bound)?;
        let Some(expected) = expected else {
            return Ok(found);
        };
        if found.as_ref().is_some_and(|(lsn, ..)| *lsn == expected) {
            return Ok(found);
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(found);
        };
        let at = open.at;
        // The window `decode_here` just read (afresh, when nothing decoded) covers the gap.
        let want = crate::format::bytes_to_block_end(at);
        let Some(next) = crate::format::padding_end(at, open.window(false, want, bound)?) else {
            return Ok(found);
        };
        open.at = next;
        let after = self.decode_here(bound)?;
        if after.as_ref().is_some_and(|(lsn, ..)| *lsn == expected) {
            return Ok(after);
        }
        if let Some(open) = self.open.as_mut() {
            open.at = at;
        }
        Ok(found)
    }

    /// The frame at the open segment's position: (LSN, frame bytes, decoded), or
    /// `None` when none validates there. A local tail (`bound` is its watermark) reads
    /// again when its window was read before `next` was covered; any tail reads again
    /// before it concludes that nothing validates.
    fn decode_here(&mut self, bound: u64) -> Result<Option<(u64, usize, frame::Decoded)>> {
        let next = self.next;
        let Some(open) = self.open.as_mut() else {
            return Ok(None);
        };
        let sequence = open.sequence;
        let mut fresh = bound != u64::MAX && open.buf_bound < next;
        let mut need = FRAME_HEADER_BYTES as usize;
        for _ in 0..3 {
            let bytes = open.window(fresh, need, bound)?;
            let have = bytes.len();
            match frame::decode(bytes, sequence, RECORD_BYTES_MAX) {
                Decode::Frame(d) => return Ok(Some((d.lsn, d.frame_len, d))),
                Decode::NeedBytes(total) if total > have => {
                    need = total;
                    fresh = true;
                }
                _ if !fresh => fresh = true,
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Decodes the whole batch starting at `next` (a single record is a batch of one);
    /// `None` unless every frame of it is there and in order.
    fn read_batch(&mut self, bound: u64) -> Result<Option<Vec<Record>>> {
        let Some(start) = self.open.as_ref().map(|o| o.at) else {
            return Ok(None);
        };
        let mut batch = Vec::new();
        let mut lsn_expected = self.next;
        while let Some((lsn, len, d)) = self.frame_here(bound, Some(lsn_expected))? {
            if lsn != lsn_expected {
                break;
            }
            let Some(open) = self.open.as_mut() else {
                break;
            };
            let payload = open.payload(&d)?;
            batch.push(Record::new(Lsn::new(lsn), payload));
            open.at += len as u64;
            lsn_expected += 1;
            if !d.batch_continues {
                self.next = lsn_expected;
                return Ok(Some(batch));
            }
        }
        // Not whole (yet): come back to the batch's start.
        if let Some(open) = self.open.as_mut() {
            open.at = start;
        }
        Ok(None)
    }

    /// Moves to the segment after the open one when it carries on from `next`.
    fn advance_segment(&mut self) -> Result<bool> {
        let Some(sequence) = self.open.as_ref().map(|o| o.sequence) else {
            return Ok(false);
        };
        let path = self.dir.join(segment_file_name(sequence + 1));
        match probe(&self.fs, &path)? {
            // `first < next` when a search that raced a removal settled on an earlier
            // segment: walk on to the frame of `next`.
            Probe::First(first) if first <= self.next => {
                self.open_segment(sequence + 1, &path)?;
                self.skip_to_next()
            }
            // A next segment starting past `next`: the open one stopped short of it.
            // When a checkpoint covers `next`, the open segment was retired under this
            // tail (and its file maybe reused for a new segment, whose frames do not
            // validate here): `locate` says `BelowCheckpoint`, not a false corruption.
            Probe::First(_) if self.next <= read_checkpoint_in(&self.fs, &self.dir)? => {
                self.open = None;
                self.locate()
            }
            Probe::First(_) | Probe::Headless => Ok(false),
            // No next segment: not made yet, or retention passed this tail. Look again
            // from the directory; finding the same segment means "nothing yet".
            Probe::Gone => {
                self.open = None;
                let found = self.locate()?;
                Ok(found && self.open.as_ref().is_some_and(|o| o.sequence != sequence))
            }
        }
    }

    /// Blocks until the next record is there (`Ok(Some)`), `deadline` passes
    /// (`Ok(None)`), or the log ends (`Err(Closed)`) or fails.
    fn next_until(&mut self, deadline: Option<Instant>) -> Result<Option<Record>> {
        loop {
            if let Some(record) = self.try_next()? {
                return Ok(Some(record));
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            match &mut self.follow {
                Follow::Local {
                    shared,
                    level,
                    cuts_seen,
                    ..
                } => {
                    shared
                        .watermark
                        .wait_or_cut(self.next, *level, *cuts_seen, deadline)?;
                }
                Follow::Files { poll } => {
                    let nap = deadline.map_or(*poll, |d| {
                        d.saturating_duration_since(Instant::now()).min(*poll)
                    });
                    std::thread::sleep(nap);
                    *poll = (*poll * 2).min(FILES_POLL_MAX);
                }
            }
        }
    }

    /// The next record, waiting at most `timeout`: `Ok(None)` if none came in time,
    /// `Err(Error::Closed)` once the log closed with nothing more to yield.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Record>> {
        if self.done {
            return Err(Error::Closed);
        }
        let result = self.next_until(Some(Instant::now() + timeout));
        self.note(&result);
        result
    }

    fn note<T>(&mut self, result: &Result<T>) {
        match result {
            Err(_) => self.done = true,
            Ok(_) => {
                if let Follow::Files { poll } = &mut self.follow {
                    *poll = FILES_POLL_MIN;
                }
            }
        }
    }
}

impl Open {
    /// At least `need` bytes from the position (fewer at the end of the file), read
    /// from the file when `fresh` or not in the window.
    fn window(&mut self, fresh: bool, need: usize, bound: u64) -> Result<&[u8]> {
        let end = self.buf_at + self.buf.len() as u64;
        let covered = self.at >= self.buf_at && self.at + need as u64 <= end;
        if fresh || !covered {
            self.read(need.max(TAIL_CHUNK_BYTES), bound)?;
        }
        let from = (self.at - self.buf_at) as usize;
        Ok(self.buf.get(from..).unwrap_or_default())
    }

    /// Reads up to `want` bytes from the position (never past the end of the file, so
    /// a garbage length cannot make it allocate more than the file holds).
    fn read(&mut self, want: usize, bound: u64) -> Result<()> {
        let name = || segment_file_name(self.sequence);
        let len = self
            .file
            .len()
            .map_err(|e| Error::io(IoOp::Read, name(), e))?;
        let want = (want as u64).min(len.saturating_sub(self.at)) as usize;
        self.buf.resize(want, 0);
        let got = self
            .file
            .read_at(&mut self.buf, self.at)
            .map_err(|e| Error::io(IoOp::Read, name(), e))?;
        self.buf.truncate(got);
        self.buf_at = self.at;
        self.buf_bound = bound;
        Ok(())
    }

    fn payload(&self, d: &frame::Decoded) -> Result<Vec<u8>> {
        let from = (self.at - self.buf_at) as usize + d.payload_at;
        self.buf
            .get(from..from + d.payload_len)
            .map(<[u8]>::to_vec)
            .ok_or_else(|| Error::internal("a decoded frame's payload outside the tail's window"))
    }
}

impl Iterator for Tail {
    type Item = Result<Record>;

    /// Blocks until the next record; `None` once the log closed and everything it
    /// made durable (or written, for `written()`) was yielded, or after an error.
    fn next(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        let result = self.next_until(None);
        self.note(&result);
        match result {
            Ok(Some(record)) => Some(Ok(record)),
            Ok(None) | Err(Error::Closed) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

impl futures_core::Stream for Tail {
    type Item = Result<Record>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Record>>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        loop {
            let result = this.try_next();
            this.note(&result);
            match result {
                Ok(Some(record)) => return Poll::Ready(Some(Ok(record))),
                Err(e) => return Poll::Ready(Some(Err(e))),
                Ok(None) => {}
            }
            let next = this.next;
            match &mut this.follow {
                Follow::Local {
                    shared,
                    level,
                    wait,
                    cuts_seen,
                } => {
                    let wait = match wait {
                        Some(w) if w.lsn == next && w.level == *level => w,
                        other => {
                            if let Some(old) = other.as_mut() {
                                shared.watermark.cancel(old);
                            }
                            other.insert(AsyncWait::new(next, *level, None))
                        }
                    };
                    match shared
                        .watermark
                        .poll_wait_or_cut(wait, cx, Some(*cuts_seen))
                    {
                        Poll::Pending => {
                            // A cut wakes every waiter; `try_next` looks at it.
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(Error::Closed)) => {
                            // Everything covered was yielded above.
                            this.done = true;
                            return Poll::Ready(None);
                        }
                        Poll::Ready(Err(e)) => {
                            this.done = true;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
                Follow::Files { poll } => {
                    crate::timer::wake_after(*poll, cx.waker().clone());
                    *poll = (*poll * 2).min(FILES_POLL_MAX);
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Drop for Tail {
    fn drop(&mut self) {
        if let Follow::Local {
            shared,
            wait: Some(wait),
            ..
        } = &mut self.follow
        {
            shared.watermark.cancel(wait);
        }
    }
}

const _: fn() = || {
    fn assert_follower<T: Send + Unpin + 'static>() {}
    assert_follower::<Tail>();
};
