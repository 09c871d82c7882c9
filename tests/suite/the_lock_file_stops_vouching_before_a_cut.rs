//! The lock file's `durable_lsn` line vouches that records up to it were durable, so it
//! must be lowered (durably) before any cut below it: by `Wal::truncate_from` — even
//! when a first attempt to lower it failed — and by the repair tool's cut. And records
//! it vouches for that are simply missing (the log ends cleanly below it) are corruption.

use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{CorruptReason, Error, Lsn, Options, Wal};

fn recorded(sim: &SimFs) -> String {
    let text = String::from_utf8(sim.read_file("/wal/LOCK").unwrap()).unwrap();
    text.lines()
        .find(|l| l.starts_with("durable_lsn"))
        .unwrap_or_default()
        .to_owned()
}

fn options(sim: &SimFs) -> Options {
    Options::default()
        .segment_bytes(64 << 10)
        .record_bytes_max(1000)
        .simulated(sim)
}

#[test]
fn a_cut_whose_first_lowering_failed_lowers_it_when_tried_again() {
    let sim = SimFs::new(5);
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    for i in 1..=20u8 {
        wal.append_durable(&[i; 100]).unwrap();
    }
    wal.close().unwrap();
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    assert_eq!(recorded(&sim), "durable_lsn 20 20");
    // The lock file's rewrite fails: the cut is refused before anything changes.
    sim.fail(SimFault {
        op: SimOp::Write,
        nth: 1,
        error: SimError::Eio,
    });
    assert!(wal.truncate_from(Lsn::new(10)).is_err());
    assert_eq!(wal.last_lsn(), Lsn::new(20));
    // Tried again, the cut lowers the record first.
    wal.truncate_from(Lsn::new(10)).unwrap();
    assert_eq!(recorded(&sim), "durable_lsn 9 9");
    assert_eq!(wal.last_lsn(), Lsn::new(9));
    for i in 10..=15u8 {
        wal.append(&[i; 100]).unwrap();
    }
    drop(wal);
}

#[test]
fn records_the_lock_file_vouches_for_missing_at_the_end_are_corruption() {
    let sim = SimFs::new(6);
    let wal = Wal::open("/wal", options(&sim)).unwrap();
    for i in 1..=20u8 {
        wal.append_durable(&[i; 100]).unwrap();
    }
    wal.close().unwrap();
    // The last two records' bytes read back as zeros (a lost page).
    let segment = "/wal/00000000000000000001.wal";
    let frame = ringwal::limits::frame_bytes(100);
    let end = ringwal::limits::SEGMENT_HEADER_BYTES + 20 * frame;
    sim.write_file_at(segment, end - 2 * frame, &vec![0u8; 2 * frame as usize])
        .unwrap();
    sim.sync_file(segment).unwrap();
    match Wal::open("/wal", options(&sim)) {
        Err(Error::Corrupt {
            reason:
                CorruptReason::DamagedBelowRecordedDurable {
                    lsn: 19,
                    durable: 20,
                },
            ..
        }) => {}
        Ok(wal) => panic!(
            "records the lock file vouched for vanished silently: opened at LSN {}",
            wal.last_lsn()
        ),
        Err(other) => panic!("unexpected error: {other}"),
    }
}
