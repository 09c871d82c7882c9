//! `ringwal repair`: cut a torn tail (backing up what is cut), and with
//! `--truncate-at-corruption` cut the log at mid-log damage (backing that up too).
//!
//! The changes themselves are left to the library: after the backup, opening the log
//! with `Wal::open` runs recovery, which zeroes the torn tail; `--truncate-at-corruption`
//! cuts with the library's truncation (an intent file first, so an open after a crash
//! part way finishes the cut).

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ringwal::limits::{
    FRAME_ALIGN, FRAME_HEADER_BYTES, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN, SEGMENT_HEADER_BYTES,
    STAGING_BYTES_MAX, frame_bytes,
};
use ringwal::truncation::repair as truncation;
use ringwal::{Driver, Error, LogLock, LogReader, Lsn, Options, Scan, Wal};

use crate::failure::{EXIT_CORRUPT, EXIT_ERROR, EXIT_OK, Failure};
use crate::logdir::{CutRange, Health, cut_ranges, examine, require_log_dir, tail_cut};

/// Passes of `--truncate-at-corruption` before giving up (each cuts at a damage
/// strictly earlier in the log than the end it leaves, so a few always suffice).
const TRUNCATE_PASSES_MAX: usize = 8;

/// What `repair` was asked to do.
#[derive(Debug, Clone, Copy)]
pub struct RepairArgs {
    /// Report, change nothing.
    pub dry_run: bool,
    /// Cut the log at mid-log corruption too.
    pub truncate_at_corruption: bool,
}

/// Repairs the log in `dir`.
pub fn repair(dir: &Path, args: RepairArgs) -> Result<u8, Failure> {
    require_log_dir(dir)?;
    if args.dry_run {
        return dry_run(dir, args);
    }
    let lock = LogLock::acquire(dir).map_err(refuse_if_locked)?;
    let stamp = unix_seconds();
    let (reader, truncated) = scan_or_truncate(dir, args, stamp)?;
    let scan = reader.scan().clone();
    let Some(cut) = tail_cut(&scan) else {
        if truncated {
            drop(lock);
            reopen(dir, &scan)?;
            println!("repaired: the log ends at LSN {}", scan.last_lsn);
        } else {
            println!(
                "nothing to repair: the log ends cleanly at LSN {}",
                scan.last_lsn
            );
        }
        return Ok(EXIT_OK);
    };
    let ranges = cut_ranges(&scan);
    let backup = unique_path(dir, &format!("repair-{stamp}"), ".bin");
    back_up_ranges(&ranges, &backup)?;
    for r in &ranges {
        println!(
            "cutting segment {} bytes {}..{} ({} bytes)",
            r.segment,
            r.from,
            r.to,
            r.to - r.from
        );
    }
    // `Wal::open` takes the lock itself; a writer that slips in between makes it fail
    // with `Locked` before recovery touches anything.
    drop(lock);
    let cut_bytes = reopen(dir, &scan)?;
    println!(
        "repaired: cut {cut_bytes} torn bytes from segment {} (backup: {}); the log ends at LSN {}",
        cut.segment,
        backup.display(),
        scan.last_lsn
    );
    Ok(EXIT_OK)
}

fn refuse_if_locked(e: Error) -> Failure {
    match e {
        Error::Locked { .. } => Failure::error(format!("refusing to repair: {}", e.chain())),
        other => other.into(),
    }
}

/// Scans the log; on corruption either refuses (exit 2) or, with
/// `--truncate-at-corruption`, cuts the log at the damage and scans again. Returns the
/// reader of the log as it now is and whether anything was cut.
fn scan_or_truncate(
    dir: &Path,
    args: RepairArgs,
    stamp: u64,
) -> Result<(LogReader, bool), Failure> {
    let mut truncated = false;
    let mut last_cut = None;
    for _ in 0..=TRUNCATE_PASSES_MAX {
        let (segment, offset, reason) = match LogReader::open(dir) {
            Ok(reader) => return Ok((reader, truncated)),
            Err(Error::Corrupt {
                segment,
                offset,
                reason,
            }) => (segment, offset, reason),
            Err(e) => return Err(e.into()),
        };
        let at = format!("segment {segment}, offset {offset}: {reason}");
        if !args.truncate_at_corruption {
            return Err(Failure::with_code(
                EXIT_CORRUPT,
                format!(
                    "refusing to repair: corrupt log: {at} (--truncate-at-corruption cuts \
                     the log there, keeping a backup)"
                ),
            ));
        }
        if segment == 0 {
            return Err(Failure::with_code(
                EXIT_CORRUPT,
                format!("cannot repair: the checkpoint file is damaged: {reason}"),
            ));
        }
        let backup = unique_path(dir, &format!("repair-{stamp}"), "");
        let from = truncate_at_damage(dir, &backup)?;
        println!(
            "cut the log at {at}: removed LSN {from} on; the cut bytes and later segments \
             are in {}",
            backup.display()
        );
        // Each cut removes the damage it was made for; one that finds the same place
        // again would not end.
        if last_cut == Some(from) {
            return Err(Failure::with_code(
                EXIT_CORRUPT,
                format!(
                    "cannot repair: the log is still corrupt at {at} after a cut from LSN {from}"
                ),
            ));
        }
        last_cut = Some(from);
        truncated = true;
    }
    Err(Failure::with_code(
        EXIT_CORRUPT,
        format!("cannot repair: still corrupt after {TRUNCATE_PASSES_MAX} cuts"),
    ))
}

