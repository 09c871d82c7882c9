//! Helpers shared by the suite.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ringwal::{Driver, Options, Wal};

/// A temporary directory that lives as long as the value.
pub struct TempLog {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
}

pub fn temp_log() -> TempLog {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("wal");
    TempLog { _tmp: tmp, dir }
}

/// Every driver this machine and build can run. The io_uring driver joins the list
/// when it can open a ring; otherwise the reason is printed once.
pub fn drivers() -> Vec<Driver> {
    let mut out = vec![Driver::Portable];
    let probe = temp_log();
    match Wal::open(&probe.dir, Options::default().segment_bytes(1 << 16).driver(Driver::IoUring)) {
        Ok(wal) => {
            wal.close().expect("close probe");
            out.push(Driver::IoUring);
        }
        Err(e) => eprintln!("skipping the io_uring driver in this test: {e}"),
    }
    out
}

/// Small segments so tests rotate often.
pub fn small(driver: Driver) -> Options {
    Options::default().driver(driver).segment_bytes(64 << 10).record_bytes_max(8 << 10).staging_bytes_max(256 << 10)
}

/// The payload tests write for `lsn`: recognisable, varying in length.
pub fn payload(lsn: u64) -> Vec<u8> {
    let len = (lsn * 37 % 300) as usize;
    let mut p = format!("record-{lsn}:").into_bytes();
    p.extend((0..len).map(|i| (i as u64 ^ lsn) as u8));
    p
}

/// Reads everything from LSN 1 and checks density and payloads up to `last`.
pub fn assert_log_holds(dir: &Path, opts: Options, from: u64, last: u64) {
    let wal = Wal::open(dir, opts).expect("reopen");
    let mut expected = from;
    for record in wal.read_from(from.into()).expect("read_from") {
        let record = record.expect("record");
        assert_eq!(record.lsn().get(), expected, "LSNs must be dense");
        assert_eq!(record.payload(), payload(expected).as_slice(), "payload of {expected}");
        expected += 1;
    }
    assert_eq!(expected - 1, last, "last LSN recovered");
    wal.close().expect("close");
}
