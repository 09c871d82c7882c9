//! Staging: where appenders reserve an LSN and a place in the log, and leave their
//! framed bytes for the log-writer thread.
//!
//! One short critical section per append (or per batch) assigns the LSN, decides which
//! segment and offset the frame lands at (rotating to the next segment when it does not
//! fit), finishes the frame checksum (20 bytes; the payload was checksummed before the
//! lock) and copies the frame in. The writer swaps the whole buffer out at once, so a
//! batch of any number of appends costs it one write.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// How long an idle writer spins for new work before it sleeps: the next append of a
/// serial appender arrives a few µs after its previous one became durable.
const IDLE_WRITER_SPIN: Duration = Duration::from_micros(50);

use super::watermark::{Level, Watermark};
use crate::catalog::SegmentMeta;
use crate::error::{Error, Result};
use crate::format::frame::{self, FrameSpec};
use crate::format::header::SegmentHeader;
use crate::index::LsnIndex;
use crate::io::{Buffer, Wake};
use crate::limits::{FLUSH_SEGMENTS_MAX, PAD_BLOCK, SEGMENT_HEADER_BYTES, frame_bytes};

/// A stretch of the staging buffer that goes into one segment, starting at `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StagedRun {
    pub sequence: u64,
    pub offset: u64,
    /// Where the run starts in the buffer; it ends where the next run starts.
    pub start: usize,
}

#[derive(Debug)]
pub(crate) struct State {
    pub buf: Vec<u8>,
    /// The driver's registration index of `buf` (see `io::Buffer`).
    pub buf_registered: Option<u16>,
    pub runs: Vec<StagedRun>,
    /// Records in `buf`.
    pub records: u64,
    /// The next LSN to hand out.
    pub next_lsn: u64,
    /// The segment the next frame goes into, and where.
    pub sequence: u64,
    pub offset: u64,
    /// Live segments that have a header, by sequence.
    pub segments: BTreeMap<u64, SegmentMeta>,
    /// Where each live record's frame is, sparsely (`Wal::get`).
    pub index: LsnIndex,
    /// Highest LSN a caller asked to have synced.
    pub sync_target: u64,
    /// A cut asked for (`Wal::truncate_from`): appends wait while it is pending.
    pub truncate: Option<u64>,
    /// The writer's answer to the cut, for the caller to take.
    pub truncated: Option<Result<()>>,
    /// Cuts finished (`finish_truncate` with a resume). Every LSN handed out while
    /// this was `n` was written and synced before cut `n + 1` moved the watermark
    /// back (`Watermark::cuts_made` then passes `n`): see `Marked`.
    pub cuts_done: u64,
    pub closing: bool,
    pub poison: Option<Arc<Error>>,
    /// The writer is asleep on `work` and needs a notify.
    pub writer_asleep: bool,
    /// The writer is blocked in the driver waiting for completions and needs `waker`.
    pub writer_in_driver: bool,
    /// Appenders asleep on `space`.
    pub space_waiters: u32,
    /// Async appenders waiting for room (`Wal::append_async`), by registration id.
    pub space_wakers: BTreeMap<u64, Waker>,
    pub next_waker_id: u64,
    pub appends: u64,
    pub append_bytes: u64,
    pub pad: Padding,
}

/// When a commit starts at the next block instead of right after the last one
/// (docs/FORMAT.md, "Padding").
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Padding {
    /// The driver writes commits as direct writes of whole blocks, several in flight:
    /// a commit must not start inside a block that one in flight is writing.
    pub on: bool,
    /// Pad before every commit, whatever is in flight (tests: padding under power cuts
    /// on the simulator, whose portable driver never needs it).
    pub always: bool,
    /// Bytes skipped so far.
    pub bytes: u64,
}

impl Padding {
    /// Where frames staged at `offset` start: at the next block when they open a
    /// buffer (a commit) and the block holding `offset` is being written (`busy`), or
    /// padding is forced; else at `offset`.
    fn start(&self, offset: u64, opens_a_commit: bool, busy: bool) -> u64 {
        let pads = opens_a_commit && offset != 0 && (self.always || busy);
        if pads {
            offset.next_multiple_of(PAD_BLOCK)
        } else {
            offset
        }
    }
}

