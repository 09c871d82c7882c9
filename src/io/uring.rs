//! The io_uring driver: one ring per log, owned by the log-writer thread.
//!
//! * Segment files sit in the ring's fixed-file table (sparse registration, slots
//!   updated in place on rotation and reused once no operation in flight uses them).
//! * Staging buffers are registered and written with `WriteFixed` (plain `Write` if the
//!   kernel refuses the registration, e.g. under a small RLIMIT_MEMLOCK).
//! * Each flush is one chain `write(s) → fsync(DATASYNC)` linked with IOSQE_IO_LINK, in
//!   the order the writer gave (at a rotation: the old segment's write and sync, then the
//!   new one's), so a sync runs only after the writes before it completed.
//! * Several chains are in flight at once (`Options::chains_in_flight_max`); they retire
//!   strictly in submission order, so the durable watermark never passes a chain that
//!   has not completed in full, nor one behind it.
//! * A short write breaks its chain (the kernel completes the rest with -ECANCELED): the
//!   remainder and everything after it are resubmitted. Any other negative result is
//!   fatal and names the opcode, the segment and the offset.
//! * An eventfd polled by the ring lets an appender wake the writer while it waits for
//!   completions, so new work is submitted while earlier chains are still in flight.
//!
//! All of the crate's `unsafe` is in this file.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::Instant;

use io_uring::{IoUring, Probe, opcode, squeue, types};

use super::{Completed, DriverCounters, Flush, IoDriver, Op, SegmentFile, Wake};
use crate::error::{Error, IoOp, Result};
use crate::limits::SEGMENT_HEADER_BYTES;
use crate::options::{Driver, Options};

/// `user_data` of the eventfd poll; chain operations use `chain << 16 | op`.
const POLL_TAG: u64 = u64::MAX;
/// Operations one chain may hold (the low 16 bits of `user_data`).
const CHAIN_OPS_MAX: usize = 1 << 15;
/// The most entries a ring may be sized to.
const RING_ENTRIES_MAX: u32 = 4096;

const _: () = assert!(CHAIN_OPS_MAX < (1 << 16));

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
    /// Operations in flight that use this slot.
    users: u32,
}

#[derive(Debug, Clone, Copy, Default)]
struct OpState {
    slot: u32,
    /// Bytes of a write known written.
    written: usize,
    complete: bool,
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
}

impl Chain {
    fn done(&self) -> bool {
        self.outstanding == 0 && !self.broken && self.ops.iter().all(|op| op.complete)
    }
}