fn dry_run(dir: &Path, args: RepairArgs) -> Result<u8, Failure> {
    let examined = examine(dir)?;
    match examined.health {
        Health::Clean => {
            println!("dry run: nothing to repair");
            Ok(EXIT_OK)
        }
        Health::InProgress(_) => Err(Failure::error(
            "refusing to repair: a writer holds the log (its tail is in progress)",
        )),
        Health::Torn(cut) => {
            let scan = examined.reader.as_ref().map(LogReader::scan);
            for r in scan.map(cut_ranges).unwrap_or_default() {
                println!(
                    "dry run: would cut segment {} bytes {}..{} ({} bytes)",
                    r.segment,
                    r.from,
                    r.to,
                    r.to - r.from
                );
            }
            println!(
                "dry run: would cut {} torn bytes, keeping them in {}",
                cut.bytes,
                dir.join("repair-<timestamp>.bin").display()
            );
            Ok(EXIT_OK)
        }
        Health::Corrupt {
            segment,
            offset,
            reason,
        } => {
            let what = format!("corrupt log: segment {segment}, offset {offset}: {reason}");
            if args.truncate_at_corruption && segment != 0 {
                println!(
                    "dry run: {what}; would cut segment {segment} from offset {offset} and \
                     move later segments, keeping both in {}",
                    dir.join("repair-<timestamp>/").display()
                );
                Ok(EXIT_OK)
            } else {
                Err(Failure::with_code(
                    EXIT_CORRUPT,
                    format!("dry run: refusing to repair: {what}"),
                ))
            }
        }
    }
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `dir/<stem><ext>`, or `dir/<stem>-N<ext>` if that exists already.
fn unique_path(dir: &Path, stem: &str, ext: &str) -> PathBuf {
    let mut path = dir.join(format!("{stem}{ext}"));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("{stem}-{n}{ext}"));
        n += 1;
    }
    path
}

/// A new file only its owner may read: a backup holds log payloads, like the log.
fn create_private(path: &Path) -> Result<std::fs::File, Failure> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(|e| io_failure("create", path, e))
}

fn io_failure(what: &str, path: &Path, e: std::io::Error) -> Failure {
    Failure::error(format!("{what} failed on {}: {e}", path.display()))
}

/// Copies `[from, to)` of `src` to the end of `out`.
fn copy_range(src: &Path, from: u64, to: u64, out: &mut std::fs::File) -> Result<(), Failure> {
    let mut file = std::fs::File::open(src).map_err(|e| io_failure("open", src, e))?;
    file.seek(SeekFrom::Start(from))
        .map_err(|e| io_failure("seek", src, e))?;
    let copied = std::io::copy(&mut file.take(to.saturating_sub(from)), out)
        .map_err(|e| io_failure("backup copy", src, e))?;
    if copied != to.saturating_sub(from) {
        return Err(Failure::error(format!(
            "{} ended before byte {to}",
            src.display()
        )));
    }
    Ok(())
}

/// Writes the cut ranges, in order, into a new file at `backup` and syncs it.
fn back_up_ranges(ranges: &[CutRange], backup: &Path) -> Result<(), Failure> {
    let mut out = create_private(backup)?;
    for r in ranges {
        copy_range(&r.path, r.from, r.to, &mut out)?;
    }
    out.sync_all().map_err(|e| io_failure("fsync", backup, e))
}

