//! Direct mode of the io_uring driver: each commit is one `O_DIRECT` write per segment
//! with `RWF_DSYNC`, so the write is durable when it completes and no separate fsync
//! runs (shared/IO_URING_NOTES.md: an aligned O_DIRECT overwrite of pre-zeroed blocks
//! is issued inline by the submitting task, and its completion runs the device flush;
//! a buffered write and an FSYNC both go to io-wq workers).
//!
//! A direct write covers whole blocks, and its last block ends in zeros. Up to
//! `Options::direct_depth` commits are in flight, and two writes in flight must never
//! share a block (the device may apply them in either order). So:
//! * a commit staged while the one before it is still being written starts at the next
//!   `PAD_BLOCK` boundary: the zeros behind the last commit are padding, which readers
//!   step over (docs/FORMAT.md, "Padding");
//! * a commit staged when nothing is in flight starts right behind the last one and
//!   rewrites that block's earlier bytes (kept from the last write, or read once from
//!   the file), so serial commits stay dense;
//! * the driver makes a flush that would still share a block with a write in flight
//!   wait for it (`direct_block_waits`).
//!
//! Used only where it is sound and fast: `Durability::Fsync` (every commit durable on
//! its own), `Preallocate::Zeroed` (direct writes should not extend a file or convert
//! unwritten extents), segments a whole number of blocks, blocks of `PAD_BLOCK`, and a
//! filesystem known to make `RWF_DSYNC` direct writes durable that takes `O_DIRECT`
//! (probed at open; otherwise the buffered write → fsync chains, said once). A segment
//! left short or unwritten by a session with another `Preallocate` is still written
//! correctly (the file system makes the extension or conversion durable with the
//! write), only more slowly.

use std::alloc::Layout;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;

use crate::error::{Error, IoOp, Result};
use crate::io::SegmentFile;

/// The smallest block direct writes are aligned and padded to.
pub(crate) const BLOCK_MIN: u64 = 4096;

/// The block size direct writes to `file` must respect: `statx(STATX_DIOALIGN)`'s
/// offset and memory alignment (Linux 6.1+), at least `BLOCK_MIN`; `BLOCK_MIN` when the
/// kernel does not say. `Err` when the kernel says the file takes no direct I/O.
fn dio_block(file: &File) -> std::result::Result<u64, String> {
    use rustix::fs::{AtFlags, StatxFlags};
    let Ok(st) = rustix::fs::statx(file, "", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) else {
        return Ok(BLOCK_MIN);
    };
    if st.stx_mask & StatxFlags::DIOALIGN.bits() == 0 {
        return Ok(BLOCK_MIN);
    }
    if st.stx_dio_offset_align == 0 {
        return Err("statx(STATX_DIOALIGN) says the file takes no direct I/O".into());
    }
    let asked = u64::from(st.stx_dio_offset_align.max(st.stx_dio_mem_align));
    Ok(asked.max(BLOCK_MIN))
}

/// Filesystems whose direct writes honour `RWF_DSYNC` themselves (`statfs` magic):
/// ext4, XFS, btrfs, f2fs. Elsewhere the flag may travel no further than a request
/// field (FUSE, virtiofs: the server may ignore it while it honours fsync), so the
/// fsync stays (buffered mode).
const DSYNC_HONOURED: [(i64, &str); 4] = [
    (0xEF53, "ext4"),
    (0x5846_5342, "xfs"),
    (0x9123_683E, "btrfs"),
    (0xF2F5_2010, "f2fs"),
];

fn filesystem_honours_dsync(file: &File) -> std::result::Result<(), String> {
    let st = rustix::fs::fstatfs(file).map_err(|e| format!("statfs failed: {e}"))?;
    #[allow(clippy::unnecessary_cast)]
    let magic = st.f_type as i64;
    if DSYNC_HONOURED.iter().any(|(m, _)| *m == magic) {
        return Ok(());
    }
    Err(format!(
        "filesystem type {magic:#x} is not one known to make RWF_DSYNC direct writes \
         durable by themselves (ext4, xfs, btrfs, f2fs)"
    ))
}

/// Opens `path` for direct writes, checking it is the file the log holds open as
/// `same_as` (a path replaced behind the log must not receive acknowledged writes).
pub(crate) fn open_direct(path: &Path, same_as: &File) -> std::io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)?;
    let (a, b) = (file.metadata()?, same_as.metadata()?);
    if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
        return Err(std::io::Error::other(
            "the segment's path names another file than the one the log holds",
        ));
    }
    Ok(file)
}

