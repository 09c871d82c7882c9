//! Reading records back. Readers go straight to the segment files through `format/`
//! and never touch the writer's state; they read up to an LSN bound fixed when the
//! iterator is made (for an open log, what had been written by then).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::Lsn;
use crate::cursor::{Cursor, Found, read_header};
use crate::error::{CorruptReason, Error, Result};
use crate::format::header::{HeaderState, SegmentHeader};
use crate::io::Fs;
use crate::limits::SEGMENT_HEADER_BYTES;
use crate::recovery::{Scan, list_segments, read_checkpoint_in, scan_in};

/// One record read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    lsn: Lsn,
    payload: Vec<u8>,
}

impl Record {
    pub(crate) fn new(lsn: Lsn, payload: Vec<u8>) -> Self {
        Record { lsn, payload }
    }

    /// The record's LSN.
    pub fn lsn(&self) -> Lsn {
        self.lsn
    }

    /// The record's payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The payload, without copying.
    pub fn into_payload(self) -> Vec<u8> {
        self.payload
    }
}

#[derive(Debug)]
struct Open {
    sequence: u64,
    cursor: Cursor,
    at: u64,
}

/// Iterator over records from a start LSN up to a fixed end LSN, in order.
#[derive(Debug)]
pub struct RecordIter {
    fs: Fs,
    dir: PathBuf,
    pending: VecDeque<(u64, PathBuf)>,
    open: Option<Open>,
    next: u64,
    start: u64,
    end: u64,
    last_sequence: u64,
    record_bytes_max: u64,
    failed: bool,
}

/// What the header of a listed segment says, read when a lookup needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// Retired between the listing and the read.
    Gone,
    /// A valid header: the segment's first LSN.
    First(u64),
    /// No valid header: nothing written into it yet (only at the end of the log).
    Headless,
}

pub(crate) fn probe(fs: &Fs, path: &Path) -> Result<Probe> {
    match read_header(fs, path) {
        Ok(HeaderState::Valid(h)) => Ok(Probe::First(h.first_lsn)),
        Ok(_) => Ok(Probe::Headless),
        Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => Ok(Probe::Gone),
        Err(e) => Err(e),
    }
}

/// Where a read from `start` begins in `files` (listed by sequence): the index of the
/// last segment whose first LSN is at or below `start`, and that LSN. Headers are read
/// by binary search, a handful per call whatever the segment count: in sequence order
/// segments go retired (gone), then headed with growing first LSNs, then headless.
fn find_start(fs: &Fs, files: &[(u64, PathBuf)], start: u64) -> Result<Option<(usize, u64)>> {
    let (mut lo, mut hi) = (0, files.len());
    // Invariant: every index below `lo` is gone or starts at or below `start`; every
    // index from `hi` on is headless or starts above it.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let Some((_, path)) = files.get(mid) else {
            break;
        };
        match probe(fs, path)? {
            Probe::Gone => lo = mid + 1,
            Probe::First(first) if first <= start => lo = mid + 1,
            _ => hi = mid,
        }
    }
    let Some(at) = lo.checked_sub(1) else {
        return Ok(None);
    };
    match files.get(at).map(|(_, path)| probe(fs, path)).transpose()? {
        Some(Probe::First(first)) => Ok(Some((at, first))),
        _ => Ok(None),
    }
}

/// Times `locate_start` lists the directory again after the search ended on a segment
/// that vanished.
const LOCATE_RETRIES: usize = 4;

/// Lists `dir` and finds where a read from `start` begins (`find_start`). A segment can
/// vanish between the listing and its header read by retirement (below `start`, which
/// the search allows for) but also by a cut or a discarded spare (above it): a search
/// that ends on nothing while the listing has changed is run again, a bounded number
/// of times.
pub(crate) fn locate_start(
    fs: &Fs,
    dir: &Path,
    start: u64,
) -> Result<(Listing, Option<(usize, u64)>)> {
    let mut files = list_segments(fs, dir)?;
    let mut found = find_start(fs, &files, start)?;
    for _ in 0..LOCATE_RETRIES {
        if found.is_some() {
            break;
        }
        let again = list_segments(fs, dir)?;
        if again == files {
            break;
        }
        files = again;
        found = find_start(fs, &files, start)?;
    }
    Ok((files, found))
}

