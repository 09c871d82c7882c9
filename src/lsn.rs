//! Log sequence numbers.

use std::fmt;

/// A log sequence number: the position of a record in the log. The first record is
/// LSN 1; LSN 0 means "nothing" (e.g. the durable LSN of an empty log).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(u64);

impl Lsn {
    /// The "nothing yet" LSN.
    pub const ZERO: Lsn = Lsn(0);

    /// Wraps a raw LSN.
    pub const fn new(raw: u64) -> Self {
        Lsn(raw)
    }

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The LSN after this one.
    pub const fn next(self) -> Lsn {
        Lsn(self.0 + 1)
    }
}

impl From<u64> for Lsn {
    fn from(raw: u64) -> Self {
        Lsn(raw)
    }
}

impl From<Lsn> for u64 {
    fn from(lsn: Lsn) -> Self {
        lsn.0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lsn({})", self.0)
    }
}
