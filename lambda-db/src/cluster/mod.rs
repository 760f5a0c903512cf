//! Turning single nodes into a Dynamo cluster.
//!
//! - [`membership`]: who is in the cluster (the `MembershipSource` interface
//!   and the static membership file).
//! - [`view`]: one epoch's members and placement; sloppy-quorum target
//!   selection.
//! - [`liveness`], [`gossip`]: which peers are up (chitchat gossip with
//!   phi-accrual failure detection, plus suspicion after failed calls).
//! - [`transport`]: calls to peers (gRPC; the simulation substitutes its own).
//! - [`quorum`]: waiting for R or W answers.
//! - [`coordinator`]: reads and writes across replicas, forwarding, read
//!   repair; the cluster's `KvBackend`.
//! - [`replica`], [`replica_service`]: the receiving side of replica calls.
//! - [`hints`], [`hinted_handoff`]: durable hints and their delivery.
//! - [`admin`]: the node's status for operators.
//!
//! [`Cluster`] holds the state they share.

pub mod aae;
pub mod admin;
pub mod coordinator;
pub mod gossip;
pub mod hinted_handoff;
pub mod hints;
pub mod layouts;
pub mod liveness;
pub mod membership;
pub mod quorum;
pub mod replica;
pub mod replica_service;
pub mod replica_sync;
pub mod tombstones;
pub mod topology;
pub mod transition;
pub mod transport;
pub mod view;

#[cfg(test)]
mod sim;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::{LimitsConfig, ReplicationConfig};
use crate::placement::DeviceId;
use crate::store::LocalStore;
use hints::HintStore;
use liveness::{Liveness, PeerState};
use transport::ReplicaTransport;
use view::SharedView;

/// Counters of cluster activity, for the admin status and metrics.
#[derive(Debug, Default)]
pub struct ClusterCounters {
    /// Writes forwarded to another coordinator.
    pub forwarded: AtomicU64,
    /// Stale replicas repaired after reads.
    pub read_repairs: AtomicU64,
    /// Writes that went to a fallback with a hint.
    pub hinted_writes: AtomicU64,
    /// Requests that failed their quorum.
    pub quorum_failures: AtomicU64,
}

/// Everything the cluster parts of one node share.
pub struct Cluster {
    /// This node's id.
    pub self_id: DeviceId,
    /// The local store.
    pub store: Arc<LocalStore>,
    /// Hints held for other nodes.
    pub hints: Arc<HintStore>,
    /// The layouts this node serves (one, or several while the membership
    /// changes).
    pub view: SharedView,
    /// Which peers are up.
    pub liveness: Arc<Liveness>,
    /// Calls to peers.
    pub transport: Arc<dyn ReplicaTransport>,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Replication defaults and bounds.
    pub replication: ReplicationConfig,
    /// Largest N (the preference-list length).
    pub max_n: u32,
    /// Deadline of one replica call.
    pub rpc_timeout: Duration,
    /// Slots for work finished after answering the client.
    pub background: Arc<Semaphore>,
    /// Slots for replica calls from peers.
    pub replica_slots: Arc<Semaphore>,
    /// Activity counters.
    pub counters: ClusterCounters,
    /// Deadline of anti-entropy and handoff calls (and their store work).
    pub sync_timeout: Duration,
    /// Anti-entropy progress.
    pub aae: aae::stats::AaeStats,
    /// This node's membership-change progress, as published in gossip.
    pub published: parking_lot::Mutex<PeerState>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("self_id", &self.self_id)
            .field("epoch", &self.view.get().epoch())
            .finish()
    }
}

/// A node's cluster part once it has joined: the shared cluster state and
/// the driver of membership changes.
#[derive(Clone, Debug)]
pub struct Joined {
    /// The cluster state.
    pub cluster: Arc<Cluster>,
    /// The membership-change driver (partition handoff between layouts).
    pub transitions: Arc<transition::Transitions>,
}

/// The parts a [`Cluster`] is built from.
pub struct ClusterParts {
    /// This node's id.
    pub self_id: DeviceId,
    /// The local store.
    pub store: Arc<LocalStore>,
    /// Hints held for other nodes.
    pub hints: Arc<HintStore>,
    /// The initial layouts.
    pub view: topology::Topology,
    /// Which peers are up.
    pub liveness: Arc<Liveness>,
    /// Calls to peers.
    pub transport: Arc<dyn ReplicaTransport>,
    /// Request limits.
    pub limits: LimitsConfig,
    /// Replication defaults and bounds.
    pub replication: ReplicationConfig,
    /// Largest N (the preference-list length).
    pub max_n: u32,
    /// Deadline of one replica call.
    pub rpc_timeout: Duration,
    /// Deadline of anti-entropy and handoff calls.
    pub sync_timeout: Duration,
}

impl Cluster {
    /// Assembles the shared state.
    pub fn new(parts: ClusterParts) -> Arc<Self> {
        Arc::new(Self {
            background: Arc::new(Semaphore::new(parts.limits.max_background_tasks)),
            replica_slots: Arc::new(Semaphore::new(parts.limits.max_inflight_replica)),
            self_id: parts.self_id,
            store: parts.store,
            hints: parts.hints,
            view: SharedView::new(parts.view),
            liveness: parts.liveness,
            transport: parts.transport,
            limits: parts.limits,
            replication: parts.replication,
            max_n: parts.max_n,
            rpc_timeout: parts.rpc_timeout,
            sync_timeout: parts.sync_timeout,
            counters: ClusterCounters::default(),
            aae: aae::stats::AaeStats::default(),
            published: parking_lot::Mutex::new(PeerState::default()),
        })
    }

    /// What this node publishes in gossip now.
    pub fn own_state(&self) -> PeerState {
        let mut own = self.published.lock().clone();
        let hints = self.hints.stats();
        own.hint_backlog = hints.backlog;
        own.hints_for = hints.owners;
        own
    }
}
