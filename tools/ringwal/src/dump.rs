//! `ringwal dump`: records with their LSNs, payloads shown safely.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use ringwal::recovery::read_checkpoint;
use ringwal::{LogReader, Lsn, Record};
use serde::Serialize;

use crate::failure::{EXIT_CORRUPT, EXIT_OK, Failure};
use crate::logdir::{Health, examine};
use crate::render;

/// How `dump` prints each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// `LSN bytes payload`, payload quoted when printable ASCII, else `hex:...`.
    Text,
    /// `LSN bytes hex`, every payload in hex.
    Hex,
    /// One JSON object per line: `lsn`, `bytes`, and `text` or `hex`.
    Json,
}

#[derive(Serialize)]
struct JsonRecord<'a> {
    lsn: u64,
    bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hex: Option<String>,
}

/// Prints records `from..` (at most `limit`) of the log in `dir`. A corrupt log prints
/// every record before the damage, then the damage, and exits 2.
pub fn dump(
    dir: &Path,
    from: Option<u64>,
    limit: Option<u64>,
    format: DumpFormat,
) -> Result<u8, Failure> {
    let examined = examine(dir)?;
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let reader = match (examined.reader, examined.health) {
        (Some(reader), health) => {
            if let Health::Torn(cut) = health {
                eprintln!(
                    "note: torn tail of {} bytes in segment {} at offset {} is not shown",
                    cut.bytes, cut.segment, cut.offset
                );
            }
            reader
        }
        (
            None,
            Health::Corrupt {
                segment,
                offset,
                reason,
            },
        ) => {
            salvage(dir, from, limit, format)?;
            return Err(Failure::with_code(
                EXIT_CORRUPT,
                format!("corrupt log: segment {segment}, offset {offset}: {reason}"),
            ));
        }
        (None, _) => return Err(Failure::error("the log could not be read")),
    };
    let scan = reader.scan();
    let first = scan
        .segments
        .iter()
        .find_map(|s| s.first_lsn)
        .unwrap_or(scan.last_lsn + 1);
    let start = from.unwrap_or(first);
    let mut out = Out::new(format);
    for record in reader.read_from(Lsn::from(start))?.take(limit) {
        out.record(&record?)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}

/// Prints the records of a log the library refuses to scan, from `from` (or above the
/// checkpoint) up to where they stop. The reason they stop is not printed here: the
/// scan's verdict names the damage more precisely than where reading ran out.
fn salvage(dir: &Path, from: Option<u64>, limit: usize, format: DumpFormat) -> Result<(), Failure> {
    let start = from.unwrap_or_else(|| read_checkpoint(dir).map_or(1, |c| c + 1));
    let Ok(records) = LogReader::salvage_from(dir, Lsn::from(start)) else {
        return Ok(());
    };
    let mut out = Out::new(format);
    for record in records.take(limit).map_while(Result::ok) {
        out.record(&record)?;
    }
    out.flush()
}

/// Formatted records on a buffered stdout.
struct Out {
    format: DumpFormat,
    out: std::io::BufWriter<std::io::StdoutLock<'static>>,
}

impl Out {
    fn new(format: DumpFormat) -> Self {
        Out {
            format,
            out: std::io::BufWriter::new(std::io::stdout().lock()),
        }
    }

    fn record(&mut self, record: &Record) -> Result<(), Failure> {
        let line = line(record, self.format)?;
        writeln!(self.out, "{line}").map_err(|e| Failure::error(format!("stdout: {e}")))
    }

    fn flush(&mut self) -> Result<(), Failure> {
        self.out
            .flush()
            .map_err(|e| Failure::error(format!("stdout: {e}")))
    }
}

fn line(record: &Record, format: DumpFormat) -> Result<String, Failure> {
    let payload = record.payload();
    let lsn = record.lsn();
    Ok(match format {
        DumpFormat::Text => format!("{lsn} {} {}", payload.len(), render::safe(payload)),
        DumpFormat::Hex => format!("{lsn} {} {}", payload.len(), render::hex(payload)),
        DumpFormat::Json => {
            let printable = render::is_printable(payload);
            let json = JsonRecord {
                lsn: lsn.get(),
                bytes: payload.len(),
                text: printable
                    .then(|| std::str::from_utf8(payload).ok())
                    .flatten(),
                hex: (!printable).then(|| render::hex(payload)),
            };
            serde_json::to_string(&json).map_err(|e| Failure::error(format!("json: {e}")))?
        }
    })
}
