//! Frame decode over arbitrary bytes: never panics, and a frame it accepts lies inside
//! the input, respects the length limit, claims a durable LSN below its own, and encodes
//! back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwal::format::frame::{self, Decode, FrameSpec};

fuzz_target!(|data: &[u8]| {
    // The first 8 bytes choose the segment sequence, the next 4 the record limit.
    let (Some(seq), Some(max)) = (data.get(..8), data.get(8..12)) else {
        return;
    };
    let sequence = u64::from_le_bytes(seq.try_into().unwrap_or_default());
    let record_bytes_max = u64::from(u32::from_le_bytes(max.try_into().unwrap_or_default()));
    let bytes = &data[12..];
    match frame::decode(bytes, sequence, record_bytes_max) {
        Decode::Frame(d) => {
            assert!(d.payload_len as u64 <= record_bytes_max);
            assert!(d.durable < d.lsn, "a frame vouching for itself was accepted");
            assert!(d.payload_at + d.payload_len <= bytes.len());
            let payload = &bytes[d.payload_at..d.payload_at + d.payload_len];
            let mut again = Vec::new();
            frame::encode_into(
                &FrameSpec {
                    lsn: d.lsn,
                    durable: d.durable,
                    sequence,
                    payload,
                    payload_crc: frame::payload_crc(payload),
                    batch_continues: d.batch_continues,
                },
                &mut again,
            );
            assert_eq!(again.len(), d.frame_len);
            let header_and_payload = d.payload_at + d.payload_len;
            assert_eq!(&again[..header_and_payload], &bytes[..header_and_payload]);
        }
        Decode::NeedBytes(n) => assert!(n > bytes.len()),
        Decode::Invalid(_) => {}
    }
});
