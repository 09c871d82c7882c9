//! A seeded random workload on the simulated filesystem, and the checks made after
//! every power cut: what the log acknowledged is all there, dense, with its payloads.
//!
//! One seed decides everything: the options, the steps, where the power goes, which
//! faults fire, and (through the simulator) what of the unsynced writes survives. The
//! workload drives the log from one thread with calls that return only when the log
//! writer is idle again, so the file operations come in the same order on every run of
//! a seed, and a failing seed replays exactly.

use std::path::PathBuf;

use ringwal::sim::{SimError, SimFault, SimFs, SimOp};
use ringwal::{Durability, Error, Lsn, Options, Preallocate, Wal};

/// What one seed did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub crash_points: u64,
    pub cuts_in_recovery: u64,
    pub faults_armed: u64,
    pub faults_fired: u64,
    pub reopens_after_fault: u64,
    pub records_checked: u64,
    pub appended: u64,
    pub truncations: u64,
    pub truncations_refused: u64,
    pub writes_torn: u64,
    pub writes_lost: u64,
    pub entries_lost: u64,
    pub ops: u64,
    pub power_cuts: u64,
    pub files_torn: u64,
    pub files_with_several_pieces: u64,
    pub files_reordered: u64,
    pub pieces_kept: u64,
    pub pieces_lost: u64,
    /// Opens after a cut whose recovery cut a hole with valid (unvouched) frames
    /// after it: a reordered write-back.
    pub holes_cut: u64,
    /// The most padding one log of the seed had written between commits (seeds run
    /// with `pad_every_commit` half the time): summed, a sign padding was exercised.
    pub padding_bytes_seen: u64,
    /// The most segments one life of the seed's log made from retired segments' files
    /// (`Stats::segments_recycled`), summed over seeds: a sign recycled files met
    /// power cuts.
    pub segments_recycled: u64,
    /// Bits flipped in acknowledged records that a later segment vouches for, or at
    /// or below the checkpoint.
    pub corruption_injected: u64,
    /// Of those, the opens that reported `Corrupt` (all of them, or the seed fails).
    pub corruption_reported: u64,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.crash_points += o.crash_points;
        self.padding_bytes_seen += o.padding_bytes_seen;
        self.segments_recycled += o.segments_recycled;
        self.cuts_in_recovery += o.cuts_in_recovery;
        self.faults_armed += o.faults_armed;
        self.faults_fired += o.faults_fired;
        self.reopens_after_fault += o.reopens_after_fault;
        self.records_checked += o.records_checked;
        self.appended += o.appended;
        self.truncations += o.truncations;
        self.truncations_refused += o.truncations_refused;
        self.writes_torn += o.writes_torn;
        self.writes_lost += o.writes_lost;
        self.entries_lost += o.entries_lost;
        self.ops += o.ops;
        self.power_cuts += o.power_cuts;
        self.files_torn += o.files_torn;
        self.files_with_several_pieces += o.files_with_several_pieces;
        self.files_reordered += o.files_reordered;
        self.pieces_kept += o.pieces_kept;
        self.pieces_lost += o.pieces_lost;
        self.holes_cut += o.holes_cut;
        self.corruption_injected += o.corruption_injected;
        self.corruption_reported += o.corruption_reported;
    }
}

/// The options and shape of one seed's workload.
#[derive(Debug, Clone)]
struct Config {
    dir: PathBuf,
    options: Options,
    fsync: bool,
    record_bytes_max: u64,
    batch_max: usize,
    ops_per_cut_max: u64,
}

