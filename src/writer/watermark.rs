//! The written and synced watermarks, and the waiters on them.
//!
//! Both only move forward, and only to the end of a flush that completed in full, so
//! every LSN at or below a watermark is covered: durability is contiguous.
//!
//! Waiters are woken one by one, and only once their own LSN is covered: with several
//! flushes in flight, a watermark step covers some waiters and not others, and a
//! broadcast would wake (and put back to sleep) all of them each time — on a 2-core VM
//! the context switches, not the disk, would then set the pace.
//!
//! Async waiters (futures, tails) wait the same way: each registers its `Waker` under
//! its own LSN, ordered by LSN, and a step wakes exactly the ones it covers. A future
//! dropped before it resolves takes its registration with it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Which watermark a waiter needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Written to the OS (page cache or device).
    Written,
    /// Written and synced.
    Synced,
}

#[derive(Debug)]
struct Sleeper {
    id: u64,
    lsn: u64,
    level: Level,
    thread: Thread,
}

#[derive(Debug, Default)]
struct Marks {
    poison: Option<Arc<Error>>,
    closed: bool,
    /// Parked waiters; the writer unparks each one whose LSN its step covers.
    sleepers: Vec<Sleeper>,
    /// Async waiters on the written and the synced watermark, by (LSN, id).
    wakers_written: BTreeMap<(u64, u64), Waker>,
    wakers_synced: BTreeMap<(u64, u64), Waker>,
    next_id: u64,
    /// Cuts of the log (`truncate_from`), newest last: (cut number, first LSN removed).
    /// A tail compares its position with the cuts made since it last looked.
    cuts: Vec<(u64, u64)>,
    cuts_made: u64,
}

/// Cuts remembered for tails; a tail that missed more than this many is told it may
/// have been cut below (it cannot tell).
const CUTS_KEPT: usize = 64;

impl Marks {
    fn wakers(&mut self, level: Level) -> &mut BTreeMap<(u64, u64), Waker> {
        match level {
            Level::Written => &mut self.wakers_written,
            Level::Synced => &mut self.wakers_synced,
        }
    }
}

/// One async wait for `lsn` at `level`: poll it with `Watermark::poll_wait`, and
/// `Watermark::cancel` it when it is dropped unresolved.
#[derive(Debug)]
pub(crate) struct AsyncWait {
    pub lsn: u64,
    pub level: Level,
    /// Also answered by a cut made since this many (`Watermark::wait`'s `cuts_seen`).
    pub cuts_seen: Option<u64>,
    /// The registration key, once registered.
    key: Option<(u64, u64)>,
}

