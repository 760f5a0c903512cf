//! An in-process cluster with a fault-injecting transport, for tests with
//! exact fault schedules.
//!
//! Nodes are full [`Cluster`]s on in-memory engines; calls between them go
//! through [`SimTransport`], which can cut links (a cut call fails after the
//! replica timeout, like a hung peer), delay them, or drop a seeded-random
//! share of them. Tests run on tokio's paused clock in one thread, so every
//! run of a schedule is the same. Liveness is set by the test, standing in for
//! gossip. The multi-process tests (`tests/cluster_*.rs`) cover the same
//! behaviour over real gRPC and UDP gossip.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use lambda_proto::node::v1 as pb;
use parking_lot::Mutex;
use rand::{RngExt, SeedableRng};

use super::aae::peer::SyncCalls;
use super::aae::serve;
use super::aae::worker::AaeWorker;
use super::hinted_handoff::HandoffWorker;
use super::hints::HintStore;
use super::liveness::Liveness;
use super::membership::{EpochMembers, Member};
use super::topology::Topology;
use super::transport::{Peer, ReplicaTransport, RpcError};
use super::view::ClusterView;
use super::{Cluster, ClusterParts};
use crate::config::{LimitsConfig, ReplicationConfig};
use crate::keyspace::Keyspace;
use crate::placement::{DeviceId, PlacementConfig};
use crate::request::RequestOptions;
use crate::storage::MemoryEngine;
use crate::store::LocalStore;
use crate::version::{Update, Value, VersionVector, VersionedObject};

const RPC_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Default)]
struct Faults {
    cut: BTreeSet<(DeviceId, DeviceId)>,
    delay: BTreeMap<(DeviceId, DeviceId), Duration>,
    drop_rate: f64,
    rng: Option<rand::rngs::StdRng>,
    dropped: u64,
}

/// The simulated network: every node, and the faults between them.
pub(crate) struct SimNet {
    nodes: Mutex<BTreeMap<DeviceId, Arc<Cluster>>>,
    faults: Mutex<Faults>,
}

impl SimNet {
    fn node(&self, id: &DeviceId) -> Option<Arc<Cluster>> {
        self.nodes.lock().get(id).cloned()
    }

    /// Applies the faults of the link `from → to`: Ok(()) to deliver, or the
    /// error the caller sees.
    async fn link(&self, from: &DeviceId, to: &DeviceId) -> Result<(), RpcError> {
        let (cut, delay, dropped) = {
            let mut f = self.faults.lock();
            let key = (from.clone(), to.clone());
            let rate = f.drop_rate;
            let dropped = rate > 0.0 && f.rng.as_mut().is_some_and(|r| r.random_bool(rate));
            if dropped {
                f.dropped += 1;
            }
            (f.cut.contains(&key), f.delay.get(&key).copied(), dropped)
        };
        if cut || dropped {
            tokio::time::sleep(RPC_TIMEOUT).await;
            return Err(RpcError::Timeout {
                peer: to.clone(),
                ms: RPC_TIMEOUT.as_millis() as u64,
            });
        }
        if let Some(d) = delay {
            if d >= RPC_TIMEOUT {
                tokio::time::sleep(RPC_TIMEOUT).await;
                return Err(RpcError::Timeout {
                    peer: to.clone(),
                    ms: RPC_TIMEOUT.as_millis() as u64,
                });
            }
            tokio::time::sleep(d).await;
        }
        Ok(())
    }
}

/// One node's view of the simulated network.
pub(crate) struct SimTransport {
    from: DeviceId,
    net: Arc<SimNet>,
}

fn refused(to: &Peer, e: crate::error::Error) -> RpcError {
    let status = tonic::Status::from(e);
    RpcError::Refused {
        peer: to.id.clone(),
        code: status.code(),
        message: status.message().to_string(),
    }
}

