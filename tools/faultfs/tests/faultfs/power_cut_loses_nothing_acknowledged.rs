//! Durable appends from several threads, then a power cut at a random moment: every
//! unsynced write is dropped or torn in file order (see the crate's model). After a
//! remount the log holds every acknowledged LSN with its payload, LSNs dense, and takes
//! new appends — on both drivers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringwal::Wal;

use crate::common::{
    Place, check_log, drivers, payload, seed, skip_reason, small, within_a_minute, xorshift,
};

const ROUNDS: usize = 12;
const THREADS: u64 = 3;
/// Each sync takes this long, so cuts often land between a write and its sync.
const SYNC_DELAY: Duration = Duration::from_micros(300);

#[test]
fn power_cut_loses_nothing_acknowledged() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipping: {reason}");
        return;
    }
    let mut rng = seed("power_cut_loses_nothing_acknowledged");
    for driver in drivers() {
        for round in 0..ROUNDS {
            let place = Place::new();
            let mounted = place.mount();
            mounted.control().set_sync_delay(SYNC_DELAY);
            let wal = Arc::new(Wal::open(place.wal_dir(), small(driver)).unwrap());
            let acked = Arc::new(Mutex::new(Vec::new()));
            let threads: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (wal, acked) = (Arc::clone(&wal), Arc::clone(&acked));
                    std::thread::spawn(move || {
                        for n in 0.. {
                            let p = payload(t, n);
                            match wal.append_durable(&p) {
                                Ok(lsn) => acked.lock().unwrap().push((lsn.get(), p)),
                                Err(_) => return,
                            }
                        }
                    })
                })
                .collect();
            let delay_ms = 10 + xorshift(&mut rng) % 90;
            std::thread::sleep(Duration::from_millis(delay_ms));
            let cut_seed = xorshift(&mut rng);
            let report = mounted.control().cut_power(cut_seed).unwrap();
            // Every appender must hear of the failure: none may hang on a dead disk.
            within_a_minute("appenders after the power cut", move || {
                for t in threads {
                    t.join().unwrap();
                }
            });
            let counters = mounted.control().counters();
            drop(wal);
            mounted.unmount().unwrap();

            let acked = std::mem::take(&mut *acked.lock().unwrap());
            let _again = place.mount();
            let last = check_log(&place.wal_dir(), small(driver), &acked);
            eprintln!(
                "{driver:?} round {round}: cut after {delay_ms} ms (cut seed {cut_seed}), \
                 {} acknowledged, {last} recovered, {} writes, {} fsyncs, {report:?}",
                acked.len(),
                counters.writes,
                counters.fsyncs
            );
            assert!(!acked.is_empty(), "nothing was acknowledged before the cut");
        }
    }
}
