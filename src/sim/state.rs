//! The simulator's model: inodes with live and durable images, live and durable
//! directory entries, faults, the power switch. Plain data under one mutex; every
//! operation checks the power and the handle's generation first.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::TryLockError;
use std::io;
use std::path::{Path, PathBuf};

use super::cut::{self, Pending, apply, write_into};
use super::{SimCounts, SimFault, SimOp};
use crate::io::mode::Mode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Dir,
    File(u64),
}

#[derive(Debug, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Changes since the last sync, oldest first, the one a power cut interrupted
    /// included: what a power cut may keep any part of (see `cut`).
    pending: Vec<Pending>,
    /// Live directory entries naming this inode.
    links: u32,
    /// The name it was created or last renamed under (for the trace).
    name: PathBuf,
}

#[derive(Debug)]
struct Armed {
    fault: SimFault,
    remaining: u64,
}

#[derive(Debug)]
pub(super) struct State {
    pub generation: u64,
    pub powered: bool,
    pub counts: SimCounts,
    pub capacity: Option<u64>,
    /// Mutating operations left before the power goes.
    pub cut_after: Option<u64>,
    rng: fastrand::Rng,
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    next_handle: u64,
    live: BTreeMap<PathBuf, Entry>,
    durable: BTreeMap<PathBuf, Entry>,
    faults: Vec<Armed>,
    /// Inode → handle holding its exclusive lock.
    locks: BTreeMap<u64, u64>,
    /// Print every mutating operation to stderr.
    pub trace: bool,
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

fn powered_off() -> io::Error {
    io::Error::other("simulated power cut: the machine is off")
}

fn stale() -> io::Error {
    io::Error::other("simulated file opened before the last power cut")
}

fn is_root(path: &Path) -> bool {
    path.as_os_str().is_empty() || path.parent().is_none()
}

fn path_of(entries: &BTreeMap<PathBuf, Entry>, ino: u64) -> PathBuf {
    entries
        .iter()
        .find(|(_, e)| **e == Entry::File(ino))
        .map(|(p, _)| p.clone())
        .unwrap_or_default()
}

impl State {
    pub fn new(seed: u64) -> Self {
        State {
            generation: 1,
            powered: true,
            counts: SimCounts::default(),
            capacity: None,
            cut_after: None,
            rng: fastrand::Rng::with_seed(seed),
            inodes: BTreeMap::new(),
            next_inode: 1,
            next_handle: 1,
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            faults: Vec::new(),
            locks: BTreeMap::new(),
            trace: false,
        }
    }

    pub fn arm(&mut self, fault: SimFault) {
        self.faults.push(Armed {
            fault,
            remaining: fault.nth.max(1),
        });
    }

    pub fn cut(&mut self) {
        if self.powered {
            self.powered = false;
            self.counts.power_cuts += 1;
        }
        self.cut_after = None;
    }

    /// Refuses everything while the power is off or for handles from before a restart.
    fn gate(&self, generation: Option<u64>) -> io::Result<()> {
        if !self.powered {
            return Err(powered_off());
        }
        match generation {
            Some(g) if g != self.generation => Err(stale()),
            _ => Ok(()),
        }
    }

    /// Counts a mutating operation: the scheduled power cut or an armed fault may
    /// stop it (it then changes nothing).
    fn tick(&mut self, op: SimOp, what: impl FnOnce() -> String) -> io::Result<()> {
        self.counts.ops += 1;
        if self.trace {
            eprintln!("    sim op {}: {op:?} {}", self.counts.ops, what());
        }
        if let Some(left) = self.cut_after {
            if left <= 1 {
                self.cut();
                return Err(powered_off());
            }
            self.cut_after = Some(left - 1);
        }
        let mut fired = None;
        for (i, armed) in self.faults.iter_mut().enumerate() {
            if armed.fault.op == op {
                armed.remaining -= 1;
                if armed.remaining == 0 && fired.is_none() {
                    fired = Some(i);
                }
            }
        }
        if let Some(i) = fired {
            let armed = self.faults.remove(i);
            self.counts.faults_fired += 1;
            return Err(armed.fault.error.to_io());
        }
        Ok(())
    }

