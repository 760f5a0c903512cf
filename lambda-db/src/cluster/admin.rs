//! The `lambda.node.v1.Admin` service: a node's status for operators —
//! members and whether this node sees them up, partitions each owns, the hint
//! backlog and deliveries, overload counters.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use lambda_proto::node::v1 as pb;
use tonic::{Request, Response, Status};

use super::Cluster;
use crate::api::RequestGate;
use crate::placement::DeviceId;
use crate::store::LocalStore;

/// The admin service of a node (standalone or clustered).
#[derive(Clone, Debug)]
pub struct AdminService {
    node_id: String,
    store: Arc<LocalStore>,
    /// Set once the node is part of a cluster (at start from a membership
    /// file; in chain mode when the first epoch that includes it begins).
    cluster: Arc<OnceLock<Arc<Cluster>>>,
    gate: Arc<RequestGate>,
    default_n: u32,
}

impl AdminService {
    /// The service of a node.
    pub fn new(
        node_id: String,
        store: Arc<LocalStore>,
        cluster: Option<Arc<Cluster>>,
        gate: Arc<RequestGate>,
        default_n: u32,
    ) -> Self {
        let slot = OnceLock::new();
        if let Some(c) = cluster {
            let _ = slot.set(c);
        }
        Self {
            node_id,
            store,
            cluster: Arc::new(slot),
            gate,
            default_n,
        }
    }

    /// Reads the cluster from `slot`, which is filled later (chain mode).
    pub fn with_cluster_slot(mut self, slot: Arc<OnceLock<Arc<Cluster>>>) -> Self {
        self.cluster = slot;
        self
    }

    /// The status as the node sees it now.
    pub fn status(&self) -> pb::StatusResponse {
        let mut resp = pb::StatusResponse {
            node_id: self.node_id.clone(),
            partitions: self.store.keyspace().partitions(),
            default_n: self.default_n,
            writes_refused: self.store.writes_refused().unwrap_or_default(),
            actor: self.store.actor().to_string(),
            requests_in_flight: self.gate.in_flight(),
            requests_rejected_overload: self.gate.rejected(),
            ..Default::default()
        };
        if let Some(cluster) = self.cluster.get() {
            resp.epoch = cluster.view.get().epoch();
            resp.nodes = nodes(cluster, self.default_n);
            let stats = cluster.hints.stats();
            resp.hints = Some(pb::HintStatus {
                backlog: stats.backlog,
                delivered: stats.delivered,
                refused: stats.refused,
                owners: stats
                    .owners
                    .into_iter()
                    .map(|(owner, hints)| pb::HintOwner {
                        owner: owner.0,
                        hints,
                    })
                    .collect(),
                max_backlog: stats.max_backlog,
            });
            resp.read_repairs = cluster.counters.read_repairs.load(Ordering::Relaxed);
            resp.hinted_writes = cluster.counters.hinted_writes.load(Ordering::Relaxed);
            resp.quorum_failures = cluster.counters.quorum_failures.load(Ordering::Relaxed);
        }
        resp
    }
}

fn nodes(cluster: &Cluster, default_n: u32) -> Vec<pb::NodeInfo> {
    let view = cluster.view.get();
    let placement = view.placement();
    let mut primary: BTreeMap<&DeviceId, u32> = BTreeMap::new();
    let mut replica: BTreeMap<&DeviceId, u32> = BTreeMap::new();
    for p in 0..cluster.store.keyspace().partitions() {
        for (pos, d) in placement
            .preference_list(p)
            .iter()
            .take(default_n as usize)
            .enumerate()
        {
            *replica.entry(d).or_default() += 1;
            if pos == 0 {
                *primary.entry(d).or_default() += 1;
            }
        }
    }
    view.members()
        .values()
        .map(|m| pb::NodeInfo {
            id: m.id.0.clone(),
            endpoint: m.endpoint.clone(),
            zone: m.zone.clone(),
            capacity: m.capacity,
            bandwidth: m.bandwidth,
            up: cluster.liveness.is_alive(&m.id),
            primary_partitions: primary.get(&m.id).copied().unwrap_or(0),
            replica_partitions: replica.get(&m.id).copied().unwrap_or(0),
            hint_backlog: if m.id == cluster.self_id {
                cluster.hints.backlog()
            } else {
                cluster.liveness.gossiped_backlog(&m.id).unwrap_or(0)
            },
        })
        .collect()
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(AdminService::status(self)))
    }
}
