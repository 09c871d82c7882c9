//! File names inside a log directory.

/// Extension of a live or archived segment.
pub const SEGMENT_EXT: &str = "wal";
/// Suffix of a segment being prepared (removed by recovery if a crash left one).
pub const TMP_SUFFIX: &str = ".tmp";
/// The advisory lock a writer holds.
pub const LOCK_FILE: &str = "LOCK";
/// The persisted checkpoint.
pub const CHECKPOINT_FILE: &str = "CHECKPOINT";
/// The truncation intent: present while the log is being cut back (see truncation.rs).
pub const TRUNCATE_FILE: &str = "TRUNCATE";
/// Where retired segments go when archiving is on.
pub const ARCHIVE_DIR: &str = "archive";
/// Extension of a retired segment file kept for reuse (see `Options::recycle_segments`).
pub const SPARE_EXT: &str = "spare";

/// The file name of segment `sequence`: fixed width, so names sort like numbers.
pub fn segment_file_name(sequence: u64) -> String {
    format!("{sequence:020}.{SEGMENT_EXT}")
}

/// The sequence number a segment file name encodes, or `None` for other files.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_EXT)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse()
        .ok()
        .filter(|&seq| seq <= crate::limits::LSN_MAX)
}

/// The name of the spare file that was segment `sequence`.
pub fn spare_file_name(sequence: u64) -> String {
    format!("{sequence:020}.{SPARE_EXT}")
}

/// The old sequence a spare file name encodes, or `None` for other files.
pub fn parse_spare_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SPARE_EXT)?.strip_suffix('.')?;
    parse_segment_file_name(&format!("{stem}.{SEGMENT_EXT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        for seq in [0, 1, 42, crate::limits::LSN_MAX] {
            assert_eq!(parse_segment_file_name(&segment_file_name(seq)), Some(seq));
            assert_eq!(parse_spare_file_name(&spare_file_name(seq)), Some(seq));
            assert_eq!(parse_segment_file_name(&spare_file_name(seq)), None);
            assert_eq!(parse_spare_file_name(&segment_file_name(seq)), None);
        }
        assert!(segment_file_name(9) < segment_file_name(10));
        assert_eq!(parse_segment_file_name("LOCK"), None);
        assert_eq!(
            parse_segment_file_name("00000000000000000001.wal.tmp"),
            None
        );
        assert_eq!(parse_segment_file_name("1.wal"), None);
        assert_eq!(parse_segment_file_name("0000000000000000000x.wal"), None);
    }
}
