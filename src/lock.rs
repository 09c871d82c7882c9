//! One writer per log: an exclusive advisory lock on `DIR/LOCK`, held for the life of
//! the `Wal`. The file also names its holder so a refused opener can say who has it.

use std::fs::TryLockError;
use std::path::Path;

use crate::error::{Error, IoOp, Result};
use crate::format::names::LOCK_FILE;
use crate::io::{Fs, Handle, Mode};

/// Attempts and pause before a held lock is reported as `Error::Locked`.
const LOCK_RETRIES: u32 = 20;
const LOCK_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// What the lock file says after a writer closed the log with everything synced and
/// no failure. Any other content (a holder's pid) means the last writer stopped some
/// other way: killed, crashed, or poisoned by a failed write or sync.
const CLEAN_CLOSE_MARK: &str = "closed cleanly";

/// The line of the lock file that bounds what the holder may leave unsynced.
const UNSYNCED_KEY: &str = "unsynced_bytes_max ";

/// The line of the lock file naming an LSN every record up to which was durable when
/// it was written (at open, once recovery made the log durable; at a clean close; lowered
/// before a truncation cuts below it). Recovery calls damage at or below it corruption,
/// never a torn tail. The value is written twice and trusted only when both copies
/// agree, so a write torn inside the line cannot make up a claim.
const DURABLE_KEY: &str = "durable_lsn ";

/// What of the lock file is read, and the longest program name written into it: the
/// name (escaped, up to 4 bytes a char plus quotes) and both lines fit well within.
const LOCK_TEXT_BYTES_MAX: usize = 4096;
const PROGRAM_CHARS_MAX: usize = 256;
const _: () = assert!(PROGRAM_CHARS_MAX * 10 + 128 < LOCK_TEXT_BYTES_MAX);

/// How the last writer left the log, as its lock file tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LastClose {
    /// Closed with everything synced and no failure.
    Clean,
    /// Stopped some other way. `unsynced_bytes_max`: the most bytes of records it
    /// could have had unsynced at once, back from the end of the log; `None` when the
    /// file does not say (an older writer, a tool, a damaged file): then any byte may be.
    Unclean { unsynced_bytes_max: Option<u64> },
}

/// The most bytes of records, counted back from the end of the log across segments,
/// that a writer with `options` can have written and not yet synced at any moment —
/// what a failed sync can leave readable but not durable (see
/// `recovery::make_kept_durable`). Why this sum:
/// * the writer syncs a segment before it writes into the next one, so everything
///   older than the chains in flight is synced, except in the active segment, which
///   `Durability::Flush` and `Periodic` leave unsynced up to its whole size;
/// * each chain in flight carries at most one staging buffer of records, plus block
///   padding between commits.
///
/// A bound from the options rather than a record of what is in flight: it is written
/// once, at open, and an unclean reopen rewrites at most this much instead of the whole
/// log (which would make reopening a big log as slow as copying it).
pub(crate) fn unsynced_bytes_max(options: &crate::Options) -> u64 {
    let per_chain = options
        .staging_bytes_max
        .saturating_add(crate::limits::SEGMENT_HEADER_BYTES);
    u64::from(options.flushes_in_flight_max())
        .saturating_mul(per_chain)
        .saturating_add(options.segment_bytes)
}

/// The durable LSN a lock file's text records, if it records one both copies agree on
/// (the lowest, if several lines do: a torn rewrite may leave an older line behind).
fn durable_in(text: &str) -> Option<u64> {
    text.lines()
        .filter_map(|line| line.strip_prefix(DURABLE_KEY))
        .filter_map(|v| {
            let mut copies = v.split_whitespace().map(|n| n.parse::<u64>().ok());
            match (copies.next(), copies.next(), copies.next()) {
                (Some(Some(a)), Some(Some(b)), None) if a == b => Some(a),
                _ => None,
            }
        })
        .min()
}

/// The line saying who holds the log or how it was closed: the first line that is not
/// the durable line.
fn status_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.starts_with(DURABLE_KEY) && !l.trim().is_empty())
        .unwrap_or_default()
}

/// Writes the lock file's text over its first `LOCK_TEXT_BYTES_MAX` bytes in place,
/// padded with newlines: the durable line first, then `status`. Never truncated first,
/// so a power cut during the rewrite leaves the old text, the new one, or (torn at a
/// sector) a mix whose durable line is one of the two (the lowest line wins, and the
/// two copies of a value must agree) — never a file that lost its durable LSN.
fn write_text(file: &Handle, durable: u64, status: &str) -> std::io::Result<()> {
    let mut text = durable_line(durable);
    text.push_str(status);
    let mut bytes = text.into_bytes();
    bytes.resize(bytes.len().max(LOCK_TEXT_BYTES_MAX), b'\n');
    file.write_all_at(&bytes, 0)
}

