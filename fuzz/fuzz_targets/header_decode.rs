//! Segment header decode over arbitrary bytes: never panics, and a header it accepts
//! encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwal::format::header::{HEADER_USED_BYTES, HeaderState, SegmentHeader};

fuzz_target!(|data: &[u8]| {
    match SegmentHeader::decode(data) {
        HeaderState::Valid(h) => {
            let block = h.to_block();
            assert_eq!(&block[..HEADER_USED_BYTES], &data[..HEADER_USED_BYTES]);
            assert_eq!(SegmentHeader::decode(&block), HeaderState::Valid(h));
        }
        HeaderState::Blank => {
            assert!(data.iter().take(HEADER_USED_BYTES).all(|&b| b == 0));
        }
        HeaderState::Invalid(_) => {}
    }
});
