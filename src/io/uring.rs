//! The io_uring driver: one ring per log, owned by the log-writer thread.
//!
//! * Segment files sit in the ring's fixed-file table (sparse registration, slots
//!   updated in place on rotation and reused once no operation in flight uses them).
//!   A flush names at most `FLUSH_SEGMENTS_MAX + 1` segments (staging bounds it) and the
//!   table holds at least one more, so a flush that finds too few free slots waits for
//!   the chains ahead of it to retire instead of failing.
//! * Staging buffers are registered and written with `WriteFixed` (plain `Write` if the
//!   kernel refuses the registration, e.g. under a small RLIMIT_MEMLOCK); each buffer
//!   carries its registration index.
//! * The submission queue holds a whole chain and the completion queue every entry the
//!   chains in flight can produce (sizes asserted at open), so completions never
//!   overflow; `EBUSY`/`EAGAIN` from `io_uring_enter` mean "reap, then retry".
//! * Each flush is one chain `write(s) → fsync(DATASYNC)` linked with IOSQE_IO_LINK, in
//!   the order the writer gave (at a rotation: the old segment's write and sync, then the
//!   new one's), so a sync runs only after the writes before it completed.
//! * Several chains are in flight at once (`Options::chains_in_flight_max`); they retire
//!   strictly in submission order, so the durable watermark never passes a chain that
//!   has not completed in full, nor one behind it.
//! * A short write breaks its chain (the kernel completes the rest with -ECANCELED): the
//!   remainder and everything after it are resubmitted. A write that completes having
//!   written nothing is an error (`WriteZero`), as is any negative result: it names
//!   the opcode, the segment and the offset.
//! * An eventfd polled by the ring lets an appender wake the writer while it waits for
//!   completions, so new work is submitted while earlier chains are still in flight.
//!
//! * Direct mode (see `super::direct`): where it is sound and the filesystem takes
//!   `O_DIRECT`, each write goes through an `O_DIRECT` descriptor with `RWF_DSYNC`,
//!   from an aligned buffer laid out per chain, and the sync after it becomes a `NOP`
//!   (the write is durable when it completes). Up to `Options::direct_depth` chains are
//!   in flight; a flush that would write a block a write in flight covers waits for it
//!   first (staging's padding makes that rare). A short direct write is an error.
//!   The aligned buffers sit in the ring's registered-buffer table (sparse,
//!   `direct_depth + 1` slots, one per buffer, registered when the buffer is made and
//!   cleared before it is freed; at most `direct_depth` buffers live, in flight or
//!   kept for the next commits), so each direct write is a `WRITE_FIXED`; a buffer the
//!   kernel refuses to pin (RLIMIT_MEMLOCK) goes out with plain `WRITE`s, said once
//!   per process.
//!
//! * Segment chains (`SegmentJob`, `Options::prepare_on_ring`): the next segment is
//!   made by one linked chain on this ring, at most one at a time — a spare's marker
//!   write → fdatasync → page drop → `RENAMEAT` → directory fsync, or a new file's zero
//!   writes through `O_DIRECT` → fsync → `RENAMEAT` → directory fsync. Their
//!   completions (`JOB_TAG + step`) are handled beside the flushes' and never retire a
//!   flush; the writer collects the chain when it rotates into the segment, so the
//!   directory entry is durable before any record in it is acknowledged.
//!
//! The crate's `unsafe` is in this file and in `super::direct` (its aligned buffers).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use io_uring::{IoUring, Probe, opcode, squeue, types};

use super::direct::{self, AlignedBuf, Placed, TailBlock};
use super::{
    Buffer, Completed, DriverCounters, Flush, IoDriver, JobKind, Op, SegmentFile, SegmentJob, Wake,
};
use crate::error::{Error, IoOp, Result};
use crate::limits::{CHAINS_IN_FLIGHT_MAX, FLUSH_OPS_MAX, FLUSH_SEGMENTS_MAX};
use crate::options::{Driver, Options};

/// `user_data` of the eventfd poll; chain operations use `chain << 16 | op`.
const POLL_TAG: u64 = u64::MAX;
/// Zero writes a new segment's chain may hold (`JobKind::Create`); pieces grow from
/// 1 MiB to keep within it.
const JOB_WRITES_MAX: u64 = 64;
/// Entries of a segment chain (`SegmentJob`): a spare's marker write, fdatasync, page
/// drop, rename and directory fsync; or a new file's zero writes, fsync, rename and
/// directory fsync.
const JOB_OPS_MAX: usize = JOB_WRITES_MAX as usize + 3;
/// `user_data` of a segment chain's entries: `JOB_TAG + i` (below `POLL_TAG`; a flush
/// chain's `id << 16 | op` reaches it only after 2^48 − 1 flushes).
const JOB_TAG: u64 = POLL_TAG - JOB_OPS_MAX as u64;
/// Operations one chain may hold (the low 16 bits of `user_data`).
const CHAIN_OPS_MAX: usize = FLUSH_OPS_MAX;
/// The most submission entries a ring may be sized to (`ring_entries` is validated
/// against it).
const RING_ENTRIES_MAX: u32 = 4096;
/// Completion entries the chains in flight can produce at once, plus the poll's and a
/// segment chain's.
const CQ_ENTRIES_NEEDED_MAX: usize =
    CHAINS_IN_FLIGHT_MAX as usize * CHAIN_OPS_MAX + 1 + JOB_OPS_MAX;
/// The kernel's limit on completion-queue entries (IORING_MAX_CQ_ENTRIES).
const KERNEL_CQ_ENTRIES_MAX: usize = 2 * 32768;
/// Segments one flush may name (the one a previous flush left unsynced, plus those it
/// spans).
const FLUSH_SLOTS_MAX: usize = FLUSH_SEGMENTS_MAX + 1;
/// The most fixed-file slots registered: far below RLIMIT_NOFILE's usual 1,024, which
/// bounds a sparse table (and each slot keeps its file open until re-pointed).
const SLOTS_MAX: usize = 128;
/// Times `io_uring_enter` may answer EBUSY/EAGAIN in a row, reaping in between, before
/// that counts as a failure of the ring.
const ENTER_RETRIES_MAX: u32 = 10_000;

const _: () = assert!(CHAIN_OPS_MAX < (1 << 16));
const _: () = assert!(CHAIN_OPS_MAX < RING_ENTRIES_MAX as usize);
// A segment chain fits an emptied submission queue (`ring_sizes`), as a flush's does.
const _: () = assert!(JOB_OPS_MAX < RING_ENTRIES_MAX as usize);
const _: () = assert!(CQ_ENTRIES_NEEDED_MAX <= KERNEL_CQ_ENTRIES_MAX);
// A flush that finds no chain in flight always finds its slots free.
const _: () = assert!(SLOTS_MAX > FLUSH_SLOTS_MAX);

/// Wakes the writer out of `io_uring_enter`: the ring keeps a poll armed on this fd.
#[derive(Debug)]
struct EventWake {
    fd: OwnedFd,
}