/// Drops a segment's cached pages: each one left cached would have to be invalidated
/// by the first direct write over it (clean pages only; the advice is only advice, so
/// a refusal changes nothing).
pub(crate) fn drop_cached_pages(file: &File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

/// Writes zeros over `0..len` of a new segment through its `O_DIRECT` descriptor, in
/// aligned pieces of up to 1 MiB: each piece goes to the disk as it is written,
/// instead of the whole segment piling up in the page cache for one burst of
/// writeback at the sync, which stalls the commits queued behind it. An end not
/// aligned to `block` is written through `buffered`.
pub(crate) fn write_zeros_direct(
    direct: &File,
    buffered: &File,
    len: u64,
    block: u64,
) -> std::io::Result<()> {
    const PIECE_BYTES: u64 = 1 << 20;
    debug_assert!(block.is_power_of_two() && block <= PIECE_BYTES);
    let block = block.max(1);
    let aligned = len - len % block;
    let piece = PIECE_BYTES.max(block).min(aligned) as usize;
    if piece > 0 {
        let zeros = AlignedBuf::zeroed(piece, block as usize).map_err(std::io::Error::other)?;
        let mut at = 0;
        while at < aligned {
            let n = (aligned - at).min(piece as u64) as usize;
            std::os::unix::fs::FileExt::write_all_at(
                direct,
                zeros.bytes().get(..n).unwrap_or_default(),
                at,
            )?;
            at += n as u64;
        }
    }
    if aligned < len {
        let tail = vec![0u8; (len - aligned) as usize];
        std::os::unix::fs::FileExt::write_all_at(buffered, &tail, aligned)?;
    }
    Ok(())
}

/// Whether direct writes work in `dir` for segments of `segment_bytes`: creates a probe
/// file there, checks the filesystem honours `RWF_DSYNC`, writes one aligned block
/// through `O_DIRECT` and removes it. With `depth` commits in flight above 1, the block
/// must be `PAD_BLOCK` (padding). Returns the block size, or why not.
pub(crate) fn probe(
    dir: &Path,
    segment_bytes: u64,
    depth: usize,
) -> std::result::Result<u64, String> {
    let path = dir.join(".ringwal-direct-probe");
    let outcome = (|| {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_DIRECT)
            .open(&path)
            .map_err(|e| format!("opening a file with O_DIRECT failed: {e}"))?;
        filesystem_honours_dsync(&file)?;
        let block = dio_block(&file)?;
        if depth > 1 && block != crate::limits::PAD_BLOCK {
            // Padding keeps commits in flight apart by `PAD_BLOCK`; on larger blocks two
            // of them could share one. One commit at a time needs no padding.
            return Err(format!(
                "the direct-I/O block {block} is larger than the {}-byte padding block \
                 that keeps {depth} commits in flight apart (direct_depth 1 works)",
                crate::limits::PAD_BLOCK
            ));
        }
        if !segment_bytes.is_multiple_of(block) {
            // A write widened to whole blocks would run past the segment's end and
            // extend the file (slow, and beyond the capacity its header names).
            return Err(format!(
                "segment_bytes {segment_bytes} is not a multiple of the direct-I/O block {block}"
            ));
        }
        let mut buf =
            AlignedBuf::zeroed(block as usize, block as usize).map_err(|e| format!("{e}"))?;
        let bytes = buf.bytes_mut();
        std::os::unix::fs::FileExt::write_all_at(&file, bytes, 0)
            .map_err(|e| format!("an O_DIRECT write failed: {e}"))?;
        Ok(block)
    })();
    let _ = std::fs::remove_file(&path);
    outcome
}

