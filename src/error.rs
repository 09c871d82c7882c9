//! The crate's error type. Every variant carries the context needed to act on it
//! (which segment, which offset, which operation) rather than a string to parse.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::Lsn;

/// Result alias used throughout ringwal.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the log was doing when an I/O call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IoOp {
    /// Creating, opening or listing a file or directory.
    Open,
    /// Writing record bytes into a segment.
    Write,
    /// `fdatasync` (or its platform equivalent) of a segment.
    Sync,
    /// `fsync` of a directory, making a creation or rename durable.
    SyncDir,
    /// Reading a segment.
    Read,
    /// Preallocating a new segment.
    Preallocate,
    /// Renaming a file (a new segment into place, a segment into `archive/`).
    Rename,
    /// Removing a file (a retired or cut segment, an archived one, a leftover).
    Remove,
    /// Looking up a file's state (whether a segment is still linked, its length).
    Stat,
    /// Shortening a segment (torn-tail repair).
    Truncate,
    /// Taking the directory lock.
    Lock,
    /// Setting up or driving the I/O driver (io_uring ring, registration).
    Driver,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            IoOp::Open => "open",
            IoOp::Write => "write",
            IoOp::Sync => "fdatasync",
            IoOp::SyncDir => "directory fsync",
            IoOp::Read => "read",
            IoOp::Preallocate => "preallocate",
            IoOp::Rename => "rename",
            IoOp::Remove => "remove",
            IoOp::Stat => "stat",
            IoOp::Truncate => "truncate",
            IoOp::Lock => "lock",
            IoOp::Driver => "driver",
        };
        f.write_str(name)
    }
}

/// Every failure ringwal reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call failed.
    Io {
        /// What was being done.
        op: IoOp,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A write or sync failed earlier; the log refuses all further work until it is
    /// reopened (which runs recovery). Carries the first failure.
    Poisoned {
        /// The error that poisoned the log.
        cause: Arc<Error>,
    },
    /// Bytes on disk are not a valid log at this place, and it is not a torn tail.
    Corrupt {
        /// Segment sequence number (0 when the problem is not inside a segment).
        segment: u64,
        /// Byte offset inside the segment file.
        offset: u64,
        /// What is wrong.
        reason: CorruptReason,
    },
    /// The last segment ends in a torn write and `RecoveryMode::Strict` forbids cutting it.
    TornTail {
        /// Segment sequence number.
        segment: u64,
        /// Offset of the first byte that is not part of a whole record.
        offset: u64,
        /// How many bytes a repair would cut.
        bytes: u64,
    },
    /// Options that cannot work together.
    InvalidOptions {
        /// The option at fault.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// An argument to a call is out of range (a record too large, an LSN beyond the log).
    InvalidArgument {
        /// The argument at fault.
        what: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The staging buffer is full (`try_append` only; `append` waits instead).
    WouldBlock,
    /// Another writer holds the log directory.
    Locked {
        /// The lock file.
        path: PathBuf,
        /// What the lock file says about its holder (e.g. `pid 1234`), if readable.
        holder: Option<String>,
    },
    /// The requested feature or driver is not available here.
    Unsupported {
        /// What was asked for and why it is not available.
        reason: String,
    },
    /// The records asked for were retired by a checkpoint and are no longer in the log.
    BelowCheckpoint {
        /// The LSN asked for.
        requested: Lsn,
        /// The first LSN still readable.
        first_available: Lsn,
        /// The persisted checkpoint.
        checkpoint: Lsn,
    },
    /// The log is closed (or closing).
    Closed,
    /// A segment the log was writing was removed or shortened by something else: the
    /// records written into it would be gone at the next open.
    SegmentChanged {
        /// Segment sequence number.
        segment: u64,
        /// The segment file.
        path: PathBuf,
        /// What happened to it.
        change: SegmentChange,
    },
    /// An operation the I/O driver submitted completed with an error.
    Completion {
        /// Which operation (write or sync).
        op: IoOp,
        /// The segment it was on.
        segment: u64,
        /// The file offset (writes) or 0 (syncs).
        offset: u64,
        /// The error the kernel reported.
        source: io::Error,
    },
    /// The log was cut (`Wal::truncate_from`) below what a tail had already yielded:
    /// those records are gone, and the follower must resynchronise.
    CutBelowTail {
        /// The first LSN the cut removed.
        cut: Lsn,
        /// The tail's position (the next LSN it would have yielded).
        position: Lsn,
    },
    /// The log was written in an on-disk format this build does not read (no
    /// migration exists before 1.0: replay it with the build that wrote it).
    UnsupportedFormat {
        /// The file that named the version.
        path: PathBuf,
        /// The version found on disk.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// ringwal found its own state inconsistent (a bug, not bad input or a failing
    /// disk). The log is poisoned rather than acknowledging anything it cannot vouch
    /// for; please report it with the message.
    Internal {
        /// What was found inconsistent, with the values involved.
        what: String,
    },
}

/// What happened to a segment behind the log's back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SegmentChange {
    /// Its directory entry is gone.
    Removed,
    /// It is shorter than the data already written into it.
    Truncated {
        /// Its length now.
        len: u64,
        /// Where the written data ends.
        written_end: u64,
    },
}

impl fmt::Display for SegmentChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentChange::Removed => f.write_str("was removed while the log was writing it"),
            SegmentChange::Truncated { len, written_end } => write!(
                f,
                "was truncated to {len} bytes, below written data ending at {written_end}"
            ),
        }
    }
}

