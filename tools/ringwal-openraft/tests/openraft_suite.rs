//! openraft's own storage test suite (`openraft::testing::Suite`) against
//! `RaftLogStore`, on each driver this machine can run.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;
#[path = "../examples/kv/mod.rs"]
mod kv;

use kv::{KvStateMachine, NodeId, TypeConfig};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageError, StorageIOError};
use ringwal::{Driver, Options};
use ringwal_openraft::RaftLogStore;
use tempfile::TempDir;

struct Builder {
    driver: Driver,
}

/// Small segments: the suite opens dozens of stores.
fn options(driver: Driver) -> Options {
    Options::default()
        .driver(driver)
        .segment_bytes(1 << 20)
        .record_bytes_max(64 << 10)
}

impl StoreBuilder<TypeConfig, RaftLogStore<TypeConfig>, KvStateMachine, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, RaftLogStore<TypeConfig>, KvStateMachine), StorageError<NodeId>> {
        fn io(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
            StorageIOError::write_logs(AnyError::new(&e)).into()
        }
        let dir = tempfile::tempdir().map_err(io)?;
        let store = RaftLogStore::open(dir.path(), options(self.driver)).map_err(io)?;
        Ok((dir, store, KvStateMachine::default()))
    }
}

#[test]
fn openraft_suite_passes_on_the_portable_driver() {
    Suite::test_all(Builder {
        driver: Driver::Portable,
    })
    .unwrap();
}

#[test]
fn openraft_suite_passes_on_the_io_uring_driver() {
    if !common::io_uring_runs(options(Driver::IoUring)) {
        common::skip("the io_uring driver cannot run here");
        return;
    }
    Suite::test_all(Builder {
        driver: Driver::IoUring,
    })
    .unwrap();
}
