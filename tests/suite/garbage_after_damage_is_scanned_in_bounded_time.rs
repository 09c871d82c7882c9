//! A segment whose tail is random bytes (a damaged frame followed by garbage) is
//! scanned without checksumming the rest of the file at every position: recovery and
//! the read-only reader both finish (the guard only turns a hang into a failure) and
//! report a torn tail.

use ringwal::{LogReader, Wal};

use crate::common::{XorShift, drivers, payload, small, temp_log, within_a_minute};

#[test]
fn random_garbage_after_the_last_record_is_a_torn_tail() {
    for driver in drivers() {
        let log = temp_log();
        let wal = Wal::open(&log.dir, small(driver).segment_bytes(4 << 20)).unwrap();
        for i in 1..=100u64 {
            wal.append(&payload(i)).unwrap();
        }
        wal.sync().unwrap();
        wal.close().unwrap();
        let seg = log.dir.join(format!("{:020}.wal", 1));
        let len = std::fs::metadata(&seg).unwrap().len();
        let mut rng = XorShift::from_time("garbage tail");
        let reader = LogReader::open(&log.dir).unwrap();
        let end = reader.scan().tail.unwrap().offset;
        let garbage = rng.non_zero_bytes((len - end) as usize);
        use std::os::unix::fs::FileExt;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .write_all_at(&garbage, end)
            .unwrap();
        let dir = log.dir.clone();
        let torn = within_a_minute("scanning a garbage tail", move || {
            LogReader::open(&dir)
                .unwrap()
                .scan()
                .tail
                .unwrap()
                .torn_bytes
        });
        assert!(torn > 0);
        let dir = log.dir.clone();
        within_a_minute("recovering a garbage tail", move || {
            let wal = Wal::open(&dir, small(driver).segment_bytes(4 << 20)).unwrap();
            assert_eq!(wal.last_lsn().get(), 100);
            wal.close().unwrap();
        });
    }
}