#[derive(Debug)]
pub(crate) struct Staging {
    state: Mutex<State>,
    /// Bumped (under the lock) whenever work arrives, so an idle writer can spin on it
    /// for a moment instead of sleeping.
    arrivals: AtomicU64,
    /// Interrupts a writer blocked in the driver (io_uring: an eventfd the ring polls).
    waker: Option<Arc<dyn Wake>>,
    space: Condvar,
    work: Condvar,
    limit: usize,
    segment_bytes: u64,
    /// With padding on: the last LSN of the commit in flight that writes the block the
    /// staging offset lies in (0: none). Set when the writer takes a buffer, cleared by
    /// `commit_completed` without the lock.
    busy_until: AtomicU64,
}

/// One payload with its checksum, computed before the lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prepared<'a> {
    pub payload: &'a [u8],
    pub crc: u32,
}

impl<'a> Prepared<'a> {
    pub fn new(payload: &'a [u8]) -> Self {
        Prepared {
            payload,
            crc: frame::payload_crc(payload),
        }
    }
}

/// LSNs handed out by one append, and when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Staged {
    pub first: u64,
    pub last: u64,
    pub at: Marked,
}

/// When, relative to cuts of the log, an LSN was handed out (or the end of the log was
/// read): the cuts finished then. A cut (`Wal::truncate_from`) writes and syncs every
/// record staged before it, and only then moves the watermarks back and starts
/// handing the removed LSNs out again. So a waiter for an LSN handed out at `Marked`
/// is answered by the watermark reaching it or by any later cut: after the cut the
/// LSN names a different record, which its wait must not wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marked {
    pub cuts: u64,
}

impl Marked {
    fn now(st: &State) -> Marked {
        Marked { cuts: st.cuts_done }
    }
}

/// Where the log continues after a cut.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Resume {
    pub from: u64,
    pub sequence: u64,
    pub offset: u64,
    pub first_lsn: u64,
}

/// Where the log stands when the writer starts.
#[derive(Debug)]
pub(crate) struct Start {
    pub next_lsn: u64,
    pub sequence: u64,
    pub offset: u64,
    pub segments: BTreeMap<u64, SegmentMeta>,
    pub index: LsnIndex,
    pub pad: Padding,
}

impl State {
    /// Whether the writer has something to do, given syncs already covering
    /// `synced_target`.
    pub fn has_work(&self, synced_target: u64) -> bool {
        !self.buf.is_empty()
            || self.sync_target > synced_target
            || self.closing
            || self.truncate.is_some()
    }
}

