//! `ringwal verify`: every header and frame checksum and LSN density, read-only.
//!
//! Two passes: the library's scan (what recovery checks: headers, frame checksums,
//! LSN density, nothing valid past the end), then reading every record back through
//! the reader, which checks each frame again on a separate path. The second pass
//! drives the progress bar.

use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use ringwal::Lsn;

use crate::failure::{EXIT_CORRUPT, EXIT_OK, EXIT_TORN, Failure};
use crate::logdir::{Health, examine, segment_files};

/// Logs smaller than this verify too fast for a progress bar to help.
const PROGRESS_BYTES_MIN: u64 = 64 << 20;

/// Verifies the log in `dir`; the exit code says what it found.
pub fn verify(dir: &Path) -> Result<u8, Failure> {
    let large = log_bytes(dir) >= PROGRESS_BYTES_MIN;
    let spinner = if large {
        let s = ProgressBar::new_spinner().with_message("scanning headers and frames");
        s.enable_steady_tick(Duration::from_millis(120));
        s
    } else {
        ProgressBar::hidden()
    };
    let examined = examine(dir);
    spinner.finish_and_clear();
    let examined = examined?;
    let cut = match examined.health {
        Health::Corrupt {
            segment,
            offset,
            reason,
        } => {
            println!("corrupt: segment {segment}, offset {offset}: {reason}");
            return Ok(EXIT_CORRUPT);
        }
        Health::Torn(cut) | Health::InProgress(cut) => Some(cut),
        Health::Clean => None,
    };
    let Some(reader) = examined.reader else {
        return Err(Failure::error("the log could not be read"));
    };
    let scan = reader.scan();
    if let Some(exit) = reread(&reader, large)? {
        return Ok(exit);
    }
    let lsns = match scan.segments.iter().find_map(|s| s.first_lsn) {
        Some(first) => format!("LSN {first}..={}", scan.last_lsn),
        None => "no records".to_owned(),
    };
    let summary = format!(
        "{} segments, {} records, {lsns}, checkpoint {}",
        scan.segments.len(),
        scan.records,
        scan.checkpoint
    );
    match (examined.health, cut) {
        (Health::Torn(_), Some(cut)) => {
            println!(
                "torn tail: segment {}, offset {}: repair would cut {} bytes ({summary})",
                cut.segment, cut.offset, cut.bytes
            );
            Ok(EXIT_TORN)
        }
        (Health::InProgress(_), Some(cut)) => {
            println!(
                "ok: {summary}; tail in progress (a writer holds the log; {} bytes past \
                 the last whole record)",
                cut.bytes
            );
            Ok(EXIT_OK)
        }
        _ => {
            println!("ok: {summary}");
            Ok(EXIT_OK)
        }
    }
}

/// The second pass: reads every record back under a progress bar. `Some(2)` when it
/// finds damage the scan did not (it prints where).
fn reread(reader: &ringwal::LogReader, large: bool) -> Result<Option<u8>, Failure> {
    let scan = reader.scan();
    let Some(first) = scan.segments.iter().find_map(|s| s.first_lsn) else {
        return Ok(None);
    };
    let bar = if large {
        let b = ProgressBar::new(scan.records);
        if let Ok(style) = ProgressStyle::with_template(
            "verifying records {bar:40} {pos}/{len} [{elapsed_precise}]",
        ) {
            b.set_style(style);
        }
        b
    } else {
        ProgressBar::hidden()
    };
    let read = read_all(reader, first, scan.last_lsn, &bar);
    bar.finish_and_clear();
    match read {
        Ok(()) => Ok(None),
        Err(ringwal::Error::Corrupt {
            segment,
            offset,
            reason,
        }) => {
            println!("corrupt: segment {segment}, offset {offset}: {reason}");
            Ok(Some(EXIT_CORRUPT))
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads every record `first..=last`, checking LSNs come dense and in order.
fn read_all(
    reader: &ringwal::LogReader,
    first: u64,
    last: u64,
    bar: &ProgressBar,
) -> Result<(), ringwal::Error> {
    let mut expected = first;
    for record in reader.read_from(Lsn::from(first))? {
        let lsn = record?.lsn().get();
        if lsn != expected {
            return Err(missing_lsn(expected, lsn));
        }
        expected += 1;
        if lsn.is_multiple_of(1024) {
            bar.set_position(lsn - first + 1);
        }
    }
    if expected != last + 1 {
        return Err(missing_lsn(expected, 0));
    }
    Ok(())
}

fn missing_lsn(expected: u64, got: u64) -> ringwal::Error {
    ringwal::Error::Corrupt {
        segment: 0,
        offset: 0,
        reason: ringwal::CorruptReason::LsnOutOfOrder { expected, got },
    }
}

/// Bytes in the log's segment files (0 if they cannot be listed; `examine` reports that).
fn log_bytes(dir: &Path) -> u64 {
    segment_files(dir)
        .map(|files| {
            files
                .iter()
                .filter_map(|(_, p)| std::fs::metadata(p).ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}
