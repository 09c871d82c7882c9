//! The segment header: the first `SEGMENT_HEADER_BYTES` of every segment file.
//!
//! ```text
//! offset  size  field
//!      0     8  magic            b"RNGWALSG"
//!      8     4  format version   u32 LE
//!     12     4  data offset      u32 LE (= SEGMENT_HEADER_BYTES)
//!     16     8  sequence         u64 LE, equals the number in the file name
//!     24     8  first LSN        u64 LE, LSN of the first record in this segment
//!     32     8  capacity         u64 LE, segment size the writer used
//!     40     8  durable floor    u64 LE, every LSN <= it was durable before this header
//!                                was written (< first LSN)
//!     48     4  flags            u32 LE: bit 0 = recycled (version 4; zero in version 3)
//!     52     8  reserved         zero
//!     60     4  crc32            over bytes 0..60
//!     64  ....  zero up to SEGMENT_HEADER_BYTES
//! ```
//!
//! **Recycled segments (version 4).** A segment file may be an earlier, retired segment
//! renamed and reused without being zeroed: past the end of its records it holds that
//! earlier life's bytes. Its frames never validate in the new life (their checksums
//! cover the old sequence number, and their LSNs are below every live one), but they
//! are not zeros either. So recovery must know which segments may hold them:
//! * until its first write, a recycled file starts with the *recycled-blank marker*
//!   instead of zeros — magic `b"RNGWALRB"`, the version, the data offset and the new
//!   sequence at the header's offsets, zero up to a crc32 at 60 over bytes 0..60;
//! * its header, written with its first records, has the `recycled` flag set.
//!
//! In such a segment, bytes after the end of the records that cannot be a frame of the
//! log's next LSNs are left as they are; only what could be one is torn (docs/FORMAT.md,
//! "Recycled segments").
//! The header is written together with the segment's first records, in the same write
//! and under the same sync: a segment never holds a valid header without records being
//! on their way, and a pre-created segment is all zeros until then.
//!
//! The durable floor is the header's vouch, like a frame's `durable`: damage at an LSN
//! at or below it, anywhere before this segment, is corruption, not a torn write. The
//! writer syncs a segment before it writes the next one (docs/FORMAT.md, rule 6), so it
//! writes `first LSN - 1`.

use super::{FORMAT_VERSION, put, read_u32, read_u64};
use crate::error::CorruptReason;
use crate::limits::{LSN_MAX, SEGMENT_HEADER_BYTES};

/// Magic bytes at the start of every segment.
pub const MAGIC: [u8; 8] = *b"RNGWALSG";

/// Magic bytes of the recycled-blank marker: a reused segment file before its first
/// write.
pub const RECYCLED_BLANK_MAGIC: [u8; 8] = *b"RNGWALRB";

/// Header flag: the file was reused; bytes past the log's end may be from its earlier
/// life.
pub const FLAG_RECYCLED: u32 = 1;
const FLAGS_KNOWN: u32 = FLAG_RECYCLED;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + MAGIC.len();
const DATA_OFFSET_AT: usize = VERSION_AT + 4;
const SEQUENCE_AT: usize = DATA_OFFSET_AT + 4;
const FIRST_LSN_AT: usize = SEQUENCE_AT + 8;
const CAPACITY_AT: usize = FIRST_LSN_AT + 8;
const FLOOR_AT: usize = CAPACITY_AT + 8;
const FLAGS_AT: usize = FLOOR_AT + 8;
const RESERVED_AT: usize = FLAGS_AT + 4;
const CRC_AT: usize = 60;
/// Bytes covered by the header checksum plus the checksum itself.
pub const HEADER_USED_BYTES: usize = CRC_AT + 4;

const _: () = assert!(RESERVED_AT <= CRC_AT);
const _: () = assert!(HEADER_USED_BYTES as u64 <= SEGMENT_HEADER_BYTES);

/// The decoded header of one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The segment's sequence number.
    pub sequence: u64,
    /// LSN of the first record stored in the segment.
    pub first_lsn: u64,
    /// The segment size the writer was using.
    pub capacity: u64,
    /// Every LSN at or below this was durable before the header was written; below
    /// `first_lsn`.
    pub durable_floor: u64,
    /// The file is a reused segment: past the end of its records it may hold bytes of
    /// its earlier life (see the module documentation).
    pub recycled: bool,
}

