//! Recovery of an arbitrary directory image: the input becomes up to four segment files
//! and an optional CHECKPOINT in a fresh directory, which `LogReader::open` scans and
//! `read_from` reads to the end. Nothing may panic, and the records handed out must
//! carry dense LSNs.
//!
//! The input becomes a directory image as `image.rs` describes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use ringwal::{LogReader, Lsn};

#[path = "image.rs"]
mod image;

fuzz_target!(|data: &[u8]| {
    let Ok(tmp) = tempfile::tempdir_in(if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    }) else {
        return;
    };
    if image::write_image(tmp.path(), data).is_none() {
        return;
    }
    let Ok(reader) = LogReader::open(tmp.path()) else {
        return;
    };
    let Ok(records) = reader.read_from(Lsn::from(1)) else {
        return;
    };
    let mut previous: Option<u64> = None;
    for record in records {
        let Ok(record) = record else { break };
        let lsn = record.lsn().get();
        if let Some(p) = previous {
            assert_eq!(lsn, p + 1, "records handed out must be dense");
        }
        assert!(
            lsn <= reader.scan().last_lsn,
            "a record past the scan's end"
        );
        previous = Some(lsn);
    }
});
