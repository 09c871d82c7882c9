//! A simulated filesystem for crash testing (feature `sim`).
//!
//! [`SimFs`] keeps, for every file, a *live* image (what reads see) and a *durable*
//! image (what survives a power cut), and for every directory a live and a durable set
//! of entries. Put a log on it with [`Options::simulated`](crate::Options::simulated):
//! every file operation of the log, its recovery and its readers then goes to the
//! simulator, under the portable driver.
//!
//! The model, which is what a POSIX filesystem promises and no more:
//! * a write changes the live image only; `fdatasync`/`fsync` of a file copies its live
//!   image to its durable one;
//! * creating, renaming or removing an entry changes the live directory only;
//!   `fsync` of a directory makes the entries of *that* directory durable (a rename
//!   between two directories becomes durable in each as each is synced; a new
//!   directory's own entry needs a sync of its parent);
//! * [`SimFs::restart`] is a power cut followed by a boot: only durable entries remain
//!   (an entry whose directory is not durable goes too), and each file holds its
//!   durable image plus, chosen by the seed, any subset of the pieces of its unsynced
//!   writes: each write is split at 512-byte (sector) or 4 KiB (page) boundaries of the
//!   file, and every sector or page lands on its own, holding what the page cache held
//!   for it at some moment — so a later write, or a later sector of one write, may
//!   survive while an earlier one is lost. Nothing kept, everything kept, and an
//!   in-order prefix (its next write torn at a boundary) stay common outcomes. The
//!   length is journaled in order: it is the length at some moment, and bytes kept
//!   past it are cut. Every call is synchronous, so an unsynced write is exactly a
//!   write in flight at the cut; a write (or length change) the cut interrupts is in
//!   flight too, and may survive in any part;
//! * a failed sync (an injected `EIO`) behaves like Linux: the unsynced writes stay
//!   visible to reads but are marked clean and never reach the durable image, so a
//!   later sync succeeds without making them durable. A log that retried the sync, or
//!   that trusted what it reads back after the failure, loses data here.
//!
//! Faults: [`SimFs::fail`] fails the Nth write, sync, directory sync, creation, rename
//! or removal with `EIO` or `ENOSPC`; [`SimFs::set_capacity`] returns `ENOSPC` once the
//! files would hold more bytes; [`SimFs::cut_power_after`] cuts the power at the Nth
//! mutating operation from now (that operation returns an error; if it is a write, it
//! was in flight and the restart may keep any part of it). While the power is
//! off every operation fails, and handles opened before a restart stay dead after it.
//!
//! Everything random comes from the seed given to [`SimFs::new`], and the log prepares
//! segments in step with its writer under the simulator, so the same seed and the same
//! sequence of calls from one thread give the same file operations in the same order.
//!
//! ```
//! use ringwal::sim::SimFs;
//! use ringwal::{Options, Wal};
//!
//! # fn main() -> ringwal::Result<()> {
//! let sim = SimFs::new(7);
//! let options = Options::default()
//!     .segment_bytes(64 << 10)
//!     .record_bytes_max(4 << 10)
//!     .simulated(&sim);
//! let wal = Wal::open("/data/wal", options.clone())?;
//! let durable = wal.append_durable(b"kept")?;
//! wal.append(b"maybe lost")?;          // staged or written, never synced
//! sim.restart();                       // power cut, then boot
//! drop(wal);                           // its files are gone with the power
//! let wal = Wal::open("/data/wal", options)?;
//! assert!(wal.last_lsn() >= durable);
//! # Ok(())
//! # }
//! ```

mod cut;
mod state;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::fmt;
use std::fs::TryLockError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::io::mode::Mode;
use state::State;

/// An operation a fault can hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimOp {
    /// A write into a file (also setting its length, preallocating).
    Write,
    /// `fdatasync` or `fsync` of a file.
    Sync,
    /// `fsync` of a directory.
    SyncDir,
    /// Creating a file or a directory.
    Create,
    /// Renaming a file.
    Rename,
    /// Removing a file.
    Remove,
}

/// The error an injected fault returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// `EIO`: the device failed.
    Eio,
    /// `ENOSPC`: the filesystem is full.
    Enospc,
}

impl SimError {
    fn to_io(self) -> io::Error {
        match self {
            SimError::Eio => io::Error::from_raw_os_error(5),
            SimError::Enospc => io::Error::from_raw_os_error(28),
        }
    }
}

/// One injected fault: the `nth` operation of kind `op` counted from when it is armed
/// (1 = the next one) fails with `error` and changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimFault {
    /// The kind of operation to fail.
    pub op: SimOp,
    /// Which one, counting from 1 at the time the fault is armed.
    pub nth: u64,
    /// The error it returns.
    pub error: SimError,
}