/// What the first bytes of a segment file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderState {
    /// A valid header.
    Valid(SegmentHeader),
    /// All zeros: a pre-created segment that never received a record.
    Blank,
    /// The recycled-blank marker: a reused segment file that never received a record
    /// in its new life, named `sequence`; past the header it holds its earlier life's
    /// bytes.
    RecycledBlank {
        /// The sequence the marker names (the file's new one).
        sequence: u64,
    },
    /// Anything else.
    Invalid(CorruptReason),
}

impl SegmentHeader {
    /// Encodes the header into the first `HEADER_USED_BYTES` of `out`, which must be at
    /// least that long; the rest of `out` is left as it is (the writer keeps it zero).
    pub fn encode_into(&self, out: &mut [u8]) {
        debug_assert!(out.len() >= HEADER_USED_BYTES);
        put(out, MAGIC_AT, &MAGIC);
        put(out, VERSION_AT, &FORMAT_VERSION.to_le_bytes());
        put(
            out,
            DATA_OFFSET_AT,
            &(SEGMENT_HEADER_BYTES as u32).to_le_bytes(),
        );
        put(out, SEQUENCE_AT, &self.sequence.to_le_bytes());
        put(out, FIRST_LSN_AT, &self.first_lsn.to_le_bytes());
        put(out, CAPACITY_AT, &self.capacity.to_le_bytes());
        put(out, FLOOR_AT, &self.durable_floor.to_le_bytes());
        let flags = if self.recycled { FLAG_RECYCLED } else { 0 };
        put(out, FLAGS_AT, &flags.to_le_bytes());
        put(out, RESERVED_AT, &[0u8; CRC_AT - RESERVED_AT]);
        seal(out);
    }

    /// Sets the `recycled` flag of a header already encoded at the start of `block`
    /// (the writer learns that the segment is a reused file only when it writes it).
    pub fn mark_recycled(block: &mut [u8]) {
        let flags = read_u32(block, FLAGS_AT).unwrap_or_default() | FLAG_RECYCLED;
        put(block, FLAGS_AT, &flags.to_le_bytes());
        seal(block);
    }

    /// The recycled-blank marker for a reused file that becomes segment `sequence`,
    /// `SEGMENT_HEADER_BYTES` long.
    pub fn recycled_blank(sequence: u64) -> Vec<u8> {
        let mut block = vec![0u8; SEGMENT_HEADER_BYTES as usize];
        put(&mut block, MAGIC_AT, &RECYCLED_BLANK_MAGIC);
        put(&mut block, VERSION_AT, &FORMAT_VERSION.to_le_bytes());
        put(
            &mut block,
            DATA_OFFSET_AT,
            &(SEGMENT_HEADER_BYTES as u32).to_le_bytes(),
        );
        put(&mut block, SEQUENCE_AT, &sequence.to_le_bytes());
        seal(&mut block);
        block
    }

    /// The whole header block, `SEGMENT_HEADER_BYTES` long.
    pub fn to_block(&self) -> Vec<u8> {
        let mut block = vec![0u8; SEGMENT_HEADER_BYTES as usize];
        self.encode_into(&mut block);
        block
    }