impl Wake for EventWake {
    fn wake(&self) {
        // EAGAIN (counter saturated) still leaves the fd readable; nothing to do.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }
}

/// A fixed-file slot.
#[derive(Debug, Default)]
struct Slot {
    file: Option<Arc<SegmentFile>>,
    /// In direct mode, the `O_DIRECT` descriptor registered in the slot (kept open
    /// while it is).
    direct_fd: Option<Arc<std::fs::File>>,
    /// Operations in flight that use this slot.
    users: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct OpState {
    slot: u32,
    /// Bytes of a write known written.
    written: usize,
    complete: bool,
    /// Direct mode: where this write's blocks lie in the chain's aligned buffer.
    direct: Option<Placed>,
    /// Direct mode: a sync made redundant by the `RWF_DSYNC` writes before it.
    nop: bool,
}

#[derive(Debug)]
struct Chain {
    id: u64,
    flush: Flush,
    ops: Vec<OpState>,
    /// Entries submitted whose completion has not arrived.
    outstanding: u32,
    /// A short write broke the chain; resume once every entry has come back.
    broken: bool,
    /// The first error of this chain, with its place in the order completions arrived.
    error: Option<(u64, Error)>,
    submitted: Instant,
    /// Direct mode: the aligned copy of the chain's writes the kernel reads from.
    bounce: Option<Bounce>,
}

/// Direct mode: an aligned copy of a chain's writes, and the slot of the ring's
/// registered-buffer table that holds its memory (none: written with plain `WRITE`s).
#[derive(Debug)]
struct Bounce {
    buf: AlignedBuf,
    slot: Option<u16>,
}

/// Direct mode's registered-buffer table (the staging buffers are not registered in
/// direct mode, so the table is the bounce buffers').
#[derive(Debug)]
enum BounceTable {
    /// Made at the first bounce buffer.
    Unmade,
    /// Sparse; these slots hold no buffer.
    Made { free: Vec<u16> },
    /// The kernel refused the table: every bounce buffer is written unregistered.
    Refused,
}

/// The smallest bounce buffer: commits of up to this many bytes share one size, so a
/// spare fits the next commit and is not made (and pinned) again.
const BOUNCE_MIN: usize = 64 << 10;

impl Chain {
    fn done(&self) -> bool {
        self.outstanding == 0 && !self.broken && self.ops.iter().all(|op| op.complete)
    }
}

/// One entry of a segment chain: what it does, for errors.
#[derive(Debug)]
struct JobStep {
    op: IoOp,
    path: std::path::PathBuf,
    /// Whether its failure fails the chain. Dropping cached pages is advice: its entry
    /// is hard-linked and its result ignored, as the preparer's thread ignores it.
    fatal: bool,
    /// A write's length: a completion of fewer bytes is an error.
    writes: Option<usize>,
}

/// A segment chain in flight (`SegmentJob`).
#[derive(Debug)]
struct RingJob {
    job: SegmentJob,
    steps: Vec<JobStep>,
    /// Entries whose completion has not arrived.
    outstanding: u32,
    /// The chain's first error.
    error: Option<Error>,
}

/// A registered buffer: where its memory is, and how much of it.
#[derive(Debug, Clone, Copy)]
struct Registered {
    addr: usize,
    capacity: usize,
}

pub(crate) struct UringDriver {
    ring: IoUring,
    slots: Vec<Slot>,
    /// Registered buffers, by buffer index.
    registered: Vec<Registered>,
    chains: VecDeque<Chain>,
    /// Chains retired while `submit` waited for fixed-file slots, for the next `reap`.
    ready: Vec<Completed>,
    next_chain: u64,
    depth: usize,
    wake: Arc<EventWake>,
    poll_armed: bool,
    counters: DriverCounters,
    /// Completions seen so far (orders errors: the first one in time is reported).
    completions: u64,
    /// Whether the options allow direct mode (see `super::direct`).
    direct_wanted: bool,
    /// Direct mode's block size, once the probe at open said direct writes work.
    direct_block: Option<u64>,
    /// Direct mode: the last partly written block.
    tail: Option<TailBlock>,
    /// Direct mode: aligned buffers of chains that completed, for the next ones; with
    /// the chains in flight, at most `direct_depth` of them.
    spare_bounces: Vec<Bounce>,
    /// Direct mode: where the bounce buffers are registered.
    bounce_table: BounceTable,
    /// Direct mode: `Options::staging_bytes_max`, which bounds a commit's bytes (the
    /// largest aligned copy is that plus the blocks widening adds).
    staging_bytes_max: usize,
    /// Direct mode: most commits in flight (`Options::direct_depth`).
    direct_depth: usize,
    segment_bytes: u64,
    /// Completions a test's fault plan holds back, to hand over after a later chain's
    /// (`FaultPlan::complete_out_of_order_nth`); always empty otherwise.
    held: Vec<(u64, i32)>,
    /// Completions copied out of the queue by `drain_cq` (kept to reuse its memory).
    cqes: Vec<(u64, i32)>,
    /// Whether segments are made on this ring (`start_segment_job`).
    jobs_on_ring: bool,
    /// The segment chain in flight, or done and not yet collected.
    job: Option<RingJob>,
    /// The zeros new segments' chains write from (the size of one piece), kept for
    /// the next one.
    zeros: Option<AlignedBuf>,
    #[cfg(feature = "fault-injection")]
    faults: Option<crate::testing::FaultState>,
}

impl std::fmt::Debug for UringDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringDriver")
            .field("slots", &self.slots.len())
            .field("registered_buffers", &self.registered.len())
            .field("in_flight", &self.chains.len())
            .field("depth", &self.depth)
            .finish()
    }
}

/// Ring sizes for a depth: (submission entries, completion entries, fixed-file slots).
fn ring_sizes(options: &Options, depth: usize) -> std::result::Result<(u32, u32, u32), String> {
    if depth == 0 || depth > CHAINS_IN_FLIGHT_MAX as usize {
        return Err(format!(
            "chains_in_flight_max {depth} is outside 1..={CHAINS_IN_FLIGHT_MAX}"
        ));
    }
    // The submission queue takes a whole chain at once (plus the poll).
    let sq = options
        .ring_entries
        .max((CHAIN_OPS_MAX.max(JOB_OPS_MAX) as u32 + 1).next_power_of_two());
    if sq > RING_ENTRIES_MAX {
        return Err(format!("ring_entries {sq} exceeds {RING_ENTRIES_MAX}"));
    }
    // Every entry of every chain in flight may complete before the writer reaps.
    let cq_needed = (depth * CHAIN_OPS_MAX + 1 + JOB_OPS_MAX).next_power_of_two();
    let cq = cq_needed.max(2 * sq as usize);
    debug_assert!(cq <= KERNEL_CQ_ENTRIES_MAX);
    let slots = (depth * FLUSH_SLOTS_MAX + 1).clamp(FLUSH_SLOTS_MAX + 1, SLOTS_MAX);
    Ok((sq, cq as u32, slots as u32))
}

