//! The raw io_uring reference: one `Write` linked (`IO_LINK`) to one
//! `Fsync(DATASYNC)` per operation, one chain in flight, on a pre-zeroed file.

use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Instant;

use io_uring::{IoUring, opcode, squeue, types};

use crate::{BoxError, Measure, RAW_FILE_BYTES, Until, prezeroed_file};

/// Times write→fsync chains of `record_bytes * batch` bytes at increasing offsets of
/// a pre-zeroed, synced file, each waited for before the next is submitted.
pub fn raw_uring_loop(
    dir: &Path,
    record_bytes: usize,
    batch: usize,
    until: Until,
) -> Result<Measure, BoxError> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("raw-uring.dat");
    let file = prezeroed_file(&path, RAW_FILE_BYTES)?;
    let fd = types::Fd(file.as_raw_fd());
    let mut ring = IoUring::new(8)?;
    let step = record_bytes * batch;
    let buf = vec![0xA5u8; step];
    let mut m = Measure::new()?;
    let start = Instant::now();
    let mut at = 0u64;
    while !until.reached(start, m.records) {
        let t = Instant::now();
        if at + step as u64 > RAW_FILE_BYTES {
            at = 0;
        }
        let mut done = 0usize;
        // A short write breaks the link (the fsync comes back -ECANCELED): resubmit
        // the rest with a new fsync.
        while done < step {
            let rest = buf.get(done..).ok_or("write past the buffer")?;
            let write = opcode::Write::new(fd, rest.as_ptr(), rest.len() as u32)
                .offset(at + done as u64)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(1);
            let fsync = opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(2);
            // SAFETY: `buf` outlives the chain (we wait for both completions below).
            unsafe {
                let mut sq = ring.submission();
                sq.push(&write).map_err(|_| "submission queue full")?;
                sq.push(&fsync).map_err(|_| "submission queue full")?;
            }
            ring.submit_and_wait(2)?;
            let mut wrote = 0usize;
            let mut synced = false;
            for cqe in ring.completion() {
                let res = cqe.result();
                match cqe.user_data() {
                    1 if res < 0 => return Err(std::io::Error::from_raw_os_error(-res).into()),
                    1 => wrote = res as usize,
                    _ if res == -libc_ecanceled() => {}
                    _ if res < 0 => return Err(std::io::Error::from_raw_os_error(-res).into()),
                    _ => synced = true,
                }
            }
            done += wrote;
            if done >= step && !synced {
                return Err("fsync after a complete write did not run".into());
            }
            if wrote == 0 && done < step {
                return Err("io_uring write wrote nothing".into());
            }
        }
        at += step as u64;
        m.latency_ns.record(t.elapsed().as_nanos() as u64)?;
        m.ops += 1;
        m.records += batch as u64;
        m.bytes += step as u64;
        m.syncs += 1;
    }
    m.elapsed = start.elapsed();
    drop(ring);
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(m)
}

fn libc_ecanceled() -> i32 {
    rustix::io::Errno::CANCELED.raw_os_error()
}
