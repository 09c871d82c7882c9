//! A log with more live segments than the process may hold descriptors opens and reads
//! back: opening and reading use a bounded number of open files and bounded reads,
//! whatever the segment count (recovery once kept one open file and a read buffer of up
//! to 1 MiB per live segment, so 3,000 segments failed with EMFILE).
//!
//! Two views of the rule: on the simulator, the peak of files open at once and the
//! largest single read while opening and reading 3,000 segments; on the real
//! filesystem, the same open and read in a child process whose descriptor limit
//! (`ulimit -n`) is far below the segment count.

use std::path::Path;

use ringwal::format::frame::{self, FrameSpec};
use ringwal::format::header::SegmentHeader;
use ringwal::format::names::segment_file_name;
use ringwal::sim::SimFs;
use ringwal::{LogReader, Lsn, Options, Preallocate, Wal};

use crate::common::{
    assert_log_holds, child_command, driver_from_name, driver_name, drivers, payload, temp_log,
};

const SEGMENT_BYTES: u64 = 64 << 10;
/// Files a writer holds besides the segments it reads one at a time: the lock, the
/// active and the next segment, a reader's segment, a checkpoint or intent being read.
const HANDLES_MAX: u64 = 8;
/// The descriptor limit of the child: well under the segment count, enough for the
/// test harness, the writer and an io_uring.
const CHILD_FD_LIMIT: u32 = 128;
const REAL_SEGMENTS: u64 = 1_100;
const CHILD_DIR: &str = "RINGWAL_FD_LIMIT_CHILD_DIR";
const CHILD_DRIVER: &str = "RINGWAL_FD_LIMIT_CHILD_DRIVER";
const CHILD_TEST: &str =
    "thousands_of_segments_open_with_bounded_descriptors_and_reads::child_opens_and_reads";

/// Segment `seq` as the writer would leave it holding the one record `seq`: a header
/// and one frame, nothing preallocated.
fn segment_bytes(seq: u64) -> Vec<u8> {
    let header = SegmentHeader {
        sequence: seq,
        first_lsn: seq,
        capacity: SEGMENT_BYTES,
        durable_floor: seq - 1,
        recycled: false,
    };
    let mut bytes = header.to_block();
    let body = payload(seq);
    let spec = FrameSpec {
        lsn: seq,
        durable: seq - 1,
        sequence: seq,
        payload: &body,
        payload_crc: frame::payload_crc(&body),
        batch_continues: false,
    };
    frame::encode_into(&spec, &mut bytes);
    bytes
}

fn options() -> Options {
    Options::default()
        .segment_bytes(SEGMENT_BYTES)
        .record_bytes_max(4 << 10)
        .preallocate(Preallocate::Grow)
}

fn reads_back(wal: &Wal, last: u64) {
    let mut expected = 1;
    for record in wal.read_from(Lsn::new(1)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected);
        assert_eq!(record.payload(), payload(expected).as_slice());
        expected += 1;
    }
    assert_eq!(expected - 1, last);
}

#[test]
fn three_thousand_segments_on_the_simulator_use_a_few_handles_and_small_reads() {
    const SEGMENTS: u64 = 3_000;
    let sim = SimFs::new(11);
    let dir = Path::new("/wal");
    Wal::open(dir, options().simulated(&sim))
        .unwrap()
        .close()
        .unwrap();
    let mut log_bytes = 0;
    for seq in 1..=SEGMENTS {
        let bytes = segment_bytes(seq);
        log_bytes += bytes.len() as u64;
        sim.write_file_at(dir.join(segment_file_name(seq)), 0, &bytes)
            .unwrap();
    }
    sim.reset_peaks();
    let before = sim.counts();

    let wal = Wal::open(dir, options().simulated(&sim)).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::new(SEGMENTS));
    reads_back(&wal, SEGMENTS);
    let reader = LogReader::open_simulated(&sim, dir).unwrap();
    assert_eq!(reader.scan().last_lsn, SEGMENTS);
    assert_eq!(
        reader.read_from(Lsn::new(1)).unwrap().count() as u64,
        SEGMENTS
    );

    let after = sim.counts();
    let peak = after.handles_open_peak - before.handles_open;
    assert!(
        peak <= HANDLES_MAX,
        "{peak} files open at once for {SEGMENTS} segments"
    );
    assert!(
        after.read_bytes_max <= ringwal::limits::READ_CHUNK_BYTES as u64,
        "a single read asked for {} bytes",
        after.read_bytes_max
    );
    // Open, read through the Wal, scan and read through a LogReader: each reads every
    // segment a bounded number of times, never a buffer larger than the file per file.
    let read = after.read_bytes - before.read_bytes;
    assert!(
        read <= 8 * log_bytes,
        "read {read} bytes for a log of {log_bytes}"
    );

    // Reading the last record finds its segment from a handful of headers, not by
    // reading every segment's header.
    let before = sim.counts();
    let last: Vec<_> = wal.read_from(Lsn::new(SEGMENTS)).unwrap().collect();
    assert_eq!(last.len(), 1);
    let read = sim.counts().read_bytes - before.read_bytes;
    let headers = read / ringwal::limits::SEGMENT_HEADER_BYTES;
    assert!(
        headers <= 32,
        "read_from the last record read {read} bytes ({headers} headers' worth)"
    );
}

/// The child: opens and reads the log in `CHILD_DIR` under the lowered descriptor
/// limit. Does nothing unless run by `over_a_thousand_segments_open_under_a_low_descriptor_limit`.
#[test]
fn child_opens_and_reads() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let driver = driver_from_name(&std::env::var(CHILD_DRIVER).unwrap_or_default());
    let wal = Wal::open(&dir, options().driver(driver)).unwrap();
    reads_back(&wal, REAL_SEGMENTS);
    let lsn = wal.append_durable(&payload(REAL_SEGMENTS + 1)).unwrap();
    assert_eq!(lsn, Lsn::new(REAL_SEGMENTS + 1));
    wal.close().unwrap();
    let reader = LogReader::open(&dir).unwrap();
    assert_eq!(reader.scan().last_lsn, REAL_SEGMENTS + 1);
    println!("CHILD OK");
}

#[test]
fn over_a_thousand_segments_open_under_a_low_descriptor_limit() {
    for driver in drivers() {
        let log = temp_log();
        std::fs::create_dir_all(&log.dir).unwrap();
        for seq in 1..=REAL_SEGMENTS {
            std::fs::write(log.dir.join(segment_file_name(seq)), segment_bytes(seq)).unwrap();
        }
        // The limit applies to the whole process, so it is lowered in a child: a
        // shell sets it and execs this test binary, running only the child test.
        let child = child_command(CHILD_TEST);
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c")
            .arg(format!("ulimit -n {CHILD_FD_LIMIT} && exec \"$@\""))
            .arg("sh")
            .arg(child.get_program())
            .args(child.get_args())
            .env(CHILD_DIR, &log.dir)
            .env(CHILD_DRIVER, driver_name(driver));
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("CHILD OK"),
            "{driver:?}: the child failed under ulimit -n {CHILD_FD_LIMIT}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_log_holds(&log.dir, options().driver(driver), 1, REAL_SEGMENTS + 1);
    }
}
