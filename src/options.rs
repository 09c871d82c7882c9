//! Everything a user can choose when opening a log, with the checks that reject
//! combinations that cannot work.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::limits::{
    CHAINS_IN_FLIGHT_MAX, FRAME_ALIGN, FRAME_HEADER_BYTES, RECORD_BYTES_MAX,
    RECYCLE_SEGMENTS_DEFAULT, RECYCLE_SEGMENTS_MAX, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN,
    SEGMENT_HEADER_BYTES, STAGING_BYTES_MAX, STAGING_BYTES_MIN, STAGING_MEMORY_BYTES_MAX,
    frame_bytes,
};

pub use crate::io::fs::FileAccess;

/// `record_bytes_max` when the user does not set it and the segment holds it.
const RECORD_BYTES_DEFAULT: u64 = 1 << 20;
/// Direct mode's default commits in flight (see `Options::direct_depth`): measured on
/// the 2-core VM this was built on, deeper pipelines carried fewer records per commit,
/// each commit took longer, and throughput did not rise (perf/README.md, the curve).
const DIRECT_DEPTH_DEFAULT: u32 = 1;

/// Which I/O driver writes the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Driver {
    /// io_uring where it works, the portable driver elsewhere.
    #[default]
    Auto,
    /// Positioned writes and `fdatasync` on the log-writer thread; works everywhere.
    Portable,
    /// The io_uring driver; opening fails with `Error::Unsupported` where it cannot run.
    IoUring,
}

/// When an append counts as acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Acknowledged means on disk: written and `fdatasync`ed (group commit).
    #[default]
    Fsync,
    /// Acknowledged means written to the OS page cache; survives a process crash but
    /// not a power loss. `sync()` still forces a real sync.
    Flush,
    /// Written at once, synced at most this long after; `wait_durable` waits for the sync.
    Periodic(Duration),
}

/// What recovery may repair on its own when the log is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum RecoveryMode {
    /// Cut a torn tail in the last segment (logging what was cut); report anything else
    /// as corruption.
    #[default]
    TolerateTornTail,
    /// Change nothing: a torn tail is reported as `Error::TornTail`.
    Strict,
}

/// How a new segment file gets its space before records are written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Preallocate {
    /// Write the whole file with zeros and sync it, off the hot path. Every later
    /// `fdatasync` then only overwrites data and needs no metadata update.
    #[default]
    Zeroed,
    /// `fallocate` the file (unwritten extents; each first write converts them).
    Fallocate,
    /// Nothing: the file grows with each write.
    Grow,
}

/// Options for [`crate::Wal::open`]. Builder methods consume and return `Options`.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub(crate) segment_bytes: u64,
    pub(crate) record_bytes_max: u64,
    /// Whether the user chose `record_bytes_max`; if not, it follows the segment and
    /// staging sizes (see `fit_default_record_bytes_max`).
    record_bytes_max_explicit: bool,
    pub(crate) staging_bytes_max: u64,
    pub(crate) driver: Driver,
    pub(crate) durability: Durability,
    pub(crate) recovery_mode: RecoveryMode,
    pub(crate) preallocate: Preallocate,
    pub(crate) archive: bool,
    pub(crate) archive_segments_max: u64,
    pub(crate) archive_bytes_max: u64,
    pub(crate) recycle_segments: u32,
    pub(crate) ring_entries: u32,
    pub(crate) chains_in_flight_max: u32,
    pub(crate) sqpoll: bool,
    pub(crate) sqpoll_idle_ms: u32,
    pub(crate) prepare_on_ring: bool,
    pub(crate) direct_io: bool,
    pub(crate) direct_depth: u32,
    #[cfg(feature = "fault-injection")]
    pub(crate) faults: Option<crate::testing::FaultPlan>,
    #[cfg(feature = "fault-injection")]
    pub(crate) pad_every_commit: bool,
    /// Where the files live: the real filesystem unless a simulator was given.
    pub(crate) fs: crate::io::fs::Fs,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_bytes: 64 << 20,
            record_bytes_max: RECORD_BYTES_DEFAULT,
            record_bytes_max_explicit: false,
            staging_bytes_max: 4 << 20,
            driver: Driver::Auto,
            durability: Durability::Fsync,
            recovery_mode: RecoveryMode::TolerateTornTail,
            preallocate: Preallocate::Zeroed,
            archive: false,
            archive_segments_max: 64,
            archive_bytes_max: 4 << 30,
            recycle_segments: RECYCLE_SEGMENTS_DEFAULT,
            ring_entries: 64,
            chains_in_flight_max: 1,
            sqpoll: false,
            sqpoll_idle_ms: 1000,
            prepare_on_ring: true,
            direct_io: true,
            direct_depth: DIRECT_DEPTH_DEFAULT,
            #[cfg(feature = "fault-injection")]
            faults: None,
            #[cfg(feature = "fault-injection")]
            pad_every_commit: false,
            fs: crate::io::fs::Fs::default(),
        }
    }
}