impl UringDriver {
    /// Sets up the ring, or says why it cannot run here.
    pub fn open(options: &Options) -> std::result::Result<Self, String> {
        let depth = options.chains_in_flight_max as usize;
        let direct_depth = options.direct_depth as usize;
        // Sized for either mode: which one runs is settled later, by `prepare`.
        let (sq, cq, slot_count) = ring_sizes(options, depth.max(direct_depth))?;
        let mut builder = IoUring::builder();
        if options.sqpoll {
            builder.setup_sqpoll(options.sqpoll_idle_ms);
        }
        let mut ring = builder
            .setup_cqsize(cq)
            .build(sq)
            .map_err(|e| format!("io_uring_setup failed: {e}"))?;
        let cq_given = ring.completion().capacity();
        if (cq_given as u32) < cq {
            return Err(format!(
                "the kernel gave a completion queue of {cq_given} entries; {cq} needed"
            ));
        }
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|e| format!("io_uring probe failed: {e}"))?;
        let needed = [
            (opcode::WriteFixed::CODE, "WRITE_FIXED"),
            (opcode::Write::CODE, "WRITE"),
            (opcode::Fsync::CODE, "FSYNC"),
            (opcode::PollAdd::CODE, "POLL_ADD"),
        ];
        if let Some((_, name)) = needed.iter().find(|(code, _)| !probe.is_supported(*code)) {
            return Err(format!("the kernel's io_uring lacks {name}"));
        }
        // Making segments on the ring needs more (Linux 5.11); without it the preparer's
        // thread makes them.
        let jobs_on_ring = options.prepare_on_ring
            && [opcode::RenameAt::CODE, opcode::Fadvise::CODE]
                .iter()
                .all(|code| probe.is_supported(*code));
        ring.submitter()
            .register_files_sparse(slot_count)
            .map_err(|e| format!("sparse fixed-file registration failed: {e}"))?;
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map_err(|e| format!("eventfd failed: {e}"))?;
        Ok(UringDriver {
            ring,
            slots: (0..slot_count).map(|_| Slot::default()).collect(),
            registered: Vec::new(),
            chains: VecDeque::new(),
            ready: Vec::new(),
            next_chain: 0,
            depth,
            wake: Arc::new(EventWake { fd }),
            poll_armed: false,
            counters: DriverCounters::default(),
            completions: 0,
            direct_wanted: options.direct_allowed(),
            direct_block: None,
            tail: None,
            spare_bounces: Vec::new(),
            bounce_table: BounceTable::Unmade,
            staging_bytes_max: usize::try_from(options.staging_bytes_max).unwrap_or(usize::MAX),
            direct_depth,
            segment_bytes: options.segment_bytes,
            held: Vec::new(),
            cqes: Vec::new(),
            jobs_on_ring,
            job: None,
            zeros: None,
            #[cfg(feature = "fault-injection")]
            faults: options.faults.map(crate::testing::FaultState::new),
        })
    }

    /// The fixed-file slot holding `segment`, registering it in a free slot if needed;
    /// `None` when every slot is in use by operations in flight.
    fn slot_for(&mut self, segment: &Arc<SegmentFile>) -> Result<Option<u32>> {
        // The same open file, not the same sequence: after a cut of the log a segment
        // number is made again as a new file, and the old slot holds the removed one.
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.file.as_ref().is_some_and(|f| Arc::ptr_eq(f, segment)))
        {
            return Ok(Some(i as u32));
        }
        // An empty slot, else the idle slot holding the oldest segment.
        let free = self
            .slots
            .iter()
            .position(|s| s.file.is_none())
            .or_else(|| {
                self.slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.users == 0)
                    .min_by_key(|(_, s)| s.file.as_ref().map_or(0, |f| f.sequence))
                    .map(|(i, _)| i)
            });
        let Some(i) = free else {
            return Ok(None);
        };
        let Some(file) = segment.file.os_file() else {
            return Err(Error::Unsupported {
                reason: "io_uring driver: a segment that is not a kernel file".into(),
            });
        };
        let direct_fd = match (self.direct_block, &segment.direct) {
            // The preparer readied it (a new segment).
            (Some(_), Some(ready)) => Some(Arc::clone(ready)),
            // A segment recovery found, entering its first slot.
            (Some(_), None) => {
                let direct = direct::open_direct(&segment.path, file)
                    .map_err(|e| Error::io(IoOp::Open, &segment.path, e))?;
                direct::drop_cached_pages(file);
                Some(Arc::new(direct))
            }
            (None, _) => None,
        };
        let fd = direct_fd
            .as_ref()
            .map_or(file.as_raw_fd(), |f| f.as_raw_fd());
        self.ring
            .submitter()
            .register_files_update(i as u32, &[fd])
            .map_err(|e| Error::io(IoOp::Driver, &segment.path, e))?;
        if let Some(slot) = self.slots.get_mut(i) {
            slot.file = Some(Arc::clone(segment));
            slot.direct_fd = direct_fd;
        }
        Ok(Some(i as u32))
    }

    /// Pins a slot for each op of `flush` (so no later op, and no other chain, can
    /// re-point it while an entry naming it may still be submitted or resubmitted);
    /// `None`, with nothing pinned, when the table has too few free slots right now.
    fn try_slots(&mut self, flush: &Flush) -> Result<Option<Vec<OpState>>> {
        let mut ops: Vec<OpState> = Vec::with_capacity(flush.ops.len());
        for op in &flush.ops {
            let segment = match op {
                Op::Write(run) => &run.segment,
                Op::Sync(segment) => segment,
            };
            let slot = match self.slot_for(segment) {
                Ok(Some(slot)) => slot,
                other => {
                    for state in &ops {
                        self.pin(state.slot, false);
                    }
                    return other.map(|_| None);
                }
            };
            self.pin(slot, true);
            ops.push(OpState {
                slot,
                ..OpState::default()
            });
        }
        Ok(Some(ops))
    }

    /// The registration index of `buf`, checked against the memory registered under
    /// it (a buffer that reallocated would point outside it: write it unregistered).
    fn fixed_index(&self, buf: &Buffer) -> Option<u16> {
        let index = buf.registered?;
        let reg = self.registered.get(usize::from(index))?;
        let addr = buf.bytes.as_ptr() as usize;
        let inside = addr == reg.addr && buf.bytes.len() <= reg.capacity;
        debug_assert!(inside, "registered buffer {index} moved or grew");
        inside.then_some(index)
    }

    /// The submission entry for op `i` of `chain`, from what it has left to do.
    fn entry(chain: &Chain, i: usize, fixed: Option<u16>) -> Result<squeue::Entry> {
        let (Some(op), Some(state)) = (chain.flush.ops.get(i), chain.ops.get(i)) else {
            return Err(Error::internal(format!(
                "chain {} has no op {i} ({} ops)",
                chain.id,
                chain.ops.len()
            )));
        };
        let fd = types::Fixed(state.slot);
        let entry = match op {
            Op::Write(_) if state.direct.is_some() => Self::direct_entry(chain, fd, state)?,
            Op::Sync(_) if state.nop => opcode::Nop::new().build(),
            Op::Write(run) => {
                let rest = chain
                    .flush
                    .buf
                    .bytes
                    .get(run.bytes.clone())
                    .and_then(|bytes| bytes.get(state.written..))
                    .filter(|rest| !rest.is_empty())
                    .ok_or_else(|| {
                        Error::internal(format!(
                            "a write of bytes {:?} (from {}) of a {}-byte flush buffer",
                            run.bytes,
                            state.written,
                            chain.flush.buf.bytes.len()
                        ))
                    })?;
                let offset = run.offset + state.written as u64;
                let len = u32::try_from(rest.len())
                    .map_err(|_| Error::internal(format!("a {}-byte write", rest.len())))?;
                match fixed {
                    Some(buf_index) => opcode::WriteFixed::new(fd, rest.as_ptr(), len, buf_index)
                        .offset(offset)
                        .build(),
                    None => opcode::Write::new(fd, rest.as_ptr(), len)
                        .offset(offset)
                        .build(),
                }
            }
            Op::Sync(_) => opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build(),
        };
        let linked = if i + 1 < chain.ops.len() {
            entry.flags(squeue::Flags::IO_LINK)
        } else {
            entry
        };
        Ok(linked.user_data((chain.id << 16) | i as u64))
    }

    /// A direct write: its whole blocks from the chain's aligned buffer, durable when
    /// it completes.
    fn direct_entry(chain: &Chain, fd: types::Fixed, state: &OpState) -> Result<squeue::Entry> {
        let (Some(p), Some(bounce)) = (state.direct, chain.bounce.as_ref()) else {
            return Err(Error::internal("a direct write without its buffer"));
        };
        let bytes = bounce
            .buf
            .bytes()
            .get(p.buf_at..p.buf_at + p.len)
            .ok_or_else(|| Error::internal("a direct write outside its buffer"))?;
        let len = u32::try_from(bytes.len())
            .map_err(|_| Error::internal(format!("a {}-byte direct write", bytes.len())))?;
        Ok(match bounce.slot {
            Some(slot) => opcode::WriteFixed::new(fd, bytes.as_ptr(), len, slot)
                .offset(p.file_at)
                .rw_flags(libc::RWF_DSYNC)
                .build(),
            None => opcode::Write::new(fd, bytes.as_ptr(), len)
                .offset(p.file_at)
                .rw_flags(libc::RWF_DSYNC)
                .build(),
        })
    }

    /// Direct mode: a bounce buffer for `len` bytes: a spare that fits, or a new one
    /// registered in a free slot of the table. Sizes round up to a power of two (at
    /// least `BOUNCE_MIN`), or, past the largest copy a commit can need (a staging
    /// buffer's worth of whole blocks, plus two blocks for each segment a flush writes,
    /// which widening adds), to that largest copy, so commits of similar size reuse one
    /// buffer and it is not made and pinned again.
    fn bounce_for(&mut self, len: usize, block: usize) -> Result<Bounce> {
        if let Some(i) = self
            .spare_bounces
            .iter()
            .position(|b| b.buf.fits(len, block))
        {
            return Ok(self.spare_bounces.swap_remove(i));
        }
        // No spare fits: free the smallest when keeping it would make more aligned
        // copies than commits that may be in flight (the memory bound in `Options`).
        if self.spare_bounces.len() + self.chains.len() >= self.direct_depth
            && let Some((i, _)) = self
                .spare_bounces
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.buf.len())
        {
            let small = self.spare_bounces.swap_remove(i);
            self.release_bounce(small);
        }
        let largest = self
            .staging_bytes_max
            .div_ceil(block)
            .saturating_add(2 * (FLUSH_SEGMENTS_MAX + 1))
            .saturating_mul(block);
        let class = len.max(BOUNCE_MIN).next_power_of_two();
        let size = if class > largest {
            len.max(largest)
        } else {
            class
        };
        let buf = AlignedBuf::zeroed(size, block)?;
        let slot = self.register_bounce(&buf);
        Ok(Bounce { buf, slot })
    }

    /// Registers `buf` in a free slot of the bounce table (made at the first call);
    /// `None` when the kernel refuses (a small RLIMIT_MEMLOCK) or no slot is free.
    fn register_bounce(&mut self, buf: &AlignedBuf) -> Option<u16> {
        // Direct mode registers no staging buffer (`buffers`): the table is free.
        debug_assert!(self.registered.is_empty(), "staging buffers hold the table");
        if matches!(self.bounce_table, BounceTable::Unmade) {
            // Buffers alive at once: one per commit that may be in flight (in flight or
            // spare), and one more for slack.
            let slots = u16::try_from(self.direct_depth.max(1) + 1).unwrap_or(u16::MAX);
            self.bounce_table = match self
                .ring
                .submitter()
                .register_buffers_sparse(u32::from(slots))
            {
                Ok(()) => BounceTable::Made {
                    free: (0..slots).rev().collect(),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "io_uring refused a registered-buffer table; direct writes go out as plain WRITEs");
                    BounceTable::Refused
                }
            };
        }
        let BounceTable::Made { free } = &mut self.bounce_table else {
            return None;
        };
        let slot = free.pop()?;
        #[cfg(feature = "fault-injection")]
        let refused = self
            .faults
            .as_ref()
            .is_some_and(crate::testing::FaultState::refuses_registration)
            .then(|| io::Error::from_raw_os_error(libc::ENOMEM));
        #[cfg(not(feature = "fault-injection"))]
        let refused: Option<io::Error> = None;
        let iovec = libc::iovec {
            iov_base: buf.bytes().as_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let registered = match refused {
            Some(e) => Err(e),
            // SAFETY: the iovec covers exactly the buffer's allocation. The slot is
            // cleared (`release_bounce`) before the buffer is freed, or the driver, and
            // with it the ring, goes first (`Drop`), or the buffer is leaked with its
            // chain (`leak_chains`); a write names the slot only while the buffer lives.
            None => unsafe {
                self.ring
                    .submitter()
                    .register_buffers_update(u32::from(slot), &[iovec], None)
            },
        };
        match registered {
            Ok(()) => Some(slot),
            Err(e) => {
                free.push(slot);
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    tracing::warn!(error = %e, bytes = buf.len(), "io_uring refused to register a direct-write buffer (RLIMIT_MEMLOCK, shared by all of the user's processes, or its size); it goes out with plain WRITEs (said once per process)");
                });
                None
            }
        }
    }

    /// Frees a bounce buffer no write in flight reads, clearing its slot first.
    fn release_bounce(&mut self, bounce: Bounce) {
        let Bounce { buf, slot } = bounce;
        if let (Some(slot), BounceTable::Made { free }) = (slot, &mut self.bounce_table) {
            let empty = libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            };
            // SAFETY: an empty iovec clears the slot; nothing in flight names it (the
            // buffer's chain has completed).
            match unsafe {
                self.ring
                    .submitter()
                    .register_buffers_update(u32::from(slot), &[empty], None)
            } {
                Ok(()) => free.push(slot),
                // The slot keeps its pages pinned until the ring closes and is never
                // used again; freeing our mapping of them is still sound (the kernel
                // holds its own references to the pages).
                Err(e) => {
                    tracing::warn!(error = %e, slot, "clearing a registered-buffer slot failed; the slot is not used again")
                }
            }
        }
        drop(buf);
    }

    /// Direct mode: lays out the chain's writes in one aligned buffer and marks the
    /// syncs their `RWF_DSYNC` makes redundant.
    fn place_direct(&mut self, flush: &Flush, ops: &mut [OpState], block: u64) -> Result<Bounce> {
        let mut runs = Vec::new();
        for op in &flush.ops {
            if let Op::Write(run) = op {
                let bytes = flush
                    .buf
                    .bytes
                    .get(run.bytes.clone())
                    .ok_or_else(|| Error::internal("a run outside its flush buffer"))?;
                runs.push((&run.segment, run.offset, bytes));
            }
        }
        let mut bounce = self.bounce_for(direct::laid_out_len(&runs, block), block as usize)?;
        let placed = direct::lay_out(&runs, block, &mut self.tail, &mut bounce.buf);
        let placed = match placed {
            Ok(placed) => placed,
            Err(e) => {
                self.release_bounce(bounce);
                return Err(e);
            }
        };
        let mut placed = placed.into_iter();
        let mut written: Vec<&Arc<SegmentFile>> = Vec::new();
        for (op, state) in flush.ops.iter().zip(ops.iter_mut()) {
            match op {
                Op::Write(run) => {
                    state.direct = placed.next();
                    written.push(&run.segment);
                }
                Op::Sync(segment) => {
                    state.nop = written.iter().any(|w| Arc::ptr_eq(w, segment));
                }
            }
        }
        self.counters.direct_writes += runs.len() as u64;
        Ok(bounce)
    }

    /// Whether a write of `flush`, widened to whole blocks, would touch a block a
    /// direct write in flight covers.
    fn shares_a_block_in_flight(&self, flush: &Flush, block: u64) -> bool {
        let in_flight = |segment: &Arc<SegmentFile>, start: u64, end: u64| {
            self.chains.iter().any(|chain| {
                chain.flush.ops.iter().zip(&chain.ops).any(|(op, state)| {
                    matches!((op, state.direct), (Op::Write(run), Some(p))
                        if Arc::ptr_eq(&run.segment, segment)
                            && p.file_at < end
                            && start < p.file_at + p.len as u64)
                })
            })
        };
        flush.ops.iter().any(|op| match op {
            Op::Write(run) => {
                let (start, end) = direct::widened(run.offset, run.bytes.len(), block);
                in_flight(&run.segment, start, end)
            }
            Op::Sync(_) => false,
        })
    }

    /// Pushes the chain's ops from `from` on, linked, and submits them.
    fn push_chain(&mut self, index: usize, from: usize) -> Result<()> {
        let Some(chain) = self.chains.get(index) else {
            return Err(Error::internal(format!("no chain at {index} to push")));
        };
        let fixed = self.fixed_index(&chain.flush.buf);
        let entries = (from..chain.ops.len())
            .map(|i| Self::entry(chain, i, fixed))
            .collect::<Result<Vec<_>>>()?;
        let bounce_registered = chain.bounce.as_ref().is_some_and(|b| b.slot.is_some());
        let fixed_writes = chain
            .flush
            .ops
            .iter()
            .zip(&chain.ops)
            .skip(from)
            .filter(|(op, state)| {
                matches!(op, Op::Write(_))
                    && match state.direct {
                        Some(_) => bounce_registered,
                        None => fixed.is_some(),
                    }
            })
            .count() as u64;
        let room = {
            let sq = self.ring.submission();
            sq.capacity() - sq.len()
        };
        if room < entries.len() {
            // Submitting empties the queue, which holds a whole chain (see `open`).
            self.enter(0)?;
        }
        // SAFETY: every entry points into `chain.flush.buf` or, in direct mode, into
        // `chain.bounce`, a heap allocation the chain owns (writes; a registered bounce
        // stays in its slot until it is freed after its chain), or names a fixed
        // file slot. The chain, and with it the buffer, stays in `self.chains` until
        // every one of its entries has completed (`reap` and `Drop` wait for that), and
        // the buffer is never touched meanwhile; a registered index is only used when
        // the buffer lies inside that registration, whose memory the writer keeps
        // alive for the driver's whole life. The slots hold an `Arc` of their file.
        let pushed_ok = unsafe { self.ring.submission().push_multiple(&entries) };
        if pushed_ok.is_err() {
            return Err(Error::internal(format!(
                "a chain of {} entries did not fit the submission queue of {}",
                entries.len(),
                self.ring.submission().capacity()
            )));
        }
        let pushed = entries.len() as u32;
        if let Some(chain) = self.chains.get_mut(index) {
            chain.outstanding += pushed;
        }
        self.counters.ring_sqes += u64::from(pushed);
        self.counters.fixed_writes += fixed_writes;
        self.enter(0)
    }

    /// Submits what is queued and waits for `want` completions. `EBUSY` (completions
    /// not yet reaped) and `EAGAIN` (the kernel is short of memory for requests) are
    /// not failures: reap what has completed and try again, a bounded number of times.
    fn enter(&mut self, want: usize) -> Result<()> {
        let mut busy = 0u32;
        loop {
            self.counters.ring_enters += 1;
            match self.ring.submit_and_wait(want) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EAGAIN))
                        && busy < ENTER_RETRIES_MAX =>
                {
                    busy += 1;
                    let before = self.completions;
                    self.drain_cq();
                    if self.completions == before {
                        std::thread::yield_now();
                    }
                    if want > 0 && self.completions > before {
                        // What the caller waited for may just have been reaped.
                        return Ok(());
                    }
                }
                Err(e) => return Err(Error::io(IoOp::Driver, "io_uring_enter", e)),
            }
        }
    }

    fn arm_poll(&mut self) -> Result<()> {
        if self.poll_armed {
            return Ok(());
        }
        let entry = opcode::PollAdd::new(types::Fd(self.wake.fd.as_raw_fd()), libc::POLLIN as u32)
            .build()
            .user_data(POLL_TAG);
        // SAFETY: the poll names the eventfd owned by `self.wake`, which lives as long
        // as the ring; no buffer is involved.
        let pushed = unsafe { self.ring.submission().push(&entry) };
        if pushed.is_err() {
            self.enter(0)?;
            // SAFETY: as above.
            unsafe { self.ring.submission().push(&entry) }.map_err(|_| {
                Error::internal("the submission queue has no room for the wake-up poll")
            })?;
        }
        self.counters.ring_sqes += 1;
        self.poll_armed = true;
        Ok(())
    }

    /// Handles every completion in the queue.
    fn drain_cq(&mut self) {
        // Completions held back by a test go through at the drain after the one that
        // found nothing else could complete first (so the state in between, a later
        // chain done before an earlier one, is seen by a whole `progress`).
        if self.held_releasable() {
            for (user_data, result) in std::mem::take(&mut self.held) {
                self.complete_op(user_data >> 16, (user_data & 0xffff) as usize, result);
            }
        }
        // Copied out first (`complete_op` needs `&mut self`), into a vector kept
        // between drains so the hot path does not allocate.
        let mut cqes = std::mem::take(&mut self.cqes);
        cqes.clear();
        cqes.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
        for &(user_data, result) in &cqes {
            if user_data == POLL_TAG {
                self.poll_armed = false;
                let mut counter = [0u8; 8];
                let _ = rustix::io::read(&self.wake.fd, &mut counter);
                continue;
            }
            if user_data >= JOB_TAG {
                self.complete_job((user_data - JOB_TAG) as usize, result);
                continue;
            }
            if self.holds_back(user_data >> 16) {
                self.held.push((user_data, result));
                continue;
            }
            self.complete_op(user_data >> 16, (user_data & 0xffff) as usize, result);
        }
        self.cqes = cqes;
    }

    /// Whether held-back completions may go through: every other chain has all its
    /// entries back, so nothing else can complete first (and waiting would hang).
    fn held_releasable(&self) -> bool {
        self.held.first().is_some_and(|(held, _)| {
            let held = held >> 16;
            self.chains
                .iter()
                .all(|c| c.id == held || c.outstanding == 0)
        })
    }

    /// Whether a test's fault plan holds back the completions of chain `id`.
    #[cfg(feature = "fault-injection")]
    fn holds_back(&self, id: u64) -> bool {
        self.faults
            .as_ref()
            .is_some_and(|f| f.held_chain() == Some(id))
    }

    #[cfg(not(feature = "fault-injection"))]
    fn holds_back(&self, _id: u64) -> bool {
        false
    }

    /// The result a test's fault plan makes of a completion: an error, a short write
    /// (half of what was left) or a write of nothing. Without the feature: as it is.
    #[cfg(feature = "fault-injection")]
    fn injected(&mut self, op: IoOp, result: i32, left: usize) -> i32 {
        let Some(faults) = self.faults.as_mut().filter(|_| result >= 0) else {
            return result;
        };
        let injected = match op {
            IoOp::Write => faults.before_write(),
            _ => faults.before_sync(),
        };
        match injected {
            Some(e) => -e.raw_os_error().unwrap_or(libc::EIO),
            None if op == IoOp::Write && faults.zero_now() => 0,
            None if op == IoOp::Write && faults.short_now() => (left / 2) as i32,
            None => result,
        }
    }

    #[cfg(not(feature = "fault-injection"))]
    fn injected(&mut self, _op: IoOp, result: i32, _left: usize) -> i32 {
        result
    }

    fn complete_op(&mut self, chain_id: u64, op: usize, result: i32) {
        let Some(index) = self.chains.iter().position(|c| c.id == chain_id) else {
            debug_assert!(false, "completion for unknown chain {chain_id}");
            return;
        };
        self.completions += 1;
        let seen = self.completions;
        let Some((io_op, segment, offset, left)) = self.chains.get(index).and_then(|chain| {
            let state = chain.ops.get(op)?;
            Some(match (chain.flush.ops.get(op)?, state.direct) {
                (Op::Write(run), Some(p)) => (
                    IoOp::Write,
                    run.segment.sequence,
                    p.file_at + state.written as u64,
                    p.len - state.written,
                ),
                (Op::Write(run), None) => (
                    IoOp::Write,
                    run.segment.sequence,
                    run.offset + state.written as u64,
                    run.bytes.len() - state.written,
                ),
                (Op::Sync(segment), _) => (IoOp::Sync, segment.sequence, 0, 0),
            })
        }) else {
            return;
        };
        let result = self.injected(io_op, result, left);
        let Some(chain) = self.chains.get_mut(index) else {
            return;
        };
        chain.outstanding = chain.outstanding.saturating_sub(1);
        if result == -libc::ECANCELED && (chain.broken || chain.error.is_some()) {
            // Cut off behind a short write (resumed below) or an error (reported).
            return;
        }
        let direct = chain.ops.get(op).is_some_and(|s| s.direct.is_some());
        let failure = match (io_op, result) {
            (_, r) if r < 0 => Some(io::Error::from_raw_os_error(-r)),
            // A direct write is whole blocks, durable as a whole: a part of one cannot
            // be resumed unaligned, nor counted durable.
            (IoOp::Write, r) if direct && (r as usize) < left => Some(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("a direct write of {left} bytes wrote {r}"),
            )),
            // A write that made no progress would be resubmitted forever.
            (IoOp::Write, 0) if left > 0 => Some(io::Error::new(
                io::ErrorKind::WriteZero,
                "the write completed having written nothing",
            )),
            _ => None,
        };
        if let Some(source) = failure {
            let error = Error::Completion {
                op: io_op,
                segment,
                offset,
                source,
            };
            chain.error.get_or_insert((seen, error));
            return;
        }
        let Some(state) = chain.ops.get_mut(op) else {
            return;
        };
        if io_op == IoOp::Write && (result as usize) < left {
            state.written += result as usize;
            chain.broken = true;
        } else {
            state.written += left;
            state.complete = true;
        }
    }

    /// Resubmits the rest of chains that a short write broke and that have no entry
    /// left in flight.
    fn resume_broken(&mut self) -> Result<()> {
        for index in 0..self.chains.len() {
            let Some(chain) = self.chains.get_mut(index) else {
                continue;
            };
            if !chain.broken || chain.outstanding > 0 || chain.error.is_some() {
                continue;
            }
            chain.broken = false;
            let Some(from) = chain.ops.iter().position(|op| !op.complete) else {
                continue;
            };
            // Everything after the short write runs again, in order: a sync that slipped
            // through must not count for the bytes written after it.
            for state in chain.ops.iter_mut().skip(from + 1) {
                state.complete = false;
                state.written = 0;
            }
            self.counters.short_write_resumes += 1;
            self.push_chain(index, from)?;
        }
        Ok(())
    }

    /// Takes (`true`) or releases a chain's hold on a fixed-file slot.
    fn pin(&mut self, slot: u32, take: bool) {
        if let Some(slot) = self.slots.get_mut(slot as usize) {
            slot.users = if take {
                slot.users + 1
            } else {
                slot.users.saturating_sub(1)
            };
        }
    }

    /// Waits until no entry of any chain is in flight (used before reporting an error,
    /// so no buffer is released while the kernel may still read it). Returns false if
    /// the ring itself failed, in which case the chains' memory must be leaked.
    fn quiesce(&mut self) -> bool {
        while self.chains.iter().any(|c| c.outstanding > 0) || self.job_outstanding() {
            if !self.held_releasable() && self.enter(1).is_err() {
                return false;
            }
            self.drain_cq();
        }
        true
    }

    /// Handles completions (with `wait`, after blocking for at least one, or for a
    /// wake-up) and moves the chains that completed in full, oldest first and only
    /// from the front, to `ready`. The first error of any chain is returned once no
    /// entry is in flight.
    fn progress(&mut self, wait: bool) -> Result<()> {
        if wait && !self.chains.is_empty() && !self.held_releasable() {
            self.arm_poll()?;
            self.enter(1)?;
        }
        self.drain_cq();
        if self.chains.iter().any(|c| c.error.is_some()) {
            if !self.quiesce() {
                self.leak_chains();
            }
            let first = self
                .chains
                .iter_mut()
                .filter_map(|c| c.error.take())
                .min_by_key(|(seen, _)| *seen)
                .map(|(_, e)| e);
            return Err(first.unwrap_or(Error::Closed));
        }
        self.resume_broken()?;
        while self.chains.front().is_some_and(Chain::done) {
            let Some(mut chain) = self.chains.pop_front() else {
                break;
            };
            // Every entry of the chain has completed: the kernel is done reading it.
            if let Some(bounce) = chain.bounce.take() {
                // At most one aligned copy per commit that may be in flight, in flight
                // or spare.
                if self.spare_bounces.len() + self.chains.len() < self.direct_depth {
                    self.spare_bounces.push(bounce);
                } else {
                    self.release_bounce(bounce);
                }
            }
            for state in &chain.ops {
                self.pin(state.slot, false);
            }
            let sync_ns = if chain.flush.syncs() > 0 {
                chain.submitted.elapsed().as_nanos() as u64
            } else {
                0
            };
            self.ready.push(Completed {
                flush: chain.flush,
                sync_ns,
            });
        }
        Ok(())
    }
}

