//! Seeded crash points on the simulated filesystem (`ringwal::sim`): random workloads
//! of appends, batches, syncs, checkpoints (archiving or deleting), truncations
//! (`truncate_from`, including refused cuts inside a batch), clean reopens,
//! injected faults (EIO and ENOSPC on writes, syncs, directory syncs, creations,
//! renames, removals; a filling disk) and power cuts anywhere, recovery included.
//! After every cut the log is reopened and must hold every record and checkpoint it
//! acknowledged, dense, with its payload, and no batch in part. The simulator keeps
//! any subset of the unsynced writes' sectors or pages (`ringwal::sim`), so many cuts
//! leave a later piece without an earlier one. At one cut in eight a bit is first
//! flipped in an acknowledged record of a sealed segment, and that open must report
//! corruption (the byte is then put back).
//!
//! `RINGWAL_SIM_CRASH_POINTS=N` runs at least N crash points (default 10,000) for a
//! longer soak, `RINGWAL_SIM_FIRST_SEED=S` starts it at another seed (default 1);
//! `RINGWAL_SIM_SEED=S` replays one seed with a trace of every step.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::sim_workload::{Run, Tally};

const POINTS_ENV: &str = "RINGWAL_SIM_CRASH_POINTS";
const SEED_ENV: &str = "RINGWAL_SIM_SEED";
const FIRST_SEED_ENV: &str = "RINGWAL_SIM_FIRST_SEED";
const POINTS_DEFAULT: u64 = 10_000;
const POINTS_PER_SEED: u64 = 25;
const FIRST_SEED: u64 = 1;

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn replay_command(seed: u64) -> String {
    format!(
        "{SEED_ENV}={seed} cargo test -p ringwal --test suite \
         simulated_power_cuts_lose_nothing_acknowledged -- --nocapture"
    )
}

/// Runs one seed; a broken promise or a panic comes back as the failure text.
fn run_seed(seed: u64, trace: bool) -> Result<Tally, String> {
    let outcome = std::panic::catch_unwind(|| {
        let mut run = Run::new(seed, trace);
        run.run(POINTS_PER_SEED).map(|()| run.tally)
    });
    match outcome {
        Ok(Ok(tally)) => Ok(tally),
        Ok(Err(why)) => Err(why),
        Err(panic) => {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panicked: {what}"))
        }
    }
}

/// Seeds outside the CI range that a soak found failing, replayed on every run.
/// 500269: a cut's intent whose directory sync failed was finished by a same-boot
/// reopen without making the intent durable first; a power cut during that zeroing
/// lost the intent and left zeros in front of valid frames.
const FOUND_BY_SOAKS: [u64; 1] = [500_269];

#[test]
fn seeds_found_by_soaks_pass() {
    for seed in FOUND_BY_SOAKS {
        if let Err(why) = run_seed(seed, false) {
            panic!("seed {seed} failed: {why}");
        }
    }
}

