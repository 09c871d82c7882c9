//! Looking at, and damaging, the files of a closed log from the outside, using only the
//! documented format: segment files `DIR/<20-digit sequence>.wal`, a
//! `SEGMENT_HEADER_BYTES` header starting with the magic `RNGWALSG`, then frames of
//! `FRAME_HEADER_BYTES` (crc u32, len u32 whose top bit means "batch continues", LSN
//! u64, durable claim u64) plus the payload padded to `FRAME_ALIGN`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ringwal::limits::{FRAME_HEADER_BYTES, SEGMENT_HEADER_BYTES, frame_bytes};

/// The top bit of a frame's len field.
pub const BATCH_CONTINUES: u32 = 1 << 31;

pub fn segment_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:020}.wal"))
}

/// Segment files (`*.wal`) directly in `dir`, by sequence.
pub fn segment_files(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, PathBuf)> = entries
        .map(|e| e.unwrap())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".wal")?;
            if stem.len() != 20 {
                return None;
            }
            Some((stem.parse().ok()?, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// Segment files whose header has been written (they hold records, or did).
pub fn written_segments(dir: &Path) -> Vec<(u64, PathBuf)> {
    segment_files(dir)
        .into_iter()
        .filter(|(_, path)| std::fs::read(path).unwrap().starts_with(b"RNGWALSG"))
        .collect()
}

/// One frame found by walking a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameAt {
    pub offset: u64,
    /// Bytes on disk, padding included.
    pub bytes: u64,
    pub lsn: u64,
    /// The durable LSN the frame claims.
    pub durable: u64,
    pub payload_len: u64,
    pub batch_continues: bool,
}

/// The frames of a segment the test wrote itself, from the header on, up to the first
/// frame whose LSN field is zero. Trusts the bytes (checks no checksum).
pub fn frames(path: &Path) -> Vec<FrameAt> {
    let data = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_BYTES;
    while at + FRAME_HEADER_BYTES <= data.len() as u64 {
        let mut i = at as usize;
        let mut lsn = u64::from_le_bytes(data[i + 8..i + 16].try_into().unwrap());
        if lsn == 0 {
            // Padding (docs/FORMAT.md): zeros to the next 4 KiB, then the next frame.
            let next = at.next_multiple_of(ringwal::limits::PAD_BLOCK);
            let expected = out.last().map(|f: &FrameAt| f.lsn + 1);
            let zeros = data[i..(next as usize).min(data.len())]
                .iter()
                .all(|&b| b == 0);
            if next == at || !zeros || next + FRAME_HEADER_BYTES > data.len() as u64 {
                break;
            }
            let n = next as usize;
            let after = u64::from_le_bytes(data[n + 8..n + 16].try_into().unwrap());
            if Some(after) != expected {
                break;
            }
            (at, i, lsn) = (next, n, after);
        }
        let len_field = u32::from_le_bytes(data[i + 4..i + 8].try_into().unwrap());
        let durable = u64::from_le_bytes(data[i + 16..i + 24].try_into().unwrap());
        let payload_len = u64::from(len_field & !BATCH_CONTINUES);
        let bytes = frame_bytes(payload_len);
        out.push(FrameAt {
            offset: at,
            bytes,
            lsn,
            durable,
            payload_len,
            batch_continues: len_field & BATCH_CONTINUES != 0,
        });
        at += bytes;
    }
    out
}

pub fn read_at(path: &Path, offset: u64, len: usize) -> Vec<u8> {
    let file = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset).unwrap();
    buf
}

pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
    file.sync_all().unwrap();
}

/// Overwrites `from..to` with zeros, first checking the range held some non-zero byte
/// (so the damage is real).
pub fn zero_range(path: &Path, from: u64, to: u64) {
    let before = read_at(path, from, (to - from) as usize);
    assert!(
        before.iter().any(|&b| b != 0),
        "range {from}..{to} of {} was already zero",
        path.display()
    );
    write_at(path, from, &vec![0u8; (to - from) as usize]);
}

/// Flips one bit of the byte at `offset`.
pub fn flip_bit(path: &Path, offset: u64, bit: u8) {
    let mut byte = read_at(path, offset, 1);
    byte[0] ^= 1 << bit;
    write_at(path, offset, &byte);
}

/// The bytes of every file in `dir` and its sub-directories (except the lock file,
/// whose contents name the last opener), to show that an operation changed nothing.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                todo.push(path);
            } else if entry.file_name() != "LOCK" {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Makes a cleanly closed log look like one whose writer lost its power: the lock file
/// no longer records a clean close or a durable LSN, so a test can tear the tail the
/// way a power cut would (bytes a writer never synced) without the lock file vouching
/// that those records were durable (which would make the damage corruption).
pub fn as_if_power_was_cut(dir: &Path) {
    std::fs::write(dir.join("LOCK"), "pid 0 (\"power cut\")\n").unwrap();
}
