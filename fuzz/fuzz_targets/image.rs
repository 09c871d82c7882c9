//! Builds a log directory image from fuzz input (shared by the recovery targets).
//!
//! Input layout: byte 0 holds flags (bits 0-1: segment count - 1; bit 2: write a
//! CHECKPOINT from the next 8 bytes' LSN; bit 3: give each segment a valid header so
//! the fuzzer reaches the frame chain; bit 4: build the data area from frames encoded
//! out of the input, then damage it, so the chain itself is exercised; bit 5: write a
//! TRUNCATE intent — an interrupted `truncate_from` — from the next 8 bytes' LSN; bits
//! 6-7: the headers' durable floor, and with both set and bit 3, the segments are
//! recycled files: the header says so and the rest of each file holds an earlier life,
//! frames of another sequence built from the same bytes). The rest is split evenly
//! among the segments.

use std::path::Path;

use ringwal::format::frame::{self, FrameSpec};
use ringwal::format::header::SegmentHeader;
use ringwal::format::{checkpoint, names};

const HEADER_BYTES: usize = 4096;
const SEGMENT_BYTES_MAX: usize = 64 << 10;

/// Builds a data area of frames from `raw`: each frame takes a length byte, a payload
/// of that many bytes, and an LSN step byte (mostly 1); the last bytes of `raw`, in
/// triples, then flip bytes of the result at chosen offsets. Returns the bytes and the
/// LSN after the last frame (where the next segment starts).
fn framed(raw: &[u8], sequence: u64, first_lsn: u64) -> (Vec<u8>, u64) {
    let (frames_part, damage) = raw.split_at(raw.len() - raw.len() / 4);
    let mut out = Vec::new();
    let mut lsn = first_lsn;
    let mut at = 0;
    while at + 2 <= frames_part.len() {
        let len = usize::from(frames_part[at]);
        let step = frames_part[at + 1];
        at += 2;
        let end = (at + len).min(frames_part.len());
        let payload = &frames_part[at..end];
        at = end;
        frame::encode_into(
            &FrameSpec {
                lsn,
                // Claims from "the previous record" down to a few records back.
                durable: lsn.saturating_sub(1 + u64::from(step & 0x0f)),
                sequence,
                payload,
                payload_crc: frame::payload_crc(payload),
                batch_continues: step & 0x80 != 0,
            },
            &mut out,
        );
        lsn += if step & 0x70 == 0x70 { 2 } else { 1 };
    }
    for flip in damage.chunks_exact(3) {
        let offset = usize::from(u16::from_le_bytes([flip[0], flip[1]]));
        if let Some(b) = out.get_mut(offset) {
            *b ^= flip[2];
        }
    }
    (out, lsn)
}

pub fn write_image(dir: &Path, data: &[u8]) -> Option<()> {
    let (&flags, mut rest) = data.split_first()?;
    let segments = usize::from(flags & 3) + 1;
    if flags & 4 != 0 {
        let lsn = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        rest = &rest[8..];
        std::fs::write(dir.join("CHECKPOINT"), checkpoint::encode(lsn % 4096)).ok()?;
    }
    if flags & 32 != 0 {
        let lsn = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        rest = &rest[8..];
        let intent = checkpoint::encode_marker(checkpoint::TRUNCATE_MAGIC, lsn % 4096 + 1);
        std::fs::write(dir.join(names::TRUNCATE_FILE), intent).ok()?;
    }
    let part_len = rest.len().div_ceil(segments).max(1);
    let mut first_lsn = 1;
    let recycled = flags & 0xC8 == 0xC8;
    for (i, part) in rest.chunks(part_len).enumerate() {
        let sequence = i as u64 + 1;
        let mut file = Vec::new();
        if flags & 8 != 0 {
            file = SegmentHeader {
                sequence,
                first_lsn,
                capacity: SEGMENT_BYTES_MAX as u64,
                durable_floor: first_lsn.saturating_sub(1 + u64::from(flags >> 6)),
                recycled,
            }
            .to_block();
        }
        if flags & 16 != 0 {
            file.resize(HEADER_BYTES, 0);
            let (data, next_lsn) = framed(part, sequence, first_lsn);
            first_lsn = next_lsn;
            file.extend_from_slice(&data);
        } else {
            file.extend_from_slice(part);
        }
        if recycled {
            // The earlier life: the file's frames from when it was segment
            // `sequence + 1000`, up to the file's end.
            let (old, _) = framed(part, sequence + 1000, 1);
            while !old.is_empty() && file.len() < SEGMENT_BYTES_MAX {
                file.extend_from_slice(&old);
            }
        }
        file.truncate(SEGMENT_BYTES_MAX);
        std::fs::write(dir.join(names::segment_file_name(sequence)), &file).ok()?;
    }
    Some(())
}