/// Segment files by sequence, as `list_segments` gives them.
pub(crate) type Listing = Vec<(u64, PathBuf)>;

/// The first LSN of the oldest segment that has a header, if any.
pub(crate) fn first_available(fs: &Fs, files: &[(u64, PathBuf)]) -> Result<Option<u64>> {
    for (_, path) in files {
        match probe(fs, path)? {
            Probe::Gone => continue,
            Probe::First(first) => return Ok(Some(first)),
            Probe::Headless => return Ok(None),
        }
    }
    Ok(None)
}

impl RecordIter {
    /// Records `start..=end` of the log in `dir`.
    pub(crate) fn new(
        fs: &Fs,
        dir: &Path,
        start: u64,
        end: u64,
        record_bytes_max: u64,
    ) -> Result<Self> {
        let start = start.max(1);
        let mut iter = RecordIter {
            fs: fs.clone(),
            dir: dir.to_path_buf(),
            pending: VecDeque::new(),
            open: None,
            next: start,
            start,
            end,
            last_sequence: 0,
            record_bytes_max,
            failed: false,
        };
        if start > end {
            // Nothing to read. Walking from a segment's first LSN up to `end` would run
            // into the LSNs a checkpoint above the last record covers, which no segment
            // holds.
            return Ok(iter);
        }
        let (files, found) = locate_start(fs, dir, start)?;
        let Some((at, first)) = found else {
            return Err(below_first(fs, dir, start, first_available(fs, &files)?));
        };
        iter.next = first;
        iter.pending = files.into_iter().skip(at).collect();
        Ok(iter)
    }

    /// Records `start..=end`, reading from `place` (a frame at or before `start`, from
    /// the log's index) without listing the directory first.
    pub(crate) fn from_place(
        fs: &Fs,
        dir: &Path,
        place: crate::index::Place,
        (start, end): (u64, u64),
        record_bytes_max: u64,
    ) -> Result<Self> {
        let path = dir.join(crate::format::names::segment_file_name(place.sequence));
        let cursor = Cursor::open_for_lookup(fs, &path, LOOKUP_CHUNK_BYTES)?;
        Ok(RecordIter {
            fs: fs.clone(),
            dir: dir.to_path_buf(),
            pending: VecDeque::new(),
            open: Some(Open {
                sequence: place.sequence,
                cursor,
                at: place.offset,
            }),
            next: place.lsn,
            start,
            end,
            last_sequence: place.sequence,
            record_bytes_max,
            failed: false,
        })
    }

