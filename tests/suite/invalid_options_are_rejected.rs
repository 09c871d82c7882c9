//! Options that cannot work are refused up front with `Error::InvalidOptions` naming
//! the field at fault, by `Options::validate` and by `Wal::open` (which then creates
//! nothing). A record over `record_bytes_max` is refused with `Error::InvalidArgument`
//! and the log carries on as if it had never been offered.

use std::time::Duration;

use ringwal::limits::{SEGMENT_HEADER_BYTES, frame_bytes};
use ringwal::{Driver, Durability, Error, Lsn, Options, Wal};

use crate::common::{drivers, payload, small, temp_log};

fn bad_options(driver: Driver) -> Vec<(&'static str, Options, &'static str)> {
    let base = || Options::default().driver(driver);
    vec![
        (
            "segment below the minimum",
            base().segment_bytes(4096).record_bytes_max(64),
            "segment_bytes",
        ),
        (
            "segment cannot hold header + largest record",
            base().segment_bytes(16 << 10).record_bytes_max(16 << 10),
            "segment_bytes",
        ),
        (
            "segment one byte short of header + largest record",
            base()
                .record_bytes_max(8 << 10)
                .segment_bytes(SEGMENT_HEADER_BYTES + frame_bytes(8 << 10) - 1),
            "segment_bytes",
        ),
        (
            "zero staging",
            base().staging_bytes_max(0),
            "staging_bytes_max",
        ),
        (
            "staging smaller than one largest record",
            base().record_bytes_max(1 << 20).staging_bytes_max(64 << 10),
            "staging_bytes_max",
        ),
        (
            "periodic sync every zero seconds",
            base().durability(Durability::Periodic(Duration::ZERO)),
            "durability",
        ),
        (
            "zero record_bytes_max",
            base().record_bytes_max(0),
            "record_bytes_max",
        ),
        (
            "more chains in flight than the driver bounds",
            base().chains_in_flight_max(65),
            "chains_in_flight_max",
        ),
        (
            "staging buffers whose total passes the memory bound",
            base().chains_in_flight_max(16).staging_bytes_max(1 << 30),
            "staging_bytes_max",
        ),
        (
            "record_bytes_max past the format's limit",
            base().record_bytes_max(1 << 31),
            "record_bytes_max",
        ),
    ]
}

#[test]
fn impossible_options_name_the_field_at_fault() {
    for driver in drivers() {
        for (case, opts, field) in bad_options(driver) {
            match opts.validate() {
                Err(Error::InvalidOptions { field: f, reason }) => {
                    assert_eq!(f, field, "{case}: blamed `{f}` ({reason})");
                    assert!(!reason.is_empty());
                }
                other => panic!("{case}: validate gave {other:?}"),
            }
            let log = temp_log();
            match Wal::open(&log.dir, opts) {
                Err(Error::InvalidOptions { field: f, .. }) => {
                    assert_eq!(f, field, "{case}: Wal::open")
                }
                Err(e) => panic!("{case}: Wal::open gave {e}"),
                Ok(_) => panic!("{case}: Wal::open accepted it"),
            }
            assert!(
                !log.dir.exists(),
                "{case}: Wal::open created the directory before refusing"
            );
        }
        // The edge cases just inside the limits are fine.
        let fits = Options::default()
            .driver(driver)
            .record_bytes_max(8 << 10)
            .segment_bytes(SEGMENT_HEADER_BYTES + frame_bytes(8 << 10))
            .staging_bytes_max(SEGMENT_HEADER_BYTES + frame_bytes(8 << 10));
        fits.validate().unwrap();
        small(driver).validate().unwrap();
        Options::default().driver(driver).validate().unwrap();
    }
}

fn assert_invalid_record<T: std::fmt::Debug>(result: Result<T, Error>, call: &str) {
    match result {
        Err(Error::InvalidArgument { .. }) => {}
        other => panic!("{call} of an oversized record gave {other:?}"),
    }
}

#[test]
fn an_oversized_record_is_refused_and_the_log_carries_on() {
    for driver in drivers() {
        let log = temp_log();
        let opts = small(driver);
        let max = 8 << 10; // small()'s record_bytes_max
        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        assert_eq!(wal.append(&payload(1)).unwrap(), Lsn::from(1));
        let big = vec![7u8; max + 1];
        assert_invalid_record(wal.append(&big), "append");
        assert_invalid_record(wal.try_append(&big), "try_append");
        assert_invalid_record(wal.append_durable(&big), "append_durable");
        // One oversized record spoils the whole batch, and none of it is appended.
        let ok = payload(2);
        assert_invalid_record(wal.append_batch(&[&ok, &big]), "append_batch");
        assert_eq!(
            wal.last_lsn(),
            Lsn::from(1),
            "a refused record used up an LSN"
        );
        assert_eq!(wal.append_durable(&payload(2)).unwrap(), Lsn::from(2));
        // Exactly at the limit is fine.
        let at_limit = vec![9u8; max];
        assert_eq!(wal.append_durable(&at_limit).unwrap(), Lsn::from(3));
        wal.close().unwrap();

        let wal = Wal::open(&log.dir, opts.clone()).unwrap();
        let records: Vec<_> = wal
            .read_from(Lsn::from(1))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].payload(), payload(1).as_slice());
        assert_eq!(records[1].payload(), payload(2).as_slice());
        assert!(
            records[2].payload() == at_limit.as_slice(),
            "the record at the limit came back changed"
        );
        wal.close().unwrap();
    }
}
