//! The record frame.
//!
//! ```text
//! offset  size  field
//!      0     4  crc32       u32 LE over payload ‖ lsn ‖ len field ‖ durable ‖ segment sequence (LE)
//!      4     4  len field   u32 LE: bits 0..31 payload length, bit 31 = "batch continues"
//!      8     8  lsn         u64 LE
//!     16     8  durable     u64 LE: every LSN ≤ it was durable before this frame was
//!                           staged (the writer's synced watermark then); < lsn
//!     24   len  payload
//!   ....   pad  zeros up to the next multiple of FRAME_ALIGN
//! ```
//! `durable` is the frame's vouch: recovery calls damage at LSN n corruption when a
//! valid frame after it claims `durable >= n` (n was acknowledged before that frame
//! existed), and a torn tail otherwise. A claim at or above the frame's own LSN cannot
//! be true and is corruption itself.
//! The checksum covers the segment sequence, so a frame left in a recycled file from
//! its earlier life never validates in its new one. The payload comes first in the
//! checksummed order so an appender can checksum its payload before it knows its LSN
//! and segment, and finish the checksum with 28 bytes inside the short reservation.
//!
//! A batch is a run of frames whose len fields all carry the "continues" bit except the
//! last: recovery accepts a batch only whole.

use super::{put, read_u32, read_u64};
use crate::error::CorruptReason;
use crate::limits::{FRAME_HEADER_BYTES, frame_bytes};

const CRC_AT: usize = 0;
const LEN_AT: usize = CRC_AT + 4;
const LSN_AT: usize = LEN_AT + 4;
const DURABLE_AT: usize = LSN_AT + 8;
const PAYLOAD_AT: usize = DURABLE_AT + 8;
const _: () = assert!(PAYLOAD_AT as u64 == FRAME_HEADER_BYTES);

/// Bit of the len field saying that the next frame belongs to the same batch.
pub const BATCH_CONTINUES: u32 = 1 << 31;
const LEN_MASK: u32 = !BATCH_CONTINUES;

/// The checksum of a payload alone; the appender computes it outside any lock.
pub fn payload_crc(payload: &[u8]) -> u32 {
    crc32fast::hash(payload)
}

/// Finishes a frame checksum from the payload's checksum and the header fields.
pub fn frame_crc(payload_crc: u32, lsn: u64, len_field: u32, durable: u64, sequence: u64) -> u32 {
    let mut trailer = [0u8; 28];
    trailer[..8].copy_from_slice(&lsn.to_le_bytes());
    trailer[8..12].copy_from_slice(&len_field.to_le_bytes());
    trailer[12..20].copy_from_slice(&durable.to_le_bytes());
    trailer[20..].copy_from_slice(&sequence.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new_with_initial(payload_crc);
    hasher.update(&trailer);
    hasher.finalize()
}

/// One frame to encode.
#[derive(Debug, Clone, Copy)]
pub struct FrameSpec<'a> {
    /// The record's LSN.
    pub lsn: u64,
    /// Every LSN at or below this was durable when the frame was staged; below `lsn`.
    pub durable: u64,
    /// The segment the frame is written into.
    pub sequence: u64,
    /// The payload.
    pub payload: &'a [u8],
    /// `payload_crc(payload)`, computed ahead of time.
    pub payload_crc: u32,
    /// Whether another frame of the same batch follows.
    pub batch_continues: bool,
}

