//! The integration suite: one behaviour per file, all in one test binary (one link
//! instead of dozens on a 2-core machine). Each test runs on every driver that can run
//! here (see `common::drivers`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod batch_is_all_or_nothing_after_crash;
mod checkpoint_archives_and_prunes;
mod checkpoint_beyond_the_last_record_reads_empty;
mod common;
mod disk;

mod concurrent_durable_appends_all_recovered;
mod damaged_checkpoint_file_is_corruption;
mod durability_levels;
mod enospc_on_a_full_ext4_loses_nothing;
mod failed_retirement_is_retried_without_a_gap;
mod failed_sync_reopened_in_the_same_boot_rewrites_the_tail;
mod fault_injection_poisons;
mod first_segment_above_the_checkpoint_is_corruption;
mod forced_fallback_still_stores_and_recovers;
mod full_disk_at_rotation_poisons_without_loss;
mod garbage_after_damage_is_scanned_in_bounded_time;
mod invalid_options_are_rejected;
mod leftover_segment_tmp_files_are_removed_at_open;
mod lsn_gap_between_segments_is_corruption;
mod lsns_continue_after_checkpoint_retires_everything;
mod mid_log_bit_flip_is_corruption;
mod missing_middle_segment_fails_wal_open;
mod one_flush_across_many_segments_writes_each_in_place;
mod power_cut_while_recovery_cuts_a_torn_tail;
mod reopen_after_drop_without_close;
mod rotation_across_many_segments;
mod rotation_under_load_with_chains_in_flight;
mod round_trip;
mod sealed_segment_ending_inside_a_batch_is_corruption;
mod second_writer_gets_locked;
mod segment_header_naming_another_segment_is_corruption;
mod segment_removed_behind_the_log_is_an_error;
mod sigkill_loses_nothing_acknowledged;
mod sim_workload;
mod simulated_power_cuts_lose_nothing_acknowledged;
mod smaller_record_limit_on_reopen_keeps_big_records;
mod torn_tail_recovers_to_last_whole_record;
mod truncate_from_drops_the_suffix_durably;
mod truncation_intent_at_or_below_the_checkpoint_is_corruption;
mod try_append_would_block_at_staging_limit;
#[cfg(feature = "io-uring")]
mod uring_short_write_is_resumed;
mod uring_submits_through_the_ring;