impl Config {
    fn random(rng: &mut fastrand::Rng, sim: &SimFs) -> Config {
        let segment_bytes = rng.u64(2..=16) * 4096;
        // Room for the 4 KiB header and a few frames of the largest record.
        let record_bytes_max = rng.u64(16..=3000).min((segment_bytes - 4096) / 2);
        let staging_bytes_max = rng.u64(8..=64) * 4096;
        let fsync = rng.u8(..10) < 7;
        let preallocate = match rng.u8(..3) {
            0 => Preallocate::Zeroed,
            1 => Preallocate::Grow,
            _ => Preallocate::Fallocate,
        };
        let archive = rng.bool();
        let dir = match rng.u8(..3) {
            0 => PathBuf::from("/wal"),
            1 => PathBuf::from("/data/wal"),
            _ => PathBuf::from("/srv/db/log/wal"),
        };
        let options = Options::default()
            .segment_bytes(segment_bytes)
            .record_bytes_max(record_bytes_max)
            .staging_bytes_max(staging_bytes_max)
            .durability(if fsync {
                Durability::Fsync
            } else {
                Durability::Flush
            })
            .preallocate(preallocate)
            .archive(archive)
            .archive_segments_max(rng.u64(1..=4))
            .archive_bytes_max(rng.u64(1..=8) * segment_bytes)
            // Half the seeds start every commit at a block boundary, as io_uring's
            // direct mode does while a commit is in flight: padding under power cuts.
            .pad_every_commit(rng.bool())
            .simulated(sim);
        Config {
            dir,
            options,
            fsync,
            record_bytes_max,
            batch_max: rng.usize(1..=16),
            ops_per_cut_max: rng.u64(4..=60),
        }
    }
}

/// What the log has been told and has promised.
#[derive(Debug, Default)]
struct Model {
    /// Payload of LSN `i + 1`.
    payloads: Vec<Vec<u8>>,
    /// Highest LSN the log reported durable (acknowledged sync, `durable_lsn`, close).
    acked: u64,
    /// Highest checkpoint the log acknowledged.
    checkpoint: u64,
    /// Highest checkpoint asked for since the log was opened, acknowledged or not (a
    /// failed one may be on disk: cuts must stay above it).
    checkpoint_asked: u64,
    /// Batches of more than one record: recovery keeps all of one or none.
    batches: Vec<(u64, u64)>,
    /// A truncation that did not return: the log may or may not be cut here.
    pending_cut: Option<u64>,
}

impl Model {
    fn last(&self) -> u64 {
        self.payloads.len() as u64
    }

    /// Every record at or above `from` is gone.
    fn cut(&mut self, from: u64) {
        self.payloads.truncate(from as usize - 1);
        self.acked = self.acked.min(from - 1);
        self.batches.retain(|(_, b)| *b < from);
    }

    fn appended(&mut self, lsn: Lsn, payload: Vec<u8>) -> Result<(), String> {
        if lsn.get() != self.last() + 1 {
            return Err(format!(
                "append got LSN {lsn}, expected {} (LSNs must be dense)",
                self.last() + 1
            ));
        }
        self.payloads.push(payload);
        Ok(())
    }
}

pub struct Run {
    rng: fastrand::Rng,
    sim: SimFs,
    cfg: Config,
    model: Model,
    trace: bool,
    pub tally: Tally,
}

fn payload(rng: &mut fastrand::Rng, max: u64) -> Vec<u8> {
    let len = if rng.u8(..4) == 0 {
        rng.u64(..=max)
    } else {
        rng.u64(..=max.min(64))
    };
    (0..len).map(|_| rng.u8(..)).collect()
}

impl Run {
    pub fn new(seed: u64, trace: bool) -> Run {
        let mut rng = fastrand::Rng::with_seed(seed);
        let sim = SimFs::new(rng.u64(..));
        sim.set_trace(trace);
        let cfg = Config::random(&mut rng, &sim);
        if trace {
            eprintln!("seed {seed}: {cfg:?}");
        }
        Run {
            rng,
            sim,
            cfg,
            model: Model::default(),
            trace,
            tally: Tally::default(),
        }
    }