    fn live_bytes(&self) -> u64 {
        self.inodes
            .values()
            .filter(|i| i.links > 0)
            .map(|i| i.live.len() as u64)
            .sum()
    }

    fn check_space(&mut self, inode: u64, new_len: u64) -> io::Result<()> {
        let Some(capacity) = self.capacity else {
            return Ok(());
        };
        let len = self.inodes.get(&inode).map_or(0, |i| i.live.len() as u64);
        if new_len > len && self.live_bytes() + (new_len - len) > capacity {
            self.counts.faults_fired += 1;
            return Err(io::Error::from_raw_os_error(28));
        }
        Ok(())
    }

    fn name(&self, inode: u64) -> String {
        match (self.trace, self.inodes.get(&inode)) {
            (true, Some(i)) => i.name.display().to_string(),
            _ => String::new(),
        }
    }

    fn inode(&mut self, inode: u64) -> io::Result<&mut Inode> {
        self.inodes.get_mut(&inode).ok_or_else(stale)
    }

    fn parent_is_dir(&self, path: &Path, entries: &BTreeMap<PathBuf, Entry>) -> bool {
        match path.parent() {
            None => true,
            Some(p) if is_root(p) => true,
            Some(p) => entries.get(p) == Some(&Entry::Dir),
        }
    }

    fn unlink(&mut self, entry: Entry) {
        if let Entry::File(ino) = entry
            && let Some(inode) = self.inodes.get_mut(&ino)
        {
            inode.links = inode.links.saturating_sub(1);
        }
    }

    pub fn open(&mut self, path: &Path, mode: Mode) -> io::Result<(u64, u64, u64)> {
        self.gate(None)?;
        let ino = match self.live.get(path).copied() {
            Some(Entry::Dir) => return Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Some(Entry::File(ino)) => {
                if mode == Mode::CreateTruncate {
                    self.set_len(Some(self.generation), ino, 0)?;
                }
                ino
            }
            None if matches!(mode, Mode::Read | Mode::ReadWrite) => return Err(not_found()),
            None => {
                if !self.parent_is_dir(path, &self.live) {
                    return Err(not_found());
                }
                self.tick(SimOp::Create, || path.display().to_string())?;
                let ino = self.next_inode;
                self.next_inode += 1;
                self.inodes.insert(
                    ino,
                    Inode {
                        links: 1,
                        name: path.to_path_buf(),
                        ..Inode::default()
                    },
                );
                self.live.insert(path.to_path_buf(), Entry::File(ino));
                ino
            }
        };
        let handle = self.next_handle;
        self.next_handle += 1;
        Ok((ino, self.generation, handle))
    }

    pub fn read_at(
        &mut self,
        generation: u64,
        ino: u64,
        buf: &mut [u8],
        offset: u64,
    ) -> io::Result<usize> {
        self.gate(Some(generation))?;
        let data = &self.inode(ino)?.live;
        let from = (offset as usize).min(data.len());
        let n = buf.len().min(data.len() - from);
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), data.get(from..from + n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }

    pub fn write_at(
        &mut self,
        generation: u64,
        ino: u64,
        bytes: &[u8],
        offset: u64,
    ) -> io::Result<()> {
        self.gate(Some(generation))?;
        let name = self.name(ino);
        let ticked = self.tick(SimOp::Write, || {
            format!("{name} [{offset}, +{})", bytes.len())
        });
        if let Err(e) = ticked {
            // Cut by the power in the middle of the call: in flight, so any part of
            // it may reach the disk.
            if !self.powered && !bytes.is_empty() {
                self.inode(ino)?.pending.push(Pending::Write {
                    at: offset,
                    bytes: bytes.to_vec(),
                });
            }
            return Err(e);
        }
        self.check_space(ino, offset + bytes.len() as u64)?;
        let inode = self.inode(ino)?;
        write_into(&mut inode.live, offset, bytes);
        if !bytes.is_empty() {
            inode.pending.push(Pending::Write {
                at: offset,
                bytes: bytes.to_vec(),
            });
        }
        self.counts.writes += 1;
        Ok(())
    }