impl Staging {
    pub fn new(
        buf: Buffer,
        limit: usize,
        segment_bytes: u64,
        start: Start,
        waker: Option<Arc<dyn Wake>>,
    ) -> Self {
        debug_assert!(buf.bytes.capacity() >= limit);
        Staging {
            state: Mutex::new(State {
                buf: buf.bytes,
                buf_registered: buf.registered,
                runs: Vec::new(),
                records: 0,
                next_lsn: start.next_lsn,
                sequence: start.sequence,
                offset: start.offset,
                segments: start.segments,
                index: start.index,
                sync_target: 0,
                truncate: None,
                truncated: None,
                cuts_done: 0,
                closing: false,
                poison: None,
                writer_asleep: false,
                writer_in_driver: false,
                space_waiters: 0,
                space_wakers: BTreeMap::new(),
                next_waker_id: 0,
                appends: 0,
                append_bytes: 0,
                pad: start.pad,
            }),
            arrivals: AtomicU64::new(0),
            waker,
            space: Condvar::new(),
            work: Condvar::new(),
            limit,
            segment_bytes,
            busy_until: AtomicU64::new(0),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // Every mutation below keeps `State` consistent before any call that could
        // panic, so a poisoned mutex still holds a usable state.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves LSNs for `records` (one batch: one segment, dense LSNs) and stages them.
    /// Returns the first and last LSN.
    /// Each frame claims the durable watermark `watermark` holds at that moment (read
    /// under the staging lock, so it never runs ahead of the LSNs it stages after a cut).
    pub fn append(
        &self,
        records: &[Prepared<'_>],
        block: bool,
        watermark: &Watermark,
    ) -> Result<Staged> {
        let frames: u64 = records
            .iter()
            .map(|r| frame_bytes(r.payload.len() as u64))
            .sum();
        self.check_batch_fits(frames)?;
        let st = self.lock();
        let mut st = self.wait_for_room(st, frames, block)?;
        let durable = watermark.get(Level::Synced);
        let staged = self.stage(&mut st, records, (frames, durable));
        self.arrived(st);
        Ok(staged)
    }

    /// Refuses a batch that could never be staged: it must fit one segment and one
    /// staging buffer, each with a segment header.
    fn check_batch_fits(&self, frames: u64) -> Result<()> {
        if frames + SEGMENT_HEADER_BYTES > self.segment_bytes {
            return Err(Error::InvalidArgument {
                what: "batch",
                reason: format!(
                    "{frames} framed bytes do not fit in one {}-byte segment",
                    self.segment_bytes
                ),
            });
        }
        if frames + SEGMENT_HEADER_BYTES > self.limit as u64 {
            return Err(Error::InvalidArgument {
                what: "batch",
                reason: format!(
                    "{frames} framed bytes exceed staging_bytes_max {}",
                    self.limit
                ),
            });
        }
        Ok(())
    }

    /// Whether the buffer has room for `frames` more bytes — and for one more segment,
    /// if they open one; an error once the log is poisoned or closing.
    fn has_room(&self, st: &State, frames: u64) -> Result<bool> {
        if let Some(cause) = &st.poison {
            return Err(Error::Poisoned {
                cause: Arc::clone(cause),
            });
        }
        if st.closing {
            return Err(Error::Closed);
        }
        let offset = st.pad.start(st.offset, st.runs.is_empty(), self.busy());
        let rotate = offset == 0 || offset + frames > self.segment_bytes;
        let need = frames + if rotate { SEGMENT_HEADER_BYTES } else { 0 };
        // A buffer spans at most FLUSH_SEGMENTS_MAX segments (see limits.rs); an empty
        // buffer has no run, so there is always room once it is taken.
        let segments_full = rotate && st.runs.len() >= FLUSH_SEGMENTS_MAX;
        let bytes_fit = st.buf.len() as u64 + need <= self.limit as u64;
        Ok(bytes_fit && !segments_full && st.truncate.is_none())
    }

    /// Waits (or, without `block`, refuses with `WouldBlock`) until `has_room`.
    fn wait_for_room<'s>(
        &'s self,
        mut st: MutexGuard<'s, State>,
        frames: u64,
        block: bool,
    ) -> Result<MutexGuard<'s, State>> {
        loop {
            if self.has_room(&st, frames)? {
                return Ok(st);
            }
            if !block {
                return Err(Error::WouldBlock);
            }
            st.space_waiters += 1;
            st = self.space.wait(st).unwrap_or_else(|p| p.into_inner());
            st.space_waiters -= 1;
        }
    }

    /// The async face of `append`: stages `records` if there is room, else registers
    /// the task's waker (under `key`, kept by the caller between polls) to be woken
    /// when the writer takes the buffer.
    pub fn poll_append(
        &self,
        records: &[Prepared<'_>],
        key: &mut Option<u64>,
        cx: &mut Context<'_>,
        watermark: &Watermark,
    ) -> Poll<Result<Staged>> {
        let frames: u64 = records
            .iter()
            .map(|r| frame_bytes(r.payload.len() as u64))
            .sum();
        if let Err(e) = self.check_batch_fits(frames) {
            return Poll::Ready(Err(e));
        }
        let mut st = self.lock();
        let room = self.has_room(&st, frames);
        if !matches!(room, Ok(false))
            && let Some(id) = key.take()
        {
            st.space_wakers.remove(&id);
        }
        match room {
            Err(e) => Poll::Ready(Err(e)),
            Ok(true) => {
                let durable = watermark.get(Level::Synced);
                let lsns = self.stage(&mut st, records, (frames, durable));
                self.arrived(st);
                Poll::Ready(Ok(lsns))
            }
            Ok(false) => {
                let id = *key.get_or_insert_with(|| {
                    st.next_waker_id += 1;
                    st.next_waker_id
                });
                st.space_wakers.insert(id, cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Forgets an async appender's registration (its future was dropped).
    pub fn cancel_append(&self, key: &mut Option<u64>) {
        if let Some(id) = key.take() {
            self.lock().space_wakers.remove(&id);
        }
    }

    /// Wakes every async appender; they poll again and re-register if still short.
    fn wake_space_wakers(st: &mut State) -> Vec<Waker> {
        std::mem::take(&mut st.space_wakers).into_values().collect()
    }

    /// Frames `records` into the buffer with dense LSNs, in the current segment or, if
    /// they do not fit, at the start of the next. `durable` is the synced watermark,
    /// which each frame claims. Returns the LSNs handed out.
    fn stage(
        &self,
        st: &mut State,
        records: &[Prepared<'_>],
        (frames, durable): (u64, u64),
    ) -> Staged {
        let segment_bytes = self.segment_bytes;
        let padded = st.pad.start(st.offset, st.runs.is_empty(), self.busy());
        if padded != st.offset {
            if padded + frames <= segment_bytes {
                // The gap is zeros (a new segment's, or the padding of the direct
                // write that ended there), which readers step over.
                st.pad.bytes += padded - st.offset;
                st.offset = padded;
            } else {
                // No room behind the block in flight: the next segment (as `has_room`
                // counted), not the block a write in flight covers.
                Self::seal_and_advance(st);
            }
        }
        if st.offset != 0 && st.offset + frames > segment_bytes {
            Self::seal_and_advance(st);
        }
        let first = st.next_lsn;
        if st.offset == 0 {
            Self::start_segment(st, first, segment_bytes);
        } else if st.runs.is_empty() {
            let run = StagedRun {
                sequence: st.sequence,
                offset: st.offset,
                start: 0,
            };
            st.runs.push(run);
        }
        let sequence = st.sequence;
        st.index.observe(sequence, first, st.offset);
        let count = records.len();
        // A claim is never above the record before the batch: the watermark can hold a
        // higher value only for an instant around a cut, and a claim at or above a
        // frame's own LSN would make recovery refuse the log.
        let durable = durable.min(first - 1);
        for (i, record) in records.iter().enumerate() {
            let spec = FrameSpec {
                lsn: first + i as u64,
                durable,
                sequence,
                payload: record.payload,
                payload_crc: record.crc,
                batch_continues: i + 1 < count,
            };
            frame::encode_into(&spec, &mut st.buf);
        }
        let payload_bytes: u64 = records.iter().map(|r| r.payload.len() as u64).sum();
        let last = first + count as u64 - 1;
        st.next_lsn = last + 1;
        st.offset += frames;
        st.records += count as u64;
        st.appends += count as u64;
        st.append_bytes += payload_bytes;
        Staged {
            first,
            last,
            at: Marked::now(st),
        }
    }

    /// Closes the current segment to new frames: the next frame opens the next one.
    fn seal_and_advance(st: &mut State) {
        let last = st.next_lsn - 1;
        if let Some(meta) = st.segments.get_mut(&st.sequence) {
            meta.last_lsn = Some(last);
        }
        st.sequence += 1;
        st.offset = 0;
    }

    /// Puts the header of segment `st.sequence` into the buffer, first LSN `first`.
    fn start_segment(st: &mut State, first: u64, capacity: u64) {
        let sequence = st.sequence;
        let start = st.buf.len();
        st.runs.push(StagedRun {
            sequence,
            offset: 0,
            start,
        });
        // The writer syncs a segment before its first write to the next one (rule 6 in
        // docs/FORMAT.md), so once this header is on disk every earlier record is too.
        let header = SegmentHeader {
            sequence,
            first_lsn: first,
            capacity,
            durable_floor: first - 1,
            // Set by the writer if the file it takes for this segment is a reused one.
            recycled: false,
        };
        st.buf.resize(start + SEGMENT_HEADER_BYTES as usize, 0);
        if let Some(block) = st.buf.get_mut(start..) {
            header.encode_into(block);
        }
        st.offset = SEGMENT_HEADER_BYTES;
        st.segments.insert(
            sequence,
            SegmentMeta {
                first_lsn: first,
                last_lsn: None,
            },
        );
    }

    /// The commit ending with `lsn_end` completed: if it was the one writing the block
    /// that holds the staging offset, later commits may start inside that block again.
    /// Called before the watermark moves, so an appender woken by it stages densely.
    pub fn commit_completed(&self, lsn_end: u64) {
        // A later take replaced the value: that commit's block is the busy one now.
        let _ = self
            .busy_until
            .compare_exchange(lsn_end, 0, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// Whether a commit in flight writes the block the staging offset lies in.
    fn busy(&self) -> bool {
        self.busy_until.load(Ordering::Acquire) != 0
    }

    /// Seals the current segment if every record in it is at or below `lsn` and none
    /// waits in the buffer, so a checkpoint can retire it. Returns whether it did.
    pub fn seal_if_covered(&self, lsn: u64) -> bool {
        let mut st = self.lock();
        let has_records = st.offset > SEGMENT_HEADER_BYTES;
        if has_records && st.next_lsn - 1 <= lsn && st.buf.is_empty() {
            Self::seal_and_advance(&mut st);
            return true;
        }
        false
    }

    /// Asks the writer to cut the log from `from` and waits for its answer. Appends
    /// wait meanwhile, and get LSNs from `from` on once it is done.
    pub fn truncate(&self, from: u64) -> Result<()> {
        let mut st = self.lock();
        st.truncate = Some(from);
        st.truncated = None;
        self.arrived(st);
        // Only this caller takes the answer, so it waits for it even if the writer
        // gave it between the two locks.
        let mut st = self.lock();
        loop {
            if let Some(answer) = st.truncated.take() {
                return answer;
            }
            if let Some(cause) = st.poison.clone() {
                st.truncate = None;
                return Err(Error::Poisoned { cause });
            }
            if st.closing {
                st.truncate = None;
                return Err(Error::Closed);
            }
            st.space_waiters += 1;
            st = self.space.wait(st).unwrap_or_else(|p| p.into_inner());
            st.space_waiters -= 1;
        }
    }

    /// The end of the log now (the last LSN handed out), with the cuts finished: the
    /// answer a waiter needs before it waits for an LSN it did not stage itself.
    pub fn end(&self) -> (u64, Marked) {
        let st = self.lock();
        (st.next_lsn - 1, Marked::now(&st))
    }

    /// The writer's answer to a cut. On success the log continues at `from` in
    /// segment `sequence` at `offset` (0: the segment is blank and needs a header;
    /// otherwise its first LSN is `first_lsn`).
    pub fn finish_truncate(&self, answer: Result<()>, resume: Option<Resume>) {
        let mut st = self.lock();
        if let Some(r) = resume {
            st.next_lsn = r.from;
            st.sequence = r.sequence;
            st.offset = r.offset;
            st.segments.retain(|seq, _| *seq < r.sequence);
            if r.offset > 0 {
                st.segments.insert(
                    r.sequence,
                    SegmentMeta {
                        first_lsn: r.first_lsn,
                        last_lsn: None,
                    },
                );
            }
            st.sync_target = st.sync_target.min(r.from - 1);
            st.index.cut(r.from);
            st.cuts_done += 1;
            // Nothing is in flight during a cut.
            self.busy_until.store(0, Ordering::Release);
        }
        st.truncate = None;
        st.truncated = Some(answer);
        let wakers = Self::wake_space_wakers(&mut st);
        drop(st);
        self.space.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Asks the writer to sync everything up to `lsn`, clamped to the end of the log
    /// (and below a pending cut): a target above the end is one no flush can reach,
    /// and the writer would spin on it. Returns the clamped target.
    pub fn request_sync(&self, lsn: u64) -> (u64, Marked) {
        let mut st = self.lock();
        let end = st
            .truncate
            .map_or(st.next_lsn, |from| from.min(st.next_lsn))
            - 1;
        let target = lsn.min(end);
        let at = Marked::now(&st);
        if target > st.sync_target {
            st.sync_target = target;
            self.arrived(st);
        }
        (target, at)
    }

    /// Tells the writer there is work: bumps `arrivals` and wakes it if asleep.
    fn arrived(&self, mut st: MutexGuard<'_, State>) {
        self.arrivals.fetch_add(1, Ordering::Release);
        let wake = st.writer_asleep;
        st.writer_asleep = false;
        let in_driver = std::mem::take(&mut st.writer_in_driver);
        drop(st);
        if wake {
            self.work.notify_one();
        }
        if in_driver && let Some(waker) = &self.waker {
            waker.wake();
        }
    }

    /// Stops new appends and wakes everyone.
    pub fn shut(&self, poison: Option<Arc<Error>>) {
        let mut st = self.lock();
        st.closing = true;
        if st.poison.is_none() {
            st.poison = poison;
        }
        self.arrivals.fetch_add(1, Ordering::Release);
        let in_driver = std::mem::take(&mut st.writer_in_driver);
        let wakers = Self::wake_space_wakers(&mut st);
        drop(st);
        wakers.into_iter().for_each(Waker::wake);
        self.work.notify_all();
        self.space.notify_all();
        if in_driver && let Some(waker) = &self.waker {
            waker.wake();
        }
    }

    /// The writer's wait for work: returns the locked state once there is something
    /// staged, a sync to do, a close, or `deadline` passed.
    pub fn wait_for_work(
        &self,
        synced_target: u64,
        deadline: Option<Instant>,
    ) -> MutexGuard<'_, State> {
        let has_work = |st: &State| st.has_work(synced_target);
        let mut st = self.lock();
        if has_work(&st) {
            return st;
        }
        let seen = self.arrivals.load(Ordering::Acquire);
        drop(st);
        let spin_until = Instant::now() + IDLE_WRITER_SPIN;
        let spin_until = deadline.map_or(spin_until, |d| d.min(spin_until));
        'spin: loop {
            for _ in 0..64 {
                if self.arrivals.load(Ordering::Acquire) != seen {
                    break 'spin;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= spin_until {
                break;
            }
        }
        st = self.lock();
        loop {
            if has_work(&st) {
                return st;
            }
            st.writer_asleep = true;
            st = match deadline {
                None => self.work.wait(st).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        st.writer_asleep = false;
                        return st;
                    }
                    self.work
                        .wait_timeout(st, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
            st.writer_asleep = false;
        }
    }

    /// Takes everything staged, leaving `spare` (emptied) in its place.
    pub fn swap_out(
        &self,
        st: &mut MutexGuard<'_, State>,
        spare: Buffer,
        runs: &mut Vec<StagedRun>,
    ) -> (Buffer, u64, u64) {
        let records = std::mem::take(&mut st.records);
        let lsn_end = st.next_lsn - 1;
        // The commit taken now writes the block holding `offset` (unless it ends on a
        // block boundary): the next one pads until it completes (`commit_completed`).
        if st.pad.on {
            let busy = if st.offset.is_multiple_of(PAD_BLOCK) {
                0
            } else {
                lsn_end
            };
            self.busy_until.store(busy, Ordering::Release);
        }
        std::mem::swap(runs, &mut st.runs);
        st.runs.clear();
        let mut bytes = spare.bytes;
        bytes.clear();
        let full = Buffer {
            bytes: std::mem::replace(&mut st.buf, bytes),
            registered: std::mem::replace(&mut st.buf_registered, spare.registered),
        };
        if st.space_waiters > 0 {
            self.space.notify_all();
        }
        Self::wake_space_wakers(st)
            .into_iter()
            .for_each(Waker::wake);
        (full, records, lsn_end)
    }
}
