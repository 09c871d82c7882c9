//! Three openraft nodes in one process, talking over loopback TCP, each keeping its
//! Raft log in ringwal. A few writes; a follower stops; more writes; the follower
//! restarts from its ringwal directory (recovery), rejoins and catches up.
//!
//! ```sh
//! cargo run -p ringwal-openraft --example cluster [DIR]
//! ```
//!
//! The logs go under `DIR` (a temporary directory by default).

mod kv;

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kv::{KvRaft, KvStateMachine, Network, NodeId, Request, TypeConfig, serve};
use openraft::error::{ClientWriteError, RaftError};
use openraft::storage::RaftLogStorage;
use openraft::{BasicNode, Config, Raft};
use ringwal_openraft::RaftLogStore;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

const WAIT: Option<Duration> = Some(Duration::from_secs(20));
/// Attempts at one write before giving up: redirections to a new leader, and pauses
/// while an election has no winner yet.
const WRITE_TRIES: u32 = 100;
const NO_LEADER_PAUSE: Duration = Duration::from_millis(100);

/// One running node.
pub struct Node {
    pub raft: KvRaft,
    pub state: KvStateMachine,
    pub server: JoinHandle<()>,
    /// The last log index its store recovered when it opened.
    pub recovered: Option<u64>,
}

/// What the scenario ends with.
pub struct Outcome {
    /// The restarted node's key-value data once it caught up.
    pub data: BTreeMap<String, String>,
    /// The last log index the restarted node's ringwal log held when it reopened.
    pub recovered: Option<u64>,
}

fn options() -> ringwal::Options {
    ringwal::Options::default().segment_bytes(4 << 20)
}

