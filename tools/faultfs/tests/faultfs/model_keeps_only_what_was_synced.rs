//! The fault filesystem itself: after a power cut that reverts unsynced writes a file
//! holds exactly its synced data, a file whose directory was never synced disappears
//! (though its data was synced), and I/O fails until the remount. Without this, a
//! passing ringwal test could mean a model that loses nothing.

use std::io::Write;
use std::os::unix::fs::FileExt;

use ringwal_faultfs::Tear;

use crate::common::{Place, skip, skip_reason};

#[test]
fn model_keeps_only_what_was_synced() {
    if let Some(reason) = skip_reason() {
        skip(&reason);
        return;
    }
    let place = Place::new();
    let mounted = place.mount();
    let synced = place.mnt.join("synced");
    let mut f = std::fs::File::create(&synced).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_data().unwrap();
    std::fs::File::open(&place.mnt).unwrap().sync_all().unwrap();
    f.write_all_at(b"LOST", 0).unwrap(); // never synced
    std::fs::write(place.mnt.join("unsynced-entry"), b"x").unwrap();
    let entry = std::fs::File::open(place.mnt.join("unsynced-entry")).unwrap();
    entry.sync_all().unwrap(); // its data, but not its directory entry
    let report = mounted.control().cut_power_with(1, Tear::Nothing).unwrap();
    assert_eq!(report.files_reverted, 1, "{report:?}");
    assert_eq!(report.dir_ops_undone, 1, "{report:?}");
    assert!(f.write_all_at(b"after", 0).is_err(), "I/O after the cut");
    drop((f, entry));
    mounted.unmount().unwrap();

    let _again = place.mount();
    assert_eq!(std::fs::read(&synced).unwrap(), b"durable");
    assert!(!place.mnt.join("unsynced-entry").exists());
}
