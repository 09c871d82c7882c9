//! Files: the one place that touches a filesystem. Every file and directory operation
//! of the log (segments, the checkpoint, the lock, listings, renames, syncs) goes
//! through `Fs` and `Handle`, so a test build can put the simulated filesystem of
//! `crate::sim` under the whole log, recovery and reader included. Platform
//! differences are kept here too.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::mode::Mode;
use crate::error::{Error, IoOp, Result, SegmentChange};

/// Who may read the files and directories a log creates. A log holds every payload
/// the application logged, so by default only its owner may (as PostgreSQL does for
/// its data directory). Unix modes; elsewhere the platform's defaults apply. The
/// process umask can only take permissions away from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FileAccess {
    /// Files 0600, directories 0700.
    #[default]
    Owner,
    /// Files 0640, directories 0750: the owner's group may read (a backup agent, say).
    OwnerAndGroup,
}

impl FileAccess {
    /// The mode new files get.
    pub fn file_mode(self) -> u32 {
        match self {
            FileAccess::Owner => 0o600,
            FileAccess::OwnerAndGroup => 0o640,
        }
    }

    /// The mode new directories get.
    pub fn dir_mode(self) -> u32 {
        match self {
            FileAccess::Owner => 0o700,
            FileAccess::OwnerAndGroup => 0o750,
        }
    }
}

/// Where a log's files live.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fs {
    /// The operating system's filesystem; new files and directories get `FileAccess`'s
    /// modes.
    Os(FileAccess),
    /// A simulated filesystem with live and durable images (feature `sim`).
    #[cfg(feature = "sim")]
    Sim(crate::sim::SimFs),
}

/// An open file.
#[derive(Debug)]
pub(crate) enum Handle {
    Os(File),
    #[cfg(feature = "sim")]
    Sim(crate::sim::SimFile),
}

impl Default for Fs {
    fn default() -> Self {
        Fs::Os(FileAccess::default())
    }
}

impl Fs {
    /// Whether the log runs on real files (the io_uring driver needs them).
    pub fn is_os(&self) -> bool {
        matches!(self, Fs::Os(_))
    }

    pub fn open(&self, path: &Path, mode: Mode) -> io::Result<Handle> {
        match self {
            Fs::Os(access) => {
                let mut o = OpenOptions::new();
                o.read(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, access.file_mode());
                #[cfg(not(unix))]
                let _ = access;
                match mode {
                    Mode::Read => {}
                    Mode::ReadWrite => {
                        o.write(true);
                    }
                    Mode::CreateTruncate => {
                        o.write(true).create(true).truncate(true);
                    }
                    Mode::CreateKeep => {
                        o.write(true).create(true).truncate(false);
                    }
                }
                o.open(path).map(Handle::Os)
            }
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim.open(path, mode).map(Handle::Sim),
        }
    }

    /// The whole content of a file.
    pub fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        match self {
            Fs::Os(_) => std::fs::read(path),
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim.read(path),
        }
    }

    pub fn is_dir(&self, path: &Path) -> bool {
        match self {
            Fs::Os(_) => path.is_dir(),
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim.is_dir(path),
        }
    }

    /// Names and paths of the entries of `dir`, in no particular order.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<(OsString, PathBuf)>> {
        match self {
            Fs::Os(_) => {
                let mut out = Vec::new();
                for entry in std::fs::read_dir(dir)? {
                    let entry = entry?;
                    out.push((entry.file_name(), entry.path()));
                }
                Ok(out)
            }
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim.list(dir),
        }
    }

    pub fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        match self {
            Fs::Os(_) => std::fs::rename(from, to),
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim.rename(from, to),
        }
    }

    pub fn remove_file(&self, path: &Path) -> io::Result<()> {
        match self {
            Fs::Os(_) => std::fs::remove_file(path),
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim.remove_file(path),
        }
    }

    fn create_dir(&self, path: &Path) -> io::Result<()> {
        match self {
            Fs::Os(access) => {
                let mut builder = std::fs::DirBuilder::new();
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut builder, access.dir_mode());
                #[cfg(not(unix))]
                let _ = access;
                builder.create(path)
            }
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim.create_dir(path),
        }
    }

    /// Creates `dir` and any missing ancestors, durably: each new directory's entry is
    /// synced into its parent, so a power cut cannot take away a directory (and every
    /// segment in it) whose creation the log already relied on.
    pub fn create_dir_all_durable(&self, dir: &Path) -> Result<()> {
        let missing: Vec<&Path> = dir
            .ancestors()
            .filter(|p| !p.as_os_str().is_empty())
            .take_while(|p| !self.is_dir(p))
            .collect();
        for path in missing.into_iter().rev() {
            match self.create_dir(path) {
                Ok(()) => {}
                // Made by someone else meanwhile: its entry may not be synced yet either.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && self.is_dir(path) => {}
                Err(e) => return Err(Error::io(IoOp::Open, path, e)),
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                self.sync_dir(parent)?;
            }
        }
        Ok(())
    }

    /// Replaces `dir/name` with `bytes` atomically and durably: a temporary file is
    /// written and synced, renamed over the name, and the directory synced.
    pub fn replace_file_durably(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}{}", crate::format::names::TMP_SUFFIX));
        let file = self
            .open(&tmp, Mode::CreateTruncate)
            .map_err(|e| Error::io(IoOp::Open, &tmp, e))?;
        file.write_all_at(bytes, 0)
            .map_err(|e| Error::io(IoOp::Write, &tmp, e))?;
        file.sync_data()
            .map_err(|e| Error::io(IoOp::Sync, &tmp, e))?;
        self.rename(&tmp, &path)
            .map_err(|e| Error::io(IoOp::Rename, &tmp, e))?;
        self.sync_dir(dir)
    }

    /// The first of `dir`, its entries and those of its `archive/` that users other
    /// than the owner and the group may access, if any. Always `None` on a simulated
    /// filesystem or a platform without unix modes.
    pub fn first_open_to_others(&self, dir: &Path) -> Option<PathBuf> {
        #[cfg(unix)]
        if self.is_os() {
            use std::os::unix::fs::PermissionsExt;
            let open = |p: &Path| {
                std::fs::symlink_metadata(p).is_ok_and(|m| m.permissions().mode() & 0o007 != 0)
            };
            let archive = dir.join(crate::format::names::ARCHIVE_DIR);
            let entries = [dir, archive.as_path()]
                .into_iter()
                .filter_map(|d| std::fs::read_dir(d).ok())
                .flatten()
                .filter_map(|e| e.ok().map(|e| e.path()));
            return std::iter::once(dir.to_path_buf())
                .chain(entries)
                .find(|p| open(p));
        }
        let _ = dir;
        None
    }

    /// Makes a directory's entries (creations, renames, removals) durable.
    pub fn sync_dir(&self, dir: &Path) -> Result<()> {
        match self {
            Fs::Os(_) => sync_os_dir(dir),
            #[cfg(feature = "sim")]
            Fs::Sim(sim) => sim
                .sync_dir(dir)
                .map_err(|e| Error::io(IoOp::SyncDir, dir, e)),
        }
    }
}

