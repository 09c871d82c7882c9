//! A writer process killed with SIGKILL at a random moment, in the middle of durable
//! appends from several threads, loses nothing it acknowledged: every LSN the child
//! printed after `append_durable` returned is in the reopened log with its payload,
//! and the log's LSNs are dense.
//!
//! The io_uring driver runs a second time with 8 direct commits in flight (where
//! direct mode runs), so kills land while several commits, padded apart and across
//! rotations of its small segments, are still in flight. Each driver also runs with a
//! checkpoint every 16 records of one thread, so retired segments are recycled and
//! kills land while spares are made into segments (on io_uring, by a linked chain on
//! the writer's ring, as new segments are in direct mode).
//!
//! The test re-runs its own binary as the child (see `child_appends_until_killed`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use ringwal::{Driver, Lsn, Wal};

use crate::common::{
    XorShift, child_command, driver_from_name, driver_name, drivers, small, temp_log,
};

const CHILD_DIR: &str = "RINGWAL_CHILD_DIR";
const CHILD_DRIVER: &str = "RINGWAL_CHILD_DRIVER";
const CHILD_DEPTH: &str = "RINGWAL_CHILD_DIRECT_DEPTH";
const CHILD_CHECKPOINTS: &str = "RINGWAL_CHILD_CHECKPOINTS";
const CHILD_TEST: &str = "sigkill_loses_nothing_acknowledged::child_appends_until_killed";
const CHILD_THREADS: u32 = 4;
/// The child stops on its own after this many records per thread, so a child whose
/// parent vanished cannot run forever.
const CHILD_RECORDS_MAX: u32 = 200_000;
/// At least 20 kills per driver per run (issue 6); each round lives 20–150 ms past
/// its first acknowledgement, so the whole test stays within a few seconds per driver.
const ROUNDS: usize = 24;

fn child_payload(thread: u32, n: u32) -> Vec<u8> {
    let mut p = format!("t{thread}-n{n}|").into_bytes();
    p.extend((0..(n * 7 + thread) % 200).map(|i| (i as u8).wrapping_mul(31) ^ (n as u8)));
    p
}

