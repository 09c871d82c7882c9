//! `Options::default().segment_bytes(1 << 20)` used to be refused: the default
//! `record_bytes_max` (1 MiB) did not fit a 1 MiB segment after its header. Unless set,
//! the record limit is now the largest the segment and staging sizes hold (at most
//! 1 MiB); a value set explicitly is still checked, never lowered.

use ringwal::limits::{SEGMENT_BYTES_MIN, SEGMENT_HEADER_BYTES, frame_bytes};
use ringwal::{Error, Lsn, Options, Wal};

use crate::common::{drivers, temp_log};

/// The largest payload whose frame fits in `room` bytes.
fn largest_fitting(room: u64) -> u64 {
    let mut len = room;
    while len > 0 && frame_bytes(len) > room {
        len -= 1;
    }
    len
}

#[test]
fn every_segment_and_staging_size_validates_with_the_default_record_limit() {
    let segments = [
        SEGMENT_BYTES_MIN,
        SEGMENT_BYTES_MIN + 1,
        SEGMENT_BYTES_MIN + 7,
        12_345,
        64 << 10,
        1 << 20,
        (1 << 20) + SEGMENT_HEADER_BYTES + 24,
        (1 << 20) + SEGMENT_HEADER_BYTES + 64,
        64 << 20,
    ];
    let stagings = [8 << 10, 64 << 10, 4 << 20];
    for segment in segments {
        for staging in stagings {
            // Either order of the builder calls gives the same options.
            let a = Options::default()
                .segment_bytes(segment)
                .staging_bytes_max(staging);
            let b = Options::default()
                .staging_bytes_max(staging)
                .segment_bytes(segment);
            assert_eq!(a, b, "segment {segment}, staging {staging}");
            a.validate()
                .unwrap_or_else(|e| panic!("segment {segment}, staging {staging}: {e}"));
            let room = segment.min(staging) - SEGMENT_HEADER_BYTES;
            let expected = largest_fitting(room).min(1 << 20);
            assert_eq!(
                a.get_record_bytes_max(),
                expected,
                "segment {segment}, staging {staging}: the largest record that fits"
            );
        }
    }
    assert_eq!(Options::default().get_record_bytes_max(), 1 << 20);
}

#[test]
fn a_one_mib_segment_opens_and_takes_its_largest_record() {
    for driver in drivers() {
        let log = temp_log();
        let options = Options::default().driver(driver).segment_bytes(1 << 20);
        let max = options.get_record_bytes_max();
        let wal = Wal::open(&log.dir, options.clone()).unwrap();
        let big = vec![0xA5; max as usize];
        assert_eq!(wal.append_durable(&big).unwrap(), Lsn::from(1));
        assert_eq!(wal.append_durable(&big).unwrap(), Lsn::from(2));
        assert!(matches!(
            wal.append(&vec![0; max as usize + 1]),
            Err(Error::InvalidArgument { what: "record", .. })
        ));
        wal.close().unwrap();
        let wal = Wal::open(&log.dir, options).unwrap();
        let back: Vec<_> = wal
            .read_from(Lsn::from(1))
            .unwrap()
            .map(|r| r.unwrap().into_payload())
            .collect();
        assert_eq!(back, vec![big.clone(), big], "{driver:?}");
        wal.close().unwrap();
    }
}

#[test]
fn an_explicit_record_limit_is_still_checked() {
    let e = Options::default()
        .record_bytes_max(1 << 20)
        .segment_bytes(1 << 20)
        .validate()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidOptions {
                field: "segment_bytes",
                ..
            }
        ),
        "{e}"
    );
    let set = Options::default()
        .segment_bytes(1 << 20)
        .record_bytes_max(1000);
    assert_eq!(set.get_record_bytes_max(), 1000);
    assert_eq!(set.segment_bytes(64 << 20).get_record_bytes_max(), 1000);
}