    fn open_next(&mut self) -> Result<bool> {
        if self.pending.is_empty() {
            // The writer may have moved into segments created after the listing.
            let newer = list_segments(&self.fs, &self.dir)?
                .into_iter()
                .filter(|(seq, _)| *seq > self.last_sequence);
            self.pending.extend(newer);
        }
        let Some((sequence, path)) = self.pending.pop_front() else {
            return Ok(false);
        };
        let mut cursor = match Cursor::open(&self.fs, &path) {
            Ok(cursor) => cursor,
            // Retired (deleted, or renamed for reuse) since the listing.
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return match self.chain_broken(sequence, 0) {
                    e @ Error::BelowCheckpoint { .. } => Err(e),
                    _ => Err(Error::io(crate::error::IoOp::Open, &path, source)),
                };
            }
            Err(e) => return Err(e),
        };
        match SegmentHeader::decode(cursor.window(0, SEGMENT_HEADER_BYTES as usize)?) {
            HeaderState::Valid(h) if h.first_lsn == self.next || self.last_sequence == 0 => {
                self.next = h.first_lsn;
            }
            HeaderState::Valid(h) => return Err(self.chain_broken(sequence, h.first_lsn)),
            HeaderState::Blank | HeaderState::RecycledBlank { .. } => return Ok(false),
            HeaderState::Invalid(reason) => return Err(Error::corrupt(sequence, 0, reason)),
        }
        self.last_sequence = sequence;
        self.open = Some(Open {
            sequence,
            cursor,
            at: SEGMENT_HEADER_BYTES,
        });
        Ok(true)
    }

    /// The error for a chain that does not go on from `self.next` (the next segment
    /// starts at `got`, 0 for none). Records a checkpoint retired while this iterator
    /// read them are `BelowCheckpoint`, not damage: a retired segment may be deleted,
    /// or renamed and reused for new records (recycling) under a reader still in it.
    fn chain_broken(&self, sequence: u64, got: u64) -> Error {
        match read_checkpoint_in(&self.fs, &self.dir) {
            Ok(checkpoint) if self.next <= checkpoint => Error::BelowCheckpoint {
                requested: Lsn::new(self.next),
                first_available: Lsn::new(checkpoint + 1),
                checkpoint: Lsn::new(checkpoint),
            },
            Ok(_) => Error::corrupt(
                sequence,
                0,
                CorruptReason::LsnOutOfOrder {
                    expected: self.next,
                    got,
                },
            ),
            Err(e) => e,
        }
    }

    fn step(&mut self) -> Result<Option<Record>> {
        loop {
            if self.next > self.end {
                return Ok(None);
            }
            let Some(open) = self.open.as_mut() else {
                if self.open_next()? {
                    continue;
                }
                return Err(self.chain_broken(self.last_sequence, 0));
            };
            let (at, found) = open.cursor.chain_frame_at(
                open.at,
                open.sequence,
                self.record_bytes_max,
                self.next,
            )?;
            match found {
                Found::Frame(d) if d.lsn == self.next => {
                    open.at = at + d.frame_len as u64;
                    self.next += 1;
                    if d.lsn >= self.start {
                        let payload = open.cursor.payload(at, &d)?;
                        return Ok(Some(Record {
                            lsn: Lsn::new(d.lsn),
                            payload,
                        }));
                    }
                }
                // The segment ends here; the next one must carry on.
                _ => self.open = None,
            }
        }
    }
}

/// The error for a read from `start` below every segment: below the checkpoint, or
/// records missing.
pub(crate) fn below_first(fs: &Fs, dir: &Path, start: u64, first_available: Option<u64>) -> Error {
    let checkpoint = match read_checkpoint_in(fs, dir) {
        Ok(checkpoint) => checkpoint,
        Err(e) => return e,
    };
    if start <= checkpoint {
        return Error::BelowCheckpoint {
            requested: Lsn::new(start),
            first_available: Lsn::new(first_available.unwrap_or(checkpoint + 1)),
            checkpoint: Lsn::new(checkpoint),
        };
    }
    let reason = CorruptReason::LsnOutOfOrder {
        expected: start,
        got: first_available.unwrap_or(0),
    };
    Error::corrupt(0, 0, reason)
}