fn sync_os_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let handle = File::open(dir).map_err(|e| Error::io(IoOp::SyncDir, dir, e))?;
        handle
            .sync_all()
            .map_err(|e| Error::io(IoOp::SyncDir, dir, e))
    }
    #[cfg(not(unix))]
    {
        // Windows cannot open a directory as a file; NTFS journals metadata itself.
        let _ = dir;
        Ok(())
    }
}

impl Handle {
    /// Reads up to `buf.len()` bytes at `offset`, returning how many were read (fewer
    /// only at the end of the file).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        match self {
            Handle::Os(file) => read_os_at(file, buf, offset),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.read_at(buf, offset),
        }
    }

    /// Writes all of `bytes` at `offset`.
    pub fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        match self {
            Handle::Os(file) => write_os_at(file, bytes, offset),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.write_all_at(bytes, offset),
        }
    }

    /// Makes the file's data durable: `fdatasync` on Linux, `F_FULLFSYNC` on Apple
    /// systems (whose `fsync` does not flush the drive cache), `sync_data` elsewhere.
    pub fn sync_data(&self) -> io::Result<()> {
        match self {
            #[cfg(any(target_os = "macos", target_os = "ios"))]
            Handle::Os(file) => rustix::fs::fcntl_fullfsync(file).map_err(io::Error::from),
            #[cfg(not(any(target_os = "macos", target_os = "ios")))]
            Handle::Os(file) => file.sync_data(),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.sync(),
        }
    }

    /// Makes the file's data and metadata durable.
    pub fn sync_all(&self) -> io::Result<()> {
        match self {
            Handle::Os(file) => file.sync_all(),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.sync(),
        }
    }

    pub fn len(&self) -> io::Result<u64> {
        match self {
            Handle::Os(file) => Ok(file.metadata()?.len()),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.len(),
        }
    }

    /// Reserves `len` bytes of space (`fallocate` where there is one).
    pub fn allocate(&self, len: u64) -> io::Result<()> {
        match self {
            #[cfg(target_os = "linux")]
            Handle::Os(file) => {
                rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len)
                    .map_err(io::Error::from)
            }
            #[cfg(not(target_os = "linux"))]
            Handle::Os(file) => file.set_len(len),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.allocate(len),
        }
    }

    /// Whether the file is still linked into a directory, and its size.
    pub fn linked_and_len(&self) -> io::Result<(bool, u64)> {
        match self {
            #[cfg(unix)]
            Handle::Os(file) => {
                let st = rustix::fs::fstat(file)?;
                Ok((st.st_nlink > 0, st.st_size as u64))
            }
            #[cfg(not(unix))]
            Handle::Os(file) => Ok((true, file.metadata()?.len())),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.linked_and_len(),
        }
    }

    /// An exclusive advisory lock, without waiting.
    pub fn try_lock(&self) -> std::result::Result<(), TryLockError> {
        match self {
            Handle::Os(file) => file.try_lock(),
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.try_lock(),
        }
    }

    /// Whether an exclusive lock is held on the file by anyone (a shared lock could
    /// not be taken); `false` when that cannot be told.
    pub fn lock_is_held(&self) -> bool {
        match self {
            Handle::Os(file) => match file.try_lock_shared() {
                Ok(()) => {
                    let _ = file.unlock();
                    false
                }
                Err(_) => true,
            },
            #[cfg(feature = "sim")]
            Handle::Sim(file) => file.lock_is_held(),
        }
    }

    /// The real file, for drivers that hand it to the kernel (io_uring).
    #[cfg_attr(not(all(target_os = "linux", feature = "io-uring")), allow(dead_code))]
    pub fn os_file(&self) -> Option<&File> {
        match self {
            Handle::Os(file) => Some(file),
            #[cfg(feature = "sim")]
            Handle::Sim(_) => None,
        }
    }
}

