//! The `lambda.node.v1.Admin` service: a node's status for operators —
//! members and whether this node sees them up, partitions each owns, the hint
//! backlog and deliveries, overload counters — anti-entropy progress,
//! membership-change progress, and the layouts the node serves (which a new
//! node asks for when it joins).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use lambda_proto::node::v1 as pb;
use tonic::{Request, Response, Status};

use super::{Cluster, Joined};
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
    joined: Arc<OnceLock<Joined>>,
    aae_enabled: bool,
    gate: Arc<RequestGate>,
    default_n: u32,
}

impl AdminService {
    /// The service of a node; `joined` holds its cluster part once it has
    /// one (filled at start from a membership file, later in chain mode).
    pub fn new(
        node_id: String,
        store: Arc<LocalStore>,
        joined: Arc<OnceLock<Joined>>,
        gate: Arc<RequestGate>,
        default_n: u32,
        aae_enabled: bool,
    ) -> Self {
        Self {
            node_id,
            store,
            joined,
            aae_enabled,
            gate,
            default_n,
        }
    }

    /// Anti-entropy progress.
    pub fn aae_status(&self) -> pb::AaeStatusResponse {
        let mut resp = pb::AaeStatusResponse {
            node_id: self.node_id.clone(),
            enabled: self.aae_enabled,
            trees_rebuilt: self.store.merkle_rebuilds(),
            ..Default::default()
        };
        let Some(Joined { cluster, .. }) = self.joined.get() else {
            return resp;
        };
        let s = cluster.aae.snapshot();
        resp.rounds = s.rounds;
        resp.partitions_held = s.held;
        resp.round_progress = s.progress;
        resp.exchanges = s.exchanges;
        resp.keys_repaired = s.keys_repaired;
        resp.bytes = s.bytes;
        resp.tombstones_reaped = s.tombstones_reaped;
        resp.partitions = s
            .partitions
            .into_iter()
            .map(|(p, st)| pb::PartitionAae {
                partition: p,
                last_exchange_ms: st.last_exchange_ms,
                keys_repaired: st.keys_repaired,
                bytes: st.bytes,
                keys: self.store.merkle().summary(p).keys,
                failures: st.failures,
            })
            .collect();
        resp
    }

    /// Membership-change progress.
    pub fn transfers(&self) -> pb::TransfersResponse {
        let mut resp = pb::TransfersResponse {
            node_id: self.node_id.clone(),
            ..Default::default()
        };
        let Some(Joined {
            cluster,
            transitions: t,
        }) = self.joined.get()
        else {
            return resp;
        };
        let topo = cluster.view.get();
        let own = t.status();
        resp.stable_epoch = topo.stable_epoch();
        resp.target_epoch = topo.epoch();
        resp.partitions_total = own.total;
        resp.partitions_done = own.done;
        resp.bytes = own.bytes;
        resp.partitions_dropped = own.dropped;
        resp.waiting_for = own.waiting_for;
        resp.nodes = topo
            .members()
            .keys()
            .map(|id| {
                let state = if *id == cluster.self_id {
                    Some(cluster.own_state())
                } else {
                    cluster.liveness.peer_state(id)
                };
                let st = state.unwrap_or_default();
                pb::NodeTransfer {
                    node_id: id.0.clone(),
                    target_epoch: st.target_epoch,
                    stable_epoch: st.stable_epoch,
                    synced_epoch: st.synced_epoch,
                    partitions_total: st.pulls_total,
                    partitions_done: st.pulls_done,
                    bytes: st.pull_bytes,
                    up: cluster.liveness.is_alive(id),
                }
            })
            .collect();
        resp
    }

    /// The layouts this node serves (none for a standalone node).
    pub fn layouts(&self) -> pb::LayoutsResponse {
        match self.joined.get() {
            Some(Joined { cluster: c, .. }) => super::layouts::to_pb(&c.view.get().memberships()),
            None => pb::LayoutsResponse::default(),
        }
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
        if let Some(Joined { cluster, .. }) = self.joined.get() {
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
    let mut primary: BTreeMap<&DeviceId, u32> = BTreeMap::new();
    let mut replica: BTreeMap<&DeviceId, u32> = BTreeMap::new();
    let partitions = view.placement().map_or(0, |p| p.partitions());
    for p in 0..partitions {
        let Some(placement) = view.placement() else {
            break;
        };
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

    async fn aae_status(
        &self,
        _req: Request<pb::AaeStatusRequest>,
    ) -> Result<Response<pb::AaeStatusResponse>, Status> {
        Ok(Response::new(AdminService::aae_status(self)))
    }

    async fn transfers(
        &self,
        _req: Request<pb::TransfersRequest>,
    ) -> Result<Response<pb::TransfersResponse>, Status> {
        Ok(Response::new(AdminService::transfers(self)))
    }

    async fn layouts(
        &self,
        _req: Request<pb::LayoutsRequest>,
    ) -> Result<Response<pb::LayoutsResponse>, Status> {
        Ok(Response::new(AdminService::layouts(self)))
    }
}