/// Appends the encoded frame (padding included) to `out`. The payload length must
/// already have been checked against the limits.
pub fn encode_into(spec: &FrameSpec<'_>, out: &mut Vec<u8>) {
    let len = spec.payload.len() as u32;
    debug_assert!(len & BATCH_CONTINUES == 0);
    let len_field = len
        | if spec.batch_continues {
            BATCH_CONTINUES
        } else {
            0
        };
    debug_assert!(spec.durable < spec.lsn);
    let crc = frame_crc(
        spec.payload_crc,
        spec.lsn,
        len_field,
        spec.durable,
        spec.sequence,
    );
    let start = out.len();
    let total = frame_bytes(u64::from(len)) as usize;
    let mut head = [0u8; PAYLOAD_AT];
    put(&mut head, CRC_AT, &crc.to_le_bytes());
    put(&mut head, LEN_AT, &len_field.to_le_bytes());
    put(&mut head, LSN_AT, &spec.lsn.to_le_bytes());
    put(&mut head, DURABLE_AT, &spec.durable.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(spec.payload);
    out.resize(start + total, 0);
}

/// A frame that validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// The record's LSN.
    pub lsn: u64,
    /// The durable LSN the frame claims (below `lsn`).
    pub durable: u64,
    /// Where the payload starts, relative to the frame.
    pub payload_at: usize,
    /// Payload length.
    pub payload_len: usize,
    /// Bytes the frame occupies including padding.
    pub frame_len: usize,
    /// Whether the next frame belongs to the same batch.
    pub batch_continues: bool,
}

/// The outcome of decoding at one position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decode {
    /// A whole valid frame.
    Frame(Decoded),
    /// The bytes end before the frame does; read more (or, at the end of the file,
    /// this is a torn frame).
    NeedBytes(usize),
    /// Not a valid frame.
    Invalid(CorruptReason),
}

