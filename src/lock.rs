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

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: Handle,
    path: std::path::PathBuf,
}

impl DirLock {
    /// Takes the lock. Also says whether the last writer closed the log cleanly.
    pub fn acquire(fs: &Fs, dir: &Path) -> Result<(Self, bool)> {
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
                    .map(|s| String::from_utf8_lossy(&s).trim().to_owned())
                    .filter(|s| !s.is_empty());
                return Err(Error::Locked { path, holder });
            }
            Err(TryLockError::Error(e)) => return Err(Error::io(IoOp::Lock, &path, e)),
        }
        let mut said = [0u8; CLEAN_CLOSE_MARK.len()];
        let clean = file
            .read_at(&mut said, 0)
            .is_ok_and(|n| n == said.len() && said == CLEAN_CLOSE_MARK.as_bytes());
        let me = format!(
            "pid {} ({})\n",
            std::process::id(),
            std::env::args().next().unwrap_or_default()
        );
        // Synced, so that the "not closed cleanly" state cannot be lost to a failed
        // write-back of this page while the log runs (see `mark_clean`).
        file.set_len(0)
            .and_then(|()| file.write_all_at(me.as_bytes(), 0))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(IoOp::Lock, &path, e))?;
        Ok((DirLock { file, path }, clean))
    }

    /// Records that the log was closed with everything synced and no failure. Not
    /// synced: it only lets the next open skip work, and a lost mark costs that work.
    pub fn mark_clean(&self) {
        let mark = format!("{CLEAN_CLOSE_MARK} by pid {}\n", std::process::id());
        let written = self
            .file
            .set_len(0)
            .and_then(|()| self.file.write_all_at(mark.as_bytes(), 0));
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
            _lock: DirLock::acquire(&Fs::default(), dir.as_ref())?.0,
        })
    }
}
