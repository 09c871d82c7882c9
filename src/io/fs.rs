//! Files: segment handles, positioned writes, data syncs and directory syncs, with
//! the platform differences kept here.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoOp, Result};

/// An open segment file.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    pub sequence: u64,
    pub path: PathBuf,
    pub file: File,
    /// The size the file had when the log took it (its preallocation): it must never
    /// shrink below this while the log writes it.
    pub floor_bytes: u64,
}

impl SegmentFile {
    /// Opens an existing segment for reading and writing.
    pub fn open(sequence: u64, path: PathBuf) -> Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(IoOp::Open, &path, e))?;
        let floor_bytes = file
            .metadata()
            .map_err(|e| Error::io(IoOp::Open, &path, e))?
            .len();
        Ok(SegmentFile {
            sequence,
            path,
            file,
            floor_bytes,
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
    #[cfg(unix)]
    let (linked, len) = {
        let st = rustix::fs::fstat(&segment.file)
            .map_err(|e| Error::io(IoOp::Sync, &segment.path, e.into()))?;
        (st.st_nlink > 0, st.st_size as u64)
    };
    #[cfg(not(unix))]
    let (linked, len) = {
        let meta = segment
            .file
            .metadata()
            .map_err(|e| Error::io(IoOp::Sync, &segment.path, e))?;
        (true, meta.len())
    };
    let why = if !linked {
        "the segment file was removed while the log was writing it".to_owned()
    } else if len < end {
        format!("the segment file was truncated to {len} bytes below written data ending at {end}")
    } else {
        return Ok(());
    };
    Err(Error::io(IoOp::Sync, &segment.path, io::Error::other(why)))
}

/// Writes all of `bytes` at `offset`.
pub(crate) fn write_all_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
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

/// Reads up to `buf.len()` bytes at `offset`, returning how many were read (fewer only
/// at the end of the file).
pub(crate) fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
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

/// Makes a file's data durable: `fdatasync` on Linux, `F_FULLFSYNC` on Apple systems
/// (whose `fsync` does not flush the drive cache), `sync_data` elsewhere.
pub(crate) fn sync_data(file: &File) -> io::Result<()> {
    #[cfg(any(target_os = "macos", target_os = "ios"))]
    {
        rustix::fs::fcntl_fullfsync(file).map_err(io::Error::from)
    }
    #[cfg(not(any(target_os = "macos", target_os = "ios")))]
    {
        file.sync_data()
    }
}

/// Makes a directory's entries (creations, renames, removals) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
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

/// The low-level file operations the drivers use, so a test build can fail the Nth
/// write or sync without a special filesystem.
#[derive(Debug)]
pub(crate) struct FileIo {
    #[cfg(feature = "fault-injection")]
    faults: Option<crate::testing::FaultState>,
}

impl FileIo {
    pub fn from_options(options: &crate::Options) -> Self {
        #[cfg(not(feature = "fault-injection"))]
        let _ = options;
        FileIo {
            #[cfg(feature = "fault-injection")]
            faults: options.faults.map(crate::testing::FaultState::new),
        }
    }

    pub fn write_at(&mut self, segment: &SegmentFile, bytes: &[u8], offset: u64) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(e) = self.faults.as_mut().and_then(|f| f.before_write()) {
            return Err(Error::io(IoOp::Write, &segment.path, e));
        }
        write_all_at(&segment.file, bytes, offset)
            .map_err(|e| Error::io(IoOp::Write, &segment.path, e))
    }

    pub fn sync(&mut self, segment: &SegmentFile) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(e) = self.faults.as_mut().and_then(|f| f.before_sync()) {
            return Err(Error::io(IoOp::Sync, &segment.path, e));
        }
        sync_data(&segment.file).map_err(|e| Error::io(IoOp::Sync, &segment.path, e))
    }
}