    pub fn set_len(&mut self, generation: Option<u64>, ino: u64, len: u64) -> io::Result<()> {
        self.gate(generation)?;
        let name = self.name(ino);
        if let Err(e) = self.tick(SimOp::Write, || format!("{name} set_len {len}")) {
            if !self.powered {
                // In flight at the cut, like a write (see `write_at`).
                self.inode(ino)?.pending.push(Pending::Len(len));
            }
            return Err(e);
        }
        self.check_space(ino, len)?;
        let inode = self.inode(ino)?;
        inode.live.resize(len as usize, 0);
        inode.pending.push(Pending::Len(len));
        self.counts.writes += 1;
        Ok(())
    }

    pub fn sync(&mut self, generation: u64, ino: u64) -> io::Result<()> {
        self.gate(Some(generation))?;
        let name = self.name(ino);
        if let Err(e) = self.tick(SimOp::Sync, || name) {
            if self.powered {
                // A failed fsync on Linux: the dirty pages are marked clean without
                // reaching the disk; reads still see them, no later sync writes them.
                self.inode(ino)?.pending.clear();
            }
            return Err(e);
        }
        let inode = self.inode(ino)?;
        for change in std::mem::take(&mut inode.pending) {
            apply(&mut inode.durable, &change);
        }
        self.counts.syncs += 1;
        Ok(())
    }

    pub fn len(&mut self, generation: u64, ino: u64) -> io::Result<u64> {
        self.gate(Some(generation))?;
        Ok(self.inode(ino)?.live.len() as u64)
    }

    pub fn linked_and_len(&mut self, generation: u64, ino: u64) -> io::Result<(bool, u64)> {
        self.gate(Some(generation))?;
        let inode = self.inode(ino)?;
        Ok((inode.links > 0, inode.live.len() as u64))
    }

    pub fn try_lock(&mut self, generation: u64, ino: u64, handle: u64) -> Result<(), TryLockError> {
        self.gate(Some(generation)).map_err(TryLockError::Error)?;
        match self.locks.get(&ino) {
            Some(&holder) if holder != handle => Err(TryLockError::WouldBlock),
            _ => {
                self.locks.insert(ino, handle);
                Ok(())
            }
        }
    }

    pub fn lock_is_held(&self, generation: u64, ino: u64, handle: u64) -> bool {
        self.gate(Some(generation)).is_ok()
            && self.locks.get(&ino).is_some_and(|&holder| holder != handle)
    }

    pub fn unlock(&mut self, generation: u64, ino: u64, handle: u64) {
        if generation == self.generation && self.locks.get(&ino) == Some(&handle) {
            self.locks.remove(&ino);
        }
    }

    pub fn is_dir(&self, path: &Path) -> bool {
        self.powered && (is_root(path) || self.live.get(path) == Some(&Entry::Dir))
    }

    pub fn list(&self, dir: &Path) -> io::Result<Vec<(OsString, PathBuf)>> {
        self.gate(None)?;
        if !self.is_dir(dir) {
            return Err(not_found());
        }
        Ok(self
            .live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| Some((p.file_name()?.to_os_string(), p.clone())))
            .collect())
    }

    pub fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        self.gate(None)?;
        let entry = match self.live.get(from) {
            Some(Entry::File(ino)) => Entry::File(*ino),
            Some(Entry::Dir) => return Err(io::Error::other("the simulator renames files only")),
            None => return Err(not_found()),
        };
        if !self.parent_is_dir(to, &self.live) {
            return Err(not_found());
        }
        if self.live.get(to) == Some(&Entry::Dir) {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        self.tick(SimOp::Rename, || {
            format!("{} -> {}", from.display(), to.display())
        })?;
        self.live.remove(from);
        if let Entry::File(ino) = entry
            && let Some(inode) = self.inodes.get_mut(&ino)
        {
            inode.name = to.to_path_buf();
        }
        if let Some(old) = self.live.insert(to.to_path_buf(), entry) {
            self.unlink(old);
        }
        Ok(())
    }

