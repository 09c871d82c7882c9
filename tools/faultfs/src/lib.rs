//! # ringwal-faultfs
//!
//! A FUSE passthrough filesystem over a backing directory that models a disk with a
//! volatile write cache, so crash tests can run real kernel I/O (buffered writes,
//! `fdatasync`, io_uring) against it and then cut the power.
//!
//! ## The model
//! * **File data and size are volatile until the file is synced.** The first write (or
//!   `truncate`, or `fallocate`) to a file after its last sync keeps a copy of the
//!   file's content as of that sync: its *durable image*. Writes go to the backing file
//!   at once (that is the *live image*, which every read sees). `fsync`/`fdatasync` on
//!   the file drops the copy: the live image becomes durable.
//!   The model also records, per file, the ranges written since that sync, in order
//!   (the `write` requests, and `fallocate`s that punch or zero a range; truncates and
//!   growth change only the size).
//! * **A power cut** ([`Control::cut_power`]) puts back, for every file with unsynced
//!   writes, its durable image plus ANY SUBSET of the pieces of those writes — each
//!   write split at 512-byte (sector) or 4 KiB (page) boundaries — with the live
//!   content of the kept pieces, as page-cache writeback and a disk that persists
//!   sectors in any order would leave it; the size changes since the sync survive as a
//!   whole or not (a kept piece past the old end takes the size with it). The seed
//!   picks, per file, one of the shapes named by [`Tear`]: nothing, everything, an
//!   in-order tear, one write split with only its later part kept (torn-op), a run of
//!   writes lost while later ones were kept (torn-seq), or any subset;
//!   [`Control::cut_power_with`] asks for one shape. [`CutReport`] says what each file
//!   came back as, judged from its bytes. After the cut every request fails with `EIO`
//!   until the filesystem is mounted again (a new [`mount`] over the same backing
//!   directory).
//! * **Directory operations are volatile until their directories are synced**:
//!   creation (`create`, `mkdir`), rename and removal (`unlink`, `rmdir`) are applied to
//!   the backing directory at once and recorded as pending; `fsyncdir` on a directory
//!   makes the pending operations that touch it durable once every directory they touch
//!   (both parents of a rename) has been synced since. A power cut undoes the pending
//!   ones, newest first: a created entry disappears (with its data, synced or not), a
//!   rename goes back (restoring a file it replaced), a removed file comes back with its
//!   durable content. A file's own `fsync` never makes its directory entry durable.
//! * **Faults**: [`Control::fail_next_fsync`] and [`Control::fail_next_write`] make the
//!   next `fsync`/`write` fail with a chosen errno (the data stays unsynced, as after a
//!   real failed writeback); [`Control::set_full`] makes every write, truncate that
//!   grows and `fallocate` fail with `ENOSPC` until cleared.
//! * The backing files are never `fsync`ed: durability here is the model's, not the
//!   real disk's.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod tear;

pub use tear::Tear;
use tear::{Outcome, Unsynced};

use fuser::{
    BackgroundSession, Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags,
    Generation, INodeNo, LockOwner, MountOption, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request,
    TimeOrNow, WriteFlags,
};

/// Attributes and entries are not cached by the kernel: every lookup reaches the model,
/// so a dead filesystem fails at once.
const TTL: Duration = Duration::ZERO;
/// How long an unmount waits for files still open (a hang guard).
const UNMOUNT_WAIT_MAX: Duration = Duration::from_secs(10);

/// What a power cut did. Every dirty file counts in exactly one of `files_reverted`,
/// `files_kept`, `files_torn_in_order` and `files_reordered`; a reordered one counts
/// in `files_torn_op`, `files_torn_seq` or both. Judged from the bytes each file came
/// back with, not from the shape the seed asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CutReport {
    /// Files that had unsynced changes.
    pub files_dirty: u64,
    /// Files put back exactly to their durable image.
    pub files_reverted: u64,
    /// Files that kept every unsynced change: exactly their live image.
    pub files_kept: u64,
    /// Files that lost some unsynced change and kept none after a lost one.
    pub files_torn_in_order: u64,
    /// Files that kept a change after losing an earlier one (torn-op or torn-seq).
    pub files_reordered: u64,
    /// Files where one write lost a piece and kept a later piece of its own.
    pub files_torn_op: u64,
    /// Files where a write lost a piece and a later write kept a change.
    pub files_torn_seq: u64,
    /// Directory operations undone because their directories were not synced.
    pub dir_ops_undone: u64,
    /// Writes (and range-changing `fallocate`s) not yet synced, over all files.
    pub unsynced_writes: u64,
    /// Bytes that differed between the live and the durable images, over all files.
    pub unsynced_bytes: u64,
}

