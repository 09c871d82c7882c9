//! The benchmark harness of issue 5: workloads W1–W6 for the raw-disk baselines,
//! ringwal on both drivers and the peer WALs built in (cargo features), interleaved
//! round by round (A B C A B C …) so the disk's drift hits every system alike. Prints
//! a table with latency percentiles and ratios to the right raw reference, and can
//! write JSON, a markdown table and SVG charts. See perf/README.md.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use ringwal::{Driver, Durability};
use ringwal_perf::appender::ringwal_unsynced;
use ringwal_perf::peers::Peer;
use ringwal_perf::report::{Axes, CellReport, RunReport, Series, line_chart, write_json};
use ringwal_perf::{
    BoxError, Measure, Until, Workload, build_log, drop_caches, io_uring_available, raw_loop,
    read_raw_file, ringwal_run_until, scan_log, write_raw_file,
};

#[derive(Parser, Debug)]
#[command(about = "ringwal benchmark harness: W1-W6, raw baselines, both drivers, peer WALs")]
struct Args {
    /// Directory for the benchmark files (removed afterwards).
    #[arg(long, default_value = "ringwal-harness-data")]
    dir: PathBuf,
    /// Seconds per cell per round.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Rounds (each cell's systems run once per round, interleaved).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Short run (under a minute): 0.2 s cells, 1 round, a 128 MiB recovery log.
    #[arg(long)]
    quick: bool,
    /// Workloads to run (comma-separated): W1,W2,W3,W4,W5,W6.
    #[arg(long, value_delimiter = ',', default_value = "W1,W2,W3,W4,W5,W6")]
    workloads: Vec<String>,
    /// Systems to run (comma-separated): raw, raw-growing, raw-uring, raw-direct-1,
    /// raw-direct-4, raw-direct-16, io_uring, portable, okaywal, raft-engine, walrus.
    /// Default: every one built.
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// W2's thread counts.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16,64,256")]
    threads: Vec<usize>,
    /// W3's batch sizes (records of 128 B per sync).
    #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
    batches: Vec<usize>,
    /// W4's record sizes, bytes.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "64,256,1024,4096,16384,65536"
    )]
    sizes: Vec<usize>,
    /// W5's log size, MiB (payload).
    #[arg(long, default_value_t = 1024)]
    recovery_mib: u64,
    /// Write every cell (with latency CDFs) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the table as markdown here.
    #[arg(long)]
    markdown: Option<PathBuf>,
    /// Write SVG charts into this directory.
    #[arg(long)]
    charts: Option<PathBuf>,
}

/// The raw loop's name in W6.
const RAW_UNSYNCED: &str = "raw pwrite, no sync";

/// The depths (writes in flight) the raw O_DIRECT loop runs at, one system each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    D1,
    D4,
    D16,
}

impl Depth {
    const ALL: [Depth; 3] = [Depth::D1, Depth::D4, Depth::D16];

