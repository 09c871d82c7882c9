//! The index entry the log keeps per live segment. Recovery builds the catalog from
//! what it finds on disk and the writer carries it on, so the type lives here, beside
//! both, and recovery does not depend on the writer.

/// What the log knows about a live segment that has a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentMeta {
    pub first_lsn: u64,
    /// Set once the segment is sealed (the log moved on to the next one).
    pub last_lsn: Option<u64>,
}
