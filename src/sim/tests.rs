//! The simulator's own model: what survives a restart, faults, power, handles.

use std::path::Path;

use super::{SimError, SimFault, SimFs, SimOp};
use crate::io::mode::Mode;

fn file(sim: &SimFs, path: &str) -> super::SimFile {
    sim.open(Path::new(path), Mode::CreateKeep).unwrap()
}

/// `/d` exists durably.
fn with_dir(seed: u64) -> SimFs {
    let sim = SimFs::new(seed);
    sim.create_dir(Path::new("/d")).unwrap();
    sim.sync_dir(Path::new("/")).unwrap();
    sim
}

#[test]
fn synced_data_and_synced_entries_survive_a_restart() {
    let sim = with_dir(1);
    let f = file(&sim, "/d/a");
    f.write_all_at(b"hello", 0).unwrap();
    f.sync().unwrap();
    sim.sync_dir(Path::new("/d")).unwrap();
    sim.restart();
    assert_eq!(sim.read_file("/d/a").unwrap(), b"hello");
}

#[test]
fn an_entry_never_synced_into_its_directory_is_gone() {
    let sim = with_dir(2);
    let f = file(&sim, "/d/a");
    f.write_all_at(b"hello", 0).unwrap();
    f.sync().unwrap();
    sim.restart();
    assert!(sim.read_file("/d/a").is_err());
    assert_eq!(sim.counts().entries_lost, 1);
}

#[test]
fn a_directory_whose_own_entry_was_not_synced_takes_its_files_with_it() {
    let sim = SimFs::new(3);
    sim.create_dir(Path::new("/d")).unwrap();
    let f = file(&sim, "/d/a");
    f.sync().unwrap();
    sim.sync_dir(Path::new("/d")).unwrap();
    sim.restart();
    assert!(!sim.is_dir(Path::new("/d")));
    assert!(sim.paths().is_empty());
}

#[test]
fn a_rename_is_durable_only_after_the_directory_sync() {
    let sim = with_dir(4);
    let f = file(&sim, "/d/a.tmp");
    f.write_all_at(b"x", 0).unwrap();
    f.sync().unwrap();
    sim.sync_dir(Path::new("/d")).unwrap();
    sim.rename(Path::new("/d/a.tmp"), Path::new("/d/a"))
        .unwrap();
    sim.restart();
    assert_eq!(
        sim.paths(),
        vec![Path::new("/d").to_path_buf(), "/d/a.tmp".into()]
    );
}

/// The kinds of state one restart left a file in (see `unsynced_writes_survive_...`).
#[derive(Debug, Default)]
struct Seen {
    nothing: bool,
    everything: bool,
    prefix: bool,
    /// A later write's bytes kept while an earlier write's were lost.
    later_write_only: bool,
    /// A later sector of one write kept while an earlier sector of it was lost.
    later_sector_only: bool,
}

/// Synced: 100 bytes of 1. Unsynced, one after another: 2000 bytes of 2, 1000 of 3,
/// 3000 of 4 (the file grows to 6100). Returns what a restart left.
fn three_unsynced_writes(seed: u64) -> (Vec<u8>, super::SimCounts) {
    let sim = with_dir(seed);
    let f = file(&sim, "/d/a");
    f.write_all_at(&[1u8; 100], 0).unwrap();
    f.sync().unwrap();
    sim.sync_dir(Path::new("/d")).unwrap();
    f.write_all_at(&[2u8; 2000], 100).unwrap();
    f.write_all_at(&[3u8; 1000], 2100).unwrap();
    f.write_all_at(&[4u8; 3000], 3100).unwrap();
    let counts = sim.restart();
    (sim.read_file("/d/a").unwrap(), counts)
}

/// The value the `i`-th byte would hold had every write landed.
fn written(i: usize) -> u8 {
    match i {
        0..100 => 1,
        100..2100 => 2,
        2100..3100 => 3,
        _ => 4,
    }
}

