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
    cut_and_reopen(&dir, checkpoint, again, data.last().copied().unwrap_or(0));
});

/// The writer's cut on a recovered log (it zeroes only the records it removes: the
/// open's recovery must have left nothing past the chain that could come back): 8
/// appends, a cut at an LSN `pick` chooses above the checkpoint, 3 appends, a reopen
/// that finds exactly the records below the cut and the 3 new ones.
fn cut_and_reopen(dir: &Path, checkpoint: u64, mut records: Records, pick: u8) {
    let wal = Wal::open(dir, options()).expect("an open after recovery");
    let append_eight = |wal: &Wal, records: &mut Records, tag: u8| {
        for i in 0..8u8 {
            let payload = vec![tag ^ i; usize::from(i) * 7];
            let lsn = wal.append(&payload).expect("an append after recovery");
            records.push((lsn.get(), payload));
        }
        wal.sync().expect("a sync after recovery");
    };
    append_eight(&wal, &mut records, 0xA0);
    let lowest = checkpoint + 1;
    let last = wal.last_lsn().get();
    let cut = lowest + u64::from(pick) % (last - lowest + 1);
    match wal.truncate_from(Lsn::from(cut)) {
        Ok(()) => {}
        // Inside a batch the recovered log holds.
        Err(Error::InvalidArgument { .. }) => return,
        Err(e) => panic!("a cut from {cut} of a recovered log failed: {e}"),
    }
    records.retain(|r| r.0 < cut);
    for i in 0..3u8 {
        let payload = vec![0x5C ^ i; usize::from(i) * 11];
        let lsn = wal.append(&payload).expect("an append after the cut");
        records.push((lsn.get(), payload));
    }
    wal.close().expect("a close after the cut");
    let reopened = open_and_read(dir, checkpoint).expect("a reopen after the cut");
    assert!(
        reopened == records,
        "after a cut from {cut}: {} records read back, {} expected (last {:?} vs {:?})",
        reopened.len(),
        records.len(),
        reopened.last().map(|r| r.0),
        records.last().map(|r| r.0),
    );
}
