//! Errors of the store, and how they reach openraft: every one becomes a
//! `StorageError`, which makes openraft stop the node rather than carry on.

use std::fmt;

use openraft::{AnyError, NodeId, StorageError, StorageIOError};

/// What can go wrong in the store.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The ringwal log failed (an I/O error, a poisoned log, corruption).
    Wal(ringwal::Error),
    /// A record did not decode (or an entry did not encode).
    Codec {
        /// Which log: "entries" or "meta".
        log: &'static str,
        /// The record's LSN (0 when encoding).
        lsn: u64,
        /// The codec's error.
        source: postcard::Error,
    },
    /// Entries on disk are not in increasing index order.
    OutOfOrder {
        /// The record's LSN.
        lsn: u64,
        /// The index it holds.
        index: u64,
        /// The index of the record before it.
        previous: u64,
    },
    /// Options that cannot give a Raft log its guarantees.
    Options(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Wal(e) => write!(f, "ringwal: {e}"),
            Error::Codec { log, lsn, source } => {
                write!(f, "{log} record at LSN {lsn} does not decode: {source}")
            }
            Error::OutOfOrder {
                lsn,
                index,
                previous,
            } => write!(
                f,
                "entry at LSN {lsn} has index {index}, not above the previous entry's {previous}"
            ),
            Error::Options(why) => write!(f, "options: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Wal(e) => Some(e),
            Error::Codec { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<ringwal::Error> for Error {
    fn from(e: ringwal::Error) -> Self {
        Error::Wal(e)
    }
}

/// A failed write of entries, as openraft sees it.
pub(crate) fn write_logs<NID: NodeId>(e: impl Into<Error>) -> StorageError<NID> {
    StorageIOError::write_logs(AnyError::new(&e.into())).into()
}

/// A failed read of entries.
pub(crate) fn read_logs<NID: NodeId>(e: impl Into<Error>) -> StorageError<NID> {
    StorageIOError::read_logs(AnyError::new(&e.into())).into()
}

/// A failed write of the vote (or of the committed id).
pub(crate) fn write_vote<NID: NodeId>(e: impl Into<Error>) -> StorageError<NID> {
    StorageIOError::write_vote(AnyError::new(&e.into())).into()
}