#[test]
fn unsynced_writes_survive_as_any_subset_of_their_sectors_and_pages() {
    let mut seen = Seen::default();
    let (mut reordered, mut torn) = (0, 0);
    for seed in 0..400 {
        let (got, counts) = three_unsynced_writes(seed);
        reordered += counts.files_reordered;
        torn += counts.writes_torn;
        assert_eq!(got.get(..100), Some(&[1u8; 100][..]), "seed {seed}: synced");
        for (i, &b) in got.iter().enumerate() {
            assert!(
                b == 0 || b == written(i),
                "seed {seed}: byte {i} holds {b}, never written there"
            );
        }
        let kept = |i: usize| got.get(i).is_some_and(|&b| b != 0);
        let first_lost = (100..6100).find(|&i| !kept(i)).unwrap_or(6100);
        let last_kept = (100..6100).rev().find(|&i| kept(i)).unwrap_or(99);
        seen.nothing |= last_kept == 99;
        seen.everything |= first_lost == 6100;
        seen.prefix |= first_lost == last_kept + 1 && (100..6100).contains(&first_lost);
        seen.later_write_only |= !kept(100) && kept(3100);
        seen.later_sector_only |= !kept(100) && kept(2099);
    }
    assert!(
        seen.nothing && seen.everything && seen.prefix,
        "the in-order outcomes stay reachable: {seen:?}"
    );
    assert!(
        seen.later_write_only && seen.later_sector_only,
        "reordered outcomes are reachable: {seen:?}"
    );
    assert!(
        reordered > 0 && torn > 0,
        "counted: {reordered} reordered, {torn} torn"
    );
}

#[test]
fn reordered_outcomes_are_frequent_and_counted() {
    // A good part of the cuts of a file with a few unsynced writes leave a later piece
    // without an earlier one (about a quarter here: half the cuts scatter the units,
    // and a page-sized unit often holds all three writes); the count says when.
    let mut reordered_seen = 0;
    for seed in 0..300 {
        let (got, counts) = three_unsynced_writes(seed);
        let kept = |i: usize| got.get(i).is_some_and(|&b| b != 0);
        let first_lost = (100..6100).find(|&i| !kept(i));
        let reordered = first_lost.is_some_and(|l| (l..6100).any(kept));
        assert_eq!(
            counts.files_reordered,
            u64::from(reordered),
            "seed {seed}: the count agrees with the bytes"
        );
        reordered_seen += u64::from(reordered);
    }
    assert!(
        reordered_seen >= 60,
        "{reordered_seen} of 300 cuts reordered"
    );
}

#[test]
fn a_shrink_that_survives_takes_the_old_bytes_with_it() {
    // Synced: 1000 bytes of 1. Unsynced: the file cut to 0, then 600 bytes of 7.
    let mut lengths = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let sim = with_dir(seed);
        let f = file(&sim, "/d/a");
        f.write_all_at(&[1u8; 1000], 0).unwrap();
        f.sync().unwrap();
        sim.sync_dir(Path::new("/d")).unwrap();
        f.set_len(0).unwrap();
        f.write_all_at(&[7u8; 600], 0).unwrap();
        sim.restart();
        let got = sim.read_file("/d/a").unwrap();
        lengths.insert(got.len());
        if got.len() != 1000 {
            // The length journaled the cut to 0: the old blocks are gone.
            assert!(!got.contains(&1), "seed {seed}: old bytes after a shrink");
        }
        assert!(got.iter().all(|&b| [0, 1, 7].contains(&b)), "seed {seed}");
    }
    assert!(
        [0, 600, 1000].iter().all(|l| lengths.contains(l)),
        "each journaled length is reachable: {lengths:?}"
    );
}

#[test]
fn a_write_the_power_cut_interrupted_may_survive_in_any_part() {
    let (mut none, mut all, mut part) = (false, false, false);
    for seed in 0..200 {
        let sim = with_dir(seed);
        let f = file(&sim, "/d/a");
        f.sync().unwrap();
        sim.sync_dir(Path::new("/d")).unwrap();
        sim.cut_power_after(1);
        assert!(f.write_all_at(&[9u8; 2048], 0).is_err(), "cut in the call");
        sim.restart();
        let got = sim.read_file("/d/a").unwrap();
        assert!(got.iter().all(|&b| b == 0 || b == 9), "seed {seed}");
        let nines = got.iter().filter(|&&b| b == 9).count();
        none |= nines == 0;
        all |= nines == 2048;
        part |= nines > 0 && nines < 2048;
    }
    assert!(
        none && all && part,
        "in flight: none {none}, all {all}, part {part}"
    );
}

