//! The written and synced watermarks, and the waiters on them.
//!
//! Both only move forward, and only to the end of a flush that completed in full, so
//! every LSN at or below a watermark is covered: durability is contiguous.
//!
//! Waiters are woken one by one, and only once their own LSN is covered: with several
//! flushes in flight, a watermark step covers some waiters and not others, and a
//! broadcast would wake (and put back to sleep) all of them each time — on a 2-core VM
//! the context switches, not the disk, would then set the pace.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    next_id: u64,
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
        if guard.sleepers.is_empty() {
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
    }

    /// Moves both watermarks back to `lsn` after a cut of the log: the LSNs above it
    /// name records appended from now on. Waiters above it keep waiting for those.
    pub fn reset(&self, lsn: u64) {
        let _guard = self.lock();
        self.written.store(lsn, Ordering::Release);
        self.synced.store(lsn, Ordering::Release);
    }

    fn wake_all(&self, mut guard: MutexGuard<'_, Marks>) {
        let sleepers = std::mem::take(&mut guard.sleepers);
        drop(guard);
        for s in sleepers {
            s.thread.unpark();
        }
    }

    /// Stops all waiting: every waiter gets `Poisoned` with this cause.
    pub fn poison(&self, cause: Arc<Error>) {
        let mut guard = self.lock();
        if guard.poison.is_none() {
            guard.poison = Some(cause);
        }
        self.wake_all(guard);
    }

    /// Marks the log closed; waiters whose LSN was not reached get `Closed`.
    pub fn close(&self) {
        let mut guard = self.lock();
        guard.closed = true;
        self.wake_all(guard);
    }

    pub fn poison_cause(&self) -> Option<Arc<Error>> {
        self.lock().poison.clone()
    }

    /// Waits until `level` reaches `lsn`. Returns `Ok(false)` if `deadline` passed first.
    pub fn wait(&self, lsn: u64, level: Level, deadline: Option<Instant>) -> Result<bool> {
        if self.get(level) >= lsn {
            return Ok(true);
        }
        let started = Instant::now();
        let alone = self.waiting.fetch_add(1, Ordering::AcqRel) == 0;
        let short_waits =
            self.wait_ns_avg.load(Ordering::Relaxed) < LONE_WAITER_SPIN.as_nanos() as u64;
        let result = self.wait_slow(lsn, level, deadline, alone && short_waits);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let took = started.elapsed().as_nanos() as u64;
        let avg = self.wait_ns_avg.load(Ordering::Relaxed);
        self.wait_ns_avg
            .store(avg - avg / 8 + took / 8, Ordering::Relaxed);
        result
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
        deadline: Option<Instant>,
        alone: bool,
    ) -> Result<bool> {
        if alone && self.spin(lsn, level, deadline) {
            return Ok(true);
        }
        let mut registered = None;
        loop {
            let mut guard = self.lock();
            if self.get(level) >= lsn {
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