impl CutReport {
    /// Adds the counts of `other` (for totals over several cuts).
    pub fn add(&mut self, other: &CutReport) {
        self.files_dirty += other.files_dirty;
        self.files_reverted += other.files_reverted;
        self.files_kept += other.files_kept;
        self.files_torn_in_order += other.files_torn_in_order;
        self.files_reordered += other.files_reordered;
        self.files_torn_op += other.files_torn_op;
        self.files_torn_seq += other.files_torn_seq;
        self.dir_ops_undone += other.dir_ops_undone;
        self.unsynced_writes += other.unsynced_writes;
        self.unsynced_bytes += other.unsynced_bytes;
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Reverted => self.files_reverted += 1,
            Outcome::Kept => self.files_kept += 1,
            Outcome::TornInOrder => self.files_torn_in_order += 1,
            Outcome::Reordered { torn_op, torn_seq } => {
                self.files_reordered += 1;
                self.files_torn_op += u64::from(torn_op);
                self.files_torn_seq += u64::from(torn_seq);
            }
        }
    }
}

/// Counters of what the filesystem saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Writes that reached the model.
    pub writes: u64,
    /// File syncs that succeeded.
    pub fsyncs: u64,
    /// Injected failures returned.
    pub faults: u64,
}

/// A directory operation, with what undoing it needs.
#[derive(Debug)]
enum DirOp {
    /// A file or directory created at this path.
    Created(PathBuf),
    /// `from` renamed to `to`; `replaced` is the durable content of a file at `to` that
    /// the rename replaced.
    Renamed {
        from: PathBuf,
        to: PathBuf,
        replaced: Option<Vec<u8>>,
    },
    /// A file (with its durable content) or an empty directory (`None`) removed.
    Removed(PathBuf, Option<Vec<u8>>),
}

#[derive(Debug)]
struct PendingDirOp {
    op: DirOp,
    /// Directories the operation touches that have not been synced since it.
    unsynced_dirs: Vec<PathBuf>,
}

fn parent_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl DirOp {
    fn dirs(&self) -> Vec<PathBuf> {
        match self {
            DirOp::Created(p) | DirOp::Removed(p, _) => vec![parent_of(p)],
            DirOp::Renamed { from, to, .. } => {
                let (a, b) = (parent_of(from), parent_of(to));
                if a == b { vec![a] } else { vec![a, b] }
            }
        }
    }

    /// Puts the backing directory back as it was before the operation.
    fn undo(&self) -> io::Result<()> {
        match self {
            DirOp::Created(p) => match std::fs::symlink_metadata(p) {
                Ok(md) if md.is_dir() => std::fs::remove_dir_all(p),
                Ok(_) => std::fs::remove_file(p),
                Err(_) => Ok(()),
            },
            DirOp::Renamed { from, to, replaced } => {
                std::fs::rename(to, from)?;
                match replaced {
                    Some(content) => std::fs::write(to, content),
                    None => Ok(()),
                }
            }
            DirOp::Removed(p, Some(content)) => std::fs::write(p, content),
            DirOp::Removed(p, None) => std::fs::create_dir(p),
        }
    }
}

#[derive(Debug)]
struct Handle {
    ino: u64,
    file: File,
}

#[derive(Debug, Default)]
struct State {
    /// Backing path of every inode the kernel knows.
    paths: HashMap<u64, PathBuf>,
    handles: HashMap<u64, Handle>,
    next_fh: u64,
    /// For each file with unsynced changes: its content at its last sync and the
    /// writes since.
    unsynced: HashMap<u64, Unsynced>,
    dead: bool,
    /// Directory operations not yet made durable by `fsyncdir`, oldest first.
    pending_dir_ops: Vec<PendingDirOp>,
    fail_next_fsync: Option<i32>,
    fail_next_write: Option<i32>,
    full: bool,
    /// How long each file sync takes (a disk's flush), so a power cut can land while
    /// written data waits for its sync.
    sync_delay: Duration,
    counters: Counters,
}

