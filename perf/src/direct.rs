//! The raw O_DIRECT reference: io_uring `WriteFixed` with `RWF_DSYNC`, up to `depth`
//! writes in flight, each durable on its own, on a pre-zeroed file. This is what the
//! kernel offers for pipelined durable writes (shared/IO_URING_NOTES.md, "What
//! pipelines durable writes"; fio measured the same shape with
//! shared/tools/fio_durable.sh): an aligned direct overwrite is issued inline, its
//! DSYNC flush runs from the direct-I/O completion worker, and the block layer merges
//! the flushes of concurrent writes — as long as no two writes in flight share a block.

use std::alloc::Layout;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::ptr::NonNull;
use std::time::Instant;

use io_uring::{IoUring, opcode, types};
use rustix::fs::{Advice, AtFlags, StatxFlags};

use crate::{BoxError, DIRECT_MIN_BLOCK, Measure, RAW_FILE_BYTES, Until, prezeroed_file};

/// Byte every payload byte is filled with (the first 8 bytes of each write carry its
/// sequence number instead); the padding up to the block stays zero.
pub const FILL: u8 = 0xA5;

/// What a direct loop writes: `batch` records of `record_bytes` per write, padded to
/// whole blocks, `depth` writes in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Payload bytes per record.
    pub record_bytes: usize,
    /// Records per write (each write is durable on its own: one `RWF_DSYNC`).
    pub batch: usize,
    /// Writes in flight at most.
    pub depth: usize,
}

/// A finished direct run: the measure and the bytes each write took on disk.
#[derive(Debug, Clone)]
pub struct DirectRun {
    /// Records, payload bytes, one latency per write (submission to completion).
    pub measure: Measure,
    /// Bytes per write: `record_bytes * batch` rounded up to the block.
    pub write_len: usize,
}

/// Times `depth` O_DIRECT + `RWF_DSYNC` writes in flight of `record_bytes * batch`
/// bytes (padded to the block) at consecutive block-aligned offsets of a pre-zeroed,
/// synced file of `RAW_FILE_BYTES` in `dir`, wrapping before its end. Each completion
/// counts `batch` records durable. The file is removed afterwards.
pub fn raw_uring_direct_loop(
    dir: &Path,
    record_bytes: usize,
    batch: usize,
    depth: usize,
    until: Until,
) -> Result<Measure, BoxError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("raw-direct.dat");
    let shape = Shape {
        record_bytes,
        batch,
        depth,
    };
    let run = direct_loop_at(&path, RAW_FILE_BYTES, shape, until);
    let removed = std::fs::remove_file(&path);
    let run = run?;
    removed?;
    Ok(run.measure)
}

/// Whether the direct loop can run in `dir` (and why not): one write at depth 1 on a
/// 1 MiB file, through exactly the path the loop takes.
pub fn direct_available(dir: &Path) -> Result<(), String> {
    let path = dir.join("probe-raw-direct.dat");
    let shape = Shape {
        record_bytes: 256,
        batch: 1,
        depth: 1,
    };
    let out = std::fs::create_dir_all(dir)
        .map_err(BoxError::from)
        .and_then(|()| direct_loop_at(&path, 1 << 20, shape, Until::Records(1)));
    let _ = std::fs::remove_file(&path);
    out.map(drop).map_err(|e| e.to_string())
}

/// The loop behind `raw_uring_direct_loop` on the file `path` of `file_bytes` (created
/// or truncated, pre-zeroed, left in place so a test can read it back).
pub fn direct_loop_at(
    path: &Path,
    file_bytes: u64,
    shape: Shape,
    until: Until,
) -> Result<DirectRun, BoxError> {
    let direct = Direct::open(path, file_bytes, shape)?;
    let write_len = direct.write_len;
    let measure = direct.run(until)?;
    Ok(DirectRun { measure, write_len })
}

/// An O_DIRECT refusal says so; other errors keep their own words.
fn io_error(what: &str, e: std::io::Error) -> BoxError {
    if e.raw_os_error() == Some(libc::EINVAL) {
        format!(
            "O_DIRECT refused ({what}: {e}): this filesystem does not take direct I/O \
             here (tmpfs, FUSE?)"
        )
        .into()
    } else {
        format!("{what}: {e}").into()
    }
}

