//! `ringwal inspect`: a table of segments (live and archived), totals, and what the
//! tail looks like. Read-only; works beside a running writer.

use std::io::Read;
use std::path::Path;

use ringwal::format::header::{HeaderState, SegmentHeader};
use ringwal::format::names::ARCHIVE_DIR;
use ringwal::limits::SEGMENT_HEADER_BYTES;
use serde::Serialize;

use crate::failure::{EXIT_CORRUPT, EXIT_OK, Failure};
use crate::logdir::{Health, examine, segment_files};

/// One segment file.
#[derive(Debug, Serialize)]
pub struct SegmentRow {
    /// File name.
    pub file: String,
    /// Sequence number.
    pub sequence: u64,
    /// First whole record (archived: the header's first LSN).
    pub first_lsn: Option<u64>,
    /// Last whole record (unknown for archived segments).
    pub last_lsn: Option<u64>,
    /// Whole records (unknown for archived segments).
    pub records: Option<u64>,
    /// File size.
    pub bytes: u64,
    /// active, sealed, spare (blank, past the end), torn (past the end), archived,
    /// kept for reuse (a retired segment's file, `<seq>.spare`, numbered by its old
    /// sequence), or unknown (the log is corrupt, only the header was read).
    pub state: String,
}

/// The verdict on the log's end, for `--json`.
#[derive(Debug, Serialize)]
pub struct TailReport {
    /// clean, torn, in_progress or corrupt.
    pub state: &'static str,
    /// Segment concerned (the end of the log, or the damage).
    pub segment: Option<u64>,
    /// Offset concerned.
    pub offset: Option<u64>,
    /// Bytes past the last whole record (torn or in progress).
    pub bytes: Option<u64>,
    /// Why the log is corrupt.
    pub reason: Option<String>,
}

/// Everything `inspect` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The directory.
    pub dir: String,
    /// Live segments then archived ones.
    pub segments: Vec<SegmentRow>,
    /// Whole records in live segments (unknown when corrupt).
    pub records: Option<u64>,
    /// Last whole record.
    pub last_lsn: Option<u64>,
    /// The persisted checkpoint.
    pub checkpoint: Option<u64>,
    /// Bytes of all segment files, archived included.
    pub bytes: u64,
    /// Whether a writer holds the log.
    pub writer_active: bool,
    /// A truncation a crash interrupted (its first LSN): the next open finishes it.
    pub truncation_pending: Option<u64>,
    /// The tail.
    pub tail: TailReport,
}