/// One zeroed heap block aligned for direct I/O (`Vec<u8>` guarantees no alignment).
#[derive(Debug)]
pub(crate) struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: the buffer owns its allocation exclusively; it is plain bytes.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    pub fn zeroed(len: usize, align: usize) -> Result<AlignedBuf> {
        let layout = Layout::from_size_align(len.max(1), align)
            .map_err(|e| Error::internal(format!("a {len}-byte buffer aligned to {align}: {e}")))?;
        // SAFETY: the layout's size is at least 1.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw)
            .ok_or_else(|| Error::internal(format!("allocating {len} aligned bytes failed")))?;
        Ok(AlignedBuf { ptr, layout })
    }

    pub fn len(&self) -> usize {
        self.layout.size()
    }

    /// Whether `len` bytes aligned to `align` fit in this buffer.
    pub fn fits(&self, len: usize, align: usize) -> bool {
        self.layout.size() >= len && self.layout.align() == align
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` is a live allocation of `layout.size()` bytes, initialised
        // (zeroed) when made, owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.layout.size()) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes this borrow unique. The driver
        // fills a buffer before it submits a write from it and never touches it again
        // until the write has completed.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with this very layout and is freed only
        // here, once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// The last partly written block of the segment written last: what a commit starting
/// inside it rewrites in front of its own bytes.
#[derive(Debug)]
pub(crate) struct TailBlock {
    pub segment: std::sync::Arc<SegmentFile>,
    pub block_start: u64,
    pub bytes: Vec<u8>,
}

/// Where one direct write goes: `len` bytes at `buf_at` of the chain's buffer, to
/// `file_at` of the segment.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Placed {
    pub buf_at: usize,
    pub len: usize,
    pub file_at: u64,
}

/// The whole blocks a write of `len` bytes at `offset` covers: `[start, end)`.
pub(crate) fn widened(offset: u64, len: usize, block: u64) -> (u64, u64) {
    let start = offset - offset % block;
    let end = (offset + len as u64).div_ceil(block) * block;
    (start, end)
}

/// The bytes `lay_out` needs for `runs`: each widened to whole blocks.
pub(crate) fn laid_out_len(
    runs: &[(&std::sync::Arc<SegmentFile>, u64, &[u8])],
    block: u64,
) -> usize {
    runs.iter()
        .map(|(_, offset, bytes)| {
            let (start, end) = widened(*offset, bytes.len(), block);
            (end - start) as usize
        })
        .sum()
}

/// Lays out a chain's direct writes in `buf` (aligned to `block`, at least
/// `laid_out_len` bytes; a write that would not fit is an internal error): each run
/// widened to whole blocks, its block's earlier bytes in front (from `tail` when it
/// holds them, else read from the file) and zeros behind. Updates `tail` to the last
/// block written. `runs` are (segment, file offset, bytes) in chain order.
pub(crate) fn lay_out(
    runs: &[(&std::sync::Arc<SegmentFile>, u64, &[u8])],
    block: u64,
    tail: &mut Option<TailBlock>,
    buf: &mut AlignedBuf,
) -> Result<Vec<Placed>> {
    let mut placed = Vec::with_capacity(runs.len());
    let mut at = 0usize;
    for (segment, offset, bytes) in runs {
        let (start, end) = widened(*offset, bytes.len(), block);
        let len = (end - start) as usize;
        let prefix = (offset - start) as usize;
        let region = buf
            .bytes_mut()
            .get_mut(at..at + len)
            .ok_or_else(|| Error::internal("a direct write outside its buffer"))?;
        fill_prefix(region, segment, start, prefix, tail)?;
        if let Some(dst) = region.get_mut(prefix..prefix + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        // A reused buffer holds an earlier chain's bytes behind the run.
        if let Some(pad) = region.get_mut(prefix + bytes.len()..) {
            pad.fill(0);
        }
        let last_block = region
            .get(len.saturating_sub(block as usize)..)
            .unwrap_or_default();
        if (offset + bytes.len() as u64).is_multiple_of(block) {
            *tail = None;
        } else {
            // Reuses the last tail's allocation: one block copied per commit, no
            // allocation.
            let mut kept = tail.take().map(|t| t.bytes).unwrap_or_default();
            kept.clear();
            kept.extend_from_slice(last_block);
            *tail = Some(TailBlock {
                segment: std::sync::Arc::clone(segment),
                block_start: end - block,
                bytes: kept,
            });
        }
        placed.push(Placed {
            buf_at: at,
            len,
            file_at: start,
        });
        at += len;
    }
    Ok(placed)
}

/// Puts the `prefix` bytes of the segment's block at `start` in front of a write.
fn fill_prefix(
    region: &mut [u8],
    segment: &std::sync::Arc<SegmentFile>,
    start: u64,
    prefix: usize,
    tail: &Option<TailBlock>,
) -> Result<()> {
    if prefix == 0 {
        return Ok(());
    }
    let dst = region
        .get_mut(..prefix)
        .ok_or_else(|| Error::internal("a block prefix longer than its write"))?;
    if let Some(t) = tail
        .as_ref()
        .filter(|t| std::sync::Arc::ptr_eq(&t.segment, segment) && t.block_start == start)
        && let Some(src) = t.bytes.get(..prefix)
    {
        dst.copy_from_slice(src);
        return Ok(());
    }
    // First write into this block since open (or since a cut): read what the file
    // holds in front of the write. No write in flight covers it (the driver waits for
    // one that does before it lays a flush out).
    let mut got = 0;
    while got < prefix {
        let rest = dst.get_mut(got..).unwrap_or_default();
        let n = segment
            .file
            .read_at(rest, start + got as u64)
            .map_err(|e| Error::io(IoOp::Read, &segment.path, e))?;
        if n == 0 {
            return Err(Error::SegmentChanged {
                segment: segment.sequence,
                path: segment.path.clone(),
                change: crate::error::SegmentChange::Truncated {
                    len: start + got as u64,
                    written_end: start + prefix as u64,
                },
            });
        }
        got += n;
    }
    Ok(())
}