impl IoDriver for UringDriver {
    fn kind(&self) -> Driver {
        Driver::IoUring
    }

    fn prepare(&mut self, dir: &std::path::Path) {
        if !self.direct_wanted {
            return;
        }
        let probed = if super::env_set(super::FORCE_BUFFERED_ENV) {
            Err(format!("{} is set", super::FORCE_BUFFERED_ENV))
        } else {
            direct::probe(dir, self.segment_bytes, self.direct_depth)
        };
        match probed {
            Ok(block) => self.direct_block = Some(block),
            Err(why) => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    tracing::warn!(%why, dir = %dir.display(), "io_uring direct mode unavailable; committing with buffered write → fsync chains");
                });
            }
        }
    }

    fn direct_block(&self) -> Option<u64> {
        self.direct_block
    }

    fn depth(&self) -> usize {
        if self.direct_block.is_some() {
            self.direct_depth
        } else {
            self.depth
        }
    }

    fn buffers(&mut self, count: usize, capacity: usize) -> Vec<Buffer> {
        let mut buffers: Vec<Buffer> = (0..count)
            .map(|_| Buffer {
                bytes: Vec::with_capacity(capacity),
                registered: None,
            })
            .collect();
        if self.direct_block.is_some() {
            // Direct writes go out from aligned copies, never from staging buffers:
            // pinning these would only use up RLIMIT_MEMLOCK.
            return buffers;
        }
        let iovecs: Vec<libc::iovec> = buffers
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.bytes.as_ptr() as *mut libc::c_void,
                iov_len: b.bytes.capacity(),
            })
            .collect();
        // SAFETY: each iovec covers the whole allocation of one buffer. The writer keeps
        // every buffer alive (and never reallocates one: staging never grows past its
        // capacity) for as long as this driver, and so the ring, lives: `LogWriter`
        // drops the driver before its spare buffers, and the staging buffer outlives
        // the writer thread.
        match unsafe { self.ring.submitter().register_buffers(&iovecs) } {
            Ok(()) => {
                self.registered = buffers
                    .iter()
                    .map(|b| Registered {
                        addr: b.bytes.as_ptr() as usize,
                        capacity: b.bytes.capacity(),
                    })
                    .collect();
                for (i, buffer) in buffers.iter_mut().enumerate() {
                    buffer.registered = u16::try_from(i).ok();
                }
            }
            Err(e) => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| {
                    tracing::warn!(error = %e, "io_uring refused registered buffers (RLIMIT_MEMLOCK?); using plain writes");
                });
            }
        }
        buffers
    }

    fn waker(&self) -> Option<Arc<dyn Wake>> {
        Some(Arc::clone(&self.wake) as Arc<dyn Wake>)
    }

    fn submit(&mut self, flush: Flush) -> Result<()> {
        debug_assert!(self.in_flight() < self.depth());
        if flush.ops.len() > CHAIN_OPS_MAX {
            return Err(Error::internal(format!(
                "a flush of {} ops; at most {CHAIN_OPS_MAX} fit a chain",
                flush.ops.len()
            )));
        }
        let ops = loop {
            if let Some(ops) = self.try_slots(&flush)? {
                break ops;
            }
            // Too few free slots: the chains ahead hold them. Wait for one to retire
            // (its flush goes to `ready` for the next `reap`).
            if self.chains.is_empty() {
                return Err(Error::internal(format!(
                    "a flush needs more than the {} fixed-file slots",
                    self.slots.len()
                )));
            }
            let before = self.chains.len();
            while self.chains.len() == before {
                self.progress(true)?;
            }
        };
        let mut ops = ops;
        let bounce = match self.direct_block {
            Some(block) => {
                // Two direct writes in flight must never share a block: the device may
                // apply them in either order. Staging pads a commit that starts while
                // the one before is being written; this wait covers what padding
                // cannot (the first block of a flush staged before the wait began).
                if self.shares_a_block_in_flight(&flush, block) {
                    self.counters.direct_block_waits += 1;
                    while self.shares_a_block_in_flight(&flush, block) {
                        self.progress(true)?;
                    }
                }
                Some(self.place_direct(&flush, &mut ops, block)?)
            }
            None => None,
        };
        let id = self.next_chain;
        self.next_chain += 1;
        self.chains.push_back(Chain {
            id,
            flush,
            ops,
            outstanding: 0,
            broken: false,
            error: None,
            submitted: Instant::now(),
            bounce,
        });
        self.counters.chains_in_flight_peak = self
            .counters
            .chains_in_flight_peak
            .max(self.chains.len() as u64);
        self.push_chain(self.chains.len() - 1, 0)
    }

    fn reap(&mut self, done: &mut Vec<Completed>, wait: bool) -> Result<()> {
        self.progress(wait && self.ready.is_empty())?;
        done.append(&mut self.ready);
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.chains.len() + self.ready.len()
    }

    fn segment_jobs_on_ring(&self) -> bool {
        self.jobs_on_ring
    }

    fn start_segment_job(&mut self, job: SegmentJob) -> Result<Option<SegmentJob>> {
        if self.job.is_some() {
            return Err(Error::internal("a second segment chain on the ring"));
        }
        let (entries, steps) = self.segment_entries(&job)?;
        let last = entries.len() - 1;
        let entries: Vec<squeue::Entry> = entries
            .into_iter()
            .zip(&steps)
            .enumerate()
            .map(|(i, (e, step))| {
                let e = e.user_data(JOB_TAG + i as u64);
                match (i < last, step.fatal) {
                    (false, _) => e,
                    // Failed or not, the next step runs; a failure before this one
                    // still cancels it and everything after.
                    (true, false) => e.flags(squeue::Flags::IO_HARDLINK),
                    (true, true) => e.flags(squeue::Flags::IO_LINK),
                }
            })
            .collect();
        let room = {
            let sq = self.ring.submission();
            sq.capacity() - sq.len()
        };
        if room < entries.len() {
            self.enter(0)?;
            let sq = self.ring.submission();
            if sq.capacity() - sq.len() < entries.len() {
                // Not all submitted (SQPOLL's thread has not taken them yet): the
                // preparer's thread makes this segment instead.
                return Ok(Some(job));
            }
        }
        // Stored before the push: from here on the entries point into the job (and
        // `self.zeros`), which stays in `self.job` until every entry has completed
        // (`finish_segment_job` and `Drop` wait for that).
        let pushed = entries.len() as u32;
        self.job = Some(RingJob {
            job,
            steps,
            outstanding: pushed,
            error: None,
        });
        // SAFETY: the entries name the job's descriptors (the file's, its `O_DIRECT`
        // one, the directory's) and point at the job's marker and name strings or at
        // `self.zeros`: heap allocations that do not move when the job does, kept
        // until all of the job's entries have completed (`self.zeros` is replaced
        // only while no job is in flight, and freed only after `quiesce`).
        if unsafe { self.ring.submission().push_multiple(&entries) }.is_err() {
            self.job = None;
            return Err(Error::internal(
                "a segment chain did not fit the emptied submission queue",
            ));
        }
        self.counters.ring_sqes += u64::from(pushed);
        // Queued: from here the chain is the writer's to collect. A failed submit
        // leaves it queued for the next `enter`; `finish_segment_job` reports a ring
        // that keeps failing.
        if let Err(e) = self.enter(0) {
            tracing::debug!(error = %e.chain(), "submitting a segment chain; retried when it is collected");
        }
        Ok(None)
    }

    fn finish_segment_job(&mut self) -> Result<SegmentFile> {
        loop {
            self.drain_cq();
            match &self.job {
                None => return Err(Error::internal("no segment chain to finish")),
                Some(r) if r.outstanding == 0 => break,
                Some(_) => self.enter(1)?,
            }
        }
        let Some(done) = self.job.take() else {
            return Err(Error::internal("no segment chain to finish"));
        };
        if let Some(error) = done.error {
            return Err(error);
        }
        match done.job.kind {
            JobKind::Reuse { .. } => self.counters.ring_reuses += 1,
            JobKind::Create { .. } => self.counters.ring_creates += 1,
        }
        Ok(done.job.segment)
    }

    fn counters(&self) -> DriverCounters {
        self.counters
    }
}

