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

#[test]
fn unsynced_writes_survive_only_as_an_ordered_prefix_torn_at_a_sector() {
    // Over many seeds: every surviving image is the synced bytes followed by a prefix
    // of the unsynced writes in order, the last possibly cut at a 512-byte boundary.
    let mut torn = 0;
    let mut lost = 0;
    for seed in 0..200 {
        let sim = with_dir(seed);
        let f = file(&sim, "/d/a");
        f.write_all_at(&[1u8; 100], 0).unwrap();
        f.sync().unwrap();
        sim.sync_dir(Path::new("/d")).unwrap();
        f.write_all_at(&[2u8; 2000], 100).unwrap();
        f.write_all_at(&[3u8; 1000], 2100).unwrap();
        let counts = sim.restart();
        torn += counts.writes_torn;
        lost += counts.writes_lost;
        let got = sim.read_file("/d/a").unwrap();
        assert_eq!(
            got.get(..100),
            Some(&[1u8; 100][..]),
            "seed {seed}: synced bytes"
        );
        let rest = got.get(100..).unwrap();
        let mut want = vec![2u8; 2000];
        want.extend([3u8; 1000]);
        assert_eq!(rest, &want[..rest.len()], "seed {seed}: a prefix in order");
        let end = got.len() as u64;
        assert!(
            [100, 2100, 3100].contains(&end) || end.is_multiple_of(512),
            "seed {seed}: cut at {end}"
        );
    }
    assert!(torn > 0, "some restarts tear a write");
    assert!(lost > 0, "some restarts lose writes");
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