/// Controls a mounted [`FaultFs`] from the test: cut power, inject faults.
#[derive(Debug, Clone)]
pub struct Control {
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic while holding the lock leaves the model as consistent as any single
    // request left it; carry on rather than cascade the panic.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Control {
    /// Cuts the power: every file with unsynced writes gets its durable image back plus
    /// a subset of the pieces of its unsynced writes, in a shape `seed` draws for each
    /// file ([`Tear::Any`]); pending directory operations are undone; every later
    /// request fails with `EIO`. Mount again to go on. The same seed over the same
    /// files and writes leaves the same bytes.
    pub fn cut_power(&self, seed: u64) -> io::Result<CutReport> {
        self.cut_power_with(seed, Tear::Any)
    }

    /// [`Control::cut_power`] with every dirty file torn in the shape `tear`, where its
    /// writes allow that shape (see [`Tear`]; the report says what each file became).
    pub fn cut_power_with(&self, seed: u64, tear: Tear) -> io::Result<CutReport> {
        lock(&self.state).cut(seed, tear)
    }

    /// Waits until some file holds at least `writes_min` unsynced writes, or until
    /// `wait_max` has passed, then cuts as [`Control::cut_power_with`] does. The check
    /// and the cut happen under one lock, so no sync slips in between. It polls (every
    /// 100 µs): a way for a test to land its cuts where reordering can show, not an
    /// event to rely on.
    pub fn cut_power_when_unsynced(
        &self,
        seed: u64,
        tear: Tear,
        writes_min: usize,
        wait_max: Duration,
    ) -> io::Result<CutReport> {
        let started = std::time::Instant::now();
        loop {
            let mut st = lock(&self.state);
            let most = st.unsynced.values().map(|u| u.writes.len()).max();
            if most.unwrap_or(0) >= writes_min || started.elapsed() >= wait_max || st.dead {
                return st.cut(seed, tear);
            }
            drop(st);
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// The next file sync fails with `errno`.
    pub fn fail_next_fsync(&self, errno: i32) {
        lock(&self.state).fail_next_fsync = Some(errno);
    }

    /// The next write fails with `errno`.
    pub fn fail_next_write(&self, errno: i32) {
        lock(&self.state).fail_next_write = Some(errno);
    }

    /// While `full`, writes, growing truncates and `fallocate` fail with `ENOSPC`.
    pub fn set_full(&self, full: bool) {
        lock(&self.state).full = full;
    }

    /// Every later file sync takes `delay` (default none), like a device flush.
    pub fn set_sync_delay(&self, delay: Duration) {
        lock(&self.state).sync_delay = delay;
    }

    /// Whether the power was cut.
    pub fn is_dead(&self) -> bool {
        lock(&self.state).dead
    }

    /// What the filesystem has seen so far.
    pub fn counters(&self) -> Counters {
        lock(&self.state).counters
    }
}

/// How many byte positions hold different values in `a` and `b` (a position only one
/// of them has counts).
fn bytes_differing(a: &[u8], b: &[u8]) -> u64 {
    let common = a.iter().zip(b).filter(|(x, y)| x != y).count();
    (common + a.len().abs_diff(b.len())) as u64
}

/// The filesystem. Mount it with [`mount`].
#[derive(Debug)]
pub struct FaultFs {
    state: Arc<Mutex<State>>,
}

/// A mounted [`FaultFs`]: unmounted when dropped or by [`Mounted::unmount`].
#[derive(Debug)]
pub struct Mounted {
    session: Option<BackgroundSession>,
    control: Control,
    mountpoint: PathBuf,
}

impl Mounted {
    /// The control handle.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    /// Unmounts and waits for the filesystem thread to end. Retries for a while when
    /// the mount is busy: the kernel releases an io_uring's registered files in a work
    /// item after the ring is closed, so files can stay open a moment after `close`.
    /// Past that it detaches the mount lazily (and says so in the error).
    pub fn unmount(mut self) -> io::Result<()> {
        self.unmount_inner()
    }

    fn unmount_inner(&mut self) -> io::Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let path = std::ffi::CString::new(self.mountpoint.as_os_str().as_encoded_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let started = std::time::Instant::now();
        let busy = loop {
            // SAFETY: `path` is a valid NUL-terminated string for the call.
            if unsafe { libc::umount2(path.as_ptr(), 0) } == 0 {
                break None;
            }
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EBUSY) || started.elapsed() > UNMOUNT_WAIT_MAX {
                break Some(e);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(e) = busy
            && e.raw_os_error() == Some(libc::EBUSY)
        {
            // Never leave a mount behind whose server is gone: detach it.
            // SAFETY: as above.
            unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) };
            let _ = session.join();
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "{} still busy after {UNMOUNT_WAIT_MAX:?}; detached lazily",
                    self.mountpoint.display()
                ),
            ));
        }
        // Unmounted (or not mounted at all): the session's thread ends once the kernel
        // closes the connection.
        session.join()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = self.unmount_inner();
    }
}

