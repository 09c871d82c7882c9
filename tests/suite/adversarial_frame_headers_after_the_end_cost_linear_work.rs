//! Past the end of the chain, recovery looks for any valid frame (a valid frame after
//! damage is corruption, not a torn tail) by checking a frame at every plausible
//! 8-byte word, over the length it claims. Crafted bytes where every other word is a
//! plausible header claiming a payload up to the end of the file once made that
//! quadratic. The rule: the bytes checksummed stay within a small multiple of the bytes
//! scanned, whatever the bytes hold; when crafted bytes exhaust that budget the scan
//! refuses with `CorruptReason::ScanBudgetExceeded` rather than guess.

use std::path::Path;

use proptest::prelude::*;
use ringwal::sim::SimFs;
use ringwal::{CorruptReason, Error, LogReader, Options, Wal};

/// The scan may checksum this many times the bytes it covers, plus the slack below
/// per segment (the constants of `cursor.rs`).
const CHECK_FACTOR: u64 = 4;
const CHECK_SLACK_BYTES: u64 = 64 << 10;
const RECORDS: u64 = 10;

fn options(sim: &SimFs, segment_bytes: u64) -> Options {
    Options::default()
        .segment_bytes(segment_bytes)
        .record_bytes_max(4 << 10)
        .simulated(sim)
}

/// A closed log of `RECORDS` records in one segment of `segment_bytes`, preallocated;
/// returns the segment's path, where the chain ends, and the file length.
fn log(sim: &SimFs, segment_bytes: u64) -> (std::path::PathBuf, u64, u64) {
    let wal = Wal::open("/wal", options(sim, segment_bytes)).unwrap();
    for i in 0..RECORDS {
        wal.append(&[i as u8; 100]).unwrap();
    }
    wal.close().unwrap();
    let reader = LogReader::open_simulated(sim, "/wal").unwrap();
    let seg = reader.scan().segments.first().unwrap().clone();
    (seg.path, seg.valid_end, seg.file_bytes)
}

/// Frame headers at every `stride` bytes of `[from, file_len)`, each carrying the next
/// LSN the chain needs (so each is a candidate) and a payload length given by `len`
/// (at most what still fits in the file), with a checksum that never matches.
fn plausible_headers(
    from: u64,
    file_len: u64,
    stride: u64,
    mut len: impl FnMut(u64) -> u64,
) -> Vec<u8> {
    let mut bytes = vec![0u8; (file_len - from) as usize];
    let mut at = from;
    let head = ringwal::limits::FRAME_HEADER_BYTES;
    while at + head <= file_len {
        let room = file_len - at - head;
        let claimed = len(room).min(room) as u32;
        let i = (at - from) as usize;
        bytes[i..i + 4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        bytes[i + 4..i + 8].copy_from_slice(&claimed.to_le_bytes());
        bytes[i + 8..i + 16].copy_from_slice(&(RECORDS + 1).to_le_bytes());
        at += stride;
    }
    bytes
}

/// The scan's outcome: `Ok(checked)` (bytes checksummed, no valid data found after the
/// end) or `Err(checked)` when it refused for want of budget.
fn scan(sim: &SimFs) -> Result<u64, u64> {
    match LogReader::open_simulated(sim, Path::new("/wal")) {
        Ok(reader) => Ok(reader.scan().bytes_checksummed),
        Err(Error::Corrupt {
            reason: CorruptReason::ScanBudgetExceeded { bytes_checked, .. },
            ..
        }) => Err(bytes_checked),
        Err(other) => panic!("unexpected scan error: {other}"),
    }
}

#[test]
fn headers_claiming_the_rest_of_the_file_at_every_other_word_are_refused_in_linear_work() {
    let sim = SimFs::new(51);
    let (path, end, file_len) = log(&sim, 256 << 10);
    let region = file_len - end;
    // Unbounded, this would checksum about region² / 32 bytes (2 GB here).
    sim.write_file_at(
        &path,
        end,
        &plausible_headers(end, file_len, 16, |room| room),
    )
    .unwrap();
    let checked = scan(&sim).expect_err("crafted headers exhaust the budget");
    assert!(
        checked <= CHECK_FACTOR * region + CHECK_SLACK_BYTES,
        "checksummed {checked} bytes scanning {region}"
    );
    // Opening for writing refuses the same way; nothing is cut.
    match Wal::open("/wal", options(&sim, 256 << 10)) {
        Err(Error::Corrupt {
            reason: CorruptReason::ScanBudgetExceeded { .. },
            ..
        }) => {}
        other => panic!("expected ScanBudgetExceeded, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any density and any claimed lengths of plausible headers: the scan either
    /// finishes or refuses, and in both cases it checksummed at most a bounded multiple
    /// of the bytes on disk.
    #[test]
    fn plausible_headers_never_cost_more_than_linear_work(
        segment_kib in 16u64..=128,
        stride_words in 1u64..=8,
        len_seed in any::<u64>(),
        len_kind in 0u8..3,
    ) {
        let sim = SimFs::new(len_seed);
        let (path, end, file_len) = log(&sim, segment_kib << 10);
        let mut rng = fastrand::Rng::with_seed(len_seed);
        let headers = plausible_headers(end, file_len, stride_words * 8, |room| match len_kind {
            0 => room,
            1 => rng.u64(..=room),
            _ => rng.u64(..=64),
        });
        sim.write_file_at(&path, end, &headers).unwrap();
        let bound = (CHECK_FACTOR + 1) * file_len + CHECK_SLACK_BYTES;
        match scan(&sim) {
            Ok(checked) | Err(checked) => prop_assert!(
                checked <= bound,
                "checksummed {} bytes of a {}-byte segment", checked, file_len
            ),
        }
    }
}