impl Options {
    /// Size of each segment file in bytes (default 64 MiB).
    pub fn segment_bytes(mut self, bytes: u64) -> Self {
        self.segment_bytes = bytes;
        self.fit_default_record_bytes_max();
        self
    }

    /// Largest payload one record may carry. Unless set here, 1 MiB or, when the
    /// segment or the staging buffer cannot hold a record that large after a segment
    /// header, the largest record they can hold. A value set here is checked, never
    /// lowered.
    pub fn record_bytes_max(mut self, bytes: u64) -> Self {
        self.record_bytes_max = bytes;
        self.record_bytes_max_explicit = true;
        self
    }

    /// The default `record_bytes_max` for the current segment and staging sizes: a
    /// smaller segment must not make the default options refuse themselves. At least
    /// 1, so a size too small for any record is refused for itself.
    fn fit_default_record_bytes_max(&mut self) {
        if self.record_bytes_max_explicit {
            return;
        }
        let room = self
            .segment_bytes
            .min(self.staging_bytes_max)
            .saturating_sub(SEGMENT_HEADER_BYTES);
        // Frames are padded to FRAME_ALIGN: the largest payload whose frame fits.
        let aligned = room & !(FRAME_ALIGN - 1);
        let fits = aligned.saturating_sub(FRAME_HEADER_BYTES);
        debug_assert!(fits == 0 || frame_bytes(fits) <= room);
        self.record_bytes_max = fits.clamp(1, RECORD_BYTES_DEFAULT);
    }

    /// Bytes that may wait in staging before appenders block (default 4 MiB). The log
    /// allocates `chains_in_flight_max + 1` buffers of this size up front (one filling,
    /// the others being written; the portable driver keeps 2), and refuses options
    /// whose product exceeds `limits::STAGING_MEMORY_BYTES_MAX` (8 GiB). A buffer also
    /// spans at most `limits::FLUSH_SEGMENTS_MAX` segments: with segments much smaller
    /// than the buffer, appenders wait for the writer sooner.
    pub fn staging_bytes_max(mut self, bytes: u64) -> Self {
        self.staging_bytes_max = bytes;
        self.fit_default_record_bytes_max();
        self
    }

    /// Which driver writes the log (default `Driver::Auto`).
    pub fn driver(mut self, driver: Driver) -> Self {
        self.driver = driver;
        self
    }

    /// When an append is acknowledged (default `Durability::Fsync`).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// What recovery may repair (default `RecoveryMode::TolerateTornTail`).
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// How new segments get their space (default `Preallocate::Zeroed`).
    pub fn preallocate(mut self, how: Preallocate) -> Self {
        self.preallocate = how;
        self
    }

    /// Move checkpointed segments into `archive/` instead of deleting them.
    pub fn archive(mut self, on: bool) -> Self {
        self.archive = on;
        self
    }

    /// Most retired segment files kept for reuse (default 4; 0 turns recycling off).
    ///
    /// Without archiving, a checkpoint renames up to this many of the segments it
    /// retires to `<seq>.spare` instead of deleting them, and the next new segments
    /// reuse those files without zero-filling them first: bulk ingest then writes each
    /// byte once. The spares take `recycle_segments × segment_bytes` of disk until
    /// reused. Recycling is off with `archive(true)` (retired segments are kept) and
    /// with `Preallocate::Grow` (its files are not full size).
    pub fn recycle_segments(mut self, count: u32) -> Self {
        self.recycle_segments = count;
        self
    }

    /// Most segments kept in `archive/`; the oldest are pruned first (default 64).
    pub fn archive_segments_max(mut self, count: u64) -> Self {
        self.archive_segments_max = count;
        self
    }