    fn n(self) -> usize {
        match self {
            Depth::D1 => 1,
            Depth::D4 => 4,
            Depth::D16 => 16,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Depth::D1 => "raw-direct-1",
            Depth::D4 => "raw-direct-4",
            Depth::D16 => "raw-direct-16",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum System {
    Raw,
    RawGrowing,
    RawUring,
    /// io_uring `WriteFixed` + `RWF_DSYNC` on an O_DIRECT file, this many in flight.
    RawDirect(Depth),
    Ringwal(Driver),
    Peer(Peer),
}

impl System {
    fn key(self) -> &'static str {
        match self {
            System::Raw => "raw",
            System::RawGrowing => "raw-growing",
            System::RawUring => "raw-uring",
            System::RawDirect(d) => d.key(),
            System::Ringwal(Driver::IoUring) => "io_uring",
            System::Ringwal(_) => "portable",
            System::Peer(p) => p.name(),
        }
    }

    fn name(self) -> String {
        self.name_in(true)
    }

    /// The name in a durable (W1-W4) or unsynced (W6) cell.
    fn name_in(self, durable: bool) -> String {
        match self {
            System::Raw if !durable => RAW_UNSYNCED.into(),
            System::Raw => "raw pwrite+fdatasync (pre-zeroed)".into(),
            System::RawGrowing => "raw pwrite+fdatasync (growing)".into(),
            System::RawUring => "raw io_uring write->fsync".into(),
            System::RawDirect(d) => format!("raw io_uring O_DIRECT+RWF_DSYNC, depth {}", d.n()),
            System::Ringwal(Driver::IoUring) => "ringwal io_uring".into(),
            System::Ringwal(_) => "ringwal portable".into(),
            System::Peer(p) => p.name().into(),
        }
    }

    fn durability(self, durable: bool) -> String {
        match (self, durable) {
            (System::Raw | System::RawGrowing, true) => "fdatasync after every write".into(),
            (System::Raw | System::RawGrowing, false) => "pwrite only (page cache)".into(),
            (System::RawUring, _) => "Write linked to Fsync(DATASYNC), 1 chain in flight".into(),
            (System::RawDirect(d), _) => format!(
                "each write durable on its own: WriteFixed + RWF_DSYNC on an O_DIRECT file, \
                 padded to 4 KiB blocks, {} in flight on separate blocks",
                d.n()
            ),
            (System::Ringwal(_), true) => {
                "per-record durable: fdatasync before ack (group commit)".into()
            }
            (System::Ringwal(_), false) => "unsynced: Durability::Flush (page cache)".into(),
            (System::Peer(p), true) => p.durability().into(),
            (System::Peer(_), false) => "unsynced (sync = false)".into(),
        }
    }

    fn is_raw(self) -> bool {
        matches!(
            self,
            System::Raw | System::RawGrowing | System::RawUring | System::RawDirect(_)
        )
    }

    /// The notes column of this system's cell, where the row needs explaining.
    fn note(self, kind: Kind, workload: &str) -> Option<String> {
        let System::RawDirect(d) = self else {
            return None;
        };
        let Kind::Durable {
            threads,
            batch,
            record_bytes,
        } = kind
        else {
            return None;
        };
        let block = ringwal_perf::DIRECT_MIN_BLOCK;
        let kib = (record_bytes * batch).div_ceil(block) * block / 1024;
        let mut note = format!("O_DIRECT+RWF_DSYNC, depth {}, {kib} KiB per write", d.n());
        if workload == "W2" {
            let _ = write!(
                note,
                "; open loop, one submitter: a physical reference, not a closed loop of \
                 {threads} thread{}",
                if threads == 1 { "" } else { "s" }
            );
        }
        Some(note)
    }
}

/// One row group of the table: a workload at one parameter value.
#[derive(Debug, Clone)]
struct Case {
    id: &'static str,
    label: String,
    param: u64,
    kind: Kind,
    systems: Vec<System>,
    /// Rounds per system, in `systems` order.
    rounds: Vec<Vec<Measure>>,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Durable {
        threads: usize,
        batch: usize,
        record_bytes: usize,
    },
    Unsynced {
        threads: usize,
        record_bytes: usize,
    },
}

fn main() -> Result<(), BoxError> {
    let mut args = Args::parse();
    if args.quick {
        args.seconds = 0.2;
        args.rounds = 1;
        args.recovery_mib = args.recovery_mib.min(128);
    }
    std::fs::create_dir_all(&args.dir)?;
    let dir = std::fs::canonicalize(&args.dir)?;
    // walrus keeps its files under $WALRUS_DATA_DIR and prints debug lines unless
    // WALRUS_QUIET is set; both are read from the environment, so set them now, while
    // this is the only thread.
    // SAFETY: no other thread exists yet that could read the environment.
    unsafe {
        std::env::set_var("WALRUS_DATA_DIR", dir.join("walrus"));
        std::env::set_var("WALRUS_QUIET", "1");
    }
    let started = Instant::now();
    let started_unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut notes = Vec::new();
    let systems = pick_systems(&args, &dir, &mut notes);
    let wanted_w = |w: &str| args.workloads.iter().any(|x| x.eq_ignore_ascii_case(w));
    let mut cases = plan(&args, &systems, &wanted_w);
    let until = Until::Elapsed(Duration::from_secs_f64(args.seconds));
    let total_runs: usize = cases.iter().map(|c| c.systems.len()).sum::<usize>() * args.rounds;
    let mut done = 0;
    for round in 0..args.rounds {
        for case in cases.iter_mut() {
            for (si, system) in case.systems.clone().into_iter().enumerate() {
                done += 1;
                eprintln!(
                    "[{:>5.1}s] round {}/{} {} {} {} ({done}/{total_runs})",
                    started.elapsed().as_secs_f64(),
                    round + 1,
                    args.rounds,
                    case.id,
                    case.label,
                    system.name()
                );
                let m = run_one(&dir, system, case.kind, until)?;
                // Untimed: write back whatever the run left dirty (W6 leaves up to a
                // GB), so the next cell does not share the disk with that writeback.
                rustix::fs::sync();
                if let Some(slot) = case.rounds.get_mut(si) {
                    slot.push(m);
                }
            }
        }
    }
    let mut cells = Vec::new();
    for case in &cases {
        cells.extend(case_cells(case)?);
    }
    let raw_serial = cells
        .iter()
        .find(|c| c.workload == "W1" && c.system == System::Raw.name())
        .map(|c| c.summary.records_per_s);
    set_references(&mut cells, raw_serial);
    if wanted_w("W5") {
        cells.extend(recovery(&args, &dir, &mut notes)?);
    }
    // Table order W1..W6 (W5 runs last: its cache dropping would disturb the others).
    cells.sort_by(|a, b| a.workload.cmp(&b.workload));
    let bounds: Vec<(u64, f64)> = match raw_serial {
        Some(r) if wanted_w("W2") => args
            .threads
            .iter()
            .map(|&t| (t as u64, t as f64 * r))
            .collect(),
        _ => Vec::new(),
    };
    let settings = format!(
        "{} s x {} rounds per cell{}; systems: {}",
        args.seconds,
        args.rounds,
        if args.quick { " (--quick)" } else { "" },
        systems
            .iter()
            .map(|s| s.key())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let report = RunReport {
        started_unix_s,
        kernel: kernel(),
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings,
        cells,
        bounds,
        notes,
    };
    print!("{}", text_table(&report, &systems));
    if let Some(path) = &args.json {
        write_json(path, &report)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown_table(&report, &systems))?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(out) = &args.charts {
        std::fs::create_dir_all(out)?;
        charts(out, &report)?;
        eprintln!("wrote charts into {}", out.display());
    }
    eprintln!("total {:.0} s", started.elapsed().as_secs_f64());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn pick_systems(args: &Args, dir: &Path, notes: &mut Vec<String>) -> Vec<System> {
    let mut all = vec![System::Raw, System::RawGrowing, System::RawUring];
    all.extend(Depth::ALL.map(System::RawDirect));
    all.extend([
        System::Ringwal(Driver::IoUring),
        System::Ringwal(Driver::Portable),
    ]);
    all.extend(Peer::built().into_iter().map(System::Peer));
    let mut picked: Vec<System> = all
        .into_iter()
        .filter(|s| args.systems.is_empty() || args.systems.iter().any(|k| k == s.key()))
        .collect();
    if picked.contains(&System::Ringwal(Driver::IoUring))
        && let Err(why) = io_uring_available(dir)
    {
        notes.push(format!("ringwal io_uring not measured: {why}"));
        picked.retain(|s| *s != System::Ringwal(Driver::IoUring));
    }
    let direct = |s: &System| matches!(s, System::RawDirect(_));
    if picked.iter().any(direct)
        && let Err(why) = direct_probe(dir)
    {
        let keys: Vec<&str> = picked
            .iter()
            .filter(|s| direct(s))
            .map(|s| s.key())
            .collect();
        notes.push(format!("{} not measured: {why}", keys.join(", ")));
        picked.retain(|s| !direct(s));
    }
    if Peer::built().is_empty() {
        notes.push(
            "no peer WALs in this build (cargo features okaywal, raft-engine, walrus, or peers)"
                .into(),
        );
    }
    picked
}

/// Whether the raw O_DIRECT loop runs in `dir`: one write through its own path.
fn direct_probe(dir: &Path) -> Result<(), String> {
    #[cfg(target_os = "linux")]
    return ringwal_perf::direct::direct_available(dir);
    #[cfg(not(target_os = "linux"))]
    return Err(format!("io_uring is Linux-only ({})", dir.display()));
}

/// A W2 case's label (the bound rows find their case by it).
fn w2_label(threads: usize) -> String {
    format!("{threads} thread{}", if threads == 1 { "" } else { "s" })
}

fn plan(args: &Args, systems: &[System], wanted: &dyn Fn(&str) -> bool) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add =
        |id: &'static str, label: String, param: u64, kind: Kind, keep: &dyn Fn(System) -> bool| {
            let systems: Vec<System> = systems.iter().copied().filter(|s| keep(*s)).collect();
            if !systems.is_empty() {
                let rounds = vec![Vec::new(); systems.len()];
                cases.push(Case {
                    id,
                    label,
                    param,
                    kind,
                    systems,
                    rounds,
                });
            }
        };
    if wanted("W1") {
        let kind = Kind::Durable {
            threads: 1,
            batch: 1,
            record_bytes: 256,
        };
        add("W1", "serial 256 B".into(), 1, kind, &|_| true);
    }
    if wanted("W2") {
        for &t in &args.threads {
            let kind = Kind::Durable {
                threads: t,
                batch: 1,
                record_bytes: 256,
            };
            // The raw loops have one writer; only the deepest O_DIRECT loop stands
            // beside W2, as an open-loop physical reference.
            add("W2", w2_label(t), t as u64, kind, &|s| {
                !s.is_raw() || s == System::RawDirect(Depth::D16)
            });
        }
    }
    if wanted("W3") {
        for &b in &args.batches {
            let kind = Kind::Durable {
                threads: 1,
                batch: b,
                record_bytes: 128,
            };
            add("W3", format!("batch {b}"), b as u64, kind, &|s| {
                s != System::RawGrowing
            });
        }
    }
    if wanted("W4") {
        for &size in &args.sizes {
            let kind = Kind::Durable {
                threads: 1,
                batch: 1,
                record_bytes: size,
            };
            add("W4", format!("{size} B"), size as u64, kind, &|s| {
                !matches!(
                    s,
                    System::RawGrowing | System::RawUring | System::RawDirect(_)
                )
            });
        }
    }
    if wanted("W6") {
        for t in [1usize, 2] {
            let kind = Kind::Unsynced {
                threads: t,
                record_bytes: 128,
            };
            add(
                "W6",
                format!("{t} thread{}", if t == 1 { "" } else { "s" }),
                t as u64,
                kind,
                &|s| match s {
                    System::Raw => t == 1,
                    System::Ringwal(_) => true,
                    System::Peer(p) => p.has_unsynced(),
                    _ => false,
                },
            );
        }
    }
    cases
}

fn run_one(dir: &Path, system: System, kind: Kind, until: Until) -> Result<Measure, BoxError> {
    let wal_dir = dir.join("log");
    match (system, kind) {
        (
            System::Raw | System::RawGrowing,
            Kind::Durable {
                batch,
                record_bytes,
                ..
            },
        ) => raw_loop(dir, record_bytes, batch, until, system == System::Raw, true),
        (System::Raw, Kind::Unsynced { record_bytes, .. }) => {
            raw_loop(dir, record_bytes, 1, until, true, false)
        }
        #[cfg(target_os = "linux")]
        (
            System::RawUring,
            Kind::Durable {
                batch,
                record_bytes,
                ..
            },
        ) => ringwal_perf::uring::raw_uring_loop(dir, record_bytes, batch, until),
        #[cfg(target_os = "linux")]
        (
            System::RawDirect(d),
            Kind::Durable {
                batch,
                record_bytes,
                ..
            },
        ) => ringwal_perf::direct::raw_uring_direct_loop(dir, record_bytes, batch, d.n(), until),
        (
            System::Ringwal(d),
            Kind::Durable {
                threads,
                batch,
                record_bytes,
            },
        ) => {
            let w = Workload {
                threads,
                batch,
                record_bytes,
                run_for: Duration::ZERO,
            };
            ringwal_run_until(&wal_dir, d, Durability::Fsync, w, until)
        }
        (
            System::Ringwal(d),
            Kind::Unsynced {
                threads,
                record_bytes,
            },
        ) => ringwal_unsynced(&wal_dir, d, threads, record_bytes, until),
        (
            System::Peer(p),
            Kind::Durable {
                threads,
                batch,
                record_bytes,
            },
        ) => p.run(&wal_dir, threads, batch, record_bytes, until, true),
        (
            System::Peer(p),
            Kind::Unsynced {
                threads,
                record_bytes,
            },
        ) => p.run(&wal_dir, threads, 1, record_bytes, until, false),
        (s, k) => Err(format!("{} cannot run {k:?}", s.name()).into()),
    }
}

fn case_cells(case: &Case) -> Result<Vec<CellReport>, BoxError> {
    let durable = matches!(case.kind, Kind::Durable { .. });
    let threads = match case.kind {
        Kind::Durable { threads, .. } | Kind::Unsynced { threads, .. } => threads,
    };
    let mut out = Vec::new();
    for (system, rounds) in case.systems.iter().zip(&case.rounds) {
        let Some(mut cell) = CellReport::from_rounds(
            case.id,
            &case.label,
            case.param,
            &system.name_in(durable),
            &system.durability(durable),
            durable,
            rounds,
        )?
        else {
            continue;
        };
        cell.note = system.note(case.kind, case.id);
        if !durable {
            cell.wall_ns_per_record =
                Some(1e9 * threads as f64 / cell.summary.records_per_s.max(1e-9));
        }
        out.push(cell);
    }
    Ok(out)
}

/// Each cell's ratio: W1/W2 to the raw serial pre-zeroed rate, W3/W4 to the raw
/// pre-zeroed loop at the same bytes per sync, W6 to the raw pwrite-only loop.
fn set_references(cells: &mut [CellReport], raw_serial: Option<f64>) {
    let raw = System::Raw.name();
    let refs: Vec<(String, u64, f64)> = cells
        .iter()
        .filter(|c| c.system == raw || c.system == RAW_UNSYNCED)
        .map(|c| (c.workload.clone(), c.param, c.summary.records_per_s))
        .collect();
    let find = |w: &str, p: u64| refs.iter().find(|r| r.0 == w && r.1 == p).map(|r| r.2);
    for c in cells.iter_mut() {
        let (name, per_s) = match c.workload.as_str() {
            "W1" | "W2" => ("raw serial".to_owned(), raw_serial),
            "W3" => ("raw, same bytes/sync".to_owned(), find("W3", c.param)),
            "W4" => ("raw, same size".to_owned(), find("W4", c.param)),
            "W6" => ("raw pwrite, no sync".to_owned(), find("W6", 1)),
            _ => continue,
        };
        if let Some(per_s) = per_s {
            c.set_reference(&name, per_s);
        }
    }
}

/// W5: one ringwal log and one raw file of `recovery_mib` each, built once (not
/// timed); then per round a warm scan of each and, if dropping the page cache works,
/// a cold one. Rates are payload GB/s.
fn recovery(args: &Args, dir: &Path, notes: &mut Vec<String>) -> Result<Vec<CellReport>, BoxError> {
    let log_bytes = args.recovery_mib << 20;
    let record_bytes = 256;
    let log_dir = dir.join("recovery-log");
    let raw_path = dir.join("recovery-raw.dat");
    eprintln!("W5: building a {} MiB log and raw file", args.recovery_mib);
    build_log(&log_dir, Driver::Portable, record_bytes, log_bytes)?;
    write_raw_file(&raw_path, log_bytes)?;
    // One untimed pass each, so "warm" means every page is in the cache.
    scan_log(&log_dir)?;
    read_raw_file(&raw_path, record_bytes)?;
    let mut warm = (Vec::new(), Vec::new());
    let mut cold = (Vec::new(), Vec::new());
    let mut cold_ok = true;
    for round in 0..args.rounds.max(1) {
        eprintln!("W5 round {}: warm scans", round + 1);
        warm.0.push(scan_log(&log_dir)?);
        warm.1.push(read_raw_file(&raw_path, record_bytes)?);
        if cold_ok {
            match drop_caches() {
                Ok(()) => {
                    eprintln!("W5 round {}: cold scans", round + 1);
                    cold.0.push(scan_log(&log_dir)?);
                    drop_caches()?;
                    cold.1.push(read_raw_file(&raw_path, record_bytes)?);
                }
                Err(why) => {
                    cold_ok = false;
                    notes.push(format!(
                        "W5 cold not measured: dropping the page cache failed: {why}"
                    ));
                }
            }
        }
    }
    if cold_ok {
        notes.push("W5 cold: `echo 3 > /proc/sys/vm/drop_caches` (after sync) worked before each cold scan".into());
    }
    std::fs::remove_dir_all(&log_dir)?;
    std::fs::remove_file(&raw_path)?;
    let mut out = Vec::new();
    let label = |t: &str| format!("{t} {} MiB", args.recovery_mib);
    for (temp, (ring, raw)) in [("warm", &warm), ("cold", &cold)] {
        let raw_cell = CellReport::from_rounds(
            "W5",
            &label(temp),
            args.recovery_mib,
            "raw sequential read (1 MiB reads)",
            "-",
            false,
            raw,
        )?;
        let ring_cell = CellReport::from_rounds(
            "W5",
            &label(temp),
            args.recovery_mib,
            "ringwal LogReader::open + read all",
            "-",
            false,
            ring,
        )?;
        if let (Some(mut r), Some(raw_c)) = (ring_cell, raw_cell) {
            r.set_reference("raw sequential read", raw_c.summary.records_per_s);
            out.push(r);
            out.push(raw_c);
        }
    }
    Ok(out)
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"))
}

fn extra(c: &CellReport) -> String {
    if let Some(note) = &c.note {
        return note.clone();
    }
    if c.workload == "W5" {
        return format!("{:.2} GB/s", c.summary.mb_per_s / 1000.0);
    }
    if c.workload != "W6"
        && c.system.starts_with("ringwal")
        && let Some(sync) = c.summary.sync_p50_us
    {
        let mut note = format!("sync p50 {sync:.0} us");
        if let Some(peak) = c.summary.flushes_in_flight_peak.filter(|p| *p > 1) {
            note += &format!(", {peak} commits in flight at most");
        }
        if let Some(pad) = c.summary.padding_bytes_per_record.filter(|p| *p > 0.0) {
            note += &format!(", padding {pad:.0} B/rec");
        }
        if let Some(recycled) = c.summary.segments_recycled.filter(|r| *r > 0) {
            note += &format!(", {recycled} segments recycled");
        }
        return note;
    }
    match (c.caller_cpu_ns_per_record, c.wall_ns_per_record) {
        (Some(cpu), Some(wall)) if c.workload == "W6" => format!(
            "cpu {cpu:.0} ns/rec (process {}), wall {wall:.0} ns/rec/thread",
            opt(c.process_cpu_ns_per_record, 0)
        ),
        _ => String::new(),
    }
}

fn text_table(r: &RunReport, systems: &[System]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n{}; kernel {}, {} CPUs", r.settings, r.kernel, r.cpus);
    let _ = writeln!(s, "durability of each system (durable workloads W1-W4):");
    for sys in systems {
        let _ = writeln!(s, "  {:<36} {}", sys.name(), sys.durability(true));
    }
    let _ = writeln!(
        s,
        "{:<4} {:<16} {:<36} {:>12} {:>9} {:>8} {:>9} {:>9} {:>9} {:>10} {:>9}  notes",
        "w",
        "case",
        "system",
        "records/s",
        "MB/s",
        "ratio",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "max us",
        "rec/sync"
    );
    let bound_row = |s: &mut String, last: &str| {
        if let Some((_, b)) = r
            .bounds
            .iter()
            .find(|(t, _)| last == format!("W2 {}", w2_label(*t as usize)))
        {
            let _ = writeln!(
                s,
                "{:<4} {:<16} {:<36} {:>12.0}  (0.8x target: {:.0})",
                "",
                "",
                "bound: threads x raw serial",
                b,
                0.8 * b
            );
        }
    };
    let mut last = String::new();
    for c in &r.cells {
        let group = format!("{} {}", c.workload, c.label);
        if group != last {
            bound_row(&mut s, &last);
        }
        last = group;
        let _ = writeln!(
            s,
            "{:<4} {:<16} {:<36} {:>12.0} {:>9.1} {:>8} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>9}  {}",
            c.workload,
            c.label,
            c.system,
            c.summary.records_per_s,
            c.summary.mb_per_s,
            c.ratio.map_or_else(|| "-".into(), |v| format!("{v:.2}x")),
            c.summary.p50_us,
            c.summary.p99_us,
            c.summary.p999_us,
            c.summary.max_us,
            opt(c.summary.records_per_sync, 1),
            extra(c)
        );
    }
    bound_row(&mut s, &last);
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

fn markdown_table(r: &RunReport, systems: &[System]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Settings: {}; kernel {}, {} CPUs.\n",
        r.settings, r.kernel, r.cpus
    );
    let _ = writeln!(
        s,
        "| system | what an acknowledged append means (W1–W4) |\n|---|---|"
    );
    for sys in systems {
        let _ = writeln!(s, "| {} | {} |", sys.name(), sys.durability(true));
    }
    let _ = writeln!(
        s,
        "\n| W | case | system | records/s | MB/s | ratio | reference | p50 µs | p99 µs | p99.9 µs | max µs | rec/sync | notes |\n|---|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"
    );
    let mut last = String::new();
    let bound_row = |s: &mut String, last: &str| {
        if let Some((t, b)) = r
            .bounds
            .iter()
            .find(|(t, _)| last == format!("W2 {}", w2_label(*t as usize)))
        {
            let _ = writeln!(
                s,
                "| W2 | {t} threads | **bound: {t} × raw serial** | {b:.0} | | | 0.8× target: {:.0} | | | | | | |",
                0.8 * b
            );
        }
    };
    for c in &r.cells {
        let group = format!("{} {}", c.workload, c.label);
        if group != last {
            bound_row(&mut s, &last);
        }
        last = group;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0} | {:.1} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} |",
            c.workload,
            c.label,
            c.system,
            c.summary.records_per_s,
            c.summary.mb_per_s,
            c.ratio.map_or_else(|| "—".into(), |v| format!("{v:.2}×")),
            c.reference.clone().unwrap_or_default(),
            c.summary.p50_us,
            c.summary.p99_us,
            c.summary.p999_us,
            c.summary.max_us,
            opt(c.summary.records_per_sync, 1),
            extra(c)
        );
    }
    bound_row(&mut s, &last);
    for n in &r.notes {
        let _ = writeln!(s, "\nNote: {n}");
    }
    s
}