    pub fn remove_file(&mut self, path: &Path) -> io::Result<()> {
        self.gate(None)?;
        match self.live.get(path) {
            Some(Entry::File(_)) => {}
            Some(Entry::Dir) => return Err(io::Error::from(io::ErrorKind::IsADirectory)),
            None => return Err(not_found()),
        }
        self.tick(SimOp::Remove, || path.display().to_string())?;
        if let Some(old) = self.live.remove(path) {
            self.unlink(old);
        }
        Ok(())
    }

    pub fn create_dir(&mut self, path: &Path) -> io::Result<()> {
        self.gate(None)?;
        if is_root(path) || self.live.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        if !self.parent_is_dir(path, &self.live) {
            return Err(not_found());
        }
        self.tick(SimOp::Create, || format!("{}/", path.display()))?;
        self.live.insert(path.to_path_buf(), Entry::Dir);
        Ok(())
    }

    pub fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        self.gate(None)?;
        if !self.is_dir(dir) {
            return Err(not_found());
        }
        self.tick(SimOp::SyncDir, || dir.display().to_string())?;
        let child = |p: &Path| p.parent() == Some(dir);
        self.durable.retain(|p, _| !child(p));
        for (path, entry) in self.live.iter().filter(|(p, _)| child(p)) {
            self.durable.insert(path.clone(), *entry);
        }
        self.counts.dir_syncs += 1;
        Ok(())
    }

    pub fn live_paths(&self) -> Vec<PathBuf> {
        self.live.keys().cloned().collect()
    }

    /// Power cut and boot. Durable entries whose directory survives stay; each file
    /// keeps its durable image plus the seeded part of its unsynced changes that
    /// `cut` lets through.
    pub fn restart(&mut self) {
        self.cut();
        let mut kept: BTreeMap<PathBuf, Entry> = BTreeMap::new();
        // Sorted paths put a directory before everything in it.
        for (path, entry) in &self.durable {
            if self.parent_is_dir(path, &kept) {
                kept.insert(path.clone(), *entry);
            }
        }
        let lost_durable = self.durable.len() - kept.len();
        let lost_live = self.live.keys().filter(|p| !kept.contains_key(*p)).count();
        self.counts.entries_lost += lost_durable.max(lost_live) as u64;
        let mut inodes = BTreeMap::new();
        for entry in kept.values() {
            let Entry::File(ino) = *entry else { continue };
            if let Some(inode) = inodes.get_mut(&ino) {
                let inode: &mut Inode = inode;
                inode.links += 1;
                continue;
            }
            let Some(old) = self.inodes.remove(&ino) else {
                continue;
            };
            let data = self.survivor(old);
            inodes.insert(
                ino,
                Inode {
                    live: data.clone(),
                    durable: data,
                    pending: Vec::new(),
                    links: 1,
                    name: path_of(&kept, ino),
                },
            );
        }
        self.inodes = inodes;
        self.live = kept.clone();
        self.durable = kept;
        self.locks.clear();
        self.faults.clear();
        self.generation += 1;
        self.powered = true;
        if self.trace {
            eprintln!(
                "    sim restart: now {:?}",
                self.live.keys().collect::<Vec<_>>()
            );
        }
    }

    /// What of one file survives a power cut (see `cut`), counted.
    fn survivor(&mut self, inode: Inode) -> Vec<u8> {
        let (data, out) = cut::survivor(&mut self.rng, inode.durable, &inode.pending);
        let c = &mut self.counts;
        c.writes_kept += out.writes_kept;
        c.writes_torn += out.writes_torn;
        c.writes_lost += out.writes_lost;
        c.pieces_kept += out.pieces_kept;
        c.pieces_lost += out.pieces_lost;
        c.files_torn += u64::from(out.writes_torn > 0);
        c.files_with_several_pieces += u64::from(out.several_pieces);
        c.files_reordered += u64::from(out.reordered);
        if self.trace && !inode.pending.is_empty() {
            eprintln!("    sim cut {}: {out:?}", inode.name.display());
        }
        data
    }
}