/// Why a place on disk is judged corrupt.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// A checksum did not match.
    Checksum {
        /// The checksum stored on disk.
        expected: u32,
        /// The checksum of the bytes read.
        got: u32,
    },
    /// The header has the wrong magic bytes.
    BadMagic,
    /// The header names a format version this build cannot read.
    UnsupportedVersion(u32),
    /// A length field is larger than any record can be.
    LengthTooLarge {
        /// The length read.
        len: u64,
        /// The largest allowed.
        max: u64,
    },
    /// An LSN is not the one that must come next (a gap or a repeat).
    LsnOutOfOrder {
        /// The LSN required here.
        expected: u64,
        /// The LSN found.
        got: u64,
    },
    /// A segment number is missing between two present ones.
    MissingSegment {
        /// The missing sequence number.
        sequence: u64,
    },
    /// The header's fields disagree with the file name or with each other.
    HeaderMismatch(String),
    /// A batch was cut short before the end of the log.
    IncompleteBatch,
    /// The checkpoint file is damaged.
    Checkpoint(String),
    /// The truncation intent file is damaged or names an impossible cut.
    Truncation(String),
    /// A frame or header claims a durable LSN it cannot vouch for: a frame's claim at
    /// or above its own LSN, a header's floor at or above its first LSN. The bytes
    /// passed their checksum, so this is not a torn write.
    DurableClaimOutOfRange {
        /// The LSN of the frame (or the header's first LSN).
        lsn: u64,
        /// The durable LSN it claims.
        durable: u64,
    },
    /// The chain of records stops at `lsn`, and a valid frame or header written later
    /// says `lsn` had already been durable: records that were acknowledged are damaged
    /// or missing (see docs/FORMAT.md, "Recovery decision table").
    DamagedDurableData {
        /// The first LSN the chain is missing.
        lsn: u64,
        /// The durable LSN the later frame or header claims (at least `lsn`).
        durable: u64,
        /// The segment holding that frame or header.
        vouched_by_segment: u64,
        /// Its offset (0: the segment header).
        vouched_by_offset: u64,
    },
    /// The chain of records stops at `lsn`, at or below the persisted checkpoint: those
    /// records were durable before the checkpoint was written.
    DamagedBelowCheckpoint {
        /// The first LSN the chain is missing.
        lsn: u64,
        /// The persisted checkpoint.
        checkpoint: u64,
    },
    /// The chain of records stops at `lsn`, at or below the LSN the lock file records
    /// as durable (written at the last open once recovery was done, or at a clean
    /// close): those records had been made durable.
    DamagedBelowRecordedDurable {
        /// The first LSN the chain is missing.
        lsn: u64,
        /// The durable LSN the lock file records.
        durable: u64,
    },
    /// The search for valid data after the end of the chain met so many plausible
    /// frame headers claiming long payloads that checking them all would cost more than
    /// a bounded multiple of the bytes scanned (crafted bytes, not a torn write): the
    /// scan refuses rather than guesses (see docs/FORMAT.md).
    ScanBudgetExceeded {
        /// Where the scan stopped.
        offset: u64,
        /// Bytes it had checksummed by then.
        bytes_checked: u64,
    },
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptReason::Checksum { expected, got } => {
                write!(
                    f,
                    "checksum mismatch (expected {expected:#010x}, got {got:#010x})"
                )
            }
            CorruptReason::BadMagic => f.write_str("bad magic"),
            CorruptReason::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            CorruptReason::LengthTooLarge { len, max } => {
                write!(f, "length {len} exceeds the maximum {max}")
            }
            CorruptReason::LsnOutOfOrder { expected, got } => {
                write!(f, "expected LSN {expected}, found {got}")
            }
            CorruptReason::MissingSegment { sequence } => {
                write!(f, "segment {sequence} is missing")
            }
            CorruptReason::HeaderMismatch(why) => write!(f, "header mismatch: {why}"),
            CorruptReason::IncompleteBatch => f.write_str("batch cut short inside the log"),
            CorruptReason::DurableClaimOutOfRange { lsn, durable } => write!(
                f,
                "a valid frame or header at LSN {lsn} claims LSN {durable} was durable \
                 before it was written"
            ),
            CorruptReason::DamagedDurableData {
                lsn,
                durable,
                vouched_by_segment,
                vouched_by_offset,
            } => write!(
                f,
                "the records stop at LSN {lsn}, but segment {vouched_by_segment} at offset \
                 {vouched_by_offset} was written after LSN {durable} was durable"
            ),
            CorruptReason::DamagedBelowRecordedDurable { lsn, durable } => write!(
                f,
                "the records stop at LSN {lsn}, but the lock file records every LSN up to \
                 {durable} durable"
            ),
            CorruptReason::DamagedBelowCheckpoint { lsn, checkpoint } => write!(
                f,
                "the records stop at LSN {lsn}, at or below the checkpoint {checkpoint}"
            ),
            CorruptReason::Checkpoint(why) => write!(f, "checkpoint file: {why}"),
            CorruptReason::Truncation(why) => write!(f, "truncation intent: {why}"),
            CorruptReason::ScanBudgetExceeded {
                offset,
                bytes_checked,
            } => write!(
                f,
                "too many plausible frames after the end of the log: stopped at offset \
                 {offset} after checksumming {bytes_checked} bytes"
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The OS error and the poison cause are not repeated here: `source()`
            // returns them, and a reporter walking the chain prints each link once.
            Error::Io { op, path, .. } => write!(f, "{op} failed on {}", path.display()),
            Error::Poisoned { .. } => f.write_str("the log is poisoned by an earlier failure"),
            Error::Corrupt {
                segment,
                offset,
                reason,
            } => write!(
                f,
                "corrupt log: segment {segment}, offset {offset}: {reason}"
            ),
            Error::TornTail {
                segment,
                offset,
                bytes,
            } => write!(
                f,
                "torn tail in segment {segment} at offset {offset} ({bytes} bytes); \
                 strict recovery refuses to cut it"
            ),
            Error::InvalidOptions { field, reason } => {
                write!(f, "invalid option `{field}`: {reason}")
            }
            Error::InvalidArgument { what, reason } => write!(f, "invalid {what}: {reason}"),
            Error::WouldBlock => f.write_str("staging buffer full"),
            Error::Locked { path, holder } => match holder {
                Some(h) => write!(
                    f,
                    "log is locked by another writer ({h}): {}",
                    path.display()
                ),
                None => write!(f, "log is locked by another writer: {}", path.display()),
            },
            Error::Unsupported { reason } => write!(f, "unsupported: {reason}"),
            Error::BelowCheckpoint {
                requested,
                first_available,
                checkpoint,
            } => write!(
                f,
                "LSN {requested} was retired by checkpoint {checkpoint}; \
                 the first readable LSN is {first_available}"
            ),
            Error::Closed => f.write_str("the log is closed"),
            Error::CutBelowTail { cut, position } => write!(
                f,
                "the log was cut from LSN {cut}, below this tail's position {position}"
            ),
            Error::Internal { what } => write!(f, "internal inconsistency (a ringwal bug): {what}"),
            Error::UnsupportedFormat {
                path,
                found,
                supported,
            } => write!(
                f,
                "{} is in on-disk format version {found}; this build reads version \
                 {supported} only",
                path.display()
            ),
            Error::SegmentChanged {
                segment,
                path,
                change,
            } => write!(f, "segment {segment} ({}) {change}", path.display()),
            Error::Completion {
                op,
                segment,
                offset,
                ..
            } => write!(f, "{op} on segment {segment} at offset {offset} failed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Completion { source, .. } => Some(source),
            Error::Poisoned { cause } => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl Error {
    pub(crate) fn io(op: IoOp, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn internal(what: impl Into<String>) -> Self {
        Error::Internal { what: what.into() }
    }

    pub(crate) fn corrupt(segment: u64, offset: u64, reason: CorruptReason) -> Self {
        Error::Corrupt {
            segment,
            offset,
            reason,
        }
    }

    /// The underlying OS error kind, looking through `Poisoned`.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Error::Io { source, .. } | Error::Completion { source, .. } => Some(source.kind()),
            Error::Poisoned { cause } => cause.io_kind(),
            _ => None,
        }
    }

    /// True for `Error::Corrupt` (directly or as a poison cause).
    pub fn is_corrupt(&self) -> bool {
        match self {
            Error::Corrupt { .. } => true,
            Error::Poisoned { cause } => cause.is_corrupt(),
            _ => false,
        }
    }

    /// The error and every source under it, joined with ": " — one line for a log or
    /// a terminal, each link printed once.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }
}