fn durable_line(lsn: u64) -> String {
    format!("{DURABLE_KEY}{lsn} {lsn}\n")
}

/// Lowers the durable LSN the lock file of `dir` records to `lsn`, keeping the rest of
/// its text: for a tool that holds the lock (`LogLock`) and cuts the log below it.
pub(crate) fn lower_recorded(fs: &Fs, dir: &Path, lsn: u64) -> Result<()> {
    let path = dir.join(LOCK_FILE);
    let file = fs
        .open(&path, Mode::ReadWrite)
        .map_err(|e| Error::io(IoOp::Lock, &path, e))?;
    let mut said = vec![0u8; LOCK_TEXT_BYTES_MAX];
    let n = file
        .read_at(&mut said, 0)
        .map_err(|e| Error::io(IoOp::Lock, &path, e))?;
    let text = String::from_utf8_lossy(said.get(..n).unwrap_or_default()).into_owned();
    if durable_in(&text).is_none_or(|d| d <= lsn) {
        return Ok(());
    }
    let mut status: String = text
        .lines()
        .filter(|l| !l.starts_with(DURABLE_KEY) && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    status.push('\n');
    write_text(&file, lsn, &status)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io(IoOp::Lock, &path, e))
}

/// The durable LSN the lock file of `dir` records (0 if none): for read-only scans.
/// How the last writer left the log, and the durable LSN it recorded, read from the
/// lock file without taking the lock (a missing or unreadable file says nothing:
/// unclean, without a bound).
pub(crate) fn last_close_in(fs: &Fs, dir: &Path) -> (LastClose, u64) {
    match fs.open(&dir.join(LOCK_FILE), Mode::Read) {
        Ok(file) => read_last_close(&file),
        Err(_) => (
            LastClose::Unclean {
                unsynced_bytes_max: None,
            },
            0,
        ),
    }
}

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: Handle,
    path: std::path::PathBuf,
    /// This writer's own bound, recorded in the file once recovery has run.
    unsynced_bytes_max: Option<u64>,
    /// The durable LSN the file records now (see `DURABLE_KEY`).
    durable: std::sync::atomic::AtomicU64,
}

impl DirLock {
    /// Takes the lock, records the holder (and, if given, the most bytes it may leave
    /// unsynced) in the file, and says how the last writer left the log.
    pub fn acquire(
        fs: &Fs,
        dir: &Path,
        unsynced_bytes_max: Option<u64>,
    ) -> Result<(Self, LastClose, u64)> {
        let path = dir.join(LOCK_FILE);
        let file = fs
            .open(&path, Mode::CreateKeep)
            .map_err(|e| Error::io(IoOp::Lock, &path, e))?;
        // A process forking in another thread holds a copy of every descriptor until
        // its child execs, lock included: a lock that looks held may be such a copy of
        // one just released. Retry for a moment before calling it another writer's.
        let mut tries = 0;
        let locked = loop {
            match file.try_lock() {
                Err(TryLockError::WouldBlock) if tries < LOCK_RETRIES => {
                    tries += 1;
                    std::thread::sleep(LOCK_RETRY_PAUSE);
                }
                other => break other,
            }
        };
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = fs
                    .read(&path)
                    .ok()
                    // The first line names the holder; the next ones are for recovery.
                    .map(|s| {
                        let text = String::from_utf8_lossy(&s);
                        status_line(&text).trim().to_owned()
                    })
                    .filter(|s| !s.is_empty());
                return Err(Error::Locked { path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(IoOp::Lock, &path, e)),
        }
        let (last, durable) = read_last_close(&file);
        // Until recovery has made the last writer's unsynced bytes durable they are
        // still at risk: a crash during this open must leave a file that makes the next
        // open cover them too, so the bound written now covers both writers.
        let bound_now = match last {
            LastClose::Clean => unsynced_bytes_max,
            LastClose::Unclean {
                unsynced_bytes_max: last_bound,
            } => last_bound.zip(unsynced_bytes_max).map(|(a, b)| a.max(b)),
        };
        let lock = DirLock {
            file,
            path,
            unsynced_bytes_max,
            durable: std::sync::atomic::AtomicU64::new(durable),
        };
        // The last writer's durable LSN is carried over until recovery is done, so a
        // crash during recovery does not lose it.
        lock.record_holder(bound_now)?;
        Ok((lock, last, durable))
    }

