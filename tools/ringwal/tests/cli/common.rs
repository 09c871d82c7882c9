//! Building logs with the library and damaging them.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use ringwal::format::names::segment_file_name;
use ringwal::{LogReader, Options, Preallocate, Wal};

/// Small segments so a few hundred records span several.
pub const SEGMENT_BYTES: u64 = 16 << 10;

pub fn ringwal() -> Command {
    Command::cargo_bin("ringwal").unwrap()
}

pub fn options() -> Options {
    Options::default()
        .segment_bytes(SEGMENT_BYTES)
        .record_bytes_max(4096)
        .preallocate(Preallocate::Grow)
}

/// The payload of record `lsn` in logs built here.
pub fn payload(lsn: u64) -> Vec<u8> {
    format!("record {lsn:05} {}", "x".repeat((lsn % 7) as usize * 10)).into_bytes()
}

/// A closed log of `records` records in `tmp/wal`.
pub fn build_log(tmp: &Path, records: u64) -> PathBuf {
    let dir = tmp.join("wal");
    let wal = Wal::open(&dir, options()).unwrap();
    for lsn in 1..=records {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.sync().unwrap();
    wal.close().unwrap();
    dir
}

pub fn segment_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(segment_file_name(sequence))
}

/// Where the next frame would go: (segment, offset).
pub fn end_of_log(dir: &Path) -> (u64, u64) {
    let tail = LogReader::open(dir).unwrap().scan().tail.unwrap();
    (tail.segment, tail.offset)
}

pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

/// A torn write after the last record: `bytes` of garbage that is no valid frame.
pub fn tear_tail(dir: &Path, bytes: usize) -> (u64, u64) {
    let (segment, offset) = end_of_log(dir);
    write_at(&segment_path(dir, segment), offset, &vec![0xEE; bytes]);
    (segment, offset)
}

/// Flips a payload byte of the first record of segment 1: valid records follow.
pub fn corrupt_first_record(dir: &Path) -> (u64, u64) {
    let path = segment_path(dir, 1);
    let at = 4096 + 16;
    let mut byte = [0u8; 1];
    std::fs::File::open(&path)
        .unwrap()
        .read_exact_at(&mut byte, at)
        .unwrap();
    write_at(&path, at, &[byte[0] ^ 0xFF]);
    (1, 4096)
}

/// Lines of stdout.
pub fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

/// Every byte of every file under `dir`, for "changed nothing" checks.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}