/// An open segment file.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    pub sequence: u64,
    pub path: PathBuf,
    pub file: Handle,
    /// The size the file had when the log took it (its preallocation): it must never
    /// shrink below this while the log writes it.
    pub floor_bytes: u64,
    /// An `O_DIRECT` descriptor of the same file, opened (and the file's cached pages
    /// dropped) by the segment preparer when the driver commits with direct writes, so
    /// rotation does neither on the writer's thread. `None`: the driver opens its own.
    #[cfg_attr(
        not(all(target_os = "linux", feature = "io-uring")),
        allow(dead_code, reason = "only the io_uring driver writes directly")
    )]
    pub direct: Option<Arc<File>>,
    /// The file is a reused segment (`writer::spares`): the writer sets its header's
    /// `recycled` flag when it writes the header.
    pub recycled: bool,
}

impl SegmentFile {
    /// Opens an existing segment for reading and writing.
    pub fn open(fs: &Fs, sequence: u64, path: PathBuf) -> Result<Self> {
        let file = fs
            .open(&path, Mode::ReadWrite)
            .map_err(|e| Error::io(IoOp::Open, &path, e))?;
        let floor_bytes = file.len().map_err(|e| Error::io(IoOp::Open, &path, e))?;
        let mut head = vec![0u8; crate::format::header::HEADER_USED_BYTES];
        let got = file
            .read_at(&mut head, 0)
            .map_err(|e| Error::io(IoOp::Read, &path, e))?;
        let state =
            crate::format::header::SegmentHeader::decode(head.get(..got).unwrap_or_default());
        Ok(SegmentFile {
            sequence,
            path,
            file,
            floor_bytes,
            direct: None,
            recycled: crate::format::header::SegmentHeader::recycled_state(&state),
        })
    }
}

/// Checks that a segment is still linked into its directory and at least `end` bytes
/// long. Someone deleting or truncating a segment behind the writer's back would
/// otherwise make records vanish after they were reported durable; this turns it into
/// an error before the watermark moves. (A removal between this check and the
/// acknowledgement is not caught: the check narrows the window, it cannot close it.)
pub(crate) fn check_segment_intact(segment: &SegmentFile, end: u64) -> Result<()> {
    // Costly on the hot path: a stat between two writes makes the next fdatasync
    // slower here (multigrain timestamps: a queried ctime gets a fine-grained update on
    // the next write), so the writer calls this on a timer, not per flush.
    let (linked, len) = segment
        .file
        .linked_and_len()
        .map_err(|e| Error::io(IoOp::Stat, &segment.path, e))?;
    let change = if !linked {
        SegmentChange::Removed
    } else if len < end {
        SegmentChange::Truncated {
            len,
            written_end: end,
        }
    } else {
        return Ok(());
    };
    Err(Error::SegmentChanged {
        segment: segment.sequence,
        path: segment.path.clone(),
        change,
    })
}

fn write_os_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.write_all_at(bytes, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0usize;
        while let Some(rest) = bytes.get(done..).filter(|r| !r.is_empty()) {
            let n = file.seek_write(rest, offset + done as u64)?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            done += n;
        }
        Ok(())
    }
}

fn read_os_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0usize;
    while let Some(rest) = buf.get_mut(done..).filter(|r| !r.is_empty()) {
        #[cfg(unix)]
        let n = {
            use std::os::unix::fs::FileExt;
            file.read_at(rest, offset + done as u64)
        };
        #[cfg(windows)]
        let n = {
            use std::os::windows::fs::FileExt;
            file.seek_read(rest, offset + done as u64)
        };
        match n {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Overwrites `[from, to)` of a file with zeros, a bounded buffer at a time.
pub(crate) fn write_zeros(file: &Handle, from: u64, to: u64) -> io::Result<()> {
    const ZERO_CHUNK_BYTES: u64 = 1 << 20;
    let zeros = vec![0u8; (to.saturating_sub(from)).min(ZERO_CHUNK_BYTES) as usize];
    let mut at = from;
    while at < to {
        let n = (to - at).min(zeros.len() as u64) as usize;
        file.write_all_at(zeros.get(..n).unwrap_or_default(), at)?;
        at += n as u64;
    }
    Ok(())
}