/// Opens node `id`'s store (retrying while the previous incarnation lets go of its
/// directory lock), starts its Raft and its RPC server on `listener`.
async fn start(
    id: NodeId,
    dir: &Path,
    listener: TcpListener,
    config: Arc<Config>,
) -> Result<Node, Box<dyn Error>> {
    let mut tries = 0;
    let mut store = loop {
        match RaftLogStore::<TypeConfig>::open(dir, options()) {
            Ok(store) => break store,
            Err(ringwal_openraft::Error::Wal(ringwal::Error::Locked { .. })) if tries < 100 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let report = store.wal().recovery_report();
    let log = store.get_log_state().await?;
    println!(
        "node {id}: opened {} — ringwal recovered {} records in {} segments; last log id {}",
        dir.display(),
        report.records,
        report.segments,
        log.last_log_id
            .map_or("none".to_string(), |l| l.to_string())
    );
    let state = KvStateMachine::default();
    let raft = Raft::new(id, config, Network, store, state.clone()).await?;
    let server = tokio::spawn(serve(raft.clone(), listener));
    Ok(Node {
        raft,
        state,
        server,
        recovered: log.last_log_id.map(|l| l.index),
    })
}

/// Writes `key = value` through the running nodes, starting with `via`, and returns
/// the node that accepted it (the leader) and the log index the write got. Leadership can move at any time (a
/// heartbeat late on a loaded machine starts an election): a node that is not the
/// leader answers `ForwardToLeader`, and the write is retried on the node it names or,
/// while no running node is known to lead, again after a pause. Bounded.
pub async fn write(
    nodes: &BTreeMap<NodeId, Node>,
    via: NodeId,
    key: &str,
    value: &str,
) -> Result<(NodeId, u64), Box<dyn Error>> {
    let request = Request::Set {
        key: key.into(),
        value: value.into(),
    };
    let mut target = Some(via);
    for _ in 0..WRITE_TRIES {
        let Some(node) = target.and_then(|id| nodes.get(&id).map(|n| (id, n))) else {
            tokio::time::sleep(NO_LEADER_PAUSE).await;
            target = known_leader(nodes);
            continue;
        };
        match node.1.raft.client_write(request.clone()).await {
            Ok(response) => return Ok((node.0, response.log_id.index)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(to))) => {
                println!(
                    "node {} is not the leader; retrying {key} on {:?}",
                    node.0, to.leader_id
                );
                target = to.leader_id;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(format!("{key}: no leader accepted the write in {WRITE_TRIES} tries").into())
}

/// A running node that some running node believes leads.
pub fn known_leader(nodes: &BTreeMap<NodeId, Node>) -> Option<NodeId> {
    nodes
        .values()
        .filter_map(|n| n.raft.metrics().borrow().current_leader)
        .find(|id| nodes.contains_key(id))
}

/// The cluster's Raft timing: elections in well under a second.
pub fn config() -> Result<Arc<Config>, Box<dyn Error>> {
    Ok(Arc::new(
        Config {
            heartbeat_interval: 100,
            election_timeout_min: 400,
            election_timeout_max: 800,
            ..Config::default()
        }
        .validate()?,
    ))
}

/// Three nodes with their logs under `base`, listening on loopback, initialised as one
/// cluster; returns them, their addresses and the first leader.
pub async fn start_cluster(
    base: &Path,
    config: &Arc<Config>,
) -> Result<(BTreeMap<NodeId, Node>, BTreeMap<NodeId, BasicNode>, NodeId), Box<dyn Error>> {
    let mut listeners = Vec::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        members.insert(
            id,
            BasicNode {
                addr: listener.local_addr()?.to_string(),
            },
        );
        listeners.push((id, listener));
    }
    let mut nodes = BTreeMap::new();
    for (id, listener) in listeners {
        let dir = base.join(format!("node-{id}"));
        nodes.insert(id, start(id, &dir, listener, Arc::clone(config)).await?);
    }
    let first = nodes.get(&1).ok_or("node 1")?;
    first.raft.initialize(members.clone()).await?;
    let metrics = first
        .raft
        .wait(WAIT)
        .metrics(|m| m.current_leader.is_some(), "a leader")
        .await?;
    let leader_id = metrics.current_leader.ok_or("no leader")?;
    Ok((nodes, members, leader_id))
}

/// Stops every node.
pub async fn shutdown(nodes: &BTreeMap<NodeId, Node>) -> Result<(), Box<dyn Error>> {
    for node in nodes.values() {
        node.raft.shutdown().await?;
        node.server.abort();
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let tmp = tempfile::tempdir()?;
    let base: PathBuf = std::env::args_os()
        .nth(1)
        .map_or_else(|| tmp.path().to_path_buf(), PathBuf::from);
    run(&base).await.map(|_| ())
}

/// The whole scenario, with the logs under `base`.
pub async fn run(base: &Path) -> Result<Outcome, Box<dyn Error>> {
    let config = config()?;
    let (mut nodes, members, mut leader_id) = start_cluster(base, &config).await?;
    println!("leader: node {leader_id}");

    // A follower is the one that stops (the cluster keeps its quorum and leader).
    let follower = (1..=3).find(|id| *id != leader_id).ok_or("no follower")?;
    let mut last_index = 0;
    for i in 0..5 {
        let value = format!("before the restart {i}");
        (leader_id, last_index) = write(&nodes, leader_id, &format!("key-{i}"), &value).await?;
    }
    println!("5 writes committed");
    // A write commits once a majority holds it, which need not include this follower:
    // let it catch up, so that its log holds the five writes when it stops.
    nodes
        .get(&follower)
        .ok_or("follower")?
        .raft
        .wait(WAIT)
        .applied_index_at_least(Some(last_index), "the follower has the five writes")
        .await?;

    let stopped = nodes.remove(&follower).ok_or("follower")?;
    stopped.raft.shutdown().await?;
    stopped.server.abort();
    drop(stopped);
    println!("node {follower} stopped");
    for i in 5..10 {
        let value = format!("while node {follower} was down {i}");
        (leader_id, last_index) = write(&nodes, leader_id, &format!("key-{i}"), &value).await?;
    }
    // The last write's own log index: the leader's metrics may not show it applied yet.
    println!("5 more writes committed by the two running nodes (last index {last_index})");

    let addr = &members.get(&follower).ok_or("member")?.addr;
    let listener = TcpListener::bind(addr).await?;
    let dir = base.join(format!("node-{follower}"));
    let restarted = start(follower, &dir, listener, Arc::clone(&config)).await?;
    restarted
        .raft
        .wait(WAIT)
        .applied_index_at_least(Some(last_index), "the restarted node caught up")
        .await?;
    let data = restarted.state.data();
    println!(
        "node {follower} restarted and caught up: {} keys",
        data.len()
    );
    for (k, v) in &data {
        println!("  {k} = {v}");
    }
    if data.len() != 10 {
        return Err(format!("node {follower} has {} keys, expected 10", data.len()).into());
    }
    let recovered = restarted.recovered;
    nodes.insert(follower, restarted);
    shutdown(&nodes).await?;
    Ok(Outcome { data, recovered })
}