/// Mounts a fault filesystem over `backing` at `mountpoint` (both existing
/// directories), served by a thread of this process.
pub fn mount(backing: &Path, mountpoint: &Path) -> io::Result<Mounted> {
    let backing = backing.canonicalize()?;
    let mut state = State {
        next_fh: 1,
        ..State::default()
    };
    state.paths.insert(INodeNo::ROOT.0, backing);
    let state = Arc::new(Mutex::new(state));
    let fs = FaultFs {
        state: Arc::clone(&state),
    };
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("ringwal-faultfs".into()),
        MountOption::Subtype("faultfs".into()),
    ];
    let session = fuser::spawn_mount(fs, mountpoint, &config)?;
    Ok(Mounted {
        session: Some(session),
        control: Control { state },
        mountpoint: mountpoint.to_path_buf(),
    })
}

fn errno(e: &io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn kind_of(md: &std::fs::Metadata) -> FileType {
    FileType::from_std(md.file_type()).unwrap_or(FileType::RegularFile)
}

fn time(secs: i64, nanos: i64) -> SystemTime {
    let secs = u64::try_from(secs).unwrap_or(0);
    let nanos = u32::try_from(nanos).unwrap_or(0);
    UNIX_EPOCH + Duration::new(secs, nanos)
}

fn attr(ino: u64, md: &std::fs::Metadata) -> FileAttr {
    FileAttr {
        ino: INodeNo(ino),
        size: md.len(),
        blocks: md.blocks(),
        atime: time(md.atime(), md.atime_nsec()),
        mtime: time(md.mtime(), md.mtime_nsec()),
        ctime: time(md.ctime(), md.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind: kind_of(md),
        perm: (md.mode() & 0o7777) as u16,
        nlink: md.nlink() as u32,
        uid: md.uid(),
        gid: md.gid(),
        rdev: md.rdev() as u32,
        blksize: 4096,
        flags: 0,
    }
}

/// The inode number the filesystem shows for a backing file: its own, moved away from
/// the root's number.
fn ino_of(md: &std::fs::Metadata) -> u64 {
    if md.ino() == INodeNo::ROOT.0 {
        md.ino() | 1 << 63
    } else {
        md.ino()
    }
}

impl State {
    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        if self.dead {
            return Err(Errno::EIO);
        }
        self.paths.get(&ino.0).cloned().ok_or(Errno::ENOENT)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent)?.join(name))
    }

    /// Registers `path` and returns its attributes.
    fn entry(&mut self, path: PathBuf) -> Result<FileAttr, Errno> {
        let md = std::fs::symlink_metadata(&path).map_err(|e| errno(&e))?;
        let ino = ino_of(&md);
        self.paths.insert(ino, path);
        Ok(attr(ino, &md))
    }

    /// Keeps the durable image of `ino` before its first change since its last sync,
    /// and returns the record of its unsynced changes.
    fn before_change(&mut self, ino: u64) -> Result<&mut Unsynced, Errno> {
        let unsynced = match self.unsynced.entry(ino) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let path = self.paths.get(&ino).ok_or(Errno::ENOENT)?;
                let image = std::fs::read(path).map_err(|e| errno(&e))?;
                e.insert(Unsynced::new(image))
            }
        };
        Ok(unsynced)
    }

    /// Cuts the power (see [`Control::cut_power`]).
    fn cut(&mut self, seed: u64, tear: Tear) -> io::Result<CutReport> {
        self.dead = true;
        let mut rng = seed | 1;
        let mut report = CutReport::default();
        // Files unlinked since their change have nothing to put back. The rest go in
        // path order, so a seed draws the same choices whatever the hash order.
        let mut files: Vec<(PathBuf, Unsynced)> = std::mem::take(&mut self.unsynced)
            .into_iter()
            .filter_map(|(ino, u)| Some((self.paths.get(&ino)?.clone(), u)))
            .collect();
        files.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, file) in files {
            report.files_dirty += 1;
            report.unsynced_writes += file.writes.len() as u64;
            let live = std::fs::read(&path)?;
            report.unsynced_bytes += bytes_differing(&file.durable, &live);
            let restored = tear::restore(&file, &live, tear, &mut rng);
            report.count(restored.outcome);
            let out = OpenOptions::new().write(true).open(&path)?;
            out.write_all_at(&restored.bytes, 0)?;
            out.set_len(restored.bytes.len() as u64)?;
        }
        let pending = std::mem::take(&mut self.pending_dir_ops);
        for p in pending.iter().rev() {
            p.op.undo()?;
            report.dir_ops_undone += 1;
        }
        Ok(report)
    }

    fn handle(&self, fh: FileHandle) -> Result<&Handle, Errno> {
        if self.dead {
            return Err(Errno::EIO);
        }
        self.handles.get(&fh.0).ok_or(Errno::EBADF)
    }

    fn open_handle(&mut self, ino: u64, file: File) -> FileHandle {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, Handle { ino, file });
        FileHandle(fh)
    }

    fn injected(&mut self, which: Option<i32>) -> Result<(), Errno> {
        match which {
            Some(e) => {
                self.counters.faults += 1;
                Err(Errno::from_i32(e))
            }
            None => Ok(()),
        }
    }

    fn write(&mut self, fh: FileHandle, offset: u64, data: &[u8]) -> Result<u32, Errno> {
        let ino = self.handle(fh)?.ino;
        let fail = self.fail_next_write.take();
        self.injected(fail)?;
        if self.full {
            self.counters.faults += 1;
            return Err(Errno::ENOSPC);
        }
        self.before_change(ino)?;
        let handle = self.handle(fh)?;
        // Recorded once it reached the live image (a failed write may have changed part
        // of it: record it either way).
        let written = handle.file.write_all_at(data, offset);
        self.before_change(ino)?.wrote(offset, data.len() as u64);
        written.map_err(|e| errno(&e))?;
        self.counters.writes += 1;
        Ok(data.len() as u32)
    }

    fn fsync(&mut self, fh: FileHandle) -> Result<(), Errno> {
        let ino = self.handle(fh)?.ino;
        let fail = self.fail_next_fsync.take();
        self.injected(fail)?;
        self.unsynced.remove(&ino);
        self.counters.fsyncs += 1;
        Ok(())
    }

    fn truncate(&mut self, ino: INodeNo, size: u64) -> Result<(), Errno> {
        let path = self.path(ino)?;
        let len = std::fs::metadata(&path).map_err(|e| errno(&e))?.len();
        if self.full && size > len {
            self.counters.faults += 1;
            return Err(Errno::ENOSPC);
        }
        self.before_change(ino.0)?.resized(size);
        let file = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| errno(&e))?;
        file.set_len(size).map_err(|e| errno(&e))
    }

    fn rename(&mut self, from: PathBuf, to: PathBuf) -> Result<(), Errno> {
        let replaced = self.durable_content(&to);
        std::fs::rename(&from, &to).map_err(|e| errno(&e))?;
        self.forget_path(&to);
        self.dir_op(DirOp::Renamed {
            from: from.clone(),
            to: to.clone(),
            replaced,
        });
        for path in self.paths.values_mut() {
            if let Ok(rest) = path.strip_prefix(&from) {
                // `join("")` would add a trailing slash, which names a directory.
                *path = if rest.as_os_str().is_empty() {
                    to.clone()
                } else {
                    to.join(rest)
                };
            }
        }
        Ok(())
    }

    /// Records a directory operation as pending until its directories are synced.
    fn dir_op(&mut self, op: DirOp) {
        let unsynced_dirs = op.dirs();
        self.pending_dir_ops
            .push(PendingDirOp { op, unsynced_dirs });
    }

    /// `fsyncdir`: operations whose every directory has now been synced are durable.
    fn sync_dir(&mut self, dir: &Path) {
        for p in &mut self.pending_dir_ops {
            p.unsynced_dirs.retain(|d| d != dir);
        }
        self.pending_dir_ops.retain(|p| !p.unsynced_dirs.is_empty());
    }

    /// The content a power cut would leave in the file at `path` (`None`: not a file).
    fn durable_content(&self, path: &Path) -> Option<Vec<u8>> {
        let md = std::fs::symlink_metadata(path).ok()?;
        if !md.is_file() {
            return None;
        }
        match self.unsynced.get(&ino_of(&md)) {
            Some(u) => Some(u.durable.clone()),
            None => std::fs::read(path).ok(),
        }
    }

    fn forget_path(&mut self, path: &Path) {
        let gone: Vec<u64> = self
            .paths
            .iter()
            .filter(|(_, p)| p.as_path() == path)
            .map(|(&ino, _)| ino)
            .collect();
        for ino in gone {
            self.paths.remove(&ino);
            self.unsynced.remove(&ino);
        }
    }
}