    /// Most bytes kept in `archive/`; the oldest segments are pruned first (default 4 GiB).
    pub fn archive_bytes_max(mut self, bytes: u64) -> Self {
        self.archive_bytes_max = bytes;
        self
    }

    /// io_uring submission-queue entries (default 64; io_uring driver only).
    pub fn ring_entries(mut self, entries: u32) -> Self {
        self.ring_entries = entries;
        self
    }

    /// Most write→fsync chains in flight at once (default 1, at most
    /// `limits::CHAINS_IN_FLIGHT_MAX` = 64; io_uring driver only).
    /// On the 2-core VM this was measured on, 16 durable appenders ran fastest with one
    /// chain in flight (see perf/README.md): a second chain carries fewer records and its
    /// fsync queues behind the first. Raise it where the device overlaps flushes.
    pub fn chains_in_flight_max(mut self, chains: u32) -> Self {
        self.chains_in_flight_max = chains;
        self
    }

    /// io_uring driver: commit with one `O_DIRECT` + `RWF_DSYNC` write per segment
    /// instead of a buffered write linked to an fsync (default on). Used where it is
    /// sound and works: `Durability::Fsync`, `Preallocate::Zeroed`, 4 KiB direct-I/O
    /// blocks, and a filesystem known to honour `RWF_DSYNC` that takes `O_DIRECT`
    /// (ext4, XFS, btrfs, f2fs; probed at open; otherwise the buffered chains, said once
    /// through tracing). `Stats::direct_io` says which runs; `direct_depth` how many
    /// commits it keeps in flight.
    pub fn direct_io(mut self, on: bool) -> Self {
        self.direct_io = on;
        self
    }

    /// Direct mode: most commits (`O_DIRECT` + `RWF_DSYNC` writes) in flight at once
    /// (default 1, at most `limits::CHAINS_IN_FLIGHT_MAX`). With more than one, a
    /// commit staged while another is being written starts at the next 4 KiB block, so
    /// two writes in flight never share a block (`Stats::padding_bytes` counts the bytes
    /// skipped; serial commits stay dense). Raise it on a device that overlaps flushes
    /// (the default was measured on a virtual disk where deeper pipelines only made
    /// commits smaller and slower; see perf/README.md). The log allocates
    /// `direct_depth + 1` staging buffers, plus an aligned copy per commit in flight.
    pub fn direct_depth(mut self, commits: u32) -> Self {
        self.direct_depth = commits;
        self
    }

    /// Whether these options let the io_uring driver commit in direct mode (it still
    /// probes the filesystem at open): `direct_io`, `Durability::Fsync` (each commit
    /// durable on its own) and `Preallocate::Zeroed` (no extension or extent
    /// conversion behind a direct write).
    pub(crate) fn direct_allowed(&self) -> bool {
        self.direct_io
            && self.durability == Durability::Fsync
            && self.preallocate == Preallocate::Zeroed
    }

    /// Staging buffers of `staging_bytes_max` the log may allocate: one being filled,
    /// and one for each flush in flight in whichever io_uring mode runs (settled at
    /// open), plus, in direct mode, the aligned copies direct writes go out from.
    pub(crate) fn flushes_in_flight_max(&self) -> u32 {
        // Before the driver is opened: direct mode is possible only on io_uring, on
        // real files, with these settings (`io::uring`).
        let direct_possible =
            self.direct_allowed() && self.driver != Driver::Portable && self.fs.is_os();
        let direct = if direct_possible {
            self.direct_depth
        } else {
            0
        };
        self.chains_in_flight_max.max(direct)
    }

    /// Run the io_uring submission queue with a kernel polling thread (SQPOLL) that
    /// sleeps after `idle_ms` without work. Off by default: on a 2-core machine it
    /// measured harmful (slower commits, multi-second outliers).
    pub fn sqpoll(mut self, on: bool, idle_ms: u32) -> Self {
        self.sqpoll = on;
        self.sqpoll_idle_ms = idle_ms;
        self
    }