/// Opens `path` with O_DIRECT after writing it full of zeros (buffered) and syncing it:
/// overwrites of written blocks are what the kernel issues inline.
fn open_direct(path: &Path, file_bytes: u64) -> Result<File, BoxError> {
    drop(prezeroed_file(path, file_bytes)?);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .map_err(|e| io_error("open with O_DIRECT", e))?;
    // The zero fill left clean pages in the cache; drop them now rather than have the
    // timed direct writes invalidate them one by one.
    rustix::fs::fadvise(&file, 0, None, Advice::DontNeed)?;
    Ok(file)
}

/// The block writes are aligned and padded to: `statx(STATX_DIOALIGN)`'s offset and
/// memory alignment (Linux 6.1+), at least `DIRECT_MIN_BLOCK`; `DIRECT_MIN_BLOCK` when the kernel or
/// filesystem does not say.
fn dio_block(file: &File) -> Result<usize, BoxError> {
    let Ok(st) = rustix::fs::statx(file, "", AtFlags::EMPTY_PATH, StatxFlags::DIOALIGN) else {
        return Ok(DIRECT_MIN_BLOCK);
    };
    if st.stx_mask & StatxFlags::DIOALIGN.bits() == 0 {
        return Ok(DIRECT_MIN_BLOCK);
    }
    if st.stx_dio_offset_align == 0 {
        return Err(
            "O_DIRECT refused: statx(STATX_DIOALIGN) says this file takes no direct I/O".into(),
        );
    }
    let asked = st.stx_dio_offset_align.max(st.stx_dio_mem_align) as usize;
    Ok(asked.max(DIRECT_MIN_BLOCK))
}

/// One zeroed heap block aligned to `layout.align()`: O_DIRECT needs aligned memory,
/// and a `Vec<u8>` guarantees no alignment.
struct AlignedBuf {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl AlignedBuf {
    fn zeroed(len: usize, align: usize) -> Result<AlignedBuf, BoxError> {
        let layout = Layout::from_size_align(len, align)?;
        if layout.size() == 0 {
            return Err("a direct write needs at least one byte".into());
        }
        // SAFETY: the layout's size is not zero (checked above).
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).ok_or("allocating an aligned buffer failed")?;
        Ok(AlignedBuf { ptr, layout })
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live allocation of `layout.size()` bytes, initialised
        // (zeroed) when made and owned by `self`; `&mut self` makes this borrow unique.
        // The kernel only ever reads it, and the caller takes this only for a slot with
        // no write in flight.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.layout.size()) }
    }