fn series_by_system(
    cells: &[&CellReport],
    x: &dyn Fn(&CellReport) -> f64,
    y: &dyn Fn(&CellReport) -> f64,
) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for c in cells {
        let point = (x(c), y(c));
        match out.iter_mut().find(|s| s.name == c.system) {
            Some(s) => s.points.push(point),
            None => out.push(Series {
                name: c.system.clone(),
                points: vec![point],
                reference: false,
            }),
        }
    }
    for s in &mut out {
        s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

/// A chart with both axes logarithmic; nothing is drawn for an empty series list.
fn log_log_chart(
    out: &Path,
    file: &str,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
) -> Result<(), BoxError> {
    if series.is_empty() {
        return Ok(());
    }
    line_chart(
        &out.join(file),
        &Axes {
            title: title.into(),
            x_desc: x_desc.into(),
            y_desc: y_desc.into(),
            x_log: true,
            y_log: true,
        },
        series,
    )
}

fn charts(out: &Path, r: &RunReport) -> Result<(), BoxError> {
    let raw = System::Raw.name();
    // Throughput vs threads: W1 (1 thread, unless W2 ran 1 thread itself) and W2, with
    // the T x raw serial bound; the raw O_DIRECT loop in W2 drawn as a reference.
    let w2_has_one = r.cells.iter().any(|c| c.workload == "W2" && c.param == 1);
    let by_threads: Vec<&CellReport> = r
        .cells
        .iter()
        .filter(|c| {
            (c.workload == "W1" && !w2_has_one && !c.system.starts_with("raw"))
                || c.workload == "W2"
        })
        .collect();
    let mut series = series_by_system(&by_threads, &|c| c.param as f64, &|c| {
        c.summary.records_per_s
    });
    for s in &mut series {
        s.reference = s.name.starts_with("raw");
    }
    if let Some(w1) = r
        .cells
        .iter()
        .find(|c| c.workload == "W1" && c.system == raw)
    {
        let mut pts = vec![(1.0, w1.summary.records_per_s)];
        pts.extend(r.bounds.iter().map(|&(t, b)| (t as f64, b)));
        series.push(Series {
            name: "bound: threads x raw serial".into(),
            points: pts,
            reference: true,
        });
    }
    log_log_chart(
        out,
        "throughput_vs_threads.svg",
        "Durable 256 B appends vs threads (W1, W2)",
        "appending threads",
        "durable records/s",
        &series,
    )?;
    // Throughput vs batch size (W3, with the raw loop at the same bytes per sync) and the
    // record-size sweep (W4, MB/s): the raw systems drawn as references.
    for (workload, file, title, x_desc, y_desc, mb) in [
        (
            "W3",
            "throughput_vs_batch.svg",
            "128 B records, one sync per batch (W3)",
            "records per batch (per sync)",
            "durable records/s",
            false,
        ),
        (
            "W4",
            "throughput_vs_record_size.svg",
            "Serial durable appends by record size (W4)",
            "record bytes",
            "durable payload MB/s",
            true,
        ),
    ] {
        let cells: Vec<&CellReport> = r.cells.iter().filter(|c| c.workload == workload).collect();
        let value = |c: &CellReport| {
            if mb {
                c.summary.mb_per_s
            } else {
                c.summary.records_per_s
            }
        };
        let mut series = series_by_system(&cells, &|c| c.param as f64, &value);
        for s in &mut series {
            s.reference = s.name.starts_with("raw");
        }
        log_log_chart(out, file, title, x_desc, y_desc, &series)?;
    }
    // Latency CDFs.
    for (workload, param, file, title) in [
        (
            "W1",
            1u64,
            "latency_cdf_w1.svg",
            "Latency CDF, serial durable 256 B (W1)",
        ),
        (
            "W2",
            16,
            "latency_cdf_w2_16.svg",
            "Latency CDF, 16 threads durable 256 B (W2)",
        ),
    ] {
        let series: Vec<Series> = r
            .cells
            .iter()
            .filter(|c| c.workload == workload && c.param == param && !c.cdf.is_empty())
            .map(|c| Series {
                name: c.system.clone(),
                points: c
                    .cdf
                    .iter()
                    .map(|&(us, q)| (us.max(1.0), q * 100.0))
                    .collect(),
                reference: c.system.starts_with("raw"),
            })
            .collect();
        if !series.is_empty() {
            line_chart(
                &out.join(file),
                &Axes {
                    title: title.into(),
                    x_desc: "latency per call, µs".into(),
                    y_desc: "% of calls at or below".into(),
                    x_log: true,
                    y_log: false,
                },
                &series,
            )?;
        }
    }
    Ok(())
}
