//! The written and synced watermarks, and the waiters on them.
//!
//! Both only move forward, and only to the end of a flush that completed in full, so
//! every LSN at or below a watermark is covered: durability is contiguous.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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

#[derive(Debug, Default)]
struct Marks {
    poison: Option<Arc<Error>>,
    closed: bool,
    /// Waiters asleep on the condvar (the writer skips the wake syscall when none).
    sleepers: u32,
}

#[derive(Debug)]
pub(crate) struct Watermark {
    written: AtomicU64,
    synced: AtomicU64,
    marks: Mutex<Marks>,
    moved: Condvar,
    /// Waiters inside `wait`, spinning or asleep.
    waiting: AtomicU32,
}

/// How long a lone waiter spins on the watermark before it sleeps. A sync takes about
/// 100 µs on a fast disk; a waiter still on-CPU when it lands skips a wake-up (tens of
/// µs in a VM). Only the first waiter spins, so many waiters never burn the cores the
/// appenders need.
const LONE_WAITER_SPIN: Duration = Duration::from_micros(250);

impl Watermark {
    pub fn new(start: u64) -> Self {
        Watermark {
            written: AtomicU64::new(start),
            synced: AtomicU64::new(start),
            marks: Mutex::new(Marks::default()),
            moved: Condvar::new(),
            waiting: AtomicU32::new(0),
        }
    }

    pub fn get(&self, level: Level) -> u64 {
        match level {
            Level::Written => self.written.load(Ordering::Acquire),
            Level::Synced => self.synced.load(Ordering::Acquire),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Marks> {
        // A panic while holding this lock cannot leave `Marks` half-updated (each
        // field is one store), so a poisoned mutex is still safe to use.
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the end of a completed flush.
    pub fn advance(&self, written: u64, synced: Option<u64>) {
        let guard = self.lock();
        let old = self.written.fetch_max(written, Ordering::AcqRel);
        debug_assert!(old <= written, "written watermark moved backwards");
        if let Some(synced) = synced {
            debug_assert!(synced <= self.written.load(Ordering::Acquire));
            self.synced.fetch_max(synced, Ordering::AcqRel);
        }
        let sleepers = guard.sleepers;
        drop(guard);
        if sleepers > 0 {
            self.moved.notify_all();
        }
    }

    /// Stops all waiting: every waiter gets `Poisoned` with this cause.
    pub fn poison(&self, cause: Arc<Error>) {
        let mut guard = self.lock();
        if guard.poison.is_none() {
            guard.poison = Some(cause);
        }
        drop(guard);
        self.moved.notify_all();
    }

    /// Marks the log closed; waiters whose LSN was not reached get `Closed`.
    pub fn close(&self) {
        self.lock().closed = true;
        self.moved.notify_all();
    }

    pub fn poison_cause(&self) -> Option<Arc<Error>> {
        self.lock().poison.clone()
    }

    /// Waits until `level` reaches `lsn`. Returns `Ok(false)` if `deadline` passed first.
    pub fn wait(&self, lsn: u64, level: Level, deadline: Option<Instant>) -> Result<bool> {
        if self.get(level) >= lsn {
            return Ok(true);
        }
        let alone = self.waiting.fetch_add(1, Ordering::AcqRel) == 0;
        let result = self.wait_slow(lsn, level, deadline, alone);
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        result
    }

    fn wait_slow(
        &self,
        lsn: u64,
        level: Level,
        deadline: Option<Instant>,
        alone: bool,
    ) -> Result<bool> {
        if alone {
            let spin_until = Instant::now() + LONE_WAITER_SPIN;
            let spin_until = deadline.map_or(spin_until, |d| d.min(spin_until));
            'spin: loop {
                for _ in 0..64 {
                    if self.get(level) >= lsn {
                        return Ok(true);
                    }
                    std::hint::spin_loop();
                }
                if Instant::now() >= spin_until {
                    break 'spin;
                }
            }
        }
        let mut guard = self.lock();
        loop {
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
            guard.sleepers += 1;
            let timed_out;
            (guard, timed_out) = match deadline {
                None => (
                    self.moved.wait(guard).unwrap_or_else(|p| p.into_inner()),
                    false,
                ),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let (g, t) = self
                        .moved
                        .wait_timeout(guard, left)
                        .unwrap_or_else(|p| p.into_inner());
                    (g, t.timed_out())
                }
            };
            guard.sleepers -= 1;
            if timed_out && self.get(level) < lsn {
                return Ok(false);
            }
        }
    }
}
