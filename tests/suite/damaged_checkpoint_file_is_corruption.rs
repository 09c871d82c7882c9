//! Recovery decision table (checkpoint file): a `CHECKPOINT` that does not decode — a
//! flipped bit, a short file, another file's magic — is corruption, not "no
//! checkpoint". Read as 0 it would bring retired LSNs back into play (the next LSN is
//! `max(last record, checkpoint) + 1`); read as anything else it would be a guess.
//! `Wal::open` and `LogReader::open` refuse with `Corrupt` at segment 0, and change
//! nothing.

use ringwal::{Error, LogReader, Lsn, Wal};

use crate::common::{assert_log_holds, portable_log_of, temp_log};
use crate::disk::snapshot;

#[test]
fn a_damaged_checkpoint_file_is_refused() {
    let log = temp_log();
    let (wal, opts) = portable_log_of(&log.dir, 1_000);
    wal.checkpoint(Lsn::from(500)).unwrap();
    wal.close().unwrap();
    let path = log.dir.join("CHECKPOINT");
    let good = std::fs::read(&path).unwrap();
    let mut flipped = good.clone();
    flipped[16] ^= 0x04; // a bit of the LSN
    let mut other_magic = good.clone();
    other_magic[..8].copy_from_slice(b"RNGWALTR");
    let damage: [(&str, Vec<u8>); 4] = [
        ("a flipped LSN bit", flipped),
        ("a short file", good[..20].to_vec()),
        ("the intent's magic", other_magic),
        ("an empty file", Vec::new()),
    ];
    for (what, bytes) in damage {
        std::fs::write(&path, &bytes).unwrap();
        let before = snapshot(&log.dir);
        for (who, result) in [
            ("Wal::open", Wal::open(&log.dir, opts.clone()).map(|_| ())),
            ("LogReader::open", LogReader::open(&log.dir).map(|_| ())),
        ] {
            match result {
                Err(Error::Corrupt {
                    segment: 0, reason, ..
                }) => eprintln!("{what}, {who}: {reason}"),
                other => panic!("{who} opened a log whose CHECKPOINT has {what}: {other:?}"),
            }
        }
        assert!(
            before == snapshot(&log.dir),
            "{what}: a refused open changed the files"
        );
    }
    std::fs::write(&path, &good).unwrap();
    assert_log_holds(&log.dir, opts, 501, 1_000);
}
