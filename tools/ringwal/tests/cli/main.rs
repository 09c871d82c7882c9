//! The `ringwal` binary end to end, on logs built with the library and damaged by
//! writing bytes into their segment files. One behaviour per module, one test binary
//! (one link on a 2-core machine). Test code may unwrap and index: a panic is a failure.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

mod a_hole_left_by_a_reordered_write_back_is_a_torn_tail;
mod bad_directories_exit_3;
mod bench_prints_table_and_json;
mod dump_of_a_damaged_log_prints_records_before_the_damage;
mod dump_shows_payloads_safely;
mod inspect_lists_segments_and_tail;
mod readers_work_beside_a_writer;
mod repair_backups_are_private;
mod repair_cuts_torn_tail_with_backup;
mod repair_refuses_corruption_unless_told;
mod verify_and_dump_read_padded_logs;
mod verify_and_dump_read_recycled_logs;
mod verify_exit_codes;
