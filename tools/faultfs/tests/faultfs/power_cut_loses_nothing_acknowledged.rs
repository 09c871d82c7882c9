//! Durable appends from several threads, then a power cut at a random moment: every
//! unsynced write is dropped or torn in file order and every directory operation not
//! yet synced is undone (see the crate's model). After a remount the log holds every
//! acknowledged LSN with its payload, LSNs dense, every acknowledged checkpoint, and
//! takes new appends — on both drivers. Rounds cycle through workloads: pre-zeroed
//! segments, growing segments, checkpoints that delete retired segments, and
//! checkpoints that archive them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringwal::{Driver, Lsn, Options, Preallocate, Wal};

use crate::common::{
    Place, check_log, drivers, payload, seed, skip, skip_reason, small, within_a_minute, xorshift,
};

const ROUNDS: usize = 12;
const THREADS: u64 = 3;
/// Each sync takes this long, so cuts often land between a write and its sync.
const SYNC_DELAY: Duration = Duration::from_micros(300);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Workload {
    Zeroed,
    Grow,
    Checkpoints,
    CheckpointsArchived,
}

impl Workload {
    fn of_round(round: usize) -> Workload {
        [
            Workload::Zeroed,
            Workload::Grow,
            Workload::Checkpoints,
            Workload::CheckpointsArchived,
        ][round % 4]
    }

    fn options(self, driver: Driver) -> Options {
        match self {
            Workload::Zeroed | Workload::Checkpoints => small(driver),
            Workload::Grow => small(driver).preallocate(Preallocate::Grow),
            Workload::CheckpointsArchived => small(driver).archive(true),
        }
    }

    fn checkpoints(self) -> bool {
        matches!(self, Workload::Checkpoints | Workload::CheckpointsArchived)
    }
}

type Acked = Arc<Mutex<Vec<(u64, Vec<u8>)>>>;

fn appender(wal: Arc<Wal>, acked: Acked, t: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for n in 0.. {
            let p = payload(t, n);
            match wal.append_durable(&p) {
                Ok(lsn) => acked.lock().unwrap().push((lsn.get(), p)),
                Err(_) => return,
            }
        }
    })
}

/// Checkpoints a little behind the acknowledged records until the log fails or `stop`
/// is set; keeps the last checkpoint that succeeded in `done`.
fn checkpointer(
    wal: Arc<Wal>,
    acked: Acked,
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        // Once the appenders stop nothing new is acknowledged and no checkpoint is
        // attempted, so the failure may never reach this thread: `stop` ends it.
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(3));
            let high = acked.lock().unwrap().iter().map(|a| a.0).max().unwrap_or(0);
            let target = high.saturating_sub(20);
            if target <= done.load(Ordering::Relaxed) {
                continue;
            }
            match wal.checkpoint(Lsn::from(target)) {
                Ok(()) => done.store(target, Ordering::Relaxed),
                Err(_) => return,
            }
        }
    })
}

/// Waits until some append was acknowledged. Fails if the appenders all stopped first
/// (the log failed before the cut) or nothing was acknowledged within a minute (a hang
/// guard, not a performance threshold).
fn wait_for_first_ack(acked: &Acked, appenders: &[std::thread::JoinHandle<()>]) {
    let started = std::time::Instant::now();
    while acked.lock().unwrap().is_empty() {
        assert!(
            !appenders.iter().all(|t| t.is_finished()),
            "every appender stopped before the first acknowledgement"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing acknowledged within a minute"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn power_cut_loses_nothing_acknowledged() {
    if let Some(reason) = skip_reason() {
        skip(&reason);
        return;
    }
    let mut rng = seed("power_cut_loses_nothing_acknowledged");
    for driver in drivers() {
        for round in 0..ROUNDS {
            let workload = Workload::of_round(round);
            let place = Place::new();
            let mounted = place.mount();
            mounted.control().set_sync_delay(SYNC_DELAY);
            let wal = Arc::new(Wal::open(place.wal_dir(), workload.options(driver)).unwrap());
            let acked: Acked = Arc::new(Mutex::new(Vec::new()));
            let checkpointed = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let threads: Vec<_> = (0..THREADS)
                .map(|t| appender(Arc::clone(&wal), Arc::clone(&acked), t))
                .collect();
            let checkpoints = workload.checkpoints().then(|| {
                checkpointer(
                    Arc::clone(&wal),
                    Arc::clone(&acked),
                    Arc::clone(&checkpointed),
                    Arc::clone(&stop),
                )
            });
            // The cut lands 10–90 ms after the first acknowledgement, not after the start:
            // on a loaded machine the start alone can take longer than that, and a cut
            // before anything was acknowledged checks nothing.
            wait_for_first_ack(&acked, &threads);
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
            stop.store(true, Ordering::Relaxed);
            if let Some(c) = checkpoints {
                within_a_minute("the checkpointer after the power cut", move || {
                    c.join().unwrap()
                });
            }
            let counters = mounted.control().counters();
            drop(wal);
            mounted.unmount().unwrap();

            let acked = std::mem::take(&mut *acked.lock().unwrap());
            let checkpointed = checkpointed.load(Ordering::Relaxed);
            let _again = place.mount();
            let last = check_log(
                &place.wal_dir(),
                workload.options(driver),
                &acked,
                checkpointed,
            );
            eprintln!(
                "{driver:?} round {round} {workload:?}: cut {delay_ms} ms after the first \
                 acknowledgement (cut seed \
                 {cut_seed}), {} acknowledged, checkpoint {checkpointed}, last {last}, \
                 {} writes, {} fsyncs, {report:?}",
                acked.len(),
                counters.writes,
                counters.fsyncs
            );
            assert!(!acked.is_empty(), "nothing was acknowledged before the cut");
        }
    }
}
