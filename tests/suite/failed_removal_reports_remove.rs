//! A segment that a checkpoint deletes (archive off, recycling off) and that cannot be
//! removed is reported as a failed removal, not as "rename failed"; archiving, and
//! keeping the file for reuse, still report the rename they do.

use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{Error, IoOp, Lsn, Options, Wal};

fn retire_with_a_fault(archive: bool, recycle: u32, op: SimOp) -> Error {
    let sim = SimFs::new(11);
    let options = Options::default()
        .segment_bytes(8 << 10)
        .record_bytes_max(1000)
        .archive(archive)
        .recycle_segments(recycle)
        .simulated(&sim);
    let wal = Wal::open("/wal", options).unwrap();
    // Four 1,024-byte frames fill a segment: LSNs 1-4 in segment 1.
    for i in 1..=5u8 {
        wal.append_durable(&[i; 1000]).unwrap();
    }
    sim.fail(SimFault {
        op,
        nth: 1,
        error: SimError::Eio,
    });
    let e = wal.checkpoint(Lsn::new(4)).unwrap_err();
    drop(wal);
    e
}

#[test]
fn failed_removal_reports_remove() {
    let e = retire_with_a_fault(false, 0, SimOp::Remove);
    assert!(
        matches!(
            e,
            Error::Io {
                op: IoOp::Remove,
                ..
            }
        ),
        "deleting a retired segment: {e:?}"
    );
    assert!(e.to_string().starts_with("remove failed"), "{e}");
    for (archive, recycle, what) in [(true, 0, "archiving"), (false, 4, "recycling")] {
        let e = retire_with_a_fault(archive, recycle, SimOp::Rename);
        assert!(
            matches!(
                e,
                Error::Io {
                    op: IoOp::Rename,
                    ..
                }
            ),
            "{what} a retired segment: {e:?}"
        );
    }
}