impl SimTransport {
    async fn target(&self, to: &Peer) -> Result<Arc<Cluster>, RpcError> {
        self.net.link(&self.from, &to.id).await?;
        self.net.node(&to.id).ok_or_else(|| RpcError::Unreachable {
            peer: to.id.clone(),
            reason: "no such node".into(),
        })
    }
}

#[tonic::async_trait]
impl ReplicaTransport for SimTransport {
    async fn put(
        &self,
        to: &Peer,
        key: &[u8],
        object: &VersionedObject,
        hint_for: Option<&DeviceId>,
    ) -> Result<(), RpcError> {
        let node = self.target(to).await?;
        node.replica_put(key.to_vec(), object.clone(), hint_for.cloned())
            .await
            .map_err(|e| refused(to, e))
    }

    async fn get(&self, to: &Peer, key: &[u8]) -> Result<VersionedObject, RpcError> {
        let node = self.target(to).await?;
        node.replica_get(key.to_vec())
            .await
            .map_err(|e| refused(to, e))
    }

    async fn coordinate(
        &self,
        to: &Peer,
        request: pb::CoordinateRequest,
        _timeout: Duration,
    ) -> Result<VersionedObject, RpcError> {
        let node = self.target(to).await?;
        node.replica_coordinate(request)
            .await
            .map_err(|e| refused(to, e))
    }
}

impl SimTransport {
    /// Runs a sync call's store work at the target, through the link.
    async fn sync<T, F>(&self, to: &Peer, f: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: FnOnce(&Cluster) -> crate::error::Result<T> + Send + 'static,
    {
        let node = self.target(to).await?;
        node.serve_store(f).await.map_err(|e| refused(to, e))
    }
}

#[tonic::async_trait]
impl SyncCalls for SimTransport {
    async fn roots(
        &self,
        to: &Peer,
        req: pb::MerkleRootsRequest,
    ) -> Result<pb::MerkleRootsResponse, RpcError> {
        self.sync(to, move |c| serve::roots(&c.store, &req)).await
    }
    async fn groups(
        &self,
        to: &Peer,
        req: pb::MerkleGroupsRequest,
    ) -> Result<pb::MerkleGroupsResponse, RpcError> {
        self.sync(to, move |c| serve::groups(&c.store, &req)).await
    }
    async fn segments(
        &self,
        to: &Peer,
        req: pb::MerkleSegmentsRequest,
    ) -> Result<pb::MerkleSegmentsResponse, RpcError> {
        self.sync(to, move |c| serve::segments(&c.store, &req))
            .await
    }
    async fn keys(
        &self,
        to: &Peer,
        req: pb::MerkleKeysRequest,
    ) -> Result<pb::MerkleKeysResponse, RpcError> {
        self.sync(to, move |c| serve::keys(&c.store, &req)).await
    }
    async fn multi_get(
        &self,
        to: &Peer,
        req: pb::MultiGetRequest,
    ) -> Result<pb::MultiGetResponse, RpcError> {
        self.sync(to, move |c| {
            serve::multi_get(&c.store, Some(&c.hints), &req)
        })
        .await
    }
    async fn multi_put(
        &self,
        to: &Peer,
        req: pb::MultiPutRequest,
    ) -> Result<pb::MultiPutResponse, RpcError> {
        self.sync(to, move |c| serve::multi_put(&c.store, req))
            .await
    }
    async fn fetch_partition(
        &self,
        to: &Peer,
        req: pb::FetchPartitionRequest,
    ) -> Result<pb::FetchPartitionResponse, RpcError> {
        self.sync(to, move |c| serve::fetch_partition(&c.store, &req))
            .await
    }
    async fn reap(&self, to: &Peer, req: pb::ReapRequest) -> Result<pb::ReapResponse, RpcError> {
        self.sync(to, move |c| serve::reap(&c.store, req)).await
    }
}

/// A simulated cluster of `n` nodes named `n1`…, one zone each.
pub(crate) struct SimCluster {
    pub(crate) net: Arc<SimNet>,
    pub(crate) ids: Vec<DeviceId>,
}

/// The sim's placement settings.
pub(crate) fn sim_placement() -> PlacementConfig {
    PlacementConfig {
        partitions: 64,
        replicas: 5,
        ..PlacementConfig::default()
    }
}

/// The membership of epoch `epoch` made of `ids`.
pub(crate) fn sim_members(ids: &[DeviceId], epoch: u64) -> EpochMembers {
    EpochMembers {
        epoch,
        members: ids
            .iter()
            .map(|id| {
                let i: u16 = id.0[1..].parse().unwrap_or(0);
                Member {
                    id: id.clone(),
                    endpoint: format!("sim:{i}"),
                    gossip: std::net::SocketAddr::from(([127, 0, 0, 1], i)),
                    capacity: 100,
                    bandwidth: 100,
                    zone: format!("z{i}"),
                }
            })
            .collect(),
    }
}

impl SimCluster {
    pub(crate) fn new(n: usize) -> Self {
        Self::with_initial(n, n)
    }