fn open_backing(path: &Path, flags: i32) -> io::Result<File> {
    let access = flags & libc::O_ACCMODE;
    OpenOptions::new()
        .read(access == libc::O_RDONLY || access == libc::O_RDWR)
        .write(access == libc::O_WRONLY || access == libc::O_RDWR)
        .custom_flags(flags & (libc::O_APPEND | libc::O_NOFOLLOW))
        .open(path)
}

impl FaultFs {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Filesystem for FaultFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.state();
        match st.child(parent, name).and_then(|p| st.entry(p)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let st = self.state();
        let got = st.path(ino).and_then(|p| {
            let md = std::fs::symlink_metadata(p).map_err(|e| errno(&e))?;
            Ok(attr(ino.0, &md))
        });
        match got {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        _uid: Option<u32>,
        _gid: Option<u32>,
        size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.state();
        let done = (|| {
            let path = st.path(ino)?;
            if let Some(size) = size {
                st.truncate(ino, size)?;
            }
            if let Some(mode) = mode {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(|e| errno(&e))?;
            }
            let md = std::fs::symlink_metadata(&path).map_err(|e| errno(&e))?;
            Ok(attr(ino.0, &md))
        })();
        match done {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.state();
        let done = st.child(parent, name).and_then(|p| {
            std::fs::create_dir(&p).map_err(|e| errno(&e))?;
            st.dir_op(DirOp::Created(p.clone()));
            st.entry(p)
        });
        match done {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.state();
        let done = st.child(parent, name).and_then(|p| {
            let content = st.durable_content(&p);
            std::fs::remove_file(&p).map_err(|e| errno(&e))?;
            st.forget_path(&p);
            st.dir_op(DirOp::Removed(p, Some(content.unwrap_or_default())));
            Ok(())
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let mut st = self.state();
        let done = st.child(parent, name).and_then(|p| {
            std::fs::remove_dir(&p).map_err(|e| errno(&e))?;
            st.forget_path(&p);
            st.dir_op(DirOp::Removed(p, None));
            Ok(())
        });
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let mut st = self.state();
        let done = (|| {
            let from = st.child(parent, name)?;
            let to = st.child(newparent, newname)?;
            st.rename(from, to)
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.state();
        let done = st.path(ino).and_then(|p| {
            let file = open_backing(&p, flags.0).map_err(|e| errno(&e))?;
            Ok(st.open_handle(ino.0, file))
        });
        match done {
            Ok(fh) => reply.opened(fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let st = self.state();
        let done = st.handle(fh).and_then(|h| {
            let mut buf = vec![0u8; size as usize];
            let mut filled = 0;
            while filled < buf.len() {
                let rest = buf.get_mut(filled..).unwrap_or_default();
                match h.file.read_at(rest, offset + filled as u64) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(errno(&e)),
                }
            }
            buf.truncate(filled);
            Ok(buf)
        });
        match done {
            Ok(buf) => reply.data(&buf),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.state().write(fh, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.state().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let delay = self.state().sync_delay;
        if !delay.is_zero() {
            // Outside the lock: the power can be cut meanwhile, and then the sync fails.
            std::thread::sleep(delay);
        }
        match self.state().fsync(fh) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let mut st = self.state();
        let listed = st.path(ino).and_then(|dir| {
            let mut out = vec![
                (ino.0, FileType::Directory, ".".into()),
                (ino.0, FileType::Directory, "..".into()),
            ];
            for entry in std::fs::read_dir(&dir).map_err(|e| errno(&e))? {
                let entry = entry.map_err(|e| errno(&e))?;
                let md = entry.metadata().map_err(|e| errno(&e))?;
                let child = ino_of(&md);
                st.paths.insert(child, entry.path());
                out.push((child, kind_of(&md), entry.file_name()));
            }
            Ok(out)
        });
        match listed {
            Ok(entries) => {
                for (i, (child, kind, name)) in
                    entries.into_iter().enumerate().skip(offset as usize)
                {
                    if reply.add(INodeNo(child), i as u64 + 1, kind, &name) {
                        break;
                    }
                }
                reply.ok();
            }
            Err(e) => reply.error(e),
        }
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        let mut st = self.state();
        match st.path(ino) {
            Ok(dir) => {
                st.sync_dir(&dir);
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let st = self.state();
        if st.dead {
            return reply.error(Errno::EIO);
        }
        let free = if st.full { 0 } else { 1 << 24 };
        reply.statfs(1 << 24, free, free, 1 << 20, 1 << 20, 4096, 255, 4096);
    }

    fn create(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.state();
        let done = st.child(parent, name).and_then(|p| {
            let existed = std::fs::symlink_metadata(&p).is_ok();
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(flags & libc::O_TRUNC != 0)
                .custom_flags(flags & libc::O_EXCL)
                .mode(mode & 0o7777)
                .open(&p)
                .map_err(|e| errno(&e))?;
            if !existed {
                st.dir_op(DirOp::Created(p.clone()));
            }
            let a = st.entry(p)?;
            let fh = st.open_handle(a.ino.0, file);
            Ok((a, fh))
        });
        match done {
            Ok((a, fh)) => reply.created(&TTL, &a, Generation(0), fh, FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let mut st = self.state();
        let done = (|| {
            let ino = st.handle(fh)?.ino;
            if st.full {
                st.counters.faults += 1;
                return Err(Errno::ENOSPC);
            }
            st.before_change(ino)?;
            let file = &st.handle(fh)?.file;
            let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(length)) else {
                return Err(Errno::EINVAL);
            };
            use std::os::fd::AsRawFd;
            // SAFETY: the descriptor is owned by `file`, alive for the call.
            let rc = unsafe { libc::fallocate(file.as_raw_fd(), mode, off, len) };
            if rc != 0 {
                return Err(errno(&io::Error::last_os_error()));
            }
            // Allocating changes the size at most (bytes past the old end read as zeros,
            // which the model gives them); punching or zeroing changes the range's
            // content; collapsing or inserting moves everything after `offset`.
            let unsynced = st.before_change(ino)?;
            if mode & (libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_ZERO_RANGE) != 0 {
                unsynced.wrote(offset, length);
            } else if mode & (libc::FALLOC_FL_COLLAPSE_RANGE | libc::FALLOC_FL_INSERT_RANGE) != 0 {
                unsynced.wrote(offset, u64::MAX - offset);
            }
            Ok(())
        })();
        match done {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::bytes_differing;

    #[test]
    fn bytes_differing_counts_every_position_that_differs() {
        assert_eq!(bytes_differing(b"abcdef", b"abXdYf"), 2);
        assert_eq!(bytes_differing(b"abc", b"abc"), 0);
        assert_eq!(bytes_differing(b"abc", b"abcde"), 2);
        assert_eq!(bytes_differing(b"abcde", b"Xb"), 4);
    }
}