/// Decodes the frame at the start of `bytes`, written into segment `sequence`.
/// Never panics and never allocates; a length over `record_bytes_max` is refused
/// before anything is read past the header. A frame that passes its checksum but
/// claims a durable LSN at or above its own is `DurableClaimOutOfRange`.
pub fn decode(bytes: &[u8], sequence: u64, record_bytes_max: u64) -> Decode {
    let (Some(stored_crc), Some(len_field), Some(lsn), Some(durable)) = (
        read_u32(bytes, CRC_AT),
        read_u32(bytes, LEN_AT),
        read_u64(bytes, LSN_AT),
        read_u64(bytes, DURABLE_AT),
    ) else {
        return Decode::NeedBytes(PAYLOAD_AT);
    };
    let len = u64::from(len_field & LEN_MASK);
    if len > record_bytes_max {
        return Decode::Invalid(CorruptReason::LengthTooLarge {
            len,
            max: record_bytes_max,
        });
    }
    let total = frame_bytes(len) as usize;
    let payload_len = len as usize;
    let Some(payload) = bytes.get(PAYLOAD_AT..PAYLOAD_AT + payload_len) else {
        return Decode::NeedBytes(total);
    };
    let got = frame_crc(payload_crc(payload), lsn, len_field, durable, sequence);
    if got != stored_crc {
        return Decode::Invalid(CorruptReason::Checksum {
            expected: stored_crc,
            got,
        });
    }
    if durable >= lsn {
        return Decode::Invalid(CorruptReason::DurableClaimOutOfRange { lsn, durable });
    }
    Decode::Frame(Decoded {
        lsn,
        durable,
        payload_at: PAYLOAD_AT,
        payload_len,
        frame_len: total,
        batch_continues: len_field & BATCH_CONTINUES != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode(lsn: u64, seq: u64, payload: &[u8], cont: bool) -> Vec<u8> {
        let mut out = Vec::new();
        encode_into(
            &FrameSpec {
                lsn,
                durable: lsn - 1,
                sequence: seq,
                payload,
                payload_crc: payload_crc(payload),
                batch_continues: cont,
            },
            &mut out,
        );
        out
    }

    fn encode_claiming(lsn: u64, durable: u64, seq: u64, payload: &[u8], cont: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut head = [0u8; PAYLOAD_AT];
        let len_field = payload.len() as u32 | if cont { BATCH_CONTINUES } else { 0 };
        // Encoded by hand so a claim the encoder would refuse can be built.
        let crc = frame_crc(payload_crc(payload), lsn, len_field, durable, seq);
        put(&mut head, CRC_AT, &crc.to_le_bytes());
        put(&mut head, LEN_AT, &len_field.to_le_bytes());
        put(&mut head, LSN_AT, &lsn.to_le_bytes());
        put(&mut head, DURABLE_AT, &durable.to_le_bytes());
        out.extend_from_slice(&head);
        out.extend_from_slice(payload);
        out.resize(frame_bytes(payload.len() as u64) as usize, 0);
        out
    }

    #[test]
    fn the_encoder_and_the_hand_encoding_agree() {
        let mut out = Vec::new();
        encode_into(
            &FrameSpec {
                lsn: 12,
                durable: 7,
                sequence: 3,
                payload: b"abc",
                payload_crc: payload_crc(b"abc"),
                batch_continues: true,
            },
            &mut out,
        );
        assert_eq!(out, encode_claiming(12, 7, 3, b"abc", true));
    }

    #[test]
    fn a_claim_at_or_above_its_own_lsn_is_refused_after_the_checksum() {
        for durable in [9, 10, u64::MAX] {
            assert_eq!(
                decode(&encode_claiming(9, durable, 1, b"x", false), 1, 100),
                Decode::Invalid(CorruptReason::DurableClaimOutOfRange { lsn: 9, durable })
            );
        }
        match decode(&encode_claiming(9, 0, 1, b"x", false), 1, 100) {
            Decode::Frame(d) => assert_eq!(d.durable, 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn zeros_never_validate() {
        let zeros = [0u8; 64];
        assert!(matches!(decode(&zeros, 1, 1 << 20), Decode::Invalid(_)));
        assert!(matches!(decode(&zeros, 0, 1 << 20), Decode::Invalid(_)));
    }

    #[test]
    fn a_frame_from_another_segment_does_not_validate() {
        let bytes = encode(5, 3, b"hello", false);
        assert!(matches!(decode(&bytes, 3, 100), Decode::Frame(_)));
        assert!(matches!(
            decode(&bytes, 4, 100),
            Decode::Invalid(CorruptReason::Checksum { .. })
        ));
    }

    #[test]
    fn oversized_length_is_refused_before_reading() {
        let mut bytes = encode(1, 1, &[7u8; 32], false);
        bytes[4..8].copy_from_slice(&(0x7fff_ffffu32).to_le_bytes());
        assert_eq!(
            decode(&bytes, 1, 1024),
            Decode::Invalid(CorruptReason::LengthTooLarge {
                len: 0x7fff_ffff,
                max: 1024
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(lsn in 1u64.., seq in 0u64.., payload in proptest::collection::vec(any::<u8>(), 0..600), cont in any::<bool>()) {
            let bytes = encode(lsn, seq, &payload, cont);
            prop_assert_eq!(bytes.len() as u64 % crate::limits::FRAME_ALIGN, 0);
            match decode(&bytes, seq, 1 << 20) {
                Decode::Frame(d) => {
                    prop_assert_eq!(d.lsn, lsn);
                    prop_assert_eq!(d.frame_len, bytes.len());
                    prop_assert_eq!(d.batch_continues, cont);
                    prop_assert_eq!(&bytes[d.payload_at..d.payload_at + d.payload_len], &payload[..]);
                }
                other => prop_assert!(false, "did not decode: {:?}", other),
            }
            // Every strict prefix asks for more bytes or is invalid; none decodes.
            for cut in 0..bytes.len().min(PAYLOAD_AT + payload.len()) {
                prop_assert!(!matches!(decode(&bytes[..cut], seq, 1 << 20), Decode::Frame(_)));
            }
        }

        #[test]
        fn any_single_bit_flip_is_caught(payload in proptest::collection::vec(any::<u8>(), 1..200), bit in 0usize..1600) {
            let mut bytes = encode(9, 2, &payload, false);
            let covered = (PAYLOAD_AT + payload.len()) * 8;
            let bit = bit % covered;
            bytes[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!matches!(decode(&bytes, 2, 1 << 20), Decode::Frame(d) if d.lsn == 9 && d.payload_len == payload.len()));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), seq in any::<u64>()) {
            let _ = decode(&bytes, seq, 1 << 20);
        }
    }
}
