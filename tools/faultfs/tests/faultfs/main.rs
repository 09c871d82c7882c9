//! ringwal on the fault filesystem: real kernel I/O (both drivers; io_uring requests
//! reach the FUSE server through the kernel) through power cuts and injected faults.
//! Skips with a printed reason where FUSE cannot be mounted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod injected_faults_poison_and_lose_nothing;
mod model_keeps_only_what_was_synced;
mod model_reorders_unsynced_writes;
mod power_cut_loses_nothing_acknowledged;
