//! With several chains in flight (io_uring), a failed sync can leave an *earlier*
//! segment's last records readable but never durable (Linux marks the pages clean),
//! while a later chain wrote and synced the next segment. A reopen in the same boot
//! must make every such record durable, not only the tail segment's: otherwise records
//! acknowledged after the reopen rest on a hole that a power cut opens.
//!
//! The io_uring driver cannot be power-cut, so the simulator builds the state that two
//! chains leave: the writer's own failed sync of segment 1 (it poisons), then segment 2
//! written and synced as the second chain would have. Also: an unclean reopen rewrites
//! no more than the last writer's bound on unsynced bytes (recorded in `LOCK`), and the
//! whole log when `LOCK` does not give one.

use std::path::Path;

use ringwal::format::frame::{self, FrameSpec};
use ringwal::format::header::SegmentHeader;
use ringwal::format::names::{LOCK_FILE, segment_file_name};
use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{Lsn, Options, Wal};

use crate::common::payload;

const SEGMENT_BYTES: u64 = 64 << 10;
const STAGING_BYTES: u64 = 16 << 10;

fn options(sim: &SimFs) -> Options {
    Options::default()
        .segment_bytes(SEGMENT_BYTES)
        .record_bytes_max(4 << 10)
        .staging_bytes_max(STAGING_BYTES)
        .chains_in_flight_max(2)
        .simulated(sim)
}

fn records(wal: &Wal) -> Vec<(u64, Vec<u8>)> {
    wal.read_from(Lsn::new(1))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.lsn().get(), r.into_payload())
        })
        .collect()
}

#[test]
fn records_after_a_reopen_survive_a_failed_sync_of_an_earlier_segment() {
    let sim = SimFs::new(41);
    let dir = Path::new("/wal");
    let wal = Wal::open(dir, options(&sim)).unwrap();
    for lsn in 1..=5 {
        wal.append_durable(&payload(lsn)).unwrap();
    }
    // Chain 1: record 6 into segment 1, whose sync fails. The log is poisoned; record
    // 6 stays readable from memory but will never reach the disk by itself.
    sim.fail(SimFault {
        op: SimOp::Sync,
        nth: 1,
        error: SimError::Eio,
    });
    assert!(wal.append_durable(&payload(6)).is_err());
    drop(wal);
    // Chain 2, in flight at the same time: segment 2 starts at record 7, written and
    // synced (its sync succeeded, but record 7 was never acknowledged: 6 was not).
    let body = payload(7);
    let mut seg2 = SegmentHeader {
        sequence: 2,
        first_lsn: 7,
        capacity: SEGMENT_BYTES,
        durable_floor: 6,
        recycled: false,
    }
    .to_block();
    let spec = FrameSpec {
        lsn: 7,
        durable: 6,
        sequence: 2,
        payload: &body,
        payload_crc: frame::payload_crc(&body),
        batch_continues: false,
    };
    frame::encode_into(&spec, &mut seg2);
    let seg2_path = dir.join(segment_file_name(2));
    sim.write_file_at(&seg2_path, 0, &seg2).unwrap();
    sim.sync_file(&seg2_path).unwrap();
    sim.sync_dir(dir).unwrap();

    // Same boot: recovery reads records 1..=7, segment 1's last one from memory only.
    let wal = Wal::open(dir, options(&sim)).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::new(7));
    let acked = wal.append_durable(&payload(8)).unwrap();
    assert_eq!(acked, Lsn::new(8));
    drop(wal);

    sim.restart();
    let wal = Wal::open(dir, options(&sim)).expect("the log opens after the power cut");
    let expected: Vec<_> = (1..=8).map(|lsn| (lsn, payload(lsn))).collect();
    assert_eq!(
        records(&wal),
        expected,
        "every record acknowledged after the reopen survives, with all before it"
    );
}

/// Appends enough records to fill about `segments` segments, then cuts the power with
/// the log open (an unclean close). Returns the bytes of records the log holds.
fn unclean_log(sim: &SimFs, segments: u64) -> u64 {
    let wal = Wal::open("/wal", options(sim)).unwrap();
    let record = 1_000u64;
    let per_segment = (SEGMENT_BYTES - 4096) / (record + ringwal::limits::FRAME_HEADER_BYTES);
    for lsn in 1..=segments * per_segment {
        wal.append(&vec![lsn as u8; record as usize]).unwrap();
    }
    wal.sync().unwrap();
    sim.restart();
    drop(wal);
    let reader = ringwal::LogReader::open_simulated(sim, "/wal").unwrap();
    reader
        .scan()
        .segments
        .iter()
        .map(|s| s.valid_end.saturating_sub(4096))
        .sum()
}

#[test]
fn an_unclean_reopen_rewrites_the_last_writers_bound_not_the_whole_log() {
    let sim = SimFs::new(42);
    let log_bytes = unclean_log(&sim, 20);
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    let rewritten = wal.recovery_report().tail_bytes_rewritten;
    // The bound: what two chains of one staging buffer each, plus a whole active
    // segment, can leave unsynced; segments rewritten whole bring their headers.
    let bound = 2 * (STAGING_BYTES + 4096) + SEGMENT_BYTES;
    assert!(rewritten > 0, "an unclean close is followed by a rewrite");
    assert!(
        rewritten <= bound + 3 * 4096,
        "rewrote {rewritten} bytes of a {log_bytes}-byte log, bound {bound}"
    );
    assert!(rewritten < log_bytes);
}

#[test]
fn a_lock_file_without_a_bound_makes_the_reopen_rewrite_the_whole_log() {
    let sim = SimFs::new(43);
    let log_bytes = unclean_log(&sim, 6);
    let lock = Path::new("/wal").join(LOCK_FILE);
    // Over every byte the last writer left there (the simulator cannot shorten it).
    let garbage = vec![b'?'; sim.read_file(&lock).unwrap().len()];
    sim.write_file_at(&lock, 0, &garbage).unwrap();
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    let rewritten = wal.recovery_report().tail_bytes_rewritten;
    let segments = wal.recovery_report().segments;
    assert_eq!(
        rewritten,
        log_bytes + segments * 4096,
        "every record (and each header) written again"
    );
}
