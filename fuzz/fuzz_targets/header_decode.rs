//! Segment header decode over arbitrary bytes: never panics, and a header (or
//! recycled-blank marker) it accepts encodes back to the same bytes — a version-3
//! header to the same fields, since this build writes version 4.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwal::format::FORMAT_VERSION;
use ringwal::format::header::{HEADER_USED_BYTES, HeaderState, SegmentHeader};

fuzz_target!(|data: &[u8]| {
    match SegmentHeader::decode(data) {
        HeaderState::Valid(h) => {
            let block = h.to_block();
            if data[8..12] == FORMAT_VERSION.to_le_bytes() {
                assert_eq!(&block[..HEADER_USED_BYTES], &data[..HEADER_USED_BYTES]);
            }
            assert_eq!(SegmentHeader::decode(&block), HeaderState::Valid(h));
        }
        HeaderState::RecycledBlank { sequence } => {
            let block = SegmentHeader::recycled_blank(sequence);
            assert_eq!(&block[..HEADER_USED_BYTES], &data[..HEADER_USED_BYTES]);
        }
        HeaderState::Blank => {
            assert!(data.iter().take(HEADER_USED_BYTES).all(|&b| b == 0));
        }
        HeaderState::Invalid(_) => {}
    }
});