/// What the simulator has done so far (since [`SimFs::new`], across restarts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimCounts {
    /// Mutating operations attempted (writes, syncs, creations, renames, removals).
    pub ops: u64,
    /// Writes that changed a file.
    pub writes: u64,
    /// File syncs that succeeded.
    pub syncs: u64,
    /// Directory syncs that succeeded.
    pub dir_syncs: u64,
    /// Injected faults that fired, and writes refused for want of capacity.
    pub faults_fired: u64,
    /// Power cuts (explicit, scheduled, or by a restart while powered).
    pub power_cuts: u64,
    /// Unsynced writes a restart threw away (every piece lost).
    pub writes_lost: u64,
    /// Unsynced writes a restart kept only in part (some pieces kept, some lost).
    pub writes_torn: u64,
    /// Unsynced writes a restart kept whole.
    pub writes_kept: u64,
    /// Pieces (the parts of an unsynced write inside one sector or page) a restart
    /// kept.
    pub pieces_kept: u64,
    /// Pieces a restart lost (never written, or past the length that survived).
    pub pieces_lost: u64,
    /// Files a restart left with a write kept in part.
    pub files_torn: u64,
    /// Files a restart found with two unsynced pieces or more (where a reordering can
    /// show at all).
    pub files_with_several_pieces: u64,
    /// Files a restart left reordered: a piece survived while an earlier piece (of an
    /// earlier write, or earlier in the same write) was lost.
    pub files_reordered: u64,
    /// Directory entries a restart threw away (never synced, or their directory not).
    pub entries_lost: u64,
    /// Files open right now (handles not yet dropped, dead ones included).
    pub handles_open: u64,
    /// Most files open at once (see [`SimFs::reset_peaks`]).
    pub handles_open_peak: u64,
    /// Bytes asked for by reads (the buffer sizes, whatever the files held).
    pub read_bytes: u64,
    /// The largest buffer a single read asked to fill (see [`SimFs::reset_peaks`]).
    pub read_bytes_max: u64,
}

/// A simulated filesystem; cheap to clone (clones share one filesystem).
#[derive(Clone)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

impl PartialEq for SimFs {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl fmt::Debug for SimFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("SimFs")
            .field("generation", &st.generation)
            .field("powered", &st.powered)
            .field("counts", &st.counts)
            .finish_non_exhaustive()
    }
}

impl SimFs {
    /// An empty filesystem (only the root directory exists); `seed` decides every
    /// random choice it makes.
    pub fn new(seed: u64) -> SimFs {
        SimFs {
            state: Arc::new(Mutex::new(State::new(seed))),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves the model as it was at that point,
        // which is still a valid filesystem image.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Arms a fault (several may be armed at once).
    pub fn fail(&self, fault: SimFault) {
        self.lock().arm(fault);
    }

    /// Returns `ENOSPC` from any write that would make the files hold more than
    /// `bytes` in all (`None`: no limit). Removing files frees their bytes.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.lock().capacity = bytes;
    }

    /// Cuts the power at the `ops`-th mutating operation from now (1 = the next one);
    /// that operation and every later one fail until [`SimFs::restart`]. A write cut
    /// this way was in flight: the restart may keep any part of it.
    pub fn cut_power_after(&self, ops: u64) {
        self.lock().cut_after = Some(ops.max(1));
    }

    /// Cuts the power now.
    pub fn cut_power(&self) {
        self.lock().cut();
    }

    /// Whether the power is on.
    pub fn is_powered(&self) -> bool {
        self.lock().powered
    }

    /// A power cut (if the power is on) and a boot: the durable image, plus what the
    /// seed lets survive of the unsynced writes, becomes the filesystem; armed faults
    /// and a scheduled cut are cleared; handles and locks from before are dead.
    /// Returns the counts after the restart.
    pub fn restart(&self) -> SimCounts {
        let mut st = self.lock();
        st.restart();
        st.counts
    }

    /// Prints every mutating operation (and restarts) to standard error, numbered as
    /// [`SimCounts::ops`] counts them: the trace of a seed being replayed.
    pub fn set_trace(&self, on: bool) {
        self.lock().trace = on;
    }

    /// What the simulator has done so far.
    pub fn counts(&self) -> SimCounts {
        self.lock().counts
    }

    /// Starts [`SimCounts::handles_open_peak`] and [`SimCounts::read_bytes_max`] afresh
    /// from now, so a test can measure one phase (an open, a read) on its own.
    pub fn reset_peaks(&self) {
        let mut st = self.lock();
        st.counts.handles_open_peak = st.counts.handles_open;
        st.counts.read_bytes_max = 0;
    }

    /// Writes `bytes` at `offset` of a file (creating it in an existing directory),
    /// into its live image only, as a write a log makes: for tests that lay out a log
    /// by hand or damage one. Faults and power cuts apply.
    pub fn write_file_at(
        &self,
        path: impl AsRef<Path>,
        offset: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        self.open(path.as_ref(), Mode::CreateKeep)?
            .write_all_at(bytes, offset)
    }

    /// `fsync` of a file (faults apply: an injected `EIO` leaves its unsynced writes
    /// readable but never durable, as Linux does).
    pub fn sync_file(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.open(path.as_ref(), Mode::Read)?.sync()
    }

    /// Live content of a file (for inspecting a log from a test).
    pub fn read_file(&self, path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
        self.read(path.as_ref())
    }

    /// Live paths of every file and directory, in order.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().live_paths()
    }