impl UringDriver {
    /// The kernel may still read these buffers and we cannot wait for it: never free them.
    fn leak_chains(&mut self) {
        for chain in self.chains.drain(..) {
            std::mem::forget(chain);
        }
        if let Some(job) = self.job.take() {
            std::mem::forget(job);
            // Its zero writes may still read these.
            if let Some(zeros) = self.zeros.take() {
                std::mem::forget(zeros);
            }
        }
    }

    fn job_outstanding(&self) -> bool {
        self.job.as_ref().is_some_and(|r| r.outstanding > 0)
    }

    /// The entries of `job`'s chain, with what each does.
    fn segment_entries(&mut self, job: &SegmentJob) -> Result<(Vec<squeue::Entry>, Vec<JobStep>)> {
        let Some(file) = job.segment.file.os_file() else {
            return Err(Error::Unsupported {
                reason: "io_uring driver: a segment that is not a kernel file".into(),
            });
        };
        let fd = types::Fd(file.as_raw_fd());
        let source = job.source.clone();
        let step = |op, fatal, writes| JobStep {
            op,
            path: source.clone(),
            fatal,
            writes,
        };
        let mut entries = Vec::new();
        let mut steps = Vec::new();
        match &job.kind {
            JobKind::Reuse { marker } => {
                entries.push(
                    opcode::Write::new(fd, marker.as_ptr(), marker.len() as u32)
                        .offset(0)
                        .build(),
                );
                steps.push(step(IoOp::Preallocate, true, Some(marker.len())));
                entries.push(
                    opcode::Fsync::new(fd)
                        .flags(types::FsyncFlags::DATASYNC)
                        .build(),
                );
                steps.push(step(IoOp::Sync, true, None));
                if job.segment.direct.is_some() {
                    // The old life's pages: each would have to be invalidated by the
                    // first direct write over it.
                    entries.push(opcode::Fadvise::new(fd, 0, libc::POSIX_FADV_DONTNEED).build());
                    steps.push(step(IoOp::Preallocate, false, None));
                }
            }
            JobKind::Create { len } => {
                let (Some(direct), Some(block)) = (&job.segment.direct, self.direct_block) else {
                    return Err(Error::internal(
                        "a new segment is made on the ring only in direct mode",
                    ));
                };
                if !len.is_multiple_of(block) || *len > super::RING_CREATE_BYTES_MAX {
                    return Err(Error::internal(format!(
                        "a new segment of {len} bytes is not made on the ring"
                    )));
                }
                let piece = zero_piece(*len, block);
                if !self
                    .zeros
                    .as_ref()
                    .is_some_and(|z| z.fits(piece as usize, block as usize))
                {
                    // No job is in flight (checked above): nothing reads the old one.
                    self.zeros = Some(AlignedBuf::zeroed(piece as usize, block as usize)?);
                }
                let zeros = self
                    .zeros
                    .as_ref()
                    .map_or(std::ptr::null(), |z| z.bytes().as_ptr());
                let direct_fd = types::Fd(direct.as_raw_fd());
                let mut at = 0;
                while at < *len {
                    let n = (*len - at).min(piece);
                    entries.push(
                        opcode::Write::new(direct_fd, zeros, n as u32)
                            .offset(at)
                            .build(),
                    );
                    steps.push(step(IoOp::Preallocate, true, Some(n as usize)));
                    at += n;
                }
                // The file's size and blocks are new: a whole fsync.
                entries.push(opcode::Fsync::new(fd).build());
                steps.push(step(IoOp::Sync, true, None));
            }
        }
        let dir = types::Fd(job.dir.as_raw_fd());
        entries.push(opcode::RenameAt::new(dir, job.from.as_ptr(), dir, job.to.as_ptr()).build());
        steps.push(step(IoOp::Rename, true, None));
        entries.push(opcode::Fsync::new(dir).build());
        let dir_path = job.segment.path.parent().map(|p| p.to_path_buf());
        steps.push(JobStep {
            op: IoOp::SyncDir,
            path: dir_path.unwrap_or_default(),
            fatal: true,
            writes: None,
        });
        debug_assert!(entries.len() <= JOB_OPS_MAX);
        Ok((entries, steps))
    }