impl AsyncWait {
    pub fn new(lsn: u64, level: Level, cuts_seen: Option<u64>) -> Self {
        AsyncWait {
            lsn,
            level,
            cuts_seen,
            key: None,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Watermark {
    written: AtomicU64,
    synced: AtomicU64,
    marks: Mutex<Marks>,
    /// Waiters inside `wait`, spinning or asleep.
    waiting: AtomicU32,
    /// Moving average of how long waits that had to wait took, in ns: a lone waiter
    /// spins only while waits are short enough for spinning to pay off.
    wait_ns_avg: AtomicU64,
    /// Set (after `Marks::poison`) once the log is poisoned: a lock-free first check.
    poisoned: AtomicBool,
    /// `Marks::cuts_made`, readable without the lock.
    cuts: AtomicU64,
}

/// How long a lone waiter spins on the watermark before it parks. A sync takes about
/// 100 µs on a fast disk; a waiter still on-CPU when it lands skips a wake-up (tens of
/// µs in a VM). Only a waiter that finds no other waiting spins, so many waiters never
/// burn the cores the appenders need.
const LONE_WAITER_SPIN: Duration = Duration::from_micros(250);

impl Watermark {
    pub fn new(start: u64) -> Self {
        Watermark {
            written: AtomicU64::new(start),
            synced: AtomicU64::new(start),
            marks: Mutex::new(Marks::default()),
            waiting: AtomicU32::new(0),
            wait_ns_avg: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            cuts: AtomicU64::new(0),
        }
    }

    pub fn get(&self, level: Level) -> u64 {
        match level {
            Level::Written => self.written.load(Ordering::Acquire),
            Level::Synced => self.synced.load(Ordering::Acquire),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Marks> {
        // Every update of `Marks` is complete before any call that could panic, so a
        // poisoned mutex still holds a consistent value.
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the end of a completed flush and wakes the waiters it covers.
    pub fn advance(&self, written: u64, synced: Option<u64>) {
        let mut guard = self.lock();
        let old = self.written.fetch_max(written, Ordering::AcqRel);
        debug_assert!(old <= written, "written watermark moved backwards");
        if let Some(synced) = synced {
            debug_assert!(synced <= self.written.load(Ordering::Acquire));
            self.synced.fetch_max(synced, Ordering::AcqRel);
        }
        let wakers = self.covered_wakers(&mut guard);
        if guard.sleepers.is_empty() {
            drop(guard);
            wakers.into_iter().for_each(Waker::wake);
            return;
        }
        let mut wake = Vec::new();
        guard.sleepers.retain(|s| {
            let covered = self.get(s.level) >= s.lsn;
            if covered {
                wake.push(s.thread.clone());
            }
            !covered
        });
        drop(guard);
        for thread in wake {
            thread.unpark();
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Takes the async waiters whose LSN the watermarks now cover.
    fn covered_wakers(&self, guard: &mut Marks) -> Vec<Waker> {
        let mut out = Vec::new();
        for level in [Level::Written, Level::Synced] {
            let mark = self.get(level);
            let wakers = guard.wakers(level);
            while let Some(entry) = wakers.first_entry() {
                if entry.key().0 > mark {
                    break;
                }
                out.push(entry.remove());
            }
        }
        out
    }

    /// Polls an async wait: ready once the watermark covers its LSN (or with the
    /// poison or close error); otherwise registers `cx`'s waker under its LSN.
    pub fn poll_wait(&self, wait: &mut AsyncWait, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let cuts_seen = wait.cuts_seen;
        self.poll_wait_or_cut(wait, cx, cuts_seen)
    }

    /// `poll_wait` that is also ready once the log was cut since `cuts_seen` (a tail
    /// must look at the cut). Cuts are counted under the same lock the waker is
    /// registered under, so none is missed between a tail's check and its wait.
    pub fn poll_wait_or_cut(
        &self,
        wait: &mut AsyncWait,
        cx: &mut Context<'_>,
        cuts_seen: Option<u64>,
    ) -> Poll<Result<()>> {
        // Covered is ready whether or not a cut came too (the locked check agrees).
        if self.get(wait.level) >= wait.lsn {
            self.cancel(wait);
            return Poll::Ready(Ok(()));
        }
        let mut guard = self.lock();
        let cut = cuts_seen.is_some_and(|seen| guard.cuts_made != seen);
        // Checked again under the lock: `advance` publishes, then wakes under it.
        if self.get(wait.level) >= wait.lsn || cut {
            if let Some(key) = wait.key.take() {
                guard.wakers(wait.level).remove(&key);
            }
            return Poll::Ready(Ok(()));
        }
        let failed = match (&guard.poison, guard.closed) {
            (Some(cause), _) => Some(Error::Poisoned {
                cause: Arc::clone(cause),
            }),
            (None, true) => Some(Error::Closed),
            (None, false) => None,
        };
        if let Some(error) = failed {
            if let Some(key) = wait.key.take() {
                guard.wakers(wait.level).remove(&key);
            }
            return Poll::Ready(Err(error));
        }
        let key = match wait.key {
            Some(key) => key,
            None => {
                let key = (wait.lsn, guard.next_id);
                guard.next_id += 1;
                wait.key = Some(key);
                key
            }
        };
        let wakers = guard.wakers(wait.level);
        match wakers.get_mut(&key) {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                wakers.insert(key, cx.waker().clone());
            }
        }
        Poll::Pending
    }

    /// Drops an async wait's registration, if it has one.
    pub fn cancel(&self, wait: &mut AsyncWait) {
        if let Some(key) = wait.key.take() {
            self.lock().wakers(wait.level).remove(&key);
        }
    }

    /// Async waiters registered now (for statistics and tests).
    pub fn wakers_registered(&self) -> usize {
        let guard = self.lock();
        guard.wakers_written.len() + guard.wakers_synced.len()
    }

    /// The cuts made so far (a tail's starting point for `cut_since`; also its
    /// lock-free check that no cut began while it read).
    pub fn cuts_made(&self) -> u64 {
        self.cuts.load(Ordering::Acquire)
    }

    /// The lowest LSN cut since the tail saw `seen` cuts, and the number made now.
    /// `Some(0)` when cuts it missed were forgotten (it must assume the worst).
    pub fn cut_since(&self, seen: u64) -> (Option<u64>, u64) {
        let guard = self.lock();
        if guard.cuts_made == seen {
            return (None, seen);
        }
        let oldest_kept = guard.cuts.first().map_or(guard.cuts_made, |(n, _)| *n);
        let lowest = if seen + 1 < oldest_kept {
            Some(0)
        } else {
            guard
                .cuts
                .iter()
                .filter(|(n, _)| *n > seen)
                .map(|(_, lsn)| *lsn)
                .min()
        };
        (lowest, guard.cuts_made)
    }

    /// Moves both watermarks back to `lsn` after a cut of the log: the LSNs above it
    /// name records appended from now on. Waits that count cuts return; the others
    /// above it keep waiting for those. Tails are told of the cut (and woken to notice it).
    pub fn reset(&self, lsn: u64) {
        let mut guard = self.lock();
        self.written.store(lsn, Ordering::Release);
        self.synced.store(lsn, Ordering::Release);
        guard.cuts_made += 1;
        let made = guard.cuts_made;
        self.cuts.store(made, Ordering::Release);
        guard.cuts.push((made, lsn + 1));
        if guard.cuts.len() > CUTS_KEPT {
            guard.cuts.remove(0);
        }
        // Everyone looks: a tail must see the cut now, and a wait for an LSN handed out
        // before it is answered (its record was synced before this reset). A wait that
        // knows no cuts (`cuts_seen: None`) re-registers for the record that replaces
        // the removed one.
        self.wake_all(guard);
    }

    fn wake_all(&self, mut guard: MutexGuard<'_, Marks>) {
        let sleepers = std::mem::take(&mut guard.sleepers);
        let wakers: Vec<Waker> = std::mem::take(&mut guard.wakers_written)
            .into_values()
            .chain(std::mem::take(&mut guard.wakers_synced).into_values())
            .collect();
        drop(guard);
        for s in sleepers {
            s.thread.unpark();
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Stops all waiting: every waiter gets `Poisoned` with this cause.
    pub fn poison(&self, cause: Arc<Error>) {
        let mut guard = self.lock();
        if guard.poison.is_none() {
            guard.poison = Some(cause);
        }
        self.poisoned.store(true, Ordering::Release);
        self.wake_all(guard);
    }

    /// Marks the log closed; waiters whose LSN was not reached get `Closed`.
    pub fn close(&self) {
        let mut guard = self.lock();
        guard.closed = true;
        self.wake_all(guard);
    }

    pub fn poison_cause(&self) -> Option<Arc<Error>> {
        // Every call checks this: the common answer takes no lock.
        if !self.poisoned.load(Ordering::Acquire) {
            return None;
        }
        self.lock().poison.clone()
    }

    /// Waits until `level` reaches `lsn` or, with `cuts_seen`, until a cut is made
    /// after that many (the LSN was handed out before it, so the cut found its record
    /// written and synced; see `staging::Marked`). Returns `Ok(false)` if `deadline`
    /// passed first.
    pub fn wait(
        &self,
        lsn: u64,
        level: Level,
        cuts_seen: Option<u64>,
        deadline: Option<Instant>,
    ) -> Result<bool> {
        if self.get(level) >= lsn {
            return Ok(true);
        }
        let started = Instant::now();
        let alone = self.waiting.fetch_add(1, Ordering::AcqRel) == 0;
        let short_waits =
            self.wait_ns_avg.load(Ordering::Relaxed) < LONE_WAITER_SPIN.as_nanos() as u64;
        let result = self.wait_slow(lsn, level, cuts_seen, deadline, alone && short_waits);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let took = started.elapsed().as_nanos() as u64;
        let avg = self.wait_ns_avg.load(Ordering::Relaxed);
        self.wait_ns_avg
            .store(avg - avg / 8 + took / 8, Ordering::Relaxed);
        result
    }

    /// A tail's blocking wait: returns once `level` reaches `lsn` or the log was cut
    /// since `cuts_seen` (`Ok(true)`), or `deadline` passed (`Ok(false)`); the close
    /// and poison errors as `wait`.
    pub fn wait_or_cut(
        &self,
        lsn: u64,
        level: Level,
        cuts_seen: u64,
        deadline: Option<Instant>,
    ) -> Result<bool> {
        self.park_until(lsn, level, deadline, Some(cuts_seen))
    }

    fn spin(&self, lsn: u64, level: Level, deadline: Option<Instant>) -> bool {
        let until = Instant::now() + LONE_WAITER_SPIN;
        let until = deadline.map_or(until, |d| d.min(until));
        loop {
            for _ in 0..64 {
                if self.get(level) >= lsn {
                    return true;
                }
                std::hint::spin_loop();
            }
            if Instant::now() >= until {
                return false;
            }
        }
    }

    fn wait_slow(
        &self,
        lsn: u64,
        level: Level,
        cuts_seen: Option<u64>,
        deadline: Option<Instant>,
        alone: bool,
    ) -> Result<bool> {
        if alone && self.spin(lsn, level, deadline) {
            return Ok(true);
        }
        self.park_until(lsn, level, deadline, cuts_seen)
    }

    /// Parks until `level` reaches `lsn` (or, with `cuts_seen`, the log was cut since),
    /// the log fails or closes, or `deadline` passes (`Ok(false)`).
    fn park_until(
        &self,
        lsn: u64,
        level: Level,
        deadline: Option<Instant>,
        cuts_seen: Option<u64>,
    ) -> Result<bool> {
        let mut registered = None;
        loop {
            let mut guard = self.lock();
            let cut = cuts_seen.is_some_and(|seen| guard.cuts_made != seen);
            if self.get(level) >= lsn || cut {
                return Ok(true);
            }
            if let Some(cause) = &guard.poison {
                return Err(Error::Poisoned {
                    cause: Arc::clone(cause),
                });
            }
            if guard.closed {
                return Err(Error::Closed);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                if let Some(id) = registered {
                    guard.sleepers.retain(|s| s.id != id);
                }
                return Ok(false);
            }
            // (Re-)register: `advance` removes a sleeper when it wakes it, and a park can
            // also return spuriously while still registered.
            let present = registered.is_some_and(|id| guard.sleepers.iter().any(|s| s.id == id));
            if !present {
                let id = guard.next_id;
                guard.next_id += 1;
                guard.sleepers.push(Sleeper {
                    id,
                    lsn,
                    level,
                    thread: std::thread::current(),
                });
                registered = Some(id);
            }
            drop(guard);
            match deadline {
                None => std::thread::park(),
                Some(d) => std::thread::park_timeout(d.saturating_duration_since(Instant::now())),
            }
        }
    }
}