    /// `n` nodes, of which the first `initial` are the members of epoch 1
    /// (the others wait to join).
    pub(crate) fn with_initial(n: usize, initial: usize) -> Self {
        let ids: Vec<DeviceId> = (1..=n).map(|i| DeviceId(format!("n{i}"))).collect();
        let members = sim_members(&ids[..initial], 1);
        let placement = sim_placement();
        let net = Arc::new(SimNet {
            nodes: Mutex::new(BTreeMap::new()),
            faults: Mutex::new(Faults::default()),
        });
        for id in &ids {
            let store = Arc::new(
                LocalStore::open(Arc::new(MemoryEngine::new()), Keyspace::new(64).unwrap())
                    .unwrap(),
            );
            let limits = LimitsConfig::default();
            let cluster = Cluster::new(ClusterParts {
                self_id: id.clone(),
                hints: Arc::new(HintStore::open(store.clone(), 10_000).unwrap()),
                store,
                view: Topology::single(ClusterView::new(&members, &placement).unwrap()),
                liveness: Arc::new(Liveness::new(
                    id.clone(),
                    Duration::from_secs(2),
                    Duration::ZERO,
                )),
                transport: Arc::new(SimTransport {
                    from: id.clone(),
                    net: net.clone(),
                }),
                limits,
                replication: ReplicationConfig::default(),
                max_n: 5,
                rpc_timeout: RPC_TIMEOUT,
                sync_timeout: RPC_TIMEOUT * 4,
            });
            net.nodes.lock().insert(id.clone(), cluster);
        }
        let sim = Self { net, ids };
        sim.set_live(&sim.ids.clone());
        sim
    }

    pub(crate) fn node(&self, id: &DeviceId) -> Arc<Cluster> {
        self.net.node(id).unwrap()
    }

    /// Every node's gossip view becomes `live`.
    pub(crate) fn set_live(&self, live: &[DeviceId]) {
        let set: BTreeSet<DeviceId> = live.iter().cloned().collect();
        for node in self.net.nodes.lock().values() {
            node.liveness.set_gossip_view(set.clone(), BTreeMap::new());
        }
    }

    /// Cuts every link to and from `id`.
    pub(crate) fn isolate(&self, id: &DeviceId) {
        let mut f = self.net.faults.lock();
        for other in &self.ids {
            f.cut.insert((id.clone(), other.clone()));
            f.cut.insert((other.clone(), id.clone()));
        }
    }

    /// Restores every link.
    pub(crate) fn heal(&self) {
        let mut f = self.net.faults.lock();
        f.cut.clear();
        f.delay.clear();
        f.drop_rate = 0.0;
    }

    pub(crate) fn delay(&self, from: &DeviceId, to: &DeviceId, d: Duration) {
        self.net
            .faults
            .lock()
            .delay
            .insert((from.clone(), to.clone()), d);
    }