#[test]
fn simulated_power_cuts_lose_nothing_acknowledged() {
    if let Some(seed) = env_u64(SEED_ENV) {
        match run_seed(seed, true) {
            Ok(t) => eprintln!("seed {seed}: passed, {t:?}"),
            Err(why) => panic!("seed {seed} failed: {why}"),
        }
        return;
    }
    let target = env_u64(POINTS_ENV).unwrap_or(POINTS_DEFAULT);
    let first = env_u64(FIRST_SEED_ENV).unwrap_or(FIRST_SEED);
    let next_seed = Arc::new(AtomicU64::new(first));
    let points = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let total = Arc::new(Mutex::new((Tally::default(), 0u64, Vec::new())));
    // Two workers: this machine has two cores, and each seed runs alone on its own
    // simulated filesystem, so splitting seeds changes nothing a seed does.
    let current: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let workers: Vec<_> = (0..2)
        .map(|w| {
            let (next_seed, points, failed, total, current) = (
                Arc::clone(&next_seed),
                Arc::clone(&points),
                Arc::clone(&failed),
                Arc::clone(&total),
                Arc::clone(&current),
            );
            std::thread::spawn(move || {
                while points.load(Ordering::Relaxed) < target && !failed.load(Ordering::Relaxed) {
                    let seed = next_seed.fetch_add(1, Ordering::Relaxed);
                    current[w].store(seed, Ordering::Relaxed);
                    let result = run_seed(seed, false);
                    let mut total = total.lock().unwrap();
                    match result {
                        Ok(t) => {
                            points.fetch_add(t.crash_points, Ordering::Relaxed);
                            total.0.add(&t);
                            total.1 += 1;
                        }
                        Err(why) => {
                            failed.store(true, Ordering::Relaxed);
                            total.2.push((seed, why));
                        }
                    }
                }
                current[w].store(0, Ordering::Relaxed);
            })
        })
        .collect();
    // A hang guard, not a time limit: fail if no seed finishes for a minute, naming
    // the seeds that were running.
    let mut last_seen = (0, std::time::Instant::now());
    while !workers.iter().all(|w| w.is_finished()) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let done = total.lock().unwrap().1;
        if done != last_seen.0 {
            last_seen = (done, std::time::Instant::now());
        } else if last_seen.1.elapsed() > std::time::Duration::from_secs(60) {
            let stuck: Vec<u64> = current.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            panic!(
                "no seed finished for a minute; running: {stuck:?}; replay with {}",
                replay_command(stuck[0])
            );
        }
    }
    for w in workers {
        w.join().unwrap();
    }
    let (tally, seeds, failures) = &*total.lock().unwrap();
    eprintln!(
        "simulated crash points: {} over {seeds} seeds ({} cut inside recovery); \
         {} power cuts: {} files torn, {} files reordered (of {} left with two unsynced \
         pieces or more; pieces: {} kept, \
         {} lost; writes: {} torn, {} lost); {} holes with valid frames after them cut by \
         recovery; corruption injected into acknowledged records \
         (sealed, or at or below the checkpoint) {} times, reported {} times; {} faults armed, {} fired, {} reopens in the same \
         boot after a fault; {} records checked after reopens, {} appended; {} \
         truncations ({} refused inside a batch); {} directory entries lost; {} file \
         operations; {} bytes of padding between commits (most per seed, summed); {} \
         segments made from recycled files (most per life and seed, summed)",
        tally.crash_points,
        tally.cuts_in_recovery,
        tally.power_cuts,
        tally.files_torn,
        tally.files_reordered,
        tally.files_with_several_pieces,
        tally.pieces_kept,
        tally.pieces_lost,
        tally.writes_torn,
        tally.writes_lost,
        tally.holes_cut,
        tally.corruption_injected,
        tally.corruption_reported,
        tally.faults_armed,
        tally.faults_fired,
        tally.reopens_after_fault,
        tally.records_checked,
        tally.appended,
        tally.truncations,
        tally.truncations_refused,
        tally.entries_lost,
        tally.ops,
        tally.padding_bytes_seen,
        tally.segments_recycled,
    );
    if let Some((seed, why)) = failures.first() {
        panic!(
            "seed {seed} failed: {why}\nreplay it with:\n  {}",
            replay_command(*seed)
        );
    }
    assert!(
        tally.padding_bytes_seen > 0,
        "no seed padded a commit: padded logs went untested"
    );
    assert!(
        tally.segments_recycled > 0,
        "no seed reused a retired segment's file: recycled segments went untested"
    );
    assert!(
        tally.crash_points >= target,
        "ran {} crash points",
        tally.crash_points
    );
    assert!(tally.writes_torn > 0, "some power cuts tore a write");
    assert!(
        tally.files_reordered > 0,
        "some power cuts kept a later piece without an earlier one"
    );
    assert!(tally.holes_cut > 0, "recovery cut some holes");
    assert!(
        tally.corruption_injected > 0 && tally.corruption_reported == tally.corruption_injected,
        "corruption injected {} times, reported {} times",
        tally.corruption_injected,
        tally.corruption_reported
    );
    assert!(tally.faults_fired > 0, "some injected faults fired");
    assert!(tally.truncations > 0, "some truncations ran");
}

/// The replay promise: one seed, run twice, makes the same file operations.
#[test]
fn a_seed_replays_the_same_file_operations() {
    let first = run_seed(FIRST_SEED + 7, false).unwrap();
    let again = run_seed(FIRST_SEED + 7, false).unwrap();
    assert_eq!(
        (
            first.ops,
            first.writes_torn,
            first.files_reordered,
            first.corruption_injected,
            first.records_checked
        ),
        (
            again.ops,
            again.writes_torn,
            again.files_reordered,
            again.corruption_injected,
            again.records_checked
        )
    );
}