/// The child: appends durably from several threads and prints `ACK <lsn> <thread> <n>`
/// once each append is acknowledged. Does nothing unless run by the parent test.
#[test]
fn child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let driver = driver_from_name(&std::env::var(CHILD_DRIVER).unwrap_or_default());
    let depth = std::env::var(CHILD_DEPTH).map_or(1, |d| d.parse().unwrap());
    let checkpoints = std::env::var_os(CHILD_CHECKPOINTS).is_some();
    let wal = Wal::open(&dir, small(driver).direct_depth(depth)).unwrap();
    std::thread::scope(|s| {
        for t in 0..CHILD_THREADS {
            let wal = &wal;
            s.spawn(move || {
                for n in 0..CHILD_RECORDS_MAX {
                    let lsn = wal.append_durable(&child_payload(t, n)).unwrap();
                    let mut line = format!("ACK {lsn} {t} {n}\n");
                    if t == 0 && n % 32 == 31 {
                        let stats = wal.stats();
                        line.push_str(&format!("PEAK {}\n", stats.chains_in_flight_peak));
                        line.push_str(&format!("RECYCLED {}\n", stats.segments_recycled));
                    }
                    if checkpoints && t == 1 && n % 16 == 15 {
                        // Everything this thread has seen acknowledged is durable.
                        wal.checkpoint(lsn).unwrap();
                    }
                    let mut out = std::io::stdout().lock();
                    // One write per line: a kill never leaves half a line in the pipe
                    // that is then taken for a whole one (the parent also checks).
                    out.write_all(line.as_bytes()).unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
    wal.close().unwrap();
}

/// What the child reported besides acknowledgements: the most commits in flight at
/// once, and the most segments made from spare files.
#[derive(Default, Clone, Copy)]
struct ChildStats {
    peak: u64,
    recycled: u64,
}

/// Reads the child's acknowledgements until the pipe closes; tells `first` at the first.
fn collect_acks(
    stdout: std::process::ChildStdout,
    first: mpsc::Sender<()>,
) -> (Vec<(u64, u32, u32)>, ChildStats) {
    let mut reader = BufReader::new(stdout);
    let mut acks = Vec::new();
    let mut stats = ChildStats::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).unwrap() == 0 {
            return (acks, stats);
        }
        if line.last() != Some(&b'\n') {
            continue; // cut off by the kill
        }
        let text = String::from_utf8_lossy(&line);
        if let Some(at) = text.find("PEAK ") {
            stats.peak = stats.peak.max(text[at + 5..].trim_end().parse().unwrap());
            continue;
        }
        if let Some(at) = text.find("RECYCLED ") {
            let recycled = text[at + 9..].trim_end().parse().unwrap();
            stats.recycled = stats.recycled.max(recycled);
            continue;
        }
        // libtest may print `test <name> ... ` on the line of the first acknowledgement.
        let Some(at) = text.find("ACK ") else {
            continue;
        };
        let rest = text[at + 4..].trim_end();
        let fields: Vec<&str> = rest.split(' ').collect();
        assert_eq!(fields.len(), 3, "bad line from child: {text:?}");
        acks.push((
            fields[0].parse().unwrap(),
            fields[1].parse().unwrap(),
            fields[2].parse().unwrap(),
        ));
        if acks.len() == 1 {
            let _ = first.send(());
        }
    }
}

#[test]
fn sigkill_mid_append_loses_no_acknowledged_record() {
    // (driver, direct depth, checkpoints, rounds)
    let mut runs: Vec<(Driver, u32, bool, usize)> = drivers()
        .into_iter()
        .flat_map(|d| [(d, 1, false, ROUNDS), (d, 1, true, ROUNDS / 2)])
        .collect();
    if runs.iter().any(|&(d, ..)| d == Driver::IoUring) {
        if direct_mode_runs() {
            runs.push((Driver::IoUring, 8, false, ROUNDS / 2));
        } else {
            eprintln!("skipping the direct-depth-8 rounds: direct mode does not run here");
        }
    }
    for (driver, depth, checkpoints, rounds) in runs {
        let mut rng = XorShift::from_time("sigkill_mid_append_loses_no_acknowledged_record");
        let mut seen = ChildStats::default();
        for round in 0..rounds {
            let log = temp_log();
            let mut command = child_command(CHILD_TEST);
            if checkpoints {
                command.env(CHILD_CHECKPOINTS, "1");
            }
            let mut child = command
                .env(CHILD_DIR, &log.dir)
                .env(CHILD_DRIVER, driver_name(driver))
                .env(CHILD_DEPTH, depth.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let stdout = child.stdout.take().unwrap();
            let (first_tx, first_rx) = mpsc::channel();
            let reader = std::thread::spawn(move || collect_acks(stdout, first_tx));
            if first_rx.recv_timeout(Duration::from_secs(60)).is_err() {
                let _ = child.kill();
                panic!("child never acknowledged a record: {:?}", child.wait());
            }
            // Recycling starts only after a few rotations and a checkpoint past them:
            // those rounds live longer.
            let delay_ms = if checkpoints {
                rng.in_range(150, 600)
            } else {
                rng.in_range(20, 150)
            };
            std::thread::sleep(Duration::from_millis(delay_ms));
            child.kill().unwrap();
            let status = child.wait().unwrap();
            assert!(
                !status.success(),
                "the child finished before the kill; raise CHILD_RECORDS_MAX"
            );
            let (acks, stats) = reader.join().unwrap();
            seen.peak = seen.peak.max(stats.peak);
            seen.recycled = seen.recycled.max(stats.recycled);

            let wal = Wal::open(&log.dir, small(driver)).unwrap();
            let report = wal.recovery_report();
            let mut found: HashMap<u64, Vec<u8>> = HashMap::with_capacity(acks.len() * 2);
            // Records at or below the checkpoint are retired (they need not be found).
            let checkpoint = wal.checkpoint_lsn().get();
            let mut expected = checkpoint + 1;
            for record in wal.read_from(Lsn::from(checkpoint + 1)).unwrap() {
                let record = record.unwrap();
                assert_eq!(record.lsn().get(), expected, "LSNs must be dense");
                expected += 1;
                found.insert(record.lsn().get(), record.into_payload());
            }
            let last = expected - 1;
            assert_eq!(wal.last_lsn(), Lsn::from(last));
            for &(lsn, t, n) in acks.iter().filter(|(lsn, ..)| *lsn > checkpoint) {
                let got = found.get(&lsn).unwrap_or_else(|| {
                    panic!("round {round}: acknowledged LSN {lsn} lost (log ends at {last})")
                });
                assert_eq!(
                    got,
                    &child_payload(t, n),
                    "round {round}: payload of acknowledged LSN {lsn}"
                );
            }
            eprintln!(
                "{} depth {depth}{} round {round}: killed after {delay_ms} ms, {} acknowledged, {last} recovered (checkpoint {checkpoint}), {} torn bytes cut",
                driver_name(driver),
                if checkpoints { " checkpoints" } else { "" },
                acks.len(),
                report.torn_bytes_cut
            );
            // The recovered log takes new records right after its end.
            assert_eq!(
                wal.append_durable(b"after the kill").unwrap(),
                Lsn::from(last + 1)
            );
            wal.close().unwrap();
        }
        if checkpoints {
            assert!(
                seen.recycled > 0,
                "{}: the kills never came after a segment made from a spare",
                driver_name(driver)
            );
            eprintln!(
                "{} checkpoints: up to {} segments made from spares before a kill",
                driver_name(driver),
                seen.recycled
            );
        }
        if depth > 1 {
            let peak_seen = seen.peak;
            assert!(
                peak_seen > 1,
                "with direct depth {depth} the kills never met two commits in flight"
            );
            eprintln!(
                "{} depth {depth}: up to {peak_seen} commits in flight",
                driver_name(driver)
            );
        }
    }
}

/// Whether the io_uring driver commits with direct writes in a temporary log here.
fn direct_mode_runs() -> bool {
    let probe = temp_log();
    let wal = Wal::open(&probe.dir, small(Driver::IoUring).direct_depth(8)).unwrap();
    let direct = wal.stats().direct_io;
    wal.close().unwrap();
    direct
}