    pub(crate) fn open(&self, path: &Path, mode: Mode) -> io::Result<SimFile> {
        let (inode, generation, handle) = {
            let mut st = self.lock();
            let opened = st.open(path, mode)?;
            st.counts.handles_open += 1;
            st.counts.handles_open_peak = st.counts.handles_open_peak.max(st.counts.handles_open);
            opened
        };
        Ok(SimFile {
            fs: self.clone(),
            inode,
            generation,
            handle,
            writable: mode != Mode::Read,
        })
    }

    pub(crate) fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let file = self.open(path, Mode::Read)?;
        let mut buf = vec![0u8; file.len()? as usize];
        let n = file.read_at(&mut buf, 0)?;
        buf.truncate(n);
        Ok(buf)
    }

    pub(crate) fn is_dir(&self, path: &Path) -> bool {
        self.lock().is_dir(path)
    }

    pub(crate) fn list(&self, dir: &Path) -> io::Result<Vec<(OsString, PathBuf)>> {
        self.lock().list(dir)
    }

    pub(crate) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.lock().rename(from, to)
    }

    pub(crate) fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.lock().remove_file(path)
    }

    pub(crate) fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.lock().create_dir(path)
    }

    /// `fsync` of a directory: makes its entries durable (faults apply).
    pub fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.lock().sync_dir(dir)
    }
}

/// An open file of a [`SimFs`].
pub(crate) struct SimFile {
    fs: SimFs,
    inode: u64,
    generation: u64,
    /// Unique per open, so a lock knows its holder.
    handle: u64,
    writable: bool,
}

impl fmt::Debug for SimFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimFile")
            .field("inode", &self.inode)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl SimFile {
    fn writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(9)) // EBADF, as for a read-only descriptor
        }
    }

    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut st = self.fs.lock();
        st.counts.read_bytes += buf.len() as u64;
        st.counts.read_bytes_max = st.counts.read_bytes_max.max(buf.len() as u64);
        st.read_at(self.generation, self.inode, buf, offset)
    }

    pub fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.writable()?;
        self.fs
            .lock()
            .write_at(self.generation, self.inode, bytes, offset)
    }

    /// Shortens or extends the file (the log itself never truncates a file: its lock
    /// file is rewritten in place; kept for the model's own tests).
    #[cfg(test)]
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        self.fs
            .lock()
            .set_len(Some(self.generation), self.inode, len)
    }

    pub fn allocate(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut st = self.fs.lock();
        if st.len(self.generation, self.inode)? < len {
            st.set_len(Some(self.generation), self.inode, len)
        } else {
            Ok(())
        }
    }

    pub fn sync(&self) -> io::Result<()> {
        self.fs.lock().sync(self.generation, self.inode)
    }

    pub fn len(&self) -> io::Result<u64> {
        self.fs.lock().len(self.generation, self.inode)
    }

    pub fn linked_and_len(&self) -> io::Result<(bool, u64)> {
        self.fs.lock().linked_and_len(self.generation, self.inode)
    }

    pub fn try_lock(&self) -> Result<(), TryLockError> {
        self.fs
            .lock()
            .try_lock(self.generation, self.inode, self.handle)
    }

    pub fn lock_is_held(&self) -> bool {
        self.fs
            .lock()
            .lock_is_held(self.generation, self.inode, self.handle)
    }
}

impl Drop for SimFile {
    fn drop(&mut self) {
        let mut st = self.fs.lock();
        st.counts.handles_open = st.counts.handles_open.saturating_sub(1);
        st.unlock(self.generation, self.inode, self.handle);
    }
}
