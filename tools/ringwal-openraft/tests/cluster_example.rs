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

/// A write sent to a node that does not lead — a follower, or a leader an election
/// just deposed, as on a loaded machine where a heartbeat came late — is answered
/// `ForwardToLeader`, and the example's `write` retries it on the leader named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_sent_to_a_node_that_does_not_lead_lands_on_the_leader() {
    let dir = tempfile::tempdir().unwrap();
    let config = cluster::config().unwrap();
    let (nodes, _members, leader) = cluster::start_cluster(dir.path(), &config).await.unwrap();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    // The follower must know who leads to name it.
    nodes[&follower]
        .raft
        .wait(Some(std::time::Duration::from_secs(20)))
        .metrics(|m| m.current_leader == Some(leader), "the leader known")
        .await
        .unwrap();
    let (accepted, _) = cluster::write(&nodes, follower, "redirected", "to the leader")
        .await
        .unwrap();
    assert_eq!(accepted, leader, "the write went through node {accepted}");
    assert_eq!(
        nodes[&leader]
            .state
            .data()
            .get("redirected")
            .map(String::as_str),
        Some("to the leader")
    );
    cluster::shutdown(&nodes).await.unwrap();
}