pub(crate) struct UringDriver {
    ring: IoUring,
    slots: Vec<Slot>,
    /// Registered buffers as (address, capacity), by buffer index.
    registered: Vec<(usize, usize)>,
    chains: VecDeque<Chain>,
    next_chain: u64,
    depth: usize,
    wake: Arc<EventWake>,
    poll_armed: bool,
    counters: DriverCounters,
    /// Completions seen so far (orders errors: the first one in time is reported).
    completions: u64,
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

impl UringDriver {
    /// Sets up the ring, or says why it cannot run here.
    pub fn open(options: &Options) -> std::result::Result<Self, String> {
        let depth = options.chains_in_flight_max as usize;
        // Worst case ops in one flush: a write and a sync per segment the staging
        // buffer can span, plus older unsynced segments; plus the eventfd poll.
        let spans = options.staging_bytes_max / (options.segment_bytes - SEGMENT_HEADER_BYTES) + 2;
        let per_chain = 4 * spans + 1;
        let entries = u64::from(options.ring_entries).max(per_chain.next_power_of_two());
        if entries > u64::from(RING_ENTRIES_MAX) || per_chain as usize > CHAIN_OPS_MAX {
            return Err(format!(
                "a flush may need {per_chain} ring entries; more than the {RING_ENTRIES_MAX} allowed \
                 (raise segment_bytes or lower staging_bytes_max)"
            ));
        }
        let mut builder = IoUring::builder();
        if options.sqpoll {
            builder.setup_sqpoll(options.sqpoll_idle_ms);
        }
        let ring = builder
            .setup_cqsize(entries as u32 * 2)
            .build(entries as u32)
            .map_err(|e| format!("io_uring_setup failed: {e}"))?;
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
        // Every segment the chains in flight can name, plus the next one.
        let slot_count = (depth as u64 * spans + 2).min(u64::from(RING_ENTRIES_MAX)) as u32;
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
            next_chain: 0,
            depth,
            wake: Arc::new(EventWake { fd }),
            poll_armed: false,
            counters: DriverCounters::default(),
            completions: 0,
            #[cfg(feature = "fault-injection")]
            faults: options.faults.map(crate::testing::FaultState::new),
        })
    }

    /// The fixed-file slot holding `segment`, registering it in a free slot if needed.
    fn slot_for(&mut self, segment: &Arc<SegmentFile>) -> Result<u32> {
        // The same open file, not the same sequence: after a cut of the log a segment
        // number is made again as a new file, and the old slot holds the removed one.
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.file.as_ref().is_some_and(|f| Arc::ptr_eq(f, segment)))
        {
            return Ok(i as u32);
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
            return Err(Error::Completion {
                op: IoOp::Driver,
                segment: segment.sequence,
                offset: 0,
                source: io::Error::other("no free fixed-file slot"),
            });
        };
        let Some(file) = segment.file.os_file() else {
            return Err(Error::Unsupported {
                reason: "io_uring driver: a segment that is not a kernel file".into(),
            });
        };
        self.ring
            .submitter()
            .register_files_update(i as u32, &[file.as_raw_fd()])
            .map_err(|e| Error::io(IoOp::Driver, &segment.path, e))?;
        if let Some(slot) = self.slots.get_mut(i) {
            slot.file = Some(Arc::clone(segment));
        }
        Ok(i as u32)
    }

    fn buffer_index(&self, buf: &[u8], capacity: usize) -> Option<u16> {
        let addr = buf.as_ptr() as usize;
        self.registered
            .iter()
            .position(|&(a, cap)| a == addr && cap == capacity)
            .and_then(|i| u16::try_from(i).ok())
    }

    /// Pushes the chain's ops from `from` on, linked, and submits them.
    fn push_chain(&mut self, index: usize, from: usize) -> Result<()> {
        let Some(chain) = self.chains.get(index) else {
            return Ok(());
        };
        let fixed = self.buffer_index(&chain.flush.buf, chain.flush.buf.capacity());
        let count = chain.ops.len();
        let mut entries = Vec::with_capacity(count - from);
        for (i, (op, state)) in chain
            .flush
            .ops
            .iter()
            .zip(&chain.ops)
            .enumerate()
            .skip(from)
        {
            let user_data = (chain.id << 16) | i as u64;
            let fd = types::Fixed(state.slot);
            let entry = match op {
                Op::Write(run) => {
                    let bytes = chain.flush.buf.get(run.bytes.clone()).unwrap_or_default();
                    let rest = bytes.get(state.written..).unwrap_or_default();
                    let offset = run.offset + state.written as u64;
                    let len = rest.len() as u32;
                    match fixed {
                        Some(buf_index) => {
                            opcode::WriteFixed::new(fd, rest.as_ptr(), len, buf_index)
                                .offset(offset)
                                .build()
                        }
                        None => opcode::Write::new(fd, rest.as_ptr(), len)
                            .offset(offset)
                            .build(),
                    }
                }
                Op::Sync(_) => opcode::Fsync::new(fd)
                    .flags(types::FsyncFlags::DATASYNC)
                    .build(),
            };
            let entry = if i + 1 < count {
                entry.flags(squeue::Flags::IO_LINK)
            } else {
                entry
            };
            entries.push(entry.user_data(user_data));
        }
        let pushed = entries.len() as u32;
        let fixed_writes = if fixed.is_some() {
            chain
                .flush
                .ops
                .iter()
                .skip(from)
                .filter(|op| matches!(op, Op::Write(_)))
                .count() as u64
        } else {
            0
        };
        let room = {
            let sq = self.ring.submission();
            sq.capacity() - sq.len()
        };
        if room < entries.len() {
            self.enter(0)?;
        }
        // SAFETY: every entry points into `chain.flush.buf` (writes) or names a fixed
        // file slot. The chain, and with it the buffer, stays in `self.chains` until
        // every one of its entries has completed (`reap` and `Drop` wait for that), and
        // the buffer is never touched meanwhile; registered buffers are only used when
        // the address and capacity match a registration whose memory the writer keeps
        // alive for the driver's whole life. The slots hold an `Arc` of their file.
        let pushed_ok = unsafe { self.ring.submission().push_multiple(&entries) };
        if pushed_ok.is_err() {
            return Err(Error::Completion {
                op: IoOp::Driver,
                segment: 0,
                offset: 0,
                source: io::Error::other("submission queue full"),
            });
        }
        if let Some(chain) = self.chains.get_mut(index) {
            chain.outstanding += pushed;
        }
        self.counters.ring_sqes += u64::from(pushed);
        self.counters.fixed_writes += fixed_writes;
        self.enter(0)
    }

    /// Submits what is queued and waits for `want` completions.
    fn enter(&mut self, want: usize) -> Result<()> {
        loop {
            self.counters.ring_enters += 1;
            match self.ring.submit_and_wait(want) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The completion queue is full: reap first, then submit again.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(()),
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
                Error::io(
                    IoOp::Driver,
                    "io_uring",
                    io::Error::other("submission queue full"),
                )
            })?;
        }
        self.counters.ring_sqes += 1;
        self.poll_armed = true;
        Ok(())
    }

    /// Handles every completion in the queue.
    fn drain_cq(&mut self) {
        let cqes: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (user_data, result) in cqes {
            if user_data == POLL_TAG {
                self.poll_armed = false;
                let mut counter = [0u8; 8];
                let _ = rustix::io::read(&self.wake.fd, &mut counter);
                continue;
            }
            self.complete_op(user_data >> 16, (user_data & 0xffff) as usize, result);
        }
    }

    fn complete_op(&mut self, chain_id: u64, op: usize, result: i32) {
        let Some(chain) = self.chains.iter_mut().find(|c| c.id == chain_id) else {
            debug_assert!(false, "completion for unknown chain {chain_id}");
            return;
        };
        chain.outstanding = chain.outstanding.saturating_sub(1);
        self.completions += 1;
        let seen = self.completions;
        let (Some(state), Some(flush_op)) = (chain.ops.get_mut(op), chain.flush.ops.get(op)) else {
            return;
        };
        let (io_op, segment, offset, want) = match flush_op {
            Op::Write(run) => (
                IoOp::Write,
                run.segment.sequence,
                run.offset + state.written as u64,
                run.bytes.len(),
            ),
            Op::Sync(segment) => (IoOp::Sync, segment.sequence, 0, 0),
        };
        #[allow(unused_mut)]
        let mut result = result;
        #[cfg(feature = "fault-injection")]
        let mut short = false;
        #[cfg(feature = "fault-injection")]
        if result >= 0
            && let Some(faults) = self.faults.as_mut()
        {
            let injected = match io_op {
                IoOp::Write => faults.before_write(),
                _ => faults.before_sync(),
            };
            if let Some(e) = injected {
                result = -e.raw_os_error().unwrap_or(libc::EIO);
            } else if io_op == IoOp::Write && faults.short_now() {
                short = true;
            }
        }
        if result == -libc::ECANCELED && (chain.broken || chain.error.is_some()) {
            // Cut off behind a short write (resumed below) or an error (reported).
            return;
        }
        if result < 0 {
            chain.error.get_or_insert((
                seen,
                Error::Completion {
                    op: io_op,
                    segment,
                    offset,
                    source: io::Error::from_raw_os_error(-result),
                },
            ));
            return;
        }
        match io_op {
            IoOp::Write => {
                #[cfg(feature = "fault-injection")]
                let n = if short {
                    (want - state.written) / 2
                } else {
                    result as usize
                };
                #[cfg(not(feature = "fault-injection"))]
                let n = result as usize;
                state.written += n;
                if state.written < want {
                    chain.broken = true;
                } else {
                    state.complete = true;
                }
            }
            _ => state.complete = true,
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
        while self.chains.iter().any(|c| c.outstanding > 0) {
            if self.enter(1).is_err() {
                return false;
            }
            self.drain_cq();
        }
        true
    }
}