    /// io_uring driver: make the next segment with one linked chain on the writer's
    /// ring, each step after the one before has completed, instead of with blocking
    /// calls on the segment preparer's thread (default on; needs Linux 5.11's
    /// `IORING_OP_RENAMEAT`, else the thread does it). From a spare file
    /// (`recycle_segments`): the recycled-blank marker's write → fdatasync → dropping
    /// its cached pages → rename → directory fsync. A new file, in direct mode with
    /// `Preallocate::Zeroed`: zeros through `O_DIRECT` in pieces → fsync → rename →
    /// directory fsync (other new files are made on the thread). Either way the
    /// segment's directory entry is durable before any record in it is acknowledged.
    pub fn prepare_on_ring(mut self, on: bool) -> Self {
        self.prepare_on_ring = on;
        self
    }

    /// Who may read the files and directories the log creates (default
    /// `FileAccess::Owner`: files 0600, directories 0700). Files that exist already
    /// keep their modes; opening a log whose files others may read logs a warning.
    /// No effect on a simulated filesystem, which has no modes.
    pub fn file_access(mut self, access: FileAccess) -> Self {
        if self.fs.is_os() {
            self.fs = crate::io::fs::Fs::Os(access);
        }
        self
    }

    /// Puts the log on a simulated filesystem (feature `sim`): every file operation of
    /// the log, its recovery and its readers goes to `sim`, which keeps a live and a
    /// durable image of each file and can cut the power. The portable driver runs the
    /// log (the io_uring driver needs real files: `Driver::IoUring` is refused).
    /// See [`crate::sim`].
    #[cfg(feature = "sim")]
    pub fn simulated(mut self, sim: &crate::sim::SimFs) -> Self {
        self.fs = crate::io::fs::Fs::Sim(sim.clone());
        self
    }

    /// Makes the driver fail as the plan says (tests only).
    #[cfg(feature = "fault-injection")]
    pub fn inject_faults(mut self, plan: crate::testing::FaultPlan) -> Self {
        self.faults = Some(plan);
        self
    }

    /// Starts every commit at a block boundary, leaving padding behind the last one
    /// (tests only: the direct mode of io_uring pads only while a commit is in flight;
    /// this lets the simulator's power cuts, which run the portable driver, cover
    /// padded logs).
    #[cfg(feature = "fault-injection")]
    pub fn pad_every_commit(mut self, on: bool) -> Self {
        self.pad_every_commit = on;
        self
    }

    /// How many retired segment files the spare pool keeps: `recycle_segments` where
    /// recycling applies (see there; padding left unwritten by the test-only
    /// `pad_every_commit` would read back as an earlier life's bytes), else 0.
    pub(crate) fn spares_kept(&self) -> usize {
        let applies =
            !self.archive && self.preallocate != Preallocate::Grow && !self.pads_every_commit();
        if applies {
            self.recycle_segments as usize
        } else {
            0
        }
    }

    pub(crate) fn pads_every_commit(&self) -> bool {
        #[cfg(feature = "fault-injection")]
        return self.pad_every_commit;
        #[cfg(not(feature = "fault-injection"))]
        false
    }

    /// The configured segment size.
    pub fn get_segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// The largest record payload the log accepts (set, or defaulted to what the
    /// segment and staging sizes hold).
    pub fn get_record_bytes_max(&self) -> u64 {
        self.record_bytes_max
    }

    /// The configured staging buffer size.
    pub fn get_staging_bytes_max(&self) -> u64 {
        self.staging_bytes_max
    }

    /// The configured durability.
    pub fn get_durability(&self) -> Durability {
        self.durability
    }

    /// Rejects values that cannot work, naming the field.
    pub fn validate(&self) -> Result<()> {
        self.validate_sizes()?;
        self.validate_staging()?;
        self.validate_policies()?;
        self.validate_ring()
    }

    /// Segment and record sizes.
    fn validate_sizes(&self) -> Result<()> {
        if !(SEGMENT_BYTES_MIN..=SEGMENT_BYTES_MAX).contains(&self.segment_bytes) {
            return bad(
                "segment_bytes",
                format!(
                    "must be in {SEGMENT_BYTES_MIN}..={SEGMENT_BYTES_MAX}, got {}",
                    self.segment_bytes
                ),
            );
        }
        if self.record_bytes_max == 0 || self.record_bytes_max > RECORD_BYTES_MAX {
            return bad(
                "record_bytes_max",
                format!(
                    "must be in 1..={RECORD_BYTES_MAX}, got {}",
                    self.record_bytes_max
                ),
            );
        }
        let frame_max = frame_bytes(self.record_bytes_max);
        if SEGMENT_HEADER_BYTES + frame_max > self.segment_bytes {
            return bad(
                "segment_bytes",
                format!(
                    "{} bytes cannot hold the {SEGMENT_HEADER_BYTES}-byte header plus one \
                     largest record ({frame_max} bytes framed)",
                    self.segment_bytes
                ),
            );
        }
        Ok(())
    }

