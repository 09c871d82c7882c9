//! The fault filesystem reorders unsynced writes the way writeback and a disk do,
//! through a real mount: asked for torn-op, one write comes back with only its later
//! part; asked for torn-seq, an earlier write is lost while a later one survives; and
//! the bytes synced before stay. Without this, ringwal's power-cut tests could pass on
//! a model that only ever tears in order.

use std::os::unix::fs::FileExt;

use ringwal_faultfs::{CutReport, Tear};

use crate::common::{Place, skip, skip_reason};

const SYNCED: &[u8] = b"synced header";

/// A synced file (its entry too), then `writes` unsynced writes of `len` bytes each,
/// write `k` filled with `b'a' + k`, back to back from `at`; a cut shaped `tear`.
/// Returns the report and the file's content after a remount.
fn cut_after_writes(tear: Tear, at: usize, writes: u8, len: usize) -> (CutReport, Vec<u8>) {
    let place = Place::new();
    let mounted = place.mount();
    let path = place.mnt.join("f");
    let f = std::fs::File::create(&path).unwrap();
    f.write_all_at(SYNCED, 0).unwrap();
    f.sync_data().unwrap();
    std::fs::File::open(&place.mnt).unwrap().sync_all().unwrap();
    for k in 0..writes {
        let offset = at + usize::from(k) * len;
        f.write_all_at(&vec![b'a' + k; len], offset as u64).unwrap();
    }
    let report = mounted.control().cut_power_with(7, tear).unwrap();
    drop(f);
    mounted.unmount().unwrap();
    let _again = place.mount();
    let bytes = std::fs::read(&path).unwrap();
    (report, bytes)
}

/// Whether write `k` (of `len` bytes, from `at`) is in `bytes`: all of it, none of it,
/// or (None) part of it.
fn present(bytes: &[u8], at: usize, k: u8, len: usize) -> Option<bool> {
    let start = at + usize::from(k) * len;
    let got = bytes
        .get(start..(start + len).min(bytes.len()))
        .unwrap_or_default();
    match got.iter().filter(|&&b| b == b'a' + k).count() {
        0 => Some(false),
        n if n == len => Some(true),
        _ => None,
    }
}

#[test]
fn model_reorders_unsynced_writes() {
    if let Some(reason) = skip_reason() {
        skip(&reason);
        return;
    }
    // Torn-op: one page-aligned 4 KiB write (the kernel passes it on whole) loses its
    // front and keeps its back, cut at a sector boundary.
    let (report, bytes) = cut_after_writes(Tear::TornOp, 4096, 1, 4096);
    assert_eq!(bytes.get(..SYNCED.len()), Some(SYNCED), "synced bytes kept");
    assert_eq!(
        report.unsynced_writes, 1,
        "one write reached the model: {report:?}"
    );
    assert_eq!(
        (report.files_reordered, report.files_torn_op),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(bytes.len(), 8192, "the kept back took the size with it");
    let region = &bytes[4096..];
    let kept_from = region
        .iter()
        .position(|&b| b == b'a')
        .expect("a later part kept");
    assert!(
        kept_from > 0 && kept_from % 512 == 0,
        "front lost up to {kept_from}"
    );
    assert!(
        region[kept_from..].iter().all(|&b| b == b'a'),
        "the back kept whole"
    );
    assert!(
        region[..kept_from].iter().all(|&b| b == 0),
        "the front never appeared"
    );

    // Torn-seq: of five writes (from no sector boundary), an earlier one lost, a later
    // one kept whole.
    let (at, len) = (700, 1500);
    let (report, bytes) = cut_after_writes(Tear::TornSeq, at, 5, len);
    assert_eq!(bytes.get(..SYNCED.len()), Some(SYNCED), "synced bytes kept");
    assert_eq!(
        (report.files_reordered, report.files_torn_seq),
        (1, 1),
        "{report:?}"
    );
    let each: Vec<Option<bool>> = (0..5).map(|k| present(&bytes, at, k, len)).collect();
    let lost = each.iter().position(|p| *p == Some(false));
    let kept_later = lost.is_some_and(|l| each[l..].contains(&Some(true)));
    assert!(
        kept_later,
        "a write lost and a later one kept: {each:?} {report:?}"
    );
}