impl IoDriver for UringDriver {
    fn kind(&self) -> Driver {
        Driver::IoUring
    }

    fn depth(&self) -> usize {
        self.depth
    }

    fn buffers(&mut self, count: usize, capacity: usize) -> Vec<Vec<u8>> {
        let buffers: Vec<Vec<u8>> = (0..count).map(|_| Vec::with_capacity(capacity)).collect();
        let iovecs: Vec<libc::iovec> = buffers
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.as_ptr() as *mut libc::c_void,
                iov_len: b.capacity(),
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
                    .map(|b| (b.as_ptr() as usize, b.capacity()))
                    .collect();
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
        debug_assert!(self.chains.len() < self.depth);
        // Each op's slot is pinned (`users`) as soon as it is chosen and until the chain
        // is retired, so no later op of this flush, and no other chain, can re-point
        // it while an entry naming it may still be submitted or resubmitted.
        let mut ops = Vec::with_capacity(flush.ops.len());
        for op in &flush.ops {
            let segment = match op {
                Op::Write(run) => &run.segment,
                Op::Sync(segment) => segment,
            };
            match self.slot_for(segment) {
                Ok(slot) => {
                    self.pin(slot, true);
                    ops.push(OpState {
                        slot,
                        ..OpState::default()
                    });
                }
                Err(e) => {
                    for state in &ops {
                        self.pin(state.slot, false);
                    }
                    return Err(e);
                }
            }
        }
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
        });
        self.counters.chains_in_flight_peak = self
            .counters
            .chains_in_flight_peak
            .max(self.chains.len() as u64);
        self.push_chain(self.chains.len() - 1, 0)
    }

    fn reap(&mut self, done: &mut Vec<Completed>, wait: bool) -> Result<()> {
        if wait && !self.chains.is_empty() {
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
            if let Some(chain) = self.chains.pop_front() {
                for state in &chain.ops {
                    self.pin(state.slot, false);
                }
                let sync_ns = if chain.flush.syncs() > 0 {
                    chain.submitted.elapsed().as_nanos() as u64
                } else {
                    0
                };
                done.push(Completed {
                    flush: chain.flush,
                    sync_ns,
                });
            }
        }
        Ok(())
    }

    fn in_flight(&self) -> usize {
        self.chains.len()
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
    }
}

impl Drop for UringDriver {
    fn drop(&mut self) {
        // Keep every buffer alive until the kernel is done with it.
        if !self.quiesce() {
            self.leak_chains();
        }
    }
}
