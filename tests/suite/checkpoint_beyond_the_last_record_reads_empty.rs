//! A persisted checkpoint above every record in the log (the writer never makes one,
//! but a tail cut back or a segment restored from outside does): reading from just above
//! the checkpoint yields nothing — not an error — and appends carry on above it and are
//! read back after a reopen. Found by the `recover_and_reopen` fuzz target.

use ringwal::format::frame::{self, FrameSpec};
use ringwal::format::header::SegmentHeader;
use ringwal::format::{checkpoint, names};
use ringwal::{LogReader, Lsn, Wal};

use crate::common::{drivers, small, temp_log};

const CHECKPOINT: u64 = 3324;

#[test]
fn checkpoint_beyond_the_last_record_reads_empty() {
    for driver in drivers() {
        let log = temp_log();
        std::fs::create_dir_all(&log.dir).unwrap();
        let mut segment = SegmentHeader {
            sequence: 1,
            first_lsn: 1,
            capacity: 64 << 10,
            durable_floor: 0,
            recycled: false,
        }
        .to_block();
        frame::encode_into(
            &FrameSpec {
                lsn: 1,
                durable: 0,
                sequence: 1,
                payload: b"one",
                payload_crc: frame::payload_crc(b"one"),
                batch_continues: false,
            },
            &mut segment,
        );
        segment.resize(64 << 10, 0);
        std::fs::write(log.dir.join(names::segment_file_name(1)), &segment).unwrap();
        std::fs::write(log.dir.join("CHECKPOINT"), checkpoint::encode(CHECKPOINT)).unwrap();

        let reader = LogReader::open(&log.dir).unwrap();
        let seen: Vec<_> = reader
            .read_from(Lsn::from(CHECKPOINT + 1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(seen.is_empty(), "{driver:?}: the reader");

        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        assert_eq!(wal.last_lsn(), Lsn::from(CHECKPOINT));
        let after: Vec<_> = wal
            .read_from(Lsn::from(CHECKPOINT + 1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(after.is_empty(), "{driver:?}: read above the checkpoint");
        assert_eq!(
            wal.append_durable(b"next").unwrap(),
            Lsn::from(CHECKPOINT + 1)
        );
        wal.close().unwrap();

        let wal = Wal::open(&log.dir, small(driver)).unwrap();
        let records: Vec<_> = wal
            .read_from(Lsn::from(CHECKPOINT + 1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(records.len(), 1, "{driver:?}");
        assert_eq!(records[0].payload(), b"next");
        wal.close().unwrap();
    }
}
