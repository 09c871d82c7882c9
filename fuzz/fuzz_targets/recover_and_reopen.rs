//! Recovery by `Wal::open` of an arbitrary directory image (built as `image.rs`
//! describes), checked against what `LogReader` saw before it: nothing panics; where
//! the reader read the log without error, recovery does not call it corrupt; the
//! records recovery keeps above the checkpoint are exactly what the reader saw (the
//! reader stops where recovery cuts a torn tail and reads an interrupted truncation as
//! finished, so recovery dropping a valid record the reader saw is a failure); and a
//! second open changes nothing.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ringwal::{CorruptReason, Driver, Error, LogReader, Lsn, Options, Wal};

#[path = "image.rs"]
mod image;

type Records = Vec<(u64, Vec<u8>)>;

fn options() -> Options {
    Options::default()
        .driver(Driver::Portable)
        .segment_bytes(64 << 10)
        .record_bytes_max(8 << 10)
        .staging_bytes_max(256 << 10)
}

/// Every record above the checkpoint as the reader sees it; `None` on any error.
fn read_with_reader(dir: &Path) -> Option<(u64, Records)> {
    let reader = LogReader::open(dir).ok()?;
    let checkpoint = reader.scan().checkpoint;
    let mut out = Vec::new();
    for record in reader.read_from(Lsn::from(checkpoint + 1)).ok()? {
        let record = record.ok()?;
        out.push((record.lsn().get(), record.into_payload()));
    }
    Some((checkpoint, out))
}

/// Opens (recovering), reads every record above `checkpoint`, closes.
fn open_and_read(dir: &Path, checkpoint: u64) -> ringwal::Result<Records> {
    let wal = Wal::open(dir, options())?;
    let mut out = Vec::new();
    for record in wal.read_from(Lsn::from(checkpoint + 1))? {
        let record = record?;
        out.push((record.lsn().get(), record.into_payload()));
    }
    wal.close()?;
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let Ok(tmp) = tempfile::tempdir_in(if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    }) else {
        return;
    };
    let dir = tmp.path().join("wal");
    if std::fs::create_dir(&dir).is_err() || image::write_image(&dir, data).is_none() {
        return;
    }
    let intent = dir.join("TRUNCATE").exists();
    let before = read_with_reader(&dir);
    let checkpoint = before.as_ref().map_or(0, |b| b.0);
    let after = match open_and_read(&dir, checkpoint) {
        Ok(records) => records,
        // An intent the log cannot carry out (at or below the checkpoint, inside a
        // batch) is corruption the reader, which ignores intents, cannot see.
        Err(Error::Corrupt {
            reason: CorruptReason::Truncation(_),
            ..
        }) if intent => return,
        Err(e) => {
            assert!(
                before.is_none() || !e.is_corrupt(),
                "the reader read the log cleanly, recovery calls it corrupt: {e}"
            );
            return;
        }
    };
    if let Some((_, seen)) = &before {
        let first_difference = seen
            .iter()
            .zip(&after)
            .position(|(s, a)| s != a)
            .unwrap_or(seen.len().min(after.len()));
        assert!(
            after == *seen,
            "recovery and the reader disagree from record {first_difference} on \
             ({} kept, {} seen; LSNs kept {:?}..{:?}, seen {:?}..{:?})",
            after.len(),
            seen.len(),
            after.first().map(|r| r.0),
            after.last().map(|r| r.0),
            seen.first().map(|r| r.0),
            seen.last().map(|r| r.0),
        );
    }
    let again = open_and_read(&dir, checkpoint).expect("a second open after recovery");
    assert!(again == after, "a second recovery changed the log");
});