    /// Records the completion of entry `index` of the segment chain.
    fn complete_job(&mut self, index: usize, result: i32) {
        let Some(job) = self.job.as_mut() else {
            debug_assert!(false, "a segment chain's completion with no chain");
            return;
        };
        job.outstanding = job.outstanding.saturating_sub(1);
        // Counted like a flush's completion: `enter` tells from this count whether a
        // retry's drain reaped something.
        self.completions += 1;
        let Some(step) = job.steps.get(index) else {
            return;
        };
        if !step.fatal {
            return;
        }
        let failure = match (result, step.writes) {
            // Cut off behind the entry that failed (already recorded).
            (r, _) if r == -libc::ECANCELED && job.error.is_some() => return,
            (r, _) if r < 0 => Some(io::Error::from_raw_os_error(-r)),
            (r, Some(len)) if r as usize != len => Some(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("a write of {len} bytes making the segment wrote {r}"),
            )),
            _ => None,
        };
        if let Some(source) = failure {
            job.error
                .get_or_insert_with(|| Error::io(step.op, &step.path, source));
        }
    }
}

/// The zero pieces a new segment of `len` bytes is written in: 1 MiB (or a block),
/// doubled until at most `JOB_WRITES_MAX` of them cover it; at most 16 MiB (the
/// writer sends no larger segment than `RING_CREATE_BYTES_MAX`).
fn zero_piece(len: u64, block: u64) -> u64 {
    let mut piece = (1u64 << 20).max(block);
    while len.div_ceil(piece) > JOB_WRITES_MAX && piece < ZERO_PIECE_MAX {
        piece *= 2;
    }
    piece
}

