//! Fault injection for tests (feature `fault-injection`): make the driver's Nth write
//! or Nth sync fail with a chosen error, the way a dying disk or a full filesystem would.

use std::io;

/// Which error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// `EIO`: the device failed.
    Eio,
    /// `ENOSPC`: the filesystem is full.
    Enospc,
}

impl FaultKind {
    fn to_error(self) -> io::Error {
        match self {
            FaultKind::Eio => io::Error::from_raw_os_error(5),
            FaultKind::Enospc => io::Error::from_raw_os_error(28),
        }
    }
}

/// When the driver fails. Counts start at 1 and cover record writes and data syncs
/// made by the log-writer thread (not segment preallocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FaultPlan {
    /// Fail the Nth write.
    pub fail_write_nth: Option<u64>,
    /// Fail the Nth sync.
    pub fail_sync_nth: Option<u64>,
    /// The error to return (EIO unless set).
    pub kind: Option<FaultKind>,
    /// io_uring driver only: report the Nth write as short (half done), which breaks its
    /// linked chain the way a real short write does; the driver must resume it.
    pub short_write_nth: Option<u64>,
    /// io_uring driver only: report every write from the Nth on as having written
    /// nothing, as a device that makes no progress would; the driver must fail, not
    /// resubmit forever.
    pub zero_write_from_nth: Option<u64>,
    /// Fail the Nth segment creation (counting the one made at open, if any) while it
    /// preallocates, as a full disk would at a rotation.
    pub fail_segment_create_nth: Option<u64>,
    /// io_uring driver only: hold back the completions of the Nth flush (the first is
    /// number 1) until every flush submitted after it has all its completions back, as
    /// a device that finishes later writes first would (at once when none is in flight).
    pub complete_out_of_order_nth: Option<u64>,
    /// io_uring direct mode only: the kernel refuses to register the aligned buffers
    /// direct writes go out from, as it does past RLIMIT_MEMLOCK; they must go out as
    /// plain writes.
    pub refuse_buffer_registration: bool,
}

impl FaultPlan {
    /// Fail the Nth write with `kind`.
    pub fn fail_write(nth: u64, kind: FaultKind) -> Self {
        FaultPlan {
            fail_write_nth: Some(nth),
            kind: Some(kind),
            ..FaultPlan::default()
        }
    }

    /// Fail the Nth sync with `kind`.
    pub fn fail_sync(nth: u64, kind: FaultKind) -> Self {
        FaultPlan {
            fail_sync_nth: Some(nth),
            kind: Some(kind),
            ..FaultPlan::default()
        }
    }

    /// Fail the Nth segment creation with `kind`.
    pub fn fail_segment_create(nth: u64, kind: FaultKind) -> Self {
        FaultPlan {
            fail_segment_create_nth: Some(nth),
            kind: Some(kind),
            ..FaultPlan::default()
        }
    }

    pub(crate) fn segment_create_error(&self, nth: u64) -> Option<io::Error> {
        (self.fail_segment_create_nth == Some(nth))
            .then(|| self.kind.unwrap_or(FaultKind::Eio).to_error())
    }

    /// Report every write from the Nth on as writing nothing (io_uring driver).
    pub fn zero_writes_from(nth: u64) -> Self {
        FaultPlan {
            zero_write_from_nth: Some(nth),
            ..FaultPlan::default()
        }
    }

    /// Complete the Nth flush after a later one (io_uring driver).
    pub fn complete_out_of_order(nth: u64) -> Self {
        FaultPlan {
            complete_out_of_order_nth: Some(nth),
            ..FaultPlan::default()
        }
    }

    /// Report the Nth write as short (io_uring driver).
    pub fn short_write(nth: u64) -> Self {
        FaultPlan {
            short_write_nth: Some(nth),
            ..FaultPlan::default()
        }
    }
}

/// A plan plus the counts so far. Once a fault fired, every later call fails too, as
/// a dead device would.
#[derive(Debug, Clone)]
pub(crate) struct FaultState {
    plan: FaultPlan,
    writes: u64,
    syncs: u64,
    fired: bool,
}

impl FaultState {
    pub fn new(plan: FaultPlan) -> Self {
        FaultState {
            plan,
            writes: 0,
            syncs: 0,
            fired: false,
        }
    }

    fn error(&mut self) -> io::Error {
        self.fired = true;
        self.plan.kind.unwrap_or(FaultKind::Eio).to_error()
    }

    pub fn before_write(&mut self) -> Option<io::Error> {
        self.writes += 1;
        (self.fired || self.plan.fail_write_nth == Some(self.writes)).then(|| self.error())
    }

    /// Whether the write just counted by `before_write` is to be reported short. Only
    /// the io_uring driver resumes short writes, so only its build has a caller.
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pub fn short_now(&self) -> bool {
        !self.fired && self.plan.short_write_nth == Some(self.writes)
    }

    /// Whether the write just counted by `before_write` is to be reported as writing
    /// nothing (io_uring driver only, like `short_now`).
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pub fn zero_now(&self) -> bool {
        !self.fired
            && self
                .plan
                .zero_write_from_nth
                .is_some_and(|n| self.writes >= n)
    }

    /// Whether registering a buffer with the ring is to fail (io_uring only).
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pub fn refuses_registration(&self) -> bool {
        self.plan.refuse_buffer_registration
    }

    /// The chain id (0-based flush count) whose completions are held back, if any.
    #[cfg(all(target_os = "linux", feature = "io-uring"))]
    pub fn held_chain(&self) -> Option<u64> {
        self.plan
            .complete_out_of_order_nth
            .and_then(|n| n.checked_sub(1))
    }

    pub fn before_sync(&mut self) -> Option<io::Error> {
        self.syncs += 1;
        (self.fired || self.plan.fail_sync_nth == Some(self.syncs)).then(|| self.error())
    }
}
