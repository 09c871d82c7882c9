//! Recovery cuts a torn tail by zeroing it; the power may go again before that zeroing
//! is synced, and the next recovery must still open the log. Found by the seeded
//! simulator (seed 3185): the torn bytes held valid frames of an unfinished batch, a
//! torn zeroing kept zeros in front of them, and the next open saw "damaged frame
//! followed by a valid frame": an unopenable log. The cut is now a truncation whose
//! intent is durable first.

use ringwal::sim::SimFs;
use ringwal::{Durability, Lsn, Options, Wal};

use crate::common::payload;

fn options(sim: &SimFs) -> Options {
    Options::default()
        .segment_bytes(16 << 10)
        .record_bytes_max(4 << 10)
        .durability(Durability::Flush)
        .simulated(sim)
}

#[test]
fn a_power_cut_while_recovery_cuts_a_torn_batch_leaves_an_openable_log() {
    let mut torn_tails = 0;
    // Seed 75 tears the zeroing in front of valid frames on the old code.
    for seed in 0..100 {
        for cut_in_recovery in 1..=16 {
            let sim = SimFs::new(seed);
            let wal = Wal::open("/wal", options(&sim)).unwrap();
            for l in 1..=10 {
                wal.append(&payload(l)).unwrap();
            }
            assert_eq!(wal.sync().unwrap(), Lsn::new(10));
            // An unsynced batch of several sectors: the power cut may tear it.
            let batch: Vec<Vec<u8>> = (0..16).map(|i| vec![0xa0 + i as u8; 300]).collect();
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            let range = wal.append_batch(&refs).unwrap();
            wal.wait_durable(*range.end()).unwrap(); // written, not synced (Flush)
            sim.restart();
            drop(wal);
            // Recovery cuts what is torn, and the power goes part way through.
            sim.cut_power_after(cut_in_recovery);
            drop(Wal::open("/wal", options(&sim)));
            sim.restart();
            let at = format!("seed {seed}, power gone at op {cut_in_recovery} of recovery");
            let wal = Wal::open("/wal", options(&sim)).unwrap_or_else(|e| panic!("{at}: {e}"));
            let report = wal.recovery_report();
            torn_tails +=
                u64::from(report.torn_bytes_cut > 0 || report.truncation_finished.is_some());
            let last = wal.last_lsn().get();
            assert!(
                last == 10 || last == 26,
                "{at}: a batch whole or not at all, got {last}"
            );
            let got: Vec<_> = wal
                .read_from(Lsn::new(1))
                .unwrap()
                .map(|r| r.unwrap().into_payload())
                .collect();
            assert_eq!(got.len() as u64, last, "{at}");
            assert!(
                got.iter().take(10).zip(1..).all(|(p, l)| *p == payload(l)),
                "{at}"
            );
        }
    }
    assert!(
        torn_tails > 0,
        "some power cuts tore the batch, some recoveries were cut short"
    );
}
