//! # ringwal-openraft
//!
//! [openraft](https://docs.rs/openraft/0.9) log storage on ringwal: `RaftLogStore`
//! implements `RaftLogStorage` (openraft's `storage-v2` API, release 0.9) so a Raft
//! node keeps its log in a ringwal write-ahead log, with group commit, io_uring where
//! the machine has it, and crash recovery.
//!
//! * Entries are ringwal records (`index ‖ postcard(entry)`), one per entry, in index
//!   order. `append` stages them and returns; a flush thread fires openraft's callback
//!   once the last of them is synced.
//! * The vote, the committed log id and the purge point live in a second, small ringwal
//!   log (`DIR/meta`): every change appends the whole state, the last record wins.
//!   `save_vote` and `save_committed` return once durable (the vote after every earlier
//!   append; the committed id once the entry it names is durable).
//! * `truncate` (a conflicting, uncommitted suffix) is `Wal::truncate_from`: durable
//!   when it returns, completed by recovery if a crash interrupts it.
//! * `purge` persists the purge point, then checkpoints the entry log, whose segments
//!   are retired (deleted or archived, as the options say).
//! * Any ringwal failure — an I/O error, a poisoned log, corruption found at open —
//!   reaches openraft as a `StorageError` (or as the error of an append's callback),
//!   which stops the node. Nothing is reported persisted that is not.
//!
//! ```no_run
//! # use std::io::Cursor;
//! # use ringwal_openraft::RaftLogStore;
//! # openraft::declare_raft_types!(pub Config);
//! let store = RaftLogStore::<Config>::open("data/raft", ringwal::Options::default())?;
//! // openraft::Raft::new(node_id, config, network, store, state_machine).await?
//! # Ok::<(), ringwal_openraft::Error>(())
//! ```
//!
//! The state machine stays the application's (openraft's `RaftStateMachine`); the
//! repository's `examples/cluster.rs` runs three nodes on loopback with a small
//! key-value one.

mod error;
mod flusher;
mod index;
mod meta;
mod record;
mod store;

pub use error::Error;
pub use store::{LogReader, RaftLogStore, StoredEntry};