const ZERO_PIECE_MAX: u64 = 16 << 20;
const _: () = assert!(super::RING_CREATE_BYTES_MAX <= ZERO_PIECE_MAX * JOB_WRITES_MAX);

impl Drop for UringDriver {
    fn drop(&mut self) {
        // Keep every buffer alive until the kernel is done with it.
        if !self.quiesce() {
            self.leak_chains();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 11, item 9: for every accepted depth and ring size, the submission queue
    /// takes a whole chain, the completion queue every entry the chains in flight can
    /// produce, and the fixed-file table a flush's segments plus one.
    #[test]
    fn ring_sizes_fit_every_accepted_depth() {
        for depth in 1..=CHAINS_IN_FLIGHT_MAX {
            for power in 0..=12 {
                let options = Options::default()
                    .chains_in_flight_max(depth)
                    .ring_entries(1 << power);
                options.validate().unwrap();
                let (sq, cq, slots) = ring_sizes(&options, depth as usize).unwrap();
                assert!(sq as usize > CHAIN_OPS_MAX, "sq {sq}");
                assert!(sq.is_power_of_two() && sq <= RING_ENTRIES_MAX);
                // Every chain's entries, the poll's and a segment-reuse chain's.
                let needed = depth as usize * CHAIN_OPS_MAX + 1 + JOB_OPS_MAX;
                assert!(cq as usize >= needed, "cq {cq}");
                assert!(cq >= sq && cq as usize <= KERNEL_CQ_ENTRIES_MAX);
                assert!(slots as usize > FLUSH_SLOTS_MAX && slots as usize <= SLOTS_MAX);
            }
        }
        assert!(ring_sizes(&Options::default(), 0).is_err());
        assert!(ring_sizes(&Options::default(), CHAINS_IN_FLIGHT_MAX as usize + 1).is_err());
    }

    /// A driver for `options`, or `None` with the skip noted (failing where io_uring is
    /// required).
    fn driver_or_skip(options: &Options) -> Option<UringDriver> {
        match UringDriver::open(options) {
            Ok(driver) => Some(driver),
            Err(why) => {
                assert!(
                    !crate::test_support::io_uring_required(),
                    "io_uring is required here but no ring opens: {why}"
                );
                crate::test_support::note_skip("test", &why).unwrap();
                None
            }
        }
    }

    /// Issue 14, item 8: a later commit completing before an earlier one is never
    /// retired (so never acknowledged) ahead of it: the durable watermark moves only
    /// over a contiguous prefix. The fault plan holds back the first flush's
    /// completions until the second has completed in full.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn a_later_chain_completing_first_waits_for_the_earlier_one() {
        let options = Options::default()
            .chains_in_flight_max(4)
            .inject_faults(crate::testing::FaultPlan::complete_out_of_order(1));
        let Some(mut driver) = driver_or_skip(&options) else {
            return;
        };
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("segment");
        std::fs::write(&path, vec![0u8; 3 * 4096]).unwrap();
        let segment = Arc::new(SegmentFile::open(&super::super::Fs::default(), 1, path).unwrap());
        let flush = |lsn: u64| Flush {
            buf: Buffer {
                bytes: vec![lsn as u8; 512],
                registered: None,
            },
            ops: vec![
                Op::Write(super::super::Run {
                    segment: Arc::clone(&segment),
                    offset: lsn * 4096,
                    bytes: 0..512,
                }),
                Op::Sync(Arc::clone(&segment)),
            ],
            lsn_end: lsn,
            records: 1,
            synced_end: Some(lsn),
        };
        driver.submit(flush(1)).unwrap();
        driver.submit(flush(2)).unwrap();
        let mut done = Vec::new();
        // Until the second chain has completed while the first one's are held back.
        while !driver.chains.iter().any(|c| c.id == 1 && c.done()) {
            driver.reap(&mut done, true).unwrap();
            assert!(done.is_empty(), "nothing may retire before the first flush");
        }
        assert!(
            !driver.held.is_empty(),
            "the first flush's completions were held"
        );
        while done.len() < 2 {
            driver.reap(&mut done, true).unwrap();
        }
        let order: Vec<u64> = done.iter().map(|c| c.flush.lsn_end).collect();
        assert_eq!(order, [1, 2], "flushes retire in submission order");
    }

    /// Pages of `file` resident in the page cache (mincore over a shared mapping).
    fn resident_pages(file: &std::fs::File, len: usize) -> usize {
        let page = 4096;
        // SAFETY: a read-only shared mapping of `len` bytes of an open file, unmapped
        // below; mincore writes one byte per page into `vec`, sized for every page.
        unsafe {
            let addr = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            );
            assert_ne!(addr, libc::MAP_FAILED);
            let mut vec = vec![0u8; len.div_ceil(page)];
            assert_eq!(libc::mincore(addr, len, vec.as_mut_ptr()), 0);
            libc::munmap(addr, len);
            vec.iter().filter(|&&b| b & 1 == 1).count()
        }
    }

    /// Issue 14, item 3: a segment that starts taking direct writes first drops the
    /// pages recovery or a reader left in the page cache (each would otherwise have to
    /// be invalidated by the first direct write over it).
    #[test]
    fn a_segment_entering_direct_writes_leaves_no_cached_pages() {
        let tmp = tempfile::tempdir().unwrap();
        let len = 64 << 10;
        let Some(mut driver) = driver_or_skip(&Options::default().segment_bytes(len)) else {
            return;
        };
        driver.prepare(tmp.path());
        if !driver.direct() {
            crate::test_support::note_skip("test", "direct mode does not run here").unwrap();
            return;
        }
        let path = tmp.path().join("segment");
        std::fs::write(&path, vec![1u8; len as usize]).unwrap();
        let read = std::fs::read(&path).unwrap();
        assert_eq!(read.len(), len as usize);
        let segment = Arc::new(SegmentFile::open(&super::super::Fs::default(), 1, path).unwrap());
        let file = segment.file.os_file().unwrap();
        file.sync_all().unwrap();
        assert!(
            resident_pages(file, len as usize) > 0,
            "the read left pages cached"
        );
        driver.slot_for(&segment).unwrap().unwrap();
        assert_eq!(resident_pages(file, len as usize), 0);
    }

    /// A segment the preparer makes for a driver committing with direct writes is
    /// zero over its whole length (an end not aligned to the block too), has no pages
    /// cached, and comes with the `O_DIRECT` descriptor the driver then registers, so
    /// rotation neither opens a file nor drops pages on the writer's thread.
    #[test]
    fn a_segment_prepared_for_direct_writes_is_zero_uncached_and_brings_its_descriptor() {
        let tmp = tempfile::tempdir().unwrap();
        let Some(mut driver) = driver_or_skip(&Options::default().segment_bytes(1 << 20)) else {
            return;
        };
        driver.prepare(tmp.path());
        let Some(block) = driver.direct_block() else {
            crate::test_support::note_skip("test", "direct mode does not run here").unwrap();
            return;
        };
        // Two whole pieces of zeros, part of a third, and an unaligned end.
        let len = (2 << 20) + 3 * block + 512;
        let spec = crate::writer::segments::SegmentSpec {
            fs: super::super::Fs::default(),
            dir: tmp.path().to_path_buf(),
            segment_bytes: len,
            preallocate: crate::Preallocate::Zeroed,
            direct_block: Some(block),
            spares: Default::default(),
            #[cfg(feature = "fault-injection")]
            faults: None,
        };
        let segment = Arc::new(spec.create(7).unwrap());
        let file = segment.file.os_file().unwrap();
        assert_eq!(
            resident_pages(file, len as usize),
            0,
            "the preparer left pages cached"
        );
        let ready = Arc::clone(segment.direct.as_ref().expect("an O_DIRECT descriptor"));
        let bytes = std::fs::read(&segment.path).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert!(
            bytes.iter().all(|&b| b == 0),
            "the segment is not all zeros"
        );
        let slot = driver.slot_for(&segment).unwrap().unwrap();
        let registered = driver.slots[slot as usize].direct_fd.as_ref().unwrap();
        assert!(
            Arc::ptr_eq(registered, &ready),
            "the driver opened its own descriptor instead of the preparer's"
        );
    }

