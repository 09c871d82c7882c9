//! Checkpoint decode over arbitrary bytes: never panics, and a checkpoint it accepts
//! encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringwal::format::checkpoint;

fuzz_target!(|data: &[u8]| {
    if let Ok(lsn) = checkpoint::decode(data) {
        assert_eq!(&checkpoint::encode(lsn)[..], data);
    }
});