impl Iterator for RecordIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        match self.step() {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Bytes a read started from the index takes at once: a stride (the record is at most
/// that far) rounded up, instead of a scan's 1 MiB.
const LOOKUP_CHUNK_BYTES: usize = 2 * crate::index::INDEX_STRIDE_BYTES as usize;

/// Reads the record `lsn` of segment `place.sequence`, walking frames forward from
/// `place` (at most an index stride plus the record).
pub(crate) fn read_at_place(
    fs: &Fs,
    dir: &Path,
    place: crate::index::Place,
    lsn: u64,
) -> Result<Record> {
    let mut iter =
        RecordIter::from_place(fs, dir, place, (lsn, lsn), crate::limits::RECORD_BYTES_MAX)?;
    iter.next().unwrap_or_else(|| {
        let reason = CorruptReason::LsnOutOfOrder {
            expected: lsn,
            got: 0,
        };
        Err(Error::corrupt(place.sequence, place.offset, reason))
    })
}

/// A read-only view of a log directory, for tools: scans it like recovery does but
/// changes nothing and takes no lock, so it works beside a running writer.
#[derive(Debug)]
pub struct LogReader {
    fs: Fs,
    dir: PathBuf,
    scan: Scan,
    record_bytes_max: u64,
}

impl LogReader {
    /// Scans `dir`. Fails with `Error::Corrupt` where recovery would.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_in(Fs::default(), dir.as_ref())
    }

    /// Scans the log in `dir` of a simulated filesystem (feature `sim`).
    #[cfg(feature = "sim")]
    pub fn open_simulated(sim: &crate::sim::SimFs, dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_in(Fs::Sim(sim.clone()), dir.as_ref())
    }

    fn open_in(fs: Fs, dir: &Path) -> Result<Self> {
        let dir = dir.to_path_buf();
        let record_bytes_max = crate::limits::RECORD_BYTES_MAX;
        let scan = scan_in(&fs, &dir, record_bytes_max)?;
        Ok(LogReader {
            fs,
            dir,
            scan,
            record_bytes_max,
        })
    }

    /// What the scan found.
    pub fn scan(&self) -> &Scan {
        &self.scan
    }

    /// Whether a writer holds the log open right now.
    pub fn writer_active(&self) -> bool {
        crate::lock::DirLock::is_held(&self.fs, &self.dir)
    }

    /// Follows the log from `lsn` as another process writes it: a [`crate::Tail`] that
    /// polls the files (backing off to 20 ms) and yields each record (a batch whole)
    /// once its bytes validate there. Across processes the writer's sync is invisible,
    /// so this tail follows what is *written* to the files, like
    /// [`crate::Tail::written`]: a power cut may take back records it yielded. A
    /// record retired before the tail reached it is `Error::BelowCheckpoint`. Cuts of
    /// the log (`truncate_from`) are not seen from another process.
    ///
    /// ```
    /// # fn main() -> ringwal::Result<()> {
    /// # let tmp = tempfile::tempdir().map_err(|e| ringwal::Error::Unsupported { reason: e.to_string() })?;
    /// # let dir = tmp.path().join("wal");
    /// let wal = ringwal::Wal::open(&dir, ringwal::Options::default())?;
    /// wal.append_durable(b"seen from afar")?;
    /// let reader = ringwal::LogReader::open(&dir)?; // e.g. in another process
    /// let mut tail = reader.tail(1.into())?;
    /// let record = tail.next_timeout(std::time::Duration::from_secs(5))?.expect("written");
    /// assert_eq!(record.payload(), b"seen from afar");
    /// # Ok(())
    /// # }
    /// ```
    pub fn tail(&self, lsn: Lsn) -> Result<crate::Tail> {
        let mut tail = crate::Tail::files(self.fs.clone(), self.dir.clone(), lsn.get());
        tail.check_start()?;
        Ok(tail)
    }

    /// Records from `lsn` on, without scanning the log first: for salvaging what comes
    /// before damage that makes `open` refuse the log (`ringwal dump` of a corrupt
    /// log). Yields whole records in LSN order while they are dense, then one error
    /// where they stop (the damage, or the end of the log), then nothing.
    pub fn salvage_from(dir: impl AsRef<Path>, lsn: Lsn) -> Result<RecordIter> {
        let record_bytes_max = crate::limits::RECORD_BYTES_MAX;
        RecordIter::new(
            &Fs::default(),
            dir.as_ref(),
            lsn.get(),
            u64::MAX,
            record_bytes_max,
        )
    }

    /// Records from `lsn` to the last whole record found by the scan.
    pub fn read_from(&self, lsn: Lsn) -> Result<RecordIter> {
        RecordIter::new(
            &self.fs,
            &self.dir,
            lsn.get(),
            self.scan.last_lsn,
            self.record_bytes_max,
        )
    }
}
