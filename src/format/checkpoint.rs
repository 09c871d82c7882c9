//! The checkpoint record, kept in its own small file (`CHECKPOINT`) and replaced
//! atomically (write a temporary file, sync it, rename it, sync the directory). The
//! truncation intent (`TRUNCATE`, see `src/truncation.rs`) has the same layout under
//! its own magic: the LSN from which the log is being cut.
//!
//! ```text
//! offset  size  field
//!      0     8  magic            b"RNGWALCP" (checkpoint) or b"RNGWALTR" (truncation)
//!      8     4  format version   u32 LE
//!     12     4  reserved         zero
//!     16     8  LSN              u64 LE: checkpoint: every record <= it may be retired;
//!                                truncation: every record >= it is being removed
//!     24     4  reserved         zero
//!     28     4  crc32            over bytes 0..28
//! ```

use super::{FORMAT_VERSION, put, read_u32, read_u64};
use crate::error::CorruptReason;

/// Magic bytes of the checkpoint file.
pub const MAGIC: [u8; 8] = *b"RNGWALCP";
/// Magic bytes of the truncation intent file.
pub const TRUNCATE_MAGIC: [u8; 8] = *b"RNGWALTR";
const VERSION_AT: usize = MAGIC.len();
const LSN_AT: usize = 16;
const CRC_AT: usize = 28;
/// Size of the checkpoint file.
pub const CHECKPOINT_BYTES: usize = CRC_AT + 4;

/// Encodes a checkpoint.
pub fn encode(lsn: u64) -> [u8; CHECKPOINT_BYTES] {
    encode_marker(MAGIC, lsn)
}

/// Decodes a checkpoint file's bytes.
pub fn decode(bytes: &[u8]) -> Result<u64, CorruptReason> {
    decode_marker(MAGIC, bytes)
}

/// Encodes an LSN marker file under `magic`.
pub fn encode_marker(magic: [u8; 8], lsn: u64) -> [u8; CHECKPOINT_BYTES] {
    let mut out = [0u8; CHECKPOINT_BYTES];
    put(&mut out, 0, &magic);
    put(&mut out, VERSION_AT, &FORMAT_VERSION.to_le_bytes());
    put(&mut out, LSN_AT, &lsn.to_le_bytes());
    let crc = crc32fast::hash(out.get(..CRC_AT).unwrap_or_default());
    put(&mut out, CRC_AT, &crc.to_le_bytes());
    out
}

/// Decodes an LSN marker file written under `magic`.
pub fn decode_marker(magic: [u8; 8], bytes: &[u8]) -> Result<u64, CorruptReason> {
    if bytes.len() != CHECKPOINT_BYTES {
        return Err(CorruptReason::Checkpoint(format!(
            "{} bytes, expected {CHECKPOINT_BYTES}",
            bytes.len()
        )));
    }
    if bytes.get(..magic.len()) != Some(&magic[..]) {
        return Err(CorruptReason::BadMagic);
    }
    let expected = read_u32(bytes, CRC_AT).unwrap_or_default();
    let got = crc32fast::hash(bytes.get(..CRC_AT).unwrap_or_default());
    if expected != got {
        return Err(CorruptReason::Checksum { expected, got });
    }
    let version = read_u32(bytes, VERSION_AT).unwrap_or_default();
    if !super::version_readable(version) {
        return Err(CorruptReason::UnsupportedVersion(version));
    }
    let lsn = read_u64(bytes, LSN_AT).unwrap_or_default();
    if lsn > crate::limits::LSN_MAX {
        return Err(CorruptReason::Checkpoint(format!("LSN {lsn} out of range")));
    }
    Ok(lsn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let bytes = encode(77);
        assert_eq!(decode(&bytes), Ok(77));
        let mut bad = bytes;
        bad[17] ^= 1;
        assert!(matches!(decode(&bad), Err(CorruptReason::Checksum { .. })));
        assert!(decode(&bytes[..10]).is_err());
    }

    #[test]
    fn a_truncation_marker_is_not_a_checkpoint() {
        let bytes = encode_marker(TRUNCATE_MAGIC, 9);
        assert_eq!(decode_marker(TRUNCATE_MAGIC, &bytes), Ok(9));
        assert_eq!(decode(&bytes), Err(CorruptReason::BadMagic));
    }

    proptest::proptest! {
        #[test]
        fn any_checkpoint_round_trips(lsn in 0..=crate::limits::LSN_MAX) {
            proptest::prop_assert_eq!(decode(&encode(lsn)), Ok(lsn));
        }

        #[test]
        fn any_single_bit_flip_is_caught(lsn in 0..=crate::limits::LSN_MAX, bit in 0..CHECKPOINT_BYTES * 8) {
            let mut bytes = encode(lsn);
            if let Some(b) = bytes.get_mut(bit / 8) {
                *b ^= 1 << (bit % 8);
            }
            proptest::prop_assert!(decode(&bytes).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = decode(&bytes);
        }
    }
}
