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

/// A write sent to a node that was the leader until an election moved leadership
/// elsewhere is redirected (`ForwardToLeader`) and retried on the new leader, as the
/// example's writes must be when a loaded machine delays a heartbeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_sent_to_a_deposed_leader_lands_on_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = cluster::config().unwrap();
    let (nodes, _members, old) = cluster::start_cluster(dir.path(), &config).await.unwrap();
    let candidate = (1..=3).find(|id| *id != old).unwrap();
    nodes[&candidate].raft.trigger().elect().await.unwrap();
    // Every node, the deposed one included, knows a new leader before the write: the
    // old leader then answers ForwardToLeader instead of taking the write. (Usually
    // the candidate wins; the election may also go to the third node.)
    for node in nodes.values() {
        node.raft
            .wait(Some(std::time::Duration::from_secs(20)))
            .metrics(
                |m| m.current_leader.is_some_and(|l| l != old),
                "a new leader",
            )
            .await
            .unwrap();
    }
    let new = nodes[&old].raft.metrics().borrow().current_leader.unwrap();
    let accepted = cluster::write(&nodes, old, "moved", "to the new leader")
        .await
        .unwrap();
    assert_eq!(accepted, new, "the write went through node {accepted}");
    assert_eq!(
        nodes[&new].state.data().get("moved").map(String::as_str),
        Some("to the new leader")
    );
    cluster::shutdown(&nodes).await.unwrap();
}