    /// Recovery is done and made every record up to `durable` durable: from now on
    /// only this writer's own bound on unsynced bytes matters.
    pub fn recovered(&self, durable: u64) -> Result<()> {
        self.write_holder(durable, self.unsynced_bytes_max)?;
        self.durable
            .store(durable, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Lowers the recorded durable LSN to `lsn` (synced) before a cut removes records
    /// above it: records appended after the cut reuse those LSNs and may be torn. The
    /// value kept in memory changes only once the file says so, so a failed write is
    /// tried again by the next cut.
    pub fn lower_durable(&self, lsn: u64) -> Result<()> {
        if self.durable.load(std::sync::atomic::Ordering::Relaxed) <= lsn {
            return Ok(());
        }
        self.write_holder(lsn, self.unsynced_bytes_max)?;
        self.durable
            .store(lsn, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Writes who holds the lock, the durable LSN and the bound on what it may leave
    /// unsynced. Synced, so that the "not closed cleanly" state cannot be lost to a
    /// failed write-back of this page while the log runs (see `mark_clean`).
    fn record_holder(&self, unsynced_bytes_max: Option<u64>) -> Result<()> {
        let durable = self.durable.load(std::sync::atomic::Ordering::Relaxed);
        self.write_holder(durable, unsynced_bytes_max)
    }

    fn write_holder(&self, durable: u64, unsynced_bytes_max: Option<u64>) -> Result<()> {
        // The program name is cut short so the file stays within what
        // `read_last_close` reads.
        let program: String = std::env::args()
            .next()
            .unwrap_or_default()
            .chars()
            .take(PROGRAM_CHARS_MAX)
            .collect();
        let mut status = format!("pid {} ({program:?})\n", std::process::id());
        if let Some(bytes) = unsynced_bytes_max {
            status.push_str(&format!("{UNSYNCED_KEY}{bytes}\n"));
        }
        write_text(&self.file, durable, &status)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| Error::io(IoOp::Lock, &self.path, e))
    }

    /// Records a clean close, everything up to `durable` synced. Synced itself: the
    /// durable LSN in it lets a later open call damage to those records corruption (a
    /// lost mark only costs the next open a rewrite and that vouch).
    pub fn mark_clean(&self, durable: u64) {
        let status = format!("{CLEAN_CLOSE_MARK} by pid {}\n", std::process::id());
        let written = write_text(&self.file, durable, &status).and_then(|()| self.file.sync_all());
        if let Err(error) = written {
            tracing::debug!(%error, path = %self.path.display(), "could not mark a clean close");
        }
    }

    /// Whether some writer holds the lock right now (for read-only tools).
    pub fn is_held(fs: &Fs, dir: &Path) -> bool {
        fs.open(&dir.join(LOCK_FILE), Mode::Read)
            .is_ok_and(|file| file.lock_is_held())
    }
}

/// How the last writer left the log, from the lock file's content (read before this
/// holder overwrites it). Anything unreadable counts as unclean with no bound.
fn read_last_close(file: &Handle) -> (LastClose, u64) {
    // The content is a few short lines (see `record_holder`); more is not ours.
    let mut said = [0u8; LOCK_TEXT_BYTES_MAX];
    let n = file.read_at(&mut said, 0).unwrap_or(0);
    let text = said
        .get(..n)
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let durable = durable_in(&text).unwrap_or(0);
    if status_line(&text).starts_with(CLEAN_CLOSE_MARK) {
        return (LastClose::Clean, durable);
    }
    let unsynced_bytes_max = text
        .lines()
        .find_map(|line| line.strip_prefix(UNSYNCED_KEY))
        .and_then(|v| v.trim().parse().ok());
    (LastClose::Unclean { unsynced_bytes_max }, durable)
}

/// The writer's lock on a log directory, taken by a tool that changes the log outside
/// a `Wal` (a repair): while it is held no `Wal::open` can succeed on the directory,
/// and it cannot be taken while a writer has the log open. Dropping it releases it.
#[derive(Debug)]
pub struct LogLock {
    _lock: DirLock,
}

impl LogLock {
    /// Takes the lock on `dir` (creating `DIR/LOCK` if missing). Fails with
    /// `Error::Locked` when a writer holds it.
    pub fn acquire(dir: impl AsRef<Path>) -> Result<Self> {
        Ok(LogLock {
            // A tool does not say how much it may leave unsynced: the next open after
            // it treats every byte as possibly unsynced.
            _lock: DirLock::acquire(&Fs::default(), dir.as_ref(), None)?.0,
        })
    }
}
