//! The integration suite: one behaviour per file, all in one test binary (one link
//! instead of dozens on a 2-core machine). Each test runs on every driver that can run
//! here (see `common::drivers`).

mod common;

mod round_trip;