    pub(crate) fn drop_randomly(&self, rate: f64, seed: u64) {
        let mut f = self.net.faults.lock();
        f.drop_rate = rate;
        f.rng = Some(rand::rngs::StdRng::seed_from_u64(seed));
    }

    /// Runs one handoff round on every node.
    pub(crate) async fn handoff(&self) {
        let nodes: Vec<Arc<Cluster>> = self.net.nodes.lock().values().cloned().collect();
        let token = tokio_util::sync::CancellationToken::new();
        for node in nodes {
            HandoffWorker::new(node, Duration::ZERO, 1_000_000)
                .round(&token)
                .await;
        }
    }

    /// Runs one anti-entropy round on every node, in id order; returns the
    /// keys repaired in all.
    pub(crate) async fn aae_round(&self) -> u64 {
        let nodes: Vec<Arc<Cluster>> = self.net.nodes.lock().values().cloned().collect();
        let token = tokio_util::sync::CancellationToken::new();
        let mut repaired = 0;
        for node in nodes {
            let config = crate::config::AaeConfig {
                partitions_per_sec: 1_000_000,
                keys_per_sec: 1_000_000,
                ..crate::config::AaeConfig::default()
            };
            repaired += AaeWorker::new(node, config)
                .round(&token)
                .await
                .keys_repaired;
        }
        repaired
    }

    /// Runs one tombstone-collection round on every node; returns the
    /// tombstones removed in all.
    pub(crate) async fn reap_round(&self) -> u64 {
        let nodes: Vec<Arc<Cluster>> = self.net.nodes.lock().values().cloned().collect();
        let token = tokio_util::sync::CancellationToken::new();
        let config = crate::config::TombstonesConfig {
            min_age_ms: 0,
            ..crate::config::TombstonesConfig::default()
        };
        let mut reaped = 0;
        for node in nodes {
            let reaper = super::tombstones::Reaper::new(node, config.clone(), Duration::ZERO);
            reaped += reaper.round(&token).await.reaped;
        }
        reaped
    }

    /// Stands in for gossip: every node learns what every other publishes
    /// (epochs, pull progress, hint backlogs).
    pub(crate) fn gossip(&self) {
        let nodes: Vec<Arc<Cluster>> = self.net.nodes.lock().values().cloned().collect();
        for from in &nodes {
            let state = from.own_state();
            for to in nodes.iter().filter(|n| n.self_id != from.self_id) {
                to.liveness
                    .set_peer_state(from.self_id.clone(), state.clone());
            }
        }
    }

    /// Drops every hint on every node (as if handoff never ran).
    pub(crate) fn drop_hints(&self) {
        for node in self.net.nodes.lock().values() {
            for h in node.hints.scan(&[], usize::MAX).unwrap() {
                node.hints.remove_delivered(&h).unwrap();
            }
        }
    }

    pub(crate) fn backlog(&self) -> u64 {
        self.net
            .nodes
            .lock()
            .values()
            .map(|n| n.hints.backlog())
            .sum()
    }
}

pub(crate) fn opts(n: u32, r: u32, w: u32) -> RequestOptions {
    RequestOptions {
        n,
        r,
        w,
        timeout: Duration::from_secs(5),
        last_write_wins: false,
        forwarded: false,
    }
}

pub(crate) fn put(value: &str, context: VersionVector) -> Update {
    Update {
        value: Value::Live(value.as_bytes().to_vec()),
        context,
        timestamp_ms: 0,
        last_write_wins: false,
    }
}

pub(crate) fn values(obj: &VersionedObject) -> Vec<String> {
    let mut v: Vec<String> = obj
        .live()
        .map(|s| String::from_utf8_lossy(s.value.bytes().unwrap_or_default()).into_owned())
        .collect();
    v.sort();
    v
}

#[path = "sim_tests.rs"]
mod tests;

#[path = "sim_aae_tests.rs"]
mod aae_tests;

#[path = "sim_transition_tests.rs"]
mod transition_tests;