    fn iovec(&self) -> libc::iovec {
        libc::iovec {
            iov_base: self.ptr.as_ptr().cast(),
            iov_len: self.layout.size(),
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with this very layout and is freed only
        // here, once.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// The loop's state. Field order is drop order: the ring (and with it the buffer
/// registration) goes before the buffers it points into. Every run drains its writes
/// before returning, so no write is in flight when the buffers are freed; should a
/// failed `io_uring_enter` leave one in flight, the kernel holds its own pin on those
/// pages and only reads them.
struct Direct {
    ring: IoUring,
    bufs: Vec<AlignedBuf>,
    _file: File,
    write_len: usize,
    payload: usize,
    batch: usize,
    /// Write-sized slots in the file; write `seq` goes to slot `seq % slots`.
    slots: u64,
    /// Per buffer: the write in flight from it (sequence number, submitted at).
    flying: Vec<Option<(u64, Instant)>>,
    /// Buffers with no write in flight.
    free: Vec<usize>,
    next_seq: u64,
}

impl Direct {
    fn open(path: &Path, file_bytes: u64, shape: Shape) -> Result<Direct, BoxError> {
        let payload = shape.record_bytes * shape.batch;
        if payload == 0 || shape.depth == 0 {
            return Err("the direct loop needs records, a batch and a depth of at least 1".into());
        }
        let file = open_direct(path, file_bytes)?;
        let block = dio_block(&file)?;
        let write_len = payload.div_ceil(block) * block;
        let slots = file_bytes / write_len as u64;
        // Two writes in flight must never share a block, so every write in flight
        // needs its own slot.
        if slots < shape.depth as u64 {
            return Err(format!(
                "a {file_bytes}-byte file holds {slots} writes of {write_len} bytes: \
                 fewer than depth {}",
                shape.depth
            )
            .into());
        }
        let mut bufs = Vec::with_capacity(shape.depth);
        for _ in 0..shape.depth {
            let mut buf = AlignedBuf::zeroed(write_len, block)?;
            buf.bytes_mut()
                .get_mut(..payload)
                .ok_or("payload past the buffer")?
                .fill(FILL);
            bufs.push(buf);
        }
        let entries = (shape.depth as u32).next_power_of_two().max(8);
        let ring = IoUring::new(entries)?;
        ring.submitter().register_files(&[file.as_raw_fd()])?;
        let iovecs: Vec<libc::iovec> = bufs.iter().map(AlignedBuf::iovec).collect();
        // SAFETY: each iovec covers a live allocation in `bufs`, which the returned
        // `Direct` owns and drops after `ring` (field order).
        unsafe { ring.submitter().register_buffers(&iovecs)? };
        Ok(Direct {
            ring,
            bufs,
            _file: file,
            write_len,
            payload,
            batch: shape.batch,
            slots,
            flying: vec![None; shape.depth],
            free: (0..shape.depth).rev().collect(),
            next_seq: 0,
        })
    }

    /// Keeps the free buffers writing until `until`, then drains; the first failed or
    /// short write ends the run (after the drain) as an error, never retried.
    fn run(mut self, until: Until) -> Result<Measure, BoxError> {
        let mut m = Measure::new()?;
        let start = Instant::now();
        let mut failure: Option<BoxError> = None;
        loop {
            if failure.is_none() {
                self.fill(until, start)?;
            }
            if self.free.len() == self.bufs.len() {
                break;
            }
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
            self.reap(&mut m, &mut failure)?;
        }
        m.elapsed = start.elapsed();
        match failure {
            Some(e) => Err(e),
            None => Ok(m),
        }
    }

    /// Queues a write from every free buffer while `until` is not reached (counting
    /// records submitted) and the write would not land on a block still in flight.
    fn fill(&mut self, until: Until, start: Instant) -> Result<(), BoxError> {
        let oldest = self.flying.iter().flatten().map(|&(seq, _)| seq).min();
        while let Some(&slot) = self.free.last() {
            let seq = self.next_seq;
            if until.reached(start, seq * self.batch as u64)
                || oldest.is_some_and(|o| seq - o >= self.slots)
            {
                break;
            }
            let buf = self.bufs.get_mut(slot).ok_or("no such buffer")?;
            let stamp = seq.to_le_bytes();
            let n = stamp.len().min(self.payload);
            buf.bytes_mut()
                .get_mut(..n)
                .ok_or("stamp past the buffer")?
                .copy_from_slice(stamp.get(..n).ok_or("stamp")?);
            let offset = (seq % self.slots) * self.write_len as u64;
            let write = opcode::WriteFixed::new(
                types::Fixed(0),
                buf.ptr.as_ptr().cast_const(),
                self.write_len as u32,
                slot as u16,
            )
            .offset(offset)
            .rw_flags(libc::RWF_DSYNC)
            .build()
            .user_data(slot as u64);
            // SAFETY: the write reads registered buffer `slot`, which lives as long as
            // the ring and is not touched again until this write's completion is reaped.
            unsafe { self.ring.submission().push(&write) }.map_err(|_| "submission queue full")?;
            self.free.pop();
            if let Some(f) = self.flying.get_mut(slot) {
                *f = Some((seq, Instant::now()));
            }
            self.next_seq += 1;
        }
        Ok(())
    }

    /// Counts every completed write: `batch` records durable and one latency sample;
    /// a failed or short one becomes `failure` (the first one wins).
    fn reap(&mut self, m: &mut Measure, failure: &mut Option<BoxError>) -> Result<(), BoxError> {
        for cqe in self.ring.completion() {
            let slot = cqe.user_data() as usize;
            let Some((seq, at)) = self.flying.get_mut(slot).and_then(Option::take) else {
                return Err(format!("a completion for buffer {slot}, which had no write").into());
            };
            self.free.push(slot);
            let res = cqe.result();
            let offset = (seq % self.slots) * self.write_len as u64;
            if res < 0 {
                let e = std::io::Error::from_raw_os_error(-res);
                let what = format!("O_DIRECT + RWF_DSYNC write at offset {offset}");
                failure.get_or_insert(io_error(&what, e));
            } else if res as usize != self.write_len {
                failure.get_or_insert(
                    format!(
                        "short O_DIRECT write at offset {offset}: {res} of {} bytes",
                        self.write_len
                    )
                    .into(),
                );
            } else {
                m.latency_ns.record(at.elapsed().as_nanos() as u64)?;
                m.ops += 1;
                m.records += self.batch as u64;
                m.bytes += self.payload as u64;
                m.syncs += 1;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// O_DIRECT needs a real filesystem: /var/tmp, not /tmp (often tmpfs).
    fn scratch(name: &str) -> Result<PathBuf, BoxError> {
        let dir = PathBuf::from("/var/tmp")
            .join(format!("ringwal-perf-direct-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// What the slot of write `seq` must hold once the run has drained: the stamp, the
    /// fill up to the payload, zeros up to the block.
    fn expected_block(seq: u64, payload: usize, write_len: usize) -> Vec<u8> {
        let mut block = vec![0u8; write_len];
        for (i, b) in block.iter_mut().take(payload).enumerate() {
            *b = seq.to_le_bytes().get(i).copied().unwrap_or(FILL);
        }
        block
    }

    #[test]
    fn direct_loop_counts_batches_and_leaves_the_last_write_of_each_slot() -> Result<(), BoxError> {
        let dir = scratch("pattern")?;
        let path = dir.join("direct.dat");
        // 100 writes of two records at depth 4 over 32 slots: the offsets wrap three
        // times, so a slot holds the last write that went there, or zeros.
        let shape = Shape {
            record_bytes: 256,
            batch: 2,
            depth: 4,
        };
        let slots = 32u64;
        let file_bytes = slots * DIRECT_MIN_BLOCK as u64;
        let run = match direct_loop_at(&path, file_bytes, shape, Until::Records(200)) {
            Err(e) if e.to_string().contains("O_DIRECT") => {
                eprintln!("skipped: O_DIRECT refused in {}: {e}", dir.display());
                std::fs::remove_dir_all(&dir)?;
                return Ok(());
            }
            other => other?,
        };
        let m = &run.measure;
        let writes = m.ops;
        assert_eq!(writes, 100, "200 records in writes of 2");
        assert_eq!(m.records, writes * shape.batch as u64);
        assert_eq!(m.latency_ns.len(), writes, "one latency per write");
        assert_eq!(
            run.write_len as u64 * slots,
            file_bytes,
            "one block a write"
        );
        // The zero fill rounds the file up to whole MiB: past `file_bytes` it must
        // still be zeros (the offsets wrap before it).
        let on_disk = std::fs::read(&path)?;
        let (used, beyond) = on_disk.split_at(file_bytes as usize);
        assert!(
            beyond.iter().all(|&b| b == 0),
            "a write past the wrap point"
        );
        let payload = shape.record_bytes * shape.batch;
        for (slot, block) in used.chunks(run.write_len).enumerate() {
            let last = (0..writes).rev().find(|s| s % slots == slot as u64);
            let want = match last {
                Some(seq) => expected_block(seq, payload, run.write_len),
                None => vec![0u8; run.write_len],
            };
            assert!(block == want.as_slice(), "slot {slot}: want write {last:?}");
        }
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }

    #[test]
    fn a_file_with_fewer_slots_than_the_depth_is_refused() -> Result<(), BoxError> {
        let dir = scratch("depth")?;
        let shape = Shape {
            record_bytes: 256,
            batch: 1,
            depth: 4,
        };
        let file_bytes = 2 * DIRECT_MIN_BLOCK as u64;
        let out = direct_loop_at(
            &dir.join("direct.dat"),
            file_bytes,
            shape,
            Until::Records(8),
        );
        std::fs::remove_dir_all(&dir)?;
        match out {
            Err(e) if e.to_string().contains("O_DIRECT refused") => {
                eprintln!("skipped: {e}");
            }
            Err(e) => assert!(e.to_string().contains("fewer than depth 4"), "{e}"),
            Ok(_) => panic!("depth 4 on two slots ran"),
        }
        Ok(())
    }
}