    /// A spec for segments of `len` bytes in `dir`, with `spares` as its pool.
    fn spec_with_spares(
        dir: &std::path::Path,
        len: u64,
        block: Option<u64>,
        spares: crate::writer::spares::Spares,
    ) -> crate::writer::segments::SegmentSpec {
        crate::writer::segments::SegmentSpec {
            fs: super::super::Fs::default(),
            dir: dir.to_path_buf(),
            segment_bytes: len,
            preallocate: crate::Preallocate::Zeroed,
            direct_block: block,
            spares,
            #[cfg(feature = "fault-injection")]
            faults: None,
        }
    }

    /// Runs `job` with its rename naming a file that is not there: the chain fails
    /// with that step's typed error.
    fn fails_renaming_a_missing_file(driver: &mut UringDriver, mut job: SegmentJob) {
        job.from = std::ffi::CString::new("gone").unwrap();
        assert!(driver.start_segment_job(job).unwrap().is_none());
        match driver.finish_segment_job() {
            Err(Error::Io { op, source, .. }) => {
                assert_eq!(op, IoOp::Rename);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("expected the rename's error, got {other:?}"),
        }
    }

    /// A driver that runs segment chains, in `dir`, and a spec for segments of `len`
    /// bytes whose pool holds one spare `<seq>.spare` filled with `fill`; `None`
    /// (the skip noted) where chains do not run.
    fn ring_with_a_spare(
        dir: &std::path::Path,
        len: u64,
        (seq, fill): (u64, u8),
    ) -> Option<(
        UringDriver,
        crate::writer::segments::SegmentSpec,
        Arc<std::fs::File>,
    )> {
        let mut driver = driver_or_skip(&Options::default().segment_bytes(len))?;
        if !driver.segment_jobs_on_ring() {
            crate::test_support::note_skip("test", "the ring lacks RENAMEAT or FADVISE").unwrap();
            return None;
        }
        driver.prepare(dir);
        let spare = dir.join(crate::format::names::spare_file_name(seq));
        std::fs::write(&spare, vec![fill; len as usize]).unwrap();
        let spares = crate::writer::spares::Spares::new(4);
        spares.add([spare]);
        let spec = spec_with_spares(dir, len, driver.direct_block(), spares);
        let dir = Arc::new(std::fs::File::open(dir).unwrap());
        Some((driver, spec, dir))
    }

    /// Item 5: a spare becomes segment 9 through one linked chain on the ring: renamed,
    /// the marker over its old header, its old bytes otherwise kept, no pages cached
    /// (direct mode), counted.
    #[test]
    fn a_spare_becomes_a_segment_through_a_chain_on_the_ring() {
        let tmp = tempfile::tempdir().unwrap();
        let len: u64 = 1 << 20;
        let Some((mut driver, spec, dir)) = ring_with_a_spare(tmp.path(), len, (4, 0xA5)) else {
            return;
        };
        let spare = tmp.path().join(crate::format::names::spare_file_name(4));
        let job = spec.reuse_job(9, &dir).unwrap().expect("a spare to reuse");
        assert!(driver.start_segment_job(job).unwrap().is_none());
        let segment = driver.finish_segment_job().unwrap();
        assert_eq!(driver.counters().ring_reuses, 1);
        assert!(!spare.exists(), "the spare's name is gone");
        assert_eq!(segment.path, spec.path(9));
        assert!(segment.recycled);
        let bytes = std::fs::read(&segment.path).unwrap();
        let marker = crate::format::header::SegmentHeader::recycled_blank(9);
        assert_eq!(&bytes[..marker.len()], &marker[..]);
        assert!(bytes[marker.len()..].iter().all(|&b| b == 0xA5));
        assert_eq!(
            crate::format::header::SegmentHeader::decode(&bytes[..64]),
            crate::format::header::HeaderState::RecycledBlank { sequence: 9 }
        );
        if driver.direct_block().is_some() {
            assert!(segment.direct.is_some(), "direct mode gets its descriptor");
            // `std::fs::read` above cached pages: read through a fresh descriptor after
            // dropping them would prove nothing, so check the chain's drop on a second
            // spare whose pages are cached before the chain runs.
            let second = tmp.path().join(crate::format::names::spare_file_name(5));
            std::fs::write(&second, vec![0x5Au8; len as usize]).unwrap();
            let f = std::fs::File::open(&second).unwrap();
            assert!(
                resident_pages(&f, len as usize) > 0,
                "written pages are cached"
            );
            spec.spares.add([second]);
            let job = spec.reuse_job(10, &dir).unwrap().unwrap();
            assert!(driver.start_segment_job(job).unwrap().is_none());
            let segment = driver.finish_segment_job().unwrap();
            assert_eq!(
                resident_pages(segment.file.os_file().unwrap(), len as usize),
                0,
                "the chain left the old life's pages cached"
            );
        }
    }

    /// A step of the chain that fails fails the chain with that step's typed error
    /// (the entries after it are cancelled, not reported); the ring goes on working.
    #[test]
    fn a_failed_step_of_a_reuse_chain_is_its_error() {
        let tmp = tempfile::tempdir().unwrap();
        let len: u64 = 64 << 10;
        let Some((mut driver, spec, dir)) = ring_with_a_spare(tmp.path(), len, (2, 1)) else {
            return;
        };
        let spare = tmp.path().join(crate::format::names::spare_file_name(2));
        let job = spec.reuse_job(3, &dir).unwrap().unwrap();
        fails_renaming_a_missing_file(&mut driver, job);
        assert_eq!(driver.counters().ring_reuses, 0);
        assert!(spare.exists(), "nothing was renamed");
        assert!(!spec.path(3).exists());
        // The next chain runs.
        spec.spares.add([spare]);
        let job = spec.reuse_job(3, &dir).unwrap().unwrap();
        assert!(driver.start_segment_job(job).unwrap().is_none());
        driver.finish_segment_job().unwrap();
        assert!(spec.path(3).exists());
    }

    /// New segments' zero pieces: 1 MiB, doubled until they fit a chain.
    #[test]
    fn zero_pieces_keep_a_new_segment_within_one_chain() {
        assert_eq!(zero_piece(64 << 20, 4096), 1 << 20);
        assert_eq!(zero_piece((64 << 20) + 4096, 4096), 2 << 20);
        assert_eq!(zero_piece(1 << 30, 4096), 16 << 20);
        assert_eq!(zero_piece(64 << 10, 4096), 1 << 20);
        let largest = super::super::RING_CREATE_BYTES_MAX;
        for len in [4096u64, 1 << 20, 3 << 20, 100 << 20, largest] {
            let piece = zero_piece(len, 4096);
            assert!(len.div_ceil(piece) <= JOB_WRITES_MAX, "{len}");
            assert!(piece.is_power_of_two() && piece <= ZERO_PIECE_MAX);
        }
        // Beyond what the writer sends to the ring the piece stays capped.
        assert_eq!(zero_piece(1 << 40, 4096), ZERO_PIECE_MAX);
    }

    /// Item 5: in direct mode a new segment is made by one linked chain on the ring:
    /// zeros through `O_DIRECT` in pieces, fsync, rename from its temporary name,
    /// directory fsync; it arrives all zero, whole, named, with no cached pages. A
    /// step that fails is the chain's typed error.
    #[test]
    fn a_new_segment_is_made_by_a_chain_on_the_ring() {
        let tmp = tempfile::tempdir().unwrap();
        let Some(mut driver) = driver_or_skip(&Options::default().segment_bytes(4 << 20)) else {
            return;
        };
        driver.prepare(tmp.path());
        let Some(block) = driver.direct_block() else {
            crate::test_support::note_skip("test", "direct mode does not run here").unwrap();
            return;
        };
        if !driver.segment_jobs_on_ring() {
            crate::test_support::note_skip("test", "the ring lacks RENAMEAT or FADVISE").unwrap();
            return;
        }
        // Two whole pieces and part of a third.
        let len = (2 << 20) + 3 * block;
        let spec = spec_with_spares(tmp.path(), len, Some(block), Default::default());
        let dir = Arc::new(std::fs::File::open(tmp.path()).unwrap());
        let (job, tmp_path) = spec.create_job(7, &dir).unwrap().expect("made on the ring");
        assert!(tmp_path.exists());
        assert!(driver.start_segment_job(job).unwrap().is_none());
        let segment = driver.finish_segment_job().unwrap();
        assert_eq!(driver.counters().ring_creates, 1);
        assert!(!tmp_path.exists(), "renamed from its temporary name");
        assert_eq!(segment.path, spec.path(7));
        assert!(!segment.recycled);
        assert!(segment.direct.is_some());
        let file = segment.file.os_file().unwrap();
        assert_eq!(resident_pages(file, len as usize), 0, "no cached pages");
        let bytes = std::fs::read(&segment.path).unwrap();
        assert_eq!(bytes.len() as u64, len);
        assert!(bytes.iter().all(|&b| b == 0), "not all zeros");
        // Written, not a hole: every block is allocated.
        let blocks = std::os::unix::fs::MetadataExt::blocks(&file.metadata().unwrap());
        assert!(
            blocks * 512 >= len,
            "{blocks} blocks allocated for {len} bytes"
        );

        let (job, tmp_path) = spec.create_job(8, &dir).unwrap().unwrap();
        fails_renaming_a_missing_file(&mut driver, job);
        assert_eq!(driver.counters().ring_creates, 1);
        assert!(!spec.path(8).exists());
        // Zeroed in full before the rename failed; the preparer removes it.
        assert_eq!(std::fs::metadata(&tmp_path).unwrap().len(), len);
    }
}