    /// Decodes the first bytes of a segment file.
    pub fn decode(bytes: &[u8]) -> HeaderState {
        let Some(used) = bytes.get(..HEADER_USED_BYTES) else {
            return if bytes.iter().all(|&b| b == 0) {
                HeaderState::Blank
            } else {
                HeaderState::Invalid(CorruptReason::HeaderMismatch(
                    "file shorter than a header".into(),
                ))
            };
        };
        if used.iter().all(|&b| b == 0) {
            return HeaderState::Blank;
        }
        let field = |at| read_u64(used, at).unwrap_or_default();
        let expected = read_u32(used, CRC_AT).unwrap_or_default();
        let got = crc32fast::hash(used.get(..CRC_AT).unwrap_or_default());
        let magic = used.get(MAGIC_AT..VERSION_AT);
        let marker = magic == Some(&RECYCLED_BLANK_MAGIC[..]);
        if magic != Some(&MAGIC[..]) && !marker {
            return HeaderState::Invalid(CorruptReason::BadMagic);
        }
        if expected != got {
            return HeaderState::Invalid(CorruptReason::Checksum { expected, got });
        }
        let version = read_u32(used, VERSION_AT).unwrap_or_default();
        if !super::version_readable(version) || marker && version < 4 {
            return HeaderState::Invalid(CorruptReason::UnsupportedVersion(version));
        }
        let data_offset = read_u32(used, DATA_OFFSET_AT).unwrap_or_default();
        if u64::from(data_offset) != SEGMENT_HEADER_BYTES {
            return HeaderState::Invalid(CorruptReason::HeaderMismatch(format!(
                "data offset {data_offset}, this build uses {SEGMENT_HEADER_BYTES}"
            )));
        }
        if marker {
            let rest_zero = used
                .get(FIRST_LSN_AT..CRC_AT)
                .is_some_and(|b| b.iter().all(|&b| b == 0));
            let sequence = field(SEQUENCE_AT);
            if !rest_zero || sequence > LSN_MAX {
                return HeaderState::Invalid(CorruptReason::HeaderMismatch(format!(
                    "a recycled-blank marker for sequence {sequence} with non-zero fields"
                )));
            }
            return HeaderState::RecycledBlank { sequence };
        }
        let flags = read_u32(used, FLAGS_AT).unwrap_or_default();
        let known = if version >= 4 { FLAGS_KNOWN } else { 0 };
        if flags & !known != 0 {
            return HeaderState::Invalid(CorruptReason::HeaderMismatch(format!(
                "header flags {flags:#x} (version {version} knows {known:#x})"
            )));
        }
        let header = SegmentHeader {
            sequence: field(SEQUENCE_AT),
            first_lsn: field(FIRST_LSN_AT),
            capacity: field(CAPACITY_AT),
            durable_floor: field(FLOOR_AT),
            recycled: flags & FLAG_RECYCLED != 0,
        };
        if header.first_lsn == 0 || header.first_lsn > LSN_MAX || header.sequence > LSN_MAX {
            return HeaderState::Invalid(CorruptReason::HeaderMismatch(format!(
                "first LSN {} or sequence {} out of range",
                header.first_lsn, header.sequence
            )));
        }
        if header.durable_floor >= header.first_lsn {
            return HeaderState::Invalid(CorruptReason::DurableClaimOutOfRange {
                lsn: header.first_lsn,
                durable: header.durable_floor,
            });
        }
        HeaderState::Valid(header)
    }

    /// Whether the segment may hold bytes of an earlier life past its records.
    pub fn recycled_state(state: &HeaderState) -> bool {
        match state {
            HeaderState::Valid(h) => h.recycled,
            HeaderState::RecycledBlank { .. } => true,
            HeaderState::Blank | HeaderState::Invalid(_) => false,
        }
    }

    /// Whether a header that failed to decode passed its checksum: its bytes are what
    /// a writer wrote, so it is never a torn write (a version this build cannot read,
    /// an impossible claim).
    pub fn checksummed_but_refused(state: &HeaderState) -> bool {
        matches!(
            state,
            HeaderState::Invalid(
                CorruptReason::UnsupportedVersion(_) | CorruptReason::DurableClaimOutOfRange { .. }
            )
        )
    }
}

