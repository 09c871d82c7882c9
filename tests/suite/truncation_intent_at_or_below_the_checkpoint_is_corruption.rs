//! Recovery decision table, "a `TRUNCATE` intent at or below the checkpoint": the log
//! never writes one (`truncate_from` refuses such a cut before writing its intent), so
//! finding one means the directory was tampered with or damaged. `Wal::open` refuses
//! with `Truncation` and removes nothing: carrying it out would delete records the
//! application may still need (everything above the checkpoint).

use ringwal::format::checkpoint::{TRUNCATE_MAGIC, encode_marker};
use ringwal::{CorruptReason, Error, Lsn, Wal};

use crate::common::{assert_log_holds, portable_log_of, temp_log};
use crate::disk::snapshot;

#[test]
fn an_intent_at_or_below_the_checkpoint_is_refused() {
    let log = temp_log();
    let (wal, opts) = portable_log_of(&log.dir, 1_000);
    wal.checkpoint(Lsn::from(500)).unwrap();
    wal.close().unwrap();
    let intent = log.dir.join("TRUNCATE");
    for cut in [500, 300, 1] {
        std::fs::write(&intent, encode_marker(TRUNCATE_MAGIC, cut)).unwrap();
        let before = snapshot(&log.dir);
        match Wal::open(&log.dir, opts.clone()) {
            Err(Error::Corrupt {
                reason: CorruptReason::Truncation(why),
                ..
            }) => eprintln!("cut at {cut}: {why}"),
            other => panic!("an intent to cut at {cut}, checkpoint 500: {other:?}"),
        }
        assert!(
            before == snapshot(&log.dir),
            "a refused open changed the files"
        );
    }
    // Without the bad intent the log is whole.
    std::fs::remove_file(&intent).unwrap();
    assert_log_holds(&log.dir, opts, 501, 1_000);
}
