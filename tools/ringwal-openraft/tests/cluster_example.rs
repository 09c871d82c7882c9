//! The README's example, run as a test: three nodes on loopback, a follower stopped
//! and restarted from its ringwal log, caught up with every write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[allow(dead_code)]
#[path = "../examples/cluster.rs"]
mod cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_follower_recovers_its_log_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = cluster::run(dir.path()).await.unwrap();
    // Its log came back from ringwal: the initial membership entry, the leader's blank
    // entry and the five writes made before it stopped.
    assert!(
        outcome.recovered >= Some(6),
        "recovered {:?}",
        outcome.recovered
    );
    let data = outcome.data;
    assert_eq!(data.len(), 10);
    assert_eq!(
        data.get("key-0").map(String::as_str),
        Some("before the restart 0")
    );
    assert!(data.get("key-9").unwrap().starts_with("while node "));
}
