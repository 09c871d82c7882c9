//! `ringwal repair --truncate-at-corruption` cuts through the library's truncation:
//! once the cut is decided (its intent durable), a crash before the files change is
//! finished by the next `Wal::open`, which then opens the damaged log cut at the
//! damage. The CLI used to zero and move files with no intent: a crash part way left
//! a log that no open could finish.

#![cfg(unix)]

use std::os::unix::fs::FileExt;

use ringwal::truncation::repair;
use ringwal::{Driver, LogReader, Lsn, Wal};

use crate::common::{payload, small, temp_log};

#[test]
fn an_interrupted_repair_cut_is_finished_by_open() {
    let log = temp_log();
    let wal = Wal::open(&log.dir, small(Driver::Portable)).unwrap();
    for lsn in 1..=1500 {
        wal.append(&payload(lsn)).unwrap();
    }
    wal.sync().unwrap();
    wal.close().unwrap();
    let scan = LogReader::open(&log.dir).unwrap().scan().clone();
    let second = scan.segments.iter().find(|s| s.sequence == 2).unwrap();
    let first_of_second = second.first_lsn.unwrap();
    assert!(scan.segments.len() >= 3, "records after the damage");
    // A flipped payload byte in segment 2's first record: mid-log corruption.
    let path = &second.path;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, 4096 + 20).unwrap();
    file.write_all_at(&[byte[0] ^ 0xFF], 4096 + 20).unwrap();
    drop(file);
    assert!(Wal::open(&log.dir, small(Driver::Portable)).is_err_and(|e| e.is_corrupt()));

    let from = repair::damaged_suffix_from(&log.dir).unwrap();
    assert_eq!(
        from, first_of_second,
        "the cut starts at the damaged record"
    );
    let plan = repair::plan(&log.dir, from).unwrap();
    assert!(!plan.removed.is_empty(), "{plan:?}");
    // The repair decided the cut, then crashed before changing any segment.
    repair::decide(&log.dir, from).unwrap();

    let wal = Wal::open(&log.dir, small(Driver::Portable)).unwrap();
    assert_eq!(wal.last_lsn(), Lsn::from(from - 1));
    let mut expected = 1;
    for record in wal.read_from(Lsn::from(1)).unwrap() {
        let record = record.unwrap();
        assert_eq!(record.lsn().get(), expected);
        assert_eq!(record.payload(), payload(expected).as_slice());
        expected += 1;
    }
    assert_eq!(expected, from, "every record before the damage kept");
    assert_eq!(wal.append_durable(b"after").unwrap(), Lsn::from(from));
    wal.close().unwrap();
    for path in plan.removed {
        assert!(
            !path.exists() || std::fs::read(&path).unwrap().iter().all(|&b| b == 0),
            "{} removed or blank ({:?})",
            path.display(),
            std::fs::read(&path).map(|b| (b.len(), b.iter().position(|&x| x != 0)))
        );
    }
}
