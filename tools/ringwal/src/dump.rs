//! `ringwal dump`: records with their LSNs, payloads shown safely.

use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use ringwal::Lsn;
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

/// Prints records `from..` (at most `limit`) of the log in `dir`.
pub fn dump(
    dir: &Path,
    from: Option<u64>,
    limit: Option<u64>,
    format: DumpFormat,
) -> Result<u8, Failure> {
    let examined = examine(dir)?;
    let Some(reader) = examined.reader else {
        if let Health::Corrupt {
            segment,
            offset,
            reason,
        } = examined.health
        {
            return Err(Failure::with_code(
                EXIT_CORRUPT,
                format!("corrupt log: segment {segment}, offset {offset}: {reason}"),
            ));
        }
        return Err(Failure::error("the log could not be read"));
    };
    if let Health::Torn(cut) = examined.health {
        eprintln!(
            "note: torn tail of {} bytes in segment {} at offset {} is not shown",
            cut.bytes, cut.segment, cut.offset
        );
    }
    let scan = reader.scan();
    let first = scan
        .segments
        .iter()
        .find_map(|s| s.first_lsn)
        .unwrap_or(scan.last_lsn + 1);
    let start = from.unwrap_or(first);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let records = reader.read_from(Lsn::from(start))?;
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    for record in records.take(limit) {
        let record = record?;
        let payload = record.payload();
        let line = match format {
            DumpFormat::Text => format!(
                "{} {} {}",
                record.lsn(),
                payload.len(),
                render::safe(payload)
            ),
            DumpFormat::Hex => {
                format!(
                    "{} {} {}",
                    record.lsn(),
                    payload.len(),
                    render::hex(payload)
                )
            }
            DumpFormat::Json => {
                let printable = render::is_printable(payload);
                let json = JsonRecord {
                    lsn: record.lsn().get(),
                    bytes: payload.len(),
                    text: printable
                        .then(|| std::str::from_utf8(payload).ok())
                        .flatten(),
                    hex: (!printable).then(|| render::hex(payload)),
                };
                serde_json::to_string(&json).map_err(|e| Failure::error(format!("json: {e}")))?
            }
        };
        writeln!(out, "{line}").map_err(|e| Failure::error(format!("stdout: {e}")))?;
    }
    out.flush()
        .map_err(|e| Failure::error(format!("stdout: {e}")))?;
    Ok(EXIT_OK)
}