    /// The staging buffer: its size, what it must hold, and the memory of all of them.
    fn validate_staging(&self) -> Result<()> {
        if !(STAGING_BYTES_MIN..=STAGING_BYTES_MAX).contains(&self.staging_bytes_max) {
            return bad(
                "staging_bytes_max",
                format!(
                    "must be in {STAGING_BYTES_MIN}..={STAGING_BYTES_MAX}, got {}",
                    self.staging_bytes_max
                ),
            );
        }
        // A rotation puts a segment header into staging ahead of the record.
        let frame_max = frame_bytes(self.record_bytes_max);
        if frame_max + SEGMENT_HEADER_BYTES > self.staging_bytes_max {
            return bad(
                "staging_bytes_max",
                format!(
                    "{} bytes cannot hold one largest record ({frame_max} bytes framed) \
                     plus a segment header",
                    self.staging_bytes_max
                ),
            );
        }
        // Buffered chains: one staging buffer each, plus the one filling. Direct mode:
        // the same, plus an aligned copy per commit in flight.
        let chains = u64::from(self.chains_in_flight_max.clamp(1, CHAINS_IN_FLIGHT_MAX));
        let direct = u64::from(self.direct_depth.clamp(1, CHAINS_IN_FLIGHT_MAX));
        let buffers = if self.direct_io {
            (chains + 1).max(2 * direct + 1)
        } else {
            chains + 1
        };
        if self.staging_bytes_max.saturating_mul(buffers) > STAGING_MEMORY_BYTES_MAX {
            return bad(
                "staging_bytes_max",
                format!(
                    "{buffers} buffers (chains_in_flight_max + 1, or 2 × direct_depth + 1 \
                     with direct_io) of {} bytes exceed the {STAGING_MEMORY_BYTES_MAX} bytes \
                     of staging a log may allocate",
                    self.staging_bytes_max
                ),
            );
        }
        Ok(())
    }

    /// Durability and archiving.
    fn validate_policies(&self) -> Result<()> {
        if let Durability::Periodic(every) = self.durability
            && every.is_zero()
        {
            return bad("durability", "Periodic needs a non-zero interval".into());
        }
        if self.recycle_segments > RECYCLE_SEGMENTS_MAX {
            return bad(
                "recycle_segments",
                format!(
                    "must be at most {RECYCLE_SEGMENTS_MAX}, got {}",
                    self.recycle_segments
                ),
            );
        }
        if self.archive && (self.archive_segments_max == 0 || self.archive_bytes_max == 0) {
            return bad(
                "archive_segments_max",
                "archive limits must be non-zero when archiving is on".into(),
            );
        }
        Ok(())
    }

    /// io_uring sizes. The ring itself grows to hold a whole flush's chain and every
    /// completion the chains in flight can produce (see `io::uring`).
    fn validate_ring(&self) -> Result<()> {
        if !(1..=4096).contains(&self.ring_entries) || !self.ring_entries.is_power_of_two() {
            return bad(
                "ring_entries",
                format!(
                    "must be a power of two in 1..=4096, got {}",
                    self.ring_entries
                ),
            );
        }
        if !(1..=CHAINS_IN_FLIGHT_MAX).contains(&self.direct_depth) {
            return bad(
                "direct_depth",
                format!(
                    "must be in 1..={CHAINS_IN_FLIGHT_MAX}, got {}",
                    self.direct_depth
                ),
            );
        }
        if !(1..=CHAINS_IN_FLIGHT_MAX).contains(&self.chains_in_flight_max) {
            return bad(
                "chains_in_flight_max",
                format!(
                    "must be in 1..={CHAINS_IN_FLIGHT_MAX}, got {}",
                    self.chains_in_flight_max
                ),
            );
        }
        Ok(())
    }
}

fn bad(field: &'static str, reason: String) -> Result<()> {
    Err(Error::InvalidOptions { field, reason })
}