/// Writes the checksum of bytes 0..60 at 60.
fn seal(block: &mut [u8]) {
    let crc = crc32fast::hash(block.get(..CRC_AT).unwrap_or_default());
    put(block, CRC_AT, &crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = SegmentHeader {
            sequence: 7,
            first_lsn: 1234,
            capacity: 1 << 20,
            durable_floor: 1200,
            recycled: false,
        };
        let block = h.to_block();
        assert_eq!(block.len() as u64, SEGMENT_HEADER_BYTES);
        assert_eq!(SegmentHeader::decode(&block), HeaderState::Valid(h));
    }

    #[test]
    fn zeros_are_blank_and_flips_are_invalid() {
        let block = vec![0u8; SEGMENT_HEADER_BYTES as usize];
        assert_eq!(SegmentHeader::decode(&block), HeaderState::Blank);
        let h = SegmentHeader {
            sequence: 1,
            first_lsn: 1,
            capacity: 8192,
            durable_floor: 0,
            recycled: false,
        };
        let good = h.to_block();
        for byte in 0..HEADER_USED_BYTES {
            let mut bad = good.clone();
            if let Some(b) = bad.get_mut(byte) {
                *b ^= 0x10;
            }
            assert!(
                matches!(SegmentHeader::decode(&bad), HeaderState::Invalid(_)),
                "byte {byte}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_header_round_trips(
            sequence in 0..=LSN_MAX,
            first_lsn in 1..=LSN_MAX,
            capacity in proptest::prelude::any::<u64>(),
            below in 1..=LSN_MAX,
            recycled in proptest::prelude::any::<bool>(),
        ) {
            let durable_floor = first_lsn.saturating_sub(below);
            let h = SegmentHeader { sequence, first_lsn, capacity, durable_floor, recycled };
            proptest::prop_assert_eq!(SegmentHeader::decode(&h.to_block()), HeaderState::Valid(h));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = SegmentHeader::decode(&bytes);
        }
    }

    #[test]
    fn a_floor_at_or_above_the_first_lsn_is_refused() {
        let h = SegmentHeader {
            sequence: 2,
            first_lsn: 50,
            capacity: 8192,
            durable_floor: 50,
            recycled: false,
        };
        let state = SegmentHeader::decode(&h.to_block());
        assert!(SegmentHeader::checksummed_but_refused(&state), "{state:?}");
    }

    #[test]
    fn short_input_never_panics() {
        for len in 0..HEADER_USED_BYTES {
            let _ = SegmentHeader::decode(&vec![1u8; len]);
        }
    }

    #[test]
    fn the_recycled_flag_is_set_in_place_and_round_trips() {
        let h = SegmentHeader {
            sequence: 9,
            first_lsn: 100,
            capacity: 1 << 20,
            durable_floor: 99,
            recycled: false,
        };
        let mut block = h.to_block();
        SegmentHeader::mark_recycled(&mut block);
        let marked = SegmentHeader {
            recycled: true,
            ..h
        };
        assert_eq!(SegmentHeader::decode(&block), HeaderState::Valid(marked));
        assert_eq!(block, marked.to_block());
    }

    #[test]
    fn the_recycled_blank_marker_names_its_sequence_and_flips_are_invalid() {
        let block = SegmentHeader::recycled_blank(42);
        assert_eq!(block.len() as u64, SEGMENT_HEADER_BYTES);
        let state = SegmentHeader::decode(&block);
        assert_eq!(state, HeaderState::RecycledBlank { sequence: 42 });
        assert!(SegmentHeader::recycled_state(&state));
        for byte in 0..HEADER_USED_BYTES {
            let mut bad = block.clone();
            if let Some(b) = bad.get_mut(byte) {
                *b ^= 0x04;
            }
            assert!(
                matches!(SegmentHeader::decode(&bad), HeaderState::Invalid(_)),
                "byte {byte}"
            );
        }
    }

    #[test]
    fn version_3_headers_read_and_may_not_carry_flags() {
        let h = SegmentHeader {
            sequence: 3,
            first_lsn: 10,
            capacity: 8192,
            durable_floor: 9,
            recycled: false,
        };
        let mut block = h.to_block();
        put(&mut block, VERSION_AT, &3u32.to_le_bytes());
        seal(&mut block);
        assert_eq!(SegmentHeader::decode(&block), HeaderState::Valid(h));
        SegmentHeader::mark_recycled(&mut block);
        assert!(matches!(
            SegmentHeader::decode(&block),
            HeaderState::Invalid(CorruptReason::HeaderMismatch(_))
        ));
        let mut unknown = h.to_block();
        put(&mut unknown, FLAGS_AT, &2u32.to_le_bytes());
        seal(&mut unknown);
        assert!(matches!(
            SegmentHeader::decode(&unknown),
            HeaderState::Invalid(CorruptReason::HeaderMismatch(_))
        ));
    }
}