    fn note(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("  [ops {}] {}", self.sim.counts().ops, what());
        }
    }

    /// Runs `points` crash points; `Err` describes the first broken promise.
    pub fn run(&mut self, points: u64) -> Result<(), String> {
        let (mut wal, _) = self.open_after_cut(false)?;
        for point in 0..points {
            let cut_in = self.rng.u64(1..=self.cfg.ops_per_cut_max);
            self.sim.cut_power_after(cut_in);
            self.note(|| format!("crash point {point}: power goes in {cut_in} ops"));
            if self.rng.u8(..8) == 0 {
                self.arm_fault();
            }
            wal = self.until_cut(wal)?;
        }
        drop(wal);
        let counts = self.sim.counts();
        self.tally.writes_torn = counts.writes_torn;
        self.tally.writes_lost = counts.writes_lost;
        self.tally.entries_lost = counts.entries_lost;
        self.tally.faults_fired = counts.faults_fired;
        self.tally.ops = counts.ops;
        self.tally.power_cuts = counts.power_cuts;
        self.tally.files_torn = counts.files_torn;
        self.tally.files_with_several_pieces = counts.files_with_several_pieces;
        self.tally.files_reordered = counts.files_reordered;
        self.tally.pieces_kept = counts.pieces_kept;
        self.tally.pieces_lost = counts.pieces_lost;
        Ok(())
    }

    fn arm_fault(&mut self) {
        self.tally.faults_armed += 1;
        if self.rng.u8(..4) == 0 {
            // A disk that fills up: a little room left above what the files hold.
            let used: u64 = self
                .sim
                .paths()
                .iter()
                .filter_map(|p| self.sim.read_file(p).ok())
                .map(|d| d.len() as u64)
                .sum();
            let room = self.rng.u64(..=64 << 10);
            self.note(|| format!("capacity set to {used} + {room} bytes"));
            self.sim.set_capacity(Some(used + room));
            return;
        }
        let op = match self.rng.u8(..6) {
            0 => SimOp::Write,
            1 => SimOp::Sync,
            2 => SimOp::SyncDir,
            3 => SimOp::Create,
            4 => SimOp::Rename,
            _ => SimOp::Remove,
        };
        let error = if self.rng.bool() {
            SimError::Eio
        } else {
            SimError::Enospc
        };
        let fault = SimFault {
            op,
            nth: self.rng.u64(1..=6),
            error,
        };
        self.note(|| format!("fault armed: {fault:?}"));
        self.sim.fail(fault);
    }

    /// Steps until the power goes; then boots and checks. Returns the reopened log.
    fn until_cut(&mut self, mut wal: Wal) -> Result<Wal, String> {
        loop {
            let outcome = match self.rng.u8(..100) {
                0..45 => self.append_one(&wal)?,
                45..65 => self.append_batch(&wal)?,
                65..75 => self.sync(&wal),
                75..88 => self.checkpoint(&wal),
                88..94 => self.truncate(&wal)?,
                _ => match self.close_and_reopen(wal)? {
                    Ok(reopened) => {
                        wal = reopened;
                        continue;
                    }
                    Err(e) if !self.sim.is_powered() => {
                        self.note(|| format!("power cut in close or open: {e}"));
                        return Ok(self.open_after_cut(true)?.0);
                    }
                    Err(e) => {
                        self.note(|| format!("fault in close or open: {e}"));
                        let (reopened, cut) = self.reopen_same_boot()?;
                        if cut {
                            return Ok(reopened);
                        }
                        wal = reopened;
                        continue;
                    }
                },
            };
            self.model.acked = self.model.acked.max(wal.durable_lsn().get());
            let stats = wal.stats();
            self.tally.padding_bytes_seen = self.tally.padding_bytes_seen.max(stats.padding_bytes);
            self.tally.segments_recycled =
                self.tally.segments_recycled.max(stats.segments_recycled);
            match outcome {
                Ok(()) => continue,
                Err(e) if !self.sim.is_powered() => {
                    self.note(|| format!("power cut: {e}"));
                    drop(wal);
                    return Ok(self.open_after_cut(true)?.0);
                }
                Err(e) => {
                    // A fault fired with the power on.
                    self.note(|| format!("fault: {e}"));
                    let poisoned = matches!(e, Error::Poisoned { .. });
                    if poisoned && wal.append(b"after poison").is_ok() {
                        return Err(format!("an append succeeded on a poisoned log ({e})"));
                    }
                    if !poisoned {
                        continue; // a checkpoint failed; the log goes on
                    }
                    drop(wal);
                    if self.rng.bool() {
                        // Same boot: what a failed sync left in memory is not on disk.
                        self.tally.reopens_after_fault += 1;
                        let (reopened, cut) = self.reopen_same_boot()?;
                        if cut {
                            return Ok(reopened);
                        }
                        wal = reopened;
                        continue;
                    }
                    self.sim.cut_power();
                    return Ok(self.open_after_cut(true)?.0);
                }
            }
        }
    }

    fn sync(&mut self, wal: &Wal) -> Result<(), Error> {
        let lsn = wal.sync()?;
        self.model.acked = self.model.acked.max(lsn.get());
        self.note(|| format!("sync -> {lsn}"));
        Ok(())
    }

    /// Cuts the log back: mostly a short suffix (as a consensus log does), sometimes
    /// far, sometimes inside a batch (which must be refused).
    fn truncate(&mut self, wal: &Wal) -> Result<Result<(), Error>, String> {
        let floor = wal.checkpoint_lsn().get().max(self.model.checkpoint_asked);
        let last = self.model.last();
        if last <= floor {
            return Ok(Ok(()));
        }
        let near = last.saturating_sub(6).max(floor + 1);
        let from = if self.rng.u8(..4) > 0 {
            self.rng.u64(near..=last + 1)
        } else {
            self.rng.u64(floor + 1..=last + 1)
        };
        let in_batch = self
            .model
            .batches
            .iter()
            .any(|(a, b)| *a < from && from <= *b);
        match wal.truncate_from(Lsn::new(from)) {
            Ok(()) if in_batch => Err(format!("a cut at {from} inside a batch was accepted")),
            Ok(()) => {
                self.note(|| format!("truncate from {from}"));
                self.tally.truncations += 1;
                self.model.cut(from);
                if wal.last_lsn().get() != from - 1 {
                    return Err(format!(
                        "after a cut at {from} the log ends at {}",
                        wal.last_lsn()
                    ));
                }
                Ok(Ok(()))
            }
            Err(Error::InvalidArgument { .. }) if in_batch => {
                self.note(|| format!("truncate from {from}: refused inside a batch"));
                self.tally.truncations_refused += 1;
                Ok(Ok(()))
            }
            Err(e @ Error::InvalidArgument { .. }) => Err(format!(
                "a cut at {from} (log 1..={last}, checkpoint {floor}) refused: {e}"
            )),
            Err(e) => {
                self.note(|| format!("truncate from {from} failed: {e}"));
                self.model.pending_cut = Some(from);
                Ok(Err(e))
            }
        }
    }

    /// A clean close (everything synced) and an open, which must find exactly what
    /// was appended.
    fn close_and_reopen(&mut self, wal: Wal) -> Result<Result<Wal, Error>, String> {
        if let Err(e) = wal.close() {
            return Ok(Err(e));
        }
        self.model.acked = self.model.last();
        self.note(|| "closed".into());
        let wal = match Wal::open(&self.cfg.dir, self.cfg.options.clone()) {
            // The power went at the end of the open (see `open_after_cut`).
            Ok(_) if !self.sim.is_powered() => return Ok(Err(Error::Closed)),
            Ok(wal) => wal,
            Err(e) => return Ok(Err(e)),
        };
        if wal.last_lsn().get() != self.model.last() {
            return Err(format!(
                "reopen after a clean close ends at {} instead of {}",
                wal.last_lsn(),
                self.model.last()
            ));
        }
        self.check(&wal, "after a clean close")?;
        Ok(Ok(wal))
    }

    fn append_one(&mut self, wal: &Wal) -> Result<Result<(), Error>, String> {
        let p = payload(&mut self.rng, self.cfg.record_bytes_max);
        let lsn = match wal.append(&p) {
            Ok(lsn) => lsn,
            Err(e) => return Ok(Err(e)),
        };
        self.note(|| format!("append {} bytes -> {lsn}", p.len()));
        self.tally.appended += 1;
        self.model.appended(lsn, p)?;
        Ok(wal.wait_durable(lsn).map(|()| {
            if self.cfg.fsync {
                self.model.acked = self.model.acked.max(lsn.get());
            }
        }))
    }

    fn append_batch(&mut self, wal: &Wal) -> Result<Result<(), Error>, String> {
        let n = self.rng.usize(1..=self.cfg.batch_max);
        let batch: Vec<Vec<u8>> = (0..n)
            .map(|_| payload(&mut self.rng, self.cfg.record_bytes_max))
            .collect();
        let refs: Vec<&[u8]> = batch.iter().map(|p| p.as_slice()).collect();
        let range = match wal.append_batch(&refs) {
            Ok(range) => range,
            Err(e) => return Ok(Err(e)),
        };
        self.note(|| format!("batch of {n} -> {range:?}"));
        self.tally.appended += n as u64;
        let (first, last) = (range.start().get(), range.end().get());
        if last - first + 1 != n as u64 {
            return Err(format!("a batch of {n} got LSNs {range:?}"));
        }
        for (i, p) in batch.into_iter().enumerate() {
            self.model.appended(Lsn::new(first + i as u64), p)?;
        }
        if n > 1 {
            self.model.batches.push((first, last));
        }
        Ok(wal.wait_durable(*range.end()).map(|()| {
            if self.cfg.fsync {
                self.model.acked = self.model.acked.max(last);
            }
        }))
    }

    fn checkpoint(&mut self, wal: &Wal) -> Result<(), Error> {
        let (from, last) = (self.model.checkpoint, self.model.last());
        if last <= from {
            return Ok(());
        }
        let lsn = self.rng.u64(from + 1..=last);
        self.model.checkpoint_asked = self.model.checkpoint_asked.max(lsn);
        wal.checkpoint(Lsn::new(lsn))?;
        self.note(|| format!("checkpoint {lsn}"));
        // A checkpoint syncs up to its LSN before it is persisted.
        self.model.checkpoint = lsn;
        self.model.acked = self.model.acked.max(lsn);
        Ok(())
    }

    /// Opens the log after a power cut (`cut`) or in the same boot after a fault, and
    /// checks it. After a cut the power sometimes goes again inside recovery; a fault
    /// still armed may fail the open, which is then tried again.
    fn open_after_cut(&mut self, mut cut: bool) -> Result<(Wal, bool), String> {
        if cut {
            self.tally.crash_points += 1;
        }
        // The disk was freed (a full-disk fault is over once the log is reopened).
        self.sim.set_capacity(None);
        for _ in 0..100 {
            if cut {
                self.sim.restart();
                if self.rng.u8(..8) == 0 {
                    self.corruption_is_reported()?;
                }
                if self.rng.u8(..6) == 0 {
                    let n = self.rng.u64(1..=12);
                    self.note(|| format!("power goes in {n} ops, inside recovery"));
                    self.sim.cut_power_after(n);
                }
            }
            let fired = self.sim.counts().faults_fired;
            match Wal::open(&self.cfg.dir, self.cfg.options.clone()) {
                // The open may succeed with the power gone in its last steps (the next
                // segment's preparation reports its failure at the first rotation).
                Ok(wal) if !self.sim.is_powered() => {
                    drop(wal);
                    self.note(|| "power cut at the end of the open".into());
                    self.tally.crash_points += u64::from(cut);
                    self.tally.cuts_in_recovery += 1;
                    cut = true;
                }
                Ok(wal) => {
                    if cut {
                        // No cut left over from recovery: the next crash point sets one.
                        self.sim.cut_power_after(u64::MAX);
                    }
                    if let Some(t) = wal.recovery_report().torn_tail
                        && t.frames_after_hole > 0
                    {
                        self.note(|| format!("recovery cut a hole: {t:?}"));
                        self.tally.holes_cut += 1;
                    }
                    let when = if cut {
                        "after a power cut"
                    } else {
                        "after a fault"
                    };
                    self.check(&wal, when)?;
                    return Ok((wal, cut));
                }
                Err(e) if !self.sim.is_powered() => {
                    self.note(|| format!("power cut inside recovery: {e}"));
                    self.tally.crash_points += u64::from(cut);
                    self.tally.cuts_in_recovery += 1;
                    cut = true;
                }
                Err(e) if self.sim.counts().faults_fired > fired => {
                    self.note(|| format!("an armed fault failed the open: {e}"));
                }
                Err(e) => return Err(format!("reopen failed: {e}")),
            }
        }
        Err("the log could not be reopened in 100 attempts".into())
    }

    /// Reopens in the same boot; `true` with the log when the power went during it
    /// (the crash point is then over).
    fn reopen_same_boot(&mut self) -> Result<(Wal, bool), String> {
        self.open_after_cut(false)
    }

    /// The log as reopened must hold every acknowledged record and checkpoint, dense,
    /// with the payloads appended, and no batch in part.
    fn check(&mut self, wal: &Wal, when: &str) -> Result<(), String> {
        let last = wal.last_lsn().get();
        let checkpoint = wal.checkpoint_lsn().get();
        if let Some(from) = self.model.pending_cut.take()
            && last < from
        {
            // The cut that did not return was decided: it holds.
            self.model.cut(from);
        }
        let m = &self.model;
        let fail = |what: String| Err(format!("{when}: {what}"));
        if last < m.acked {
            return fail(format!(
                "acknowledged LSN {} lost: the log ends at {last}",
                m.acked
            ));
        }
        if last > m.last() {
            return fail(format!(
                "log ends at {last} but only {} were appended",
                m.last()
            ));
        }
        if checkpoint < m.checkpoint {
            return fail(format!(
                "acknowledged checkpoint {} came back as {checkpoint}",
                m.checkpoint
            ));
        }
        if checkpoint > last.max(m.checkpoint) {
            return fail(format!(
                "checkpoint {checkpoint} beyond the log's end {last}"
            ));
        }
        if let Some((a, b)) = m.batches.iter().find(|(a, b)| *a <= last && last < *b) {
            return fail(format!("batch {a}..={b} recovered only up to {last}"));
        }
        let mut next = checkpoint + 1;
        let records = wal
            .read_from(Lsn::new(next))
            .map_err(|e| format!("{when}: read_from({next}) failed: {e}"))?;
        for record in records {
            let record = record.map_err(|e| format!("{when}: reading LSN {next}: {e}"))?;
            if record.lsn().get() != next {
                return fail(format!("read LSN {} where {next} was due", record.lsn()));
            }
            let want = m.payloads.get(next as usize - 1).map(Vec::as_slice);
            if Some(record.payload()) != want {
                return fail(format!(
                    "LSN {next} holds a payload that was never appended"
                ));
            }
            next += 1;
        }
        if next != last + 1 {
            return fail(format!(
                "read stopped at {} but the log ends at {last}",
                next - 1
            ));
        }
        self.tally.records_checked += last - checkpoint;
        self.note(|| format!("checked: log 1..={last}, checkpoint {checkpoint}"));
        // Recovery syncs what it keeps: all of it is a promise from here on.
        let model = &mut self.model;
        model.payloads.truncate(last as usize);
        model.acked = last;
        model.checkpoint = checkpoint;
        model.checkpoint_asked = checkpoint;
        model.batches.retain(|(_, b)| *b <= last);
        Ok(())
    }
}