/// Cuts the log at its damage with the library's cut (`Wal::truncate_from`'s intent
/// protocol: a crash part way is finished by the next open). Every record before the
/// damage stays; what the cut zeroes or removes is first copied into `backup_dir`:
/// `<segment>.from-<offset>.bin` for the part of a segment, later segments whole.
/// Returns the first LSN cut.
fn truncate_at_damage(dir: &Path, backup_dir: &Path) -> Result<u64, Failure> {
    let from = truncation::damaged_suffix_from(dir)?;
    let plan = truncation::plan(dir, from)?;
    let mut private = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut private, 0o700);
    private
        .create(backup_dir)
        .map_err(|e| io_failure("create", backup_dir, e))?;
    if let Some((path, cut_at, file_bytes)) = &plan.kept
        && file_bytes > cut_at
    {
        let name = file_name(path);
        let mut out = create_private(&backup_dir.join(format!("{name}.from-{cut_at}.bin")))?;
        copy_range(path, *cut_at, *file_bytes, &mut out)?;
        out.sync_all().map_err(|e| io_failure("fsync", path, e))?;
    }
    for path in &plan.removed {
        let mut out = create_private(&backup_dir.join(file_name(path)))?;
        let len = std::fs::metadata(path)
            .map_err(|e| io_failure("stat", path, e))?
            .len();
        copy_range(path, 0, len, &mut out)?;
        out.sync_all().map_err(|e| io_failure("fsync", path, e))?;
    }
    std::fs::File::open(backup_dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_failure("directory fsync", backup_dir, e))?;
    truncation::cut(dir, from)?;
    Ok(from)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Options that let `Wal::open` recover this log without misjudging any record:
/// `record_bytes_max` covers its largest record, `segment_bytes` is what the headers
/// say the writer used.
fn options_for(dir: &Path, scan: &Scan) -> Result<Options, Failure> {
    let mut largest = 0u64;
    if let Some(first) = scan.segments.iter().find_map(|s| s.first_lsn) {
        let reader = LogReader::open(dir)?;
        for record in reader.read_from(Lsn::from(first))? {
            largest = largest.max(record?.payload().len() as u64);
        }
    }
    let from_headers = scan
        .segments
        .iter()
        .filter_map(|s| s.header.map(|h| h.capacity))
        .max()
        .unwrap_or(64 << 20)
        .clamp(SEGMENT_BYTES_MIN, SEGMENT_BYTES_MAX);
    // The library's default limit where the segment size allows it, and never less
    // than the largest record present.
    let fits = (from_headers - SEGMENT_HEADER_BYTES - FRAME_HEADER_BYTES) & !(FRAME_ALIGN - 1);
    let record_bytes_max = largest.max(fits.min(1 << 20)).max(1);
    let frame_max = frame_bytes(record_bytes_max);
    let staging_bytes_max = (frame_max + SEGMENT_HEADER_BYTES).max(4 << 20);
    if staging_bytes_max > STAGING_BYTES_MAX {
        return Err(Failure::error(format!(
            "a {largest}-byte record is too large to reopen the log with"
        )));
    }
    let segment_bytes = from_headers
        .max(SEGMENT_HEADER_BYTES + frame_max)
        .min(SEGMENT_BYTES_MAX);
    // The same scan with the chosen limit must see the same log, or reopening with it
    // could cut a record.
    let check = ringwal::recovery::scan(dir, record_bytes_max)?;
    if check.last_lsn != scan.last_lsn || check.records != scan.records {
        return Err(Failure::error(
            "the log reads differently with the limits repair would reopen it with; nothing cut",
        ));
    }
    Ok(Options::default()
        .driver(Driver::Portable)
        .record_bytes_max(record_bytes_max)
        .staging_bytes_max(staging_bytes_max)
        .segment_bytes(segment_bytes))
}

/// Opens the log with the library (recovery cuts the torn tail) and closes it.
/// Returns the bytes recovery cut. Fails if it lost a record.
fn reopen(dir: &Path, scan: &Scan) -> Result<u64, Failure> {
    let options = options_for(dir, scan)?;
    let wal = Wal::open(dir, options).map_err(refuse_if_locked)?;
    let report = wal.recovery_report();
    wal.close()?;
    let last = report.last_lsn.get();
    if last != scan.last_lsn.max(scan.checkpoint) {
        return Err(Failure::with_code(
            EXIT_ERROR,
            format!(
                "recovery ended the log at LSN {last}, expected {}",
                scan.last_lsn
            ),
        ));
    }
    Ok(report.torn_bytes_cut)
}