/// Prints the report for `dir`, as a table or as JSON.
pub fn inspect(dir: &Path, json: bool) -> Result<u8, Failure> {
    let report = build(dir)?;
    if json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| Failure::error(format!("json: {e}")))?;
        println!("{text}");
    } else {
        print_table(&report);
    }
    // Like `verify`: a script must not take a corrupt log for a healthy one.
    Ok(if report.tail.state == "corrupt" {
        EXIT_CORRUPT
    } else {
        EXIT_OK
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Builds the report without printing.
pub fn build(dir: &Path) -> Result<Report, Failure> {
    let examined = examine(dir)?;
    let mut rows = Vec::new();
    let mut report = Report {
        dir: dir.display().to_string(),
        segments: Vec::new(),
        records: None,
        last_lsn: None,
        checkpoint: None,
        bytes: 0,
        writer_active: false,
        truncation_pending: None,
        tail: tail_report(&examined.health),
    };
    if let Some(reader) = &examined.reader {
        let scan = reader.scan();
        report.writer_active = reader.writer_active();
        report.records = Some(scan.records);
        report.last_lsn = Some(scan.last_lsn);
        report.checkpoint = Some(scan.checkpoint);
        report.truncation_pending = scan.truncation_pending;
        for s in &scan.segments {
            let state = if s.beyond_end {
                if s.torn_bytes > 0 { "torn" } else { "spare" }
            } else if scan.tail.is_some_and(|t| t.segment == s.sequence) {
                "active"
            } else {
                "sealed"
            };
            rows.push(SegmentRow {
                file: file_name(&s.path),
                sequence: s.sequence,
                first_lsn: s.first_lsn,
                last_lsn: s.last_lsn,
                records: Some(s.records),
                bytes: s.file_bytes,
                state: state.to_owned(),
            });
        }
    } else {
        // Corrupt: the library will not scan it, so show what the headers say.
        for (seq, path) in segment_files(dir)? {
            rows.push(header_row(seq, &path, "unknown")?);
        }
    }
    // Retired segments kept for reuse: their bytes are an earlier life's, never read.
    for (seq, path) in crate::logdir::spare_files(dir)? {
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        rows.push(SegmentRow {
            file: file_name(&path),
            sequence: seq,
            first_lsn: None,
            last_lsn: None,
            records: None,
            bytes,
            state: "kept for reuse".to_owned(),
        });
    }
    let archive = dir.join(ARCHIVE_DIR);
    if archive.is_dir() {
        for (seq, path) in segment_files(&archive)? {
            rows.push(header_row(seq, &path, "archived")?);
        }
    }
    report.bytes = rows.iter().map(|r| r.bytes).sum();
    report.segments = rows;
    Ok(report)
}

/// A row from a segment's header alone.
fn header_row(sequence: u64, path: &Path, state: &str) -> Result<SegmentRow, Failure> {
    let io = |e: std::io::Error| Failure::error(format!("read failed on {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    let mut head = Vec::with_capacity(SEGMENT_HEADER_BYTES as usize);
    file.by_ref()
        .take(SEGMENT_HEADER_BYTES)
        .read_to_end(&mut head)
        .map_err(io)?;
    let (first_lsn, state) = match SegmentHeader::decode(&head) {
        HeaderState::Valid(h) => (Some(h.first_lsn), state.to_owned()),
        HeaderState::Blank => (None, format!("{state} (blank)")),
        HeaderState::RecycledBlank { .. } => (None, format!("{state} (recycled, blank)")),
        HeaderState::Invalid(_) => (None, format!("{state} (bad header)")),
    };
    Ok(SegmentRow {
        file: file_name(path),
        sequence,
        first_lsn,
        last_lsn: None,
        records: None,
        bytes,
        state,
    })
}

fn tail_report(health: &Health) -> TailReport {
    let mut t = TailReport {
        state: "clean",
        segment: None,
        offset: None,
        bytes: None,
        reason: None,
    };
    match health {
        Health::Clean => {}
        Health::Torn(cut) | Health::InProgress(cut) => {
            t.state = if matches!(health, Health::Torn(_)) {
                "torn"
            } else {
                "in_progress"
            };
            t.segment = Some(cut.segment);
            t.offset = Some(cut.offset);
            t.bytes = Some(cut.bytes);
        }
        Health::Corrupt {
            segment,
            offset,
            reason,
        } => {
            t.state = "corrupt";
            t.segment = Some(*segment);
            t.offset = Some(*offset);
            t.reason = Some(reason.clone());
        }
    }
    t
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn print_table(r: &Report) {
    println!(
        "{:<26} {:>8} {:>12} {:>12} {:>10} {:>12}  state",
        "file", "sequence", "first LSN", "last LSN", "records", "bytes"
    );
    for s in &r.segments {
        println!(
            "{:<26} {:>8} {:>12} {:>12} {:>10} {:>12}  {}",
            s.file,
            s.sequence,
            opt(s.first_lsn),
            opt(s.last_lsn),
            opt(s.records),
            s.bytes,
            s.state
        );
    }
    let archived = r
        .segments
        .iter()
        .filter(|s| s.state.starts_with("archived"))
        .count();
    println!(
        "total: {} live segments, {archived} archived, {} records, last LSN {}, checkpoint {}, {} bytes{}",
        r.segments.len() - archived,
        opt(r.records),
        opt(r.last_lsn),
        opt(r.checkpoint),
        r.bytes,
        if r.writer_active {
            ", a writer holds the log"
        } else {
            ""
        }
    );
    if let Some(from) = r.truncation_pending {
        println!(
            "truncation pending: records from LSN {from} on are being removed (a truncate_from \
             a crash interrupted; the next open finishes it)"
        );
    }
    let t = &r.tail;
    match t.state {
        "clean" => println!("tail: clean"),
        "torn" => println!(
            "tail: torn in segment {} at offset {}: {} bytes past the last whole record (`ringwal repair` cuts them)",
            opt(t.segment),
            opt(t.offset),
            opt(t.bytes)
        ),
        "in_progress" => println!(
            "tail: in progress in segment {} at offset {}: {} bytes being written",
            opt(t.segment),
            opt(t.offset),
            opt(t.bytes)
        ),
        _ => println!(
            "corrupt: segment {}, offset {}: {}",
            opt(t.segment),
            opt(t.offset),
            t.reason.as_deref().unwrap_or("")
        ),
    }
}