// Segment header fields the corruption check reads (docs/FORMAT.md): the magic at 0,
// the first LSN at 24; record data starts at 4096.
const SEGMENT_MAGIC: &[u8] = b"RNGWALSG";
const FIRST_LSN_AT: usize = 24;
const DATA_AT: usize = 4096;
/// Payloads at least this long are random enough to be found by content alone.
const PAYLOAD_FOUND_MIN: usize = 16;

/// A live segment file of the log, and the first LSN its header names (if it has one).
struct Segment {
    path: PathBuf,
    bytes: Vec<u8>,
    first_lsn: Option<u64>,
}

/// Where `needle` occurs in `hay` (the payloads are random: a first-byte filter is
/// enough to keep this cheap in a debug build).
fn occurrences(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    let Some(&first) = needle.first() else {
        return Vec::new();
    };
    (0..hay.len().saturating_sub(needle.len() - 1))
        .filter(|&i| hay.get(i) == Some(&first) && hay.get(i..i + needle.len()) == Some(needle))
        .collect()
}

impl Run {
    fn segments(&self) -> Vec<Segment> {
        let mut paths: Vec<PathBuf> = self
            .sim
            .paths()
            .into_iter()
            .filter(|p| p.parent() == Some(self.cfg.dir.as_path()))
            .filter(|p| p.extension().is_some_and(|e| e == "wal"))
            .collect();
        // 20-digit sequence numbers: the names sort in sequence order.
        paths.sort();
        paths
            .into_iter()
            .filter_map(|path| {
                let bytes = self.sim.read_file(&path).ok()?;
                let first_lsn = (bytes.get(..SEGMENT_MAGIC.len()) == Some(SEGMENT_MAGIC))
                    .then(|| bytes.get(FIRST_LSN_AT..FIRST_LSN_AT + 8))
                    .flatten()
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes);
                Some(Segment {
                    path,
                    bytes,
                    first_lsn,
                })
            })
            .collect()
    }

    /// An acknowledged record the log must call corrupt if damaged: in a segment
    /// followed by one whose header names a first LSN that is acknowledged too (that
    /// header is durable, and vouches for everything below its first LSN), or at or
    /// below the acknowledged checkpoint in a live segment. Returns the segment's
    /// path, the offset of a byte of the record's payload, and its LSN.
    fn sealed_record(&mut self, segments: &[Segment]) -> Option<(PathBuf, u64, u64)> {
        let m = &self.model;
        let hi = m.pending_cut.map_or(m.acked, |from| m.acked.min(from - 1));
        // Under a pending truncation intent too: the open used to finish the cut from
        // the first damaged frame of the cut's segment, below the checkpoint as well,
        // without a report (seed 185); it now leaves a cut whose records end early to
        // recovery's judgement.
        let checkpoint = m.checkpoint.min(hi);
        let next_firsts = segments.iter().skip(1).map(|s| s.first_lsn).chain([None]);
        let sealed: Vec<(&Segment, u64, u64)> = segments
            .iter()
            .zip(next_firsts)
            .filter_map(|(seg, next_first)| {
                let first = seg.first_lsn?;
                let end = match next_first {
                    Some(next) if next <= hi => next,
                    Some(next) => next.min(checkpoint + 1),
                    None => checkpoint + 1,
                };
                (first < end).then_some((seg, first, end))
            })
            .collect();
        for _ in 0..8 {
            let (seg, from, to) = *sealed.get(self.rng.usize(..sealed.len().max(1)))?;
            let lsn = self.rng.u64(from..to);
            let payload = self.model.payloads.get(lsn as usize - 1)?;
            if payload.len() < PAYLOAD_FOUND_MIN {
                continue;
            }
            if let [at] = occurrences(&seg.bytes, payload)[..]
                && at >= DATA_AT
            {
                let at = at + self.rng.usize(..payload.len());
                return Some((seg.path.clone(), at as u64, lsn));
            }
        }
        None
    }

    /// After a power cut, before the log is reopened: flips one bit of an
    /// acknowledged record the log must not lose silently (see `sealed_record`),
    /// checks that the open calls it corruption, and puts the byte back (durably).
    fn corruption_is_reported(&mut self) -> Result<(), String> {
        let segments = self.segments();
        let Some((path, at, lsn)) = self.sealed_record(&segments) else {
            return Ok(());
        };
        let old = segments
            .iter()
            .find(|s| s.path == path)
            .and_then(|s| s.bytes.get(at as usize).copied())
            .ok_or("the chosen byte vanished")?;
        let flipped = old ^ (1 << self.rng.u8(..8));
        let io = |e: std::io::Error| format!("injecting corruption into {}: {e}", path.display());
        self.sim.write_file_at(&path, at, &[flipped]).map_err(io)?;
        self.note(|| format!("bit flipped in LSN {lsn}: {} at {at}", path.display()));
        self.tally.corruption_injected += 1;
        let opened = Wal::open(&self.cfg.dir, self.cfg.options.clone());
        self.sim.write_file_at(&path, at, &[old]).map_err(io)?;
        self.sim.sync_file(&path).map_err(io)?;
        match opened {
            Err(e) if e.is_corrupt() => {
                self.note(|| format!("reported: {e}"));
                self.tally.corruption_reported += 1;
                Ok(())
            }
            Err(e) => Err(format!(
                "a flipped bit in acknowledged LSN {lsn} ({} at {at}) gave {e}, not Corrupt",
                path.display()
            )),
            Ok(_) => Err(format!(
                "a flipped bit in acknowledged LSN {lsn} ({} at {at}) was not reported",
                path.display()
            )),
        }
    }
}