#[test]
fn after_a_failed_sync_the_data_reads_back_but_a_later_sync_does_not_save_it() {
    let sim = with_dir(5);
    let f = file(&sim, "/d/a");
    f.sync().unwrap();
    sim.sync_dir(Path::new("/d")).unwrap();
    f.write_all_at(b"lost", 0).unwrap();
    sim.fail(SimFault {
        op: SimOp::Sync,
        nth: 1,
        error: SimError::Eio,
    });
    assert_eq!(f.sync().unwrap_err().raw_os_error(), Some(5));
    let mut buf = [0u8; 4];
    assert_eq!(f.read_at(&mut buf, 0).unwrap(), 4);
    assert_eq!(&buf, b"lost", "the page cache still holds it");
    f.sync().unwrap();
    sim.restart();
    assert_eq!(
        sim.read_file("/d/a").unwrap(),
        b"",
        "it never reached the disk"
    );
}

#[test]
fn faults_fire_at_the_nth_operation_of_their_kind() {
    let sim = with_dir(6);
    let f = file(&sim, "/d/a");
    sim.fail(SimFault {
        op: SimOp::Write,
        nth: 3,
        error: SimError::Enospc,
    });
    f.write_all_at(b"1", 0).unwrap();
    f.sync().unwrap();
    f.write_all_at(b"2", 1).unwrap();
    let e = f.write_all_at(b"3", 2).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
    f.write_all_at(b"4", 2).unwrap();
    assert_eq!(sim.read_file("/d/a").unwrap(), b"124");
}

#[test]
fn capacity_refuses_growth_past_the_limit_until_files_are_removed() {
    let sim = with_dir(7);
    sim.set_capacity(Some(1000));
    let a = file(&sim, "/d/a");
    a.write_all_at(&[0u8; 800], 0).unwrap();
    let b = file(&sim, "/d/b");
    assert_eq!(
        b.write_all_at(&[0u8; 300], 0).unwrap_err().raw_os_error(),
        Some(28)
    );
    a.write_all_at(&[1u8; 800], 0).unwrap(); // overwriting needs no space
    sim.remove_file(Path::new("/d/a")).unwrap();
    b.write_all_at(&[0u8; 300], 0).unwrap();
}

#[test]
fn a_scheduled_power_cut_stops_the_nth_operation_and_everything_after() {
    let sim = with_dir(8);
    let f = file(&sim, "/d/a");
    sim.sync_dir(Path::new("/d")).unwrap();
    sim.cut_power_after(2);
    f.write_all_at(b"a", 0).unwrap();
    assert!(f.sync().is_err());
    assert!(!sim.is_powered());
    let mut buf = [0u8; 1];
    assert!(f.read_at(&mut buf, 0).is_err(), "reads fail while off");
    sim.restart();
    assert!(sim.is_powered());
    assert!(
        f.read_at(&mut buf, 0).is_err(),
        "handles from before stay dead"
    );
    let data = sim.read_file("/d/a").unwrap();
    assert!(data.is_empty() || data == b"a");
}

#[test]
fn a_lock_is_exclusive_and_dies_with_the_power() {
    let sim = with_dir(9);
    let a = file(&sim, "/d/LOCK");
    let b = file(&sim, "/d/LOCK");
    a.try_lock().unwrap();
    assert!(matches!(
        b.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    assert!(b.lock_is_held());
    drop(a);
    b.try_lock().unwrap();
    sim.restart();
    let c = file(&sim, "/d/LOCK");
    c.try_lock().unwrap();
    drop(b); // a stale holder's drop must not release the new lock
    assert!(file(&sim, "/d/LOCK").lock_is_held());
}
