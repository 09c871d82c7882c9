//! Reading records back. Readers go straight to the segment files through `format/`
//! and never touch the writer's state; they read up to an LSN bound fixed when the
//! iterator is made (for an open log, what had been written by then).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::Lsn;
use crate::cursor::{Cursor, Found};
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

/// Segments by sequence with their header's first LSN (segments without a valid
/// header are skipped: they hold nothing yet).
fn headed_segments(fs: &Fs, dir: &Path) -> Result<Vec<(u64, PathBuf, u64)>> {
    let mut out = Vec::new();
    for (seq, path) in list_segments(fs, dir)? {
        let mut cursor = match Cursor::open(fs, &path) {
            Ok(c) => c,
            // Retired between the listing and the open.
            Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => continue,
            Err(e) => return Err(e),
        };
        if let HeaderState::Valid(h) =
            SegmentHeader::decode(cursor.window(0, SEGMENT_HEADER_BYTES as usize)?)
        {
            out.push((seq, path, h.first_lsn));
        }
    }
    Ok(out)
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
        let segments = headed_segments(fs, dir)?;
        let first_available = segments.first().map(|(_, _, first)| *first);
        if start <= end {
            let checkpoint = read_checkpoint_in(fs, dir)?;
            match first_available {
                Some(first) if start >= first => {}
                _ if start <= checkpoint => {
                    return Err(Error::BelowCheckpoint {
                        requested: Lsn::new(start),
                        first_available: Lsn::new(first_available.unwrap_or(checkpoint + 1)),
                        checkpoint: Lsn::new(checkpoint),
                    });
                }
                first => {
                    let got = first.unwrap_or(0);
                    return Err(Error::corrupt(
                        0,
                        0,
                        CorruptReason::LsnOutOfOrder {
                            expected: start,
                            got,
                        },
                    ));
                }
            }
        }
        if start > end {
            // Nothing to read. Walking from a segment's first LSN up to `end` would run
            // into the LSNs a checkpoint above the last record covers, which no segment
            // holds.
            return Ok(RecordIter {
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
            });
        }
        // Begin at the last segment whose first LSN is at or below `start`.
        let skip = segments
            .iter()
            .rposition(|(_, _, first)| *first <= start)
            .unwrap_or(0);
        let next = segments.get(skip).map_or(start, |(_, _, first)| *first);
        let pending: VecDeque<_> = segments
            .into_iter()
            .skip(skip)
            .map(|(seq, path, _)| (seq, path))
            .collect();
        Ok(RecordIter {
            fs: fs.clone(),
            dir: dir.to_path_buf(),
            pending,
            open: None,
            next,
            start,
            end,
            last_sequence: 0,
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
        let mut cursor = Cursor::open(&self.fs, &path)?;
        match SegmentHeader::decode(cursor.window(0, SEGMENT_HEADER_BYTES as usize)?) {
            HeaderState::Valid(h) if h.first_lsn == self.next || self.last_sequence == 0 => {
                self.next = h.first_lsn;
            }
            HeaderState::Valid(h) => {
                let reason = CorruptReason::LsnOutOfOrder {
                    expected: self.next,
                    got: h.first_lsn,
                };
                return Err(Error::corrupt(sequence, 0, reason));
            }
            HeaderState::Blank => return Ok(false),
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

    fn step(&mut self) -> Result<Option<Record>> {
        loop {
            if self.next > self.end {
                return Ok(None);
            }
            let Some(open) = self.open.as_mut() else {
                if self.open_next()? {
                    continue;
                }
                let reason = CorruptReason::LsnOutOfOrder {
                    expected: self.next,
                    got: 0,
                };
                return Err(Error::corrupt(self.last_sequence, 0, reason));
            };
            match open
                .cursor
                .frame_at(open.at, open.sequence, self.record_bytes_max)?
            {
                Found::Frame(d) if d.lsn == self.next => {
                    let at = open.at;
                    open.at += d.frame_len as u64;
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
