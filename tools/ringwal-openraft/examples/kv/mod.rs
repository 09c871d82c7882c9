//! What the example cluster and the tests share: a type config, a small in-memory
//! key-value state machine (the application's part of a Raft node), and a network
//! shaped like openraft's example network (`raft-kv-memstore`: one request per RPC,
//! serialized with serde, the reply carrying the remote `RaftError`), over plain
//! loopback TCP with one JSON line per message instead of an HTTP stack.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::error::{NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, OptionalSend, Raft, RaftNetwork,
    RaftNetworkFactory, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A write to the key-value store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub enum Request {
    Set { key: String, value: String },
}

/// What a write returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Response {
    pub value: Option<String>,
}

openraft::declare_raft_types!(
    /// The example's Raft types: u64 node ids, `BasicNode` addresses, the default
    /// `Entry`, snapshots in memory.
    pub TypeConfig:
        D = Request,
        R = Response,
);

pub type NodeId = u64;
pub type KvRaft = Raft<TypeConfig>;

/// The state machine's data and where it stands in the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KvState {
    pub last_applied: Option<LogId<NodeId>>,
    pub last_membership: StoredMembership<NodeId, BasicNode>,
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Inner {
    state: KvState,
    snapshot: Option<(SnapshotMeta<NodeId, BasicNode>, Vec<u8>)>,
    snapshots_built: u64,
}

/// An in-memory key-value state machine; clones share it.
#[derive(Debug, Clone, Default)]
pub struct KvStateMachine {
    inner: Arc<Mutex<Inner>>,
}

fn sm_error(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(AnyError::new(&e)).into()
}

impl KvStateMachine {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<String> {
        self.inner().state.data.get(key).cloned()
    }

    /// Every key and value.
    pub fn data(&self) -> BTreeMap<String, String> {
        self.inner().state.data.clone()
    }

    /// The last log id applied.
    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        self.inner().state.last_applied
    }
}

impl RaftSnapshotBuilder<TypeConfig> for KvStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let mut inner = self.inner();
        let data = serde_json::to_vec(&inner.state).map_err(sm_error)?;
        inner.snapshots_built += 1;
        let meta = SnapshotMeta {
            last_log_id: inner.state.last_applied,
            last_membership: inner.state.last_membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                inner.state.last_applied.map_or(0, |l| l.index),
                inner.snapshots_built
            ),
        };
        inner.snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for KvStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        let inner = self.inner();
        Ok((
            inner.state.last_applied,
            inner.state.last_membership.clone(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut inner = self.inner();
        let mut replies = Vec::new();
        for entry in entries {
            inner.state.last_applied = Some(entry.log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(Request::Set { key, value }) => {
                    inner.state.data.insert(key, value.clone());
                    Response { value: Some(value) }
                }
                EntryPayload::Membership(m) => {
                    inner.state.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    Response::default()
                }
            };
            replies.push(reply);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let state: KvState = serde_json::from_slice(&data).map_err(sm_error)?;
        let mut inner = self.inner();
        inner.state = state;
        inner.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(self.inner().snapshot.clone().map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        }))
    }
}

/// One RPC on the wire.
#[derive(Debug, Serialize, Deserialize)]
enum Rpc {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

/// Opens a connection per RPC to the target's address (loopback in the example).
#[derive(Debug, Clone, Default)]
pub struct Network;

/// A client for one target node.
#[derive(Debug)]
pub struct Connection {
    target: NodeId,
    addr: String,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Connection;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Connection {
        Connection {
            target,
            addr: node.addr.clone(),
        }
    }
}

impl Connection {
    async fn call<Resp, E>(&self, rpc: Rpc) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Resp: for<'de> Deserialize<'de>,
        E: std::error::Error + for<'de> Deserialize<'de>,
    {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        let (read, mut write) = stream.into_split();
        let mut line =
            serde_json::to_vec(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        line.push(b'\n');
        write
            .write_all(&line)
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut reply = String::new();
        BufReader::new(read)
            .read_line(&mut reply)
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let reply: Result<Resp, E> =
            serde_json::from_str(&reply).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        reply.map_err(|e| RPCError::RemoteError(openraft::error::RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for Connection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Append(rpc)).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, openraft::error::InstallSnapshotError>>,
    > {
        self.call(Rpc::Snapshot(rpc)).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(Rpc::Vote(rpc)).await
    }
}

/// Answers RPCs for `raft` on `listener` until the task is aborted.
pub async fn serve(raft: KvRaft, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let raft = raft.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            if BufReader::new(read).read_line(&mut line).await.is_err() {
                return;
            }
            let reply = match serde_json::from_str::<Rpc>(&line) {
                Ok(Rpc::Append(rpc)) => serde_json::to_vec(&raft.append_entries(rpc).await),
                Ok(Rpc::Vote(rpc)) => serde_json::to_vec(&raft.vote(rpc).await),
                Ok(Rpc::Snapshot(rpc)) => serde_json::to_vec(&raft.install_snapshot(rpc).await),
                Err(_) => return,
            };
            if let Ok(mut reply) = reply {
                reply.push(b'\n');
                let _ = write.write_all(&reply).await;
            }
        });
    }
}
