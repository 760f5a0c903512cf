//! A storage node in chain mode: its node key is its id, the chain's
//! epochs are its membership, peer traffic is signed and checked.
//!
//! The node listens at once (health, admin, KV), but until the epoch in
//! force includes it, KV requests get UNAVAILABLE "not a member of epoch E"
//! and peer calls UNAVAILABLE too. When the first epoch that includes it
//! begins, it assembles its cluster part (gossip with signed identities,
//! the replica service behind [`PeerGate`], hinted handoff, offline
//! reports) and from then on installs the view of each new epoch. A node
//! that leaves the membership (unpledged, or voted offline) refuses KV
//! requests again; peers stop accepting its calls one epoch later.
//!
//! Each epoch whose members differ from the last one installed (ids,
//! endpoints, weights, zones) goes to the membership-change driver
//! ([`crate::cluster::transition`]): reads and writes use the old and new
//! layouts jointly while new owners pull their partitions, then the node
//! switches and old owners drop what they no longer hold. Epochs that
//! change nothing in the ring, and epochs without members, are skipped.

use std::sync::{Arc, OnceLock};

use lambda_proto::node::v1::replica_server::ReplicaServer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::auth::{PeerGate, PeerSigner, PeerVerifier};
use super::gossip_auth::GossipAuth;
use super::membership::ChainMembership;
use super::offline::OfflineReporter;
use super::{ChainLink, ChainLinkError, NodeIdentity, load_or_create_identity};
use crate::api::KvBackend;
use crate::cluster::Joined;
use crate::cluster::coordinator::ClusterBackend;
use crate::cluster::membership::{EpochMembers, MembershipSource};
use crate::cluster::replica_service::ReplicaService;
use crate::config::NodeConfig;
use crate::error::{Error, Result};
use crate::node::{NodeError, build_cluster};
use crate::placement::DeviceId;
use crate::request::RequestOptions;
use crate::store::LocalStore;
use crate::version::{Update, VersionedObject};

/// The gated replica service of a chain-mode node.
pub type GatedReplica = PeerGate<ReplicaServer<ReplicaService>>;

/// What a chain-mode node holds besides its store.
#[derive(Debug)]
pub struct ChainMode {
    /// The link to the chain.
    pub link: ChainLink,
    /// The node key.
    pub identity: NodeIdentity,
    /// The membership source.
    pub membership: Arc<ChainMembership>,
    /// Signs outgoing peer calls.
    pub signer: Arc<PeerSigner>,
    /// Checks incoming peer calls.
    pub verifier: Arc<PeerVerifier>,
    joined: Arc<OnceLock<Joined>>,
    replica: Arc<OnceLock<ReplicaServer<ReplicaService>>>,
    gate: GatedReplica,
}

impl ChainMode {
    /// Loads the node key, connects to the chain and fetches the membership.
    pub async fn connect(
        config: &NodeConfig,
        shutdown: &CancellationToken,
    ) -> Result<Self, ChainLinkError> {
        let key_file = config
            .chain
            .node_key_file
            .clone()
            .unwrap_or_else(|| config.data_dir.join("node.key"));
        let identity = load_or_create_identity(&key_file)?;
        let link = ChainLink::connect(&config.chain, shutdown.clone()).await?;
        let membership = ChainMembership::start(&link, shutdown.clone()).await?;
        let signer = Arc::new(PeerSigner::new(identity.key().clone()));
        let verifier = Arc::new(PeerVerifier::new(identity.device_id(), membership.keys()));
        let (gate, replica) = PeerGate::new(verifier.clone());
        tracing::info!(node = %identity.device_id(), chain = link.chain_id(), epoch = link.epoch(),
            member = membership.current().get(&identity.device_id()).is_some(), "chain mode");
        Ok(Self {
            link,
            identity,
            membership,
            signer,
            verifier,
            joined: Arc::new(OnceLock::new()),
            replica,
            gate,
        })
    }

    /// The node id (its key's address).
    pub fn node_id(&self) -> DeviceId {
        self.identity.device_id()
    }

    /// The KV backend: refuses until this node is a member of the epoch in
    /// force, then coordinates through the cluster.
    pub fn backend(&self) -> Arc<dyn KvBackend> {
        Arc::new(MemberBackend {
            me: self.node_id(),
            members: self.membership.subscribe(),
            joined: self.joined.clone(),
        })
    }

    /// The replica service behind peer authentication.
    pub fn replica_gate(&self) -> GatedReplica {
        self.gate.clone()
    }

    /// The cluster part, once joined.
    pub fn joined(&self) -> Option<Joined> {
        self.joined.get().cloned()
    }

    /// Where the cluster part appears once the node has joined (for the
    /// admin service).
    pub fn joined_slot(&self) -> Arc<OnceLock<Joined>> {
        self.joined.clone()
    }

    /// Waits (until `shutdown`) for the first epoch that includes this
    /// node, then assembles its cluster part and follows later epochs.
    pub fn spawn_join(
        self: Arc<Self>,
        config: NodeConfig,
        store: Arc<LocalStore>,
        shutdown: CancellationToken,
    ) {
        tokio::spawn(async move {
            let Some(members) = self.wait_for_membership(&shutdown).await else {
                return;
            };
            match self.join(&config, store, &members, &shutdown).await {
                Ok(joined) => {
                    // The newest layout the cluster serves (a restarted node
                    // starts from the layouts it persisted).
                    let built = joined
                        .cluster
                        .view
                        .get()
                        .memberships()
                        .pop()
                        .map_or(members, Arc::new);
                    let changes =
                        ring_changes(self.membership.subscribe(), built, shutdown.clone());
                    tokio::spawn(joined.transitions.run(changes, shutdown.clone()));
                    let reporter = OfflineReporter::new(
                        joined.cluster,
                        self.link.clone(),
                        self.identity.clone(),
                        self.membership.clone(),
                        config.chain.offline_report_after_ms,
                        config.chain.tx_fee,
                    );
                    tokio::spawn(reporter.run(shutdown));
                }
                Err(e) => {
                    tracing::error!(error = %e, "joining the cluster failed; stopping the node");
                    shutdown.cancel();
                }
            }
        });
    }

    async fn wait_for_membership(&self, shutdown: &CancellationToken) -> Option<Arc<EpochMembers>> {
        let me = self.node_id();
        let mut rx = self.membership.subscribe();
        loop {
            let members = rx.borrow_and_update().clone();
            if members.get(&me).is_some() {
                tracing::info!(node = %me, epoch = members.epoch, "a member of the epoch in force; joining");
                return Some(members);
            }
            tracing::info!(node = %me, epoch = members.epoch, "not a member of the epoch in force; waiting");
            tokio::select! {
                () = shutdown.cancelled() => return None,
                r = rx.changed() => if r.is_err() { return None },
            }
        }
    }

    async fn join(
        &self,
        config: &NodeConfig,
        store: Arc<LocalStore>,
        members: &EpochMembers,
        shutdown: &CancellationToken,
    ) -> Result<Joined, NodeError> {
        let gossip = GossipAuth::new(self.signer.clone(), self.membership.keys());
        let joined = build_cluster(
            config,
            store,
            members,
            self.node_id(),
            Some((self.signer.clone(), gossip)),
            shutdown,
        )
        .await?;
        let limit = config.limits.max_request_bytes;
        let server = ReplicaServer::new(ReplicaService::new(joined.cluster.clone()))
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let _ = self.replica.set(server);
        let _ = self.joined.set(joined.clone());
        Ok(joined)
    }
}

/// The memberships of `rx` that change the ring: each differs from the
/// last one forwarded in its members (epochs that only renumber the same
/// members, and epochs without members, are skipped), starting from
/// `built_from`, the membership the cluster was built from.
pub fn ring_changes(
    mut rx: watch::Receiver<Arc<EpochMembers>>,
    built_from: Arc<EpochMembers>,
    shutdown: CancellationToken,
) -> watch::Receiver<Arc<EpochMembers>> {
    let (tx, out) = watch::channel(built_from.clone());
    tokio::spawn(async move {
        let mut last = built_from;
        loop {
            let members = rx.borrow_and_update().clone();
            if changes_ring(&last, &members) {
                tracing::info!(
                    epoch = members.epoch,
                    members = members.members.len(),
                    "the epoch changes the ring; starting a membership change"
                );
                last = members.clone();
                if tx.send(members).is_err() {
                    return;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                r = rx.changed() => if r.is_err() { return },
            }
        }
    });
    out
}

/// Whether `next` is a ring change after `last`: a later, non-empty epoch
/// with other members.
fn changes_ring(last: &EpochMembers, next: &EpochMembers) -> bool {
    if next.epoch <= last.epoch {
        return false;
    }
    if next.members.is_empty() {
        tracing::warn!(
            epoch = next.epoch,
            "epoch without members; keeping the last layout"
        );
        return false;
    }
    next.members != last.members
}

/// The KV backend of a chain-mode node.
struct MemberBackend {
    me: DeviceId,
    members: watch::Receiver<Arc<EpochMembers>>,
    joined: Arc<OnceLock<Joined>>,
}

impl MemberBackend {
    fn serving(&self) -> Result<ClusterBackend> {
        let members = self.members.borrow();
        let refuse = || Error::NotInEpoch {
            node: self.me.0.clone(),
            epoch: members.epoch,
        };
        if members.get(&self.me).is_none() {
            return Err(refuse());
        }
        self.joined
            .get()
            .map(|j| ClusterBackend(j.cluster.clone()))
            .ok_or_else(refuse)
    }
}

#[tonic::async_trait]
impl KvBackend for MemberBackend {
    async fn get(&self, key: Vec<u8>, opts: RequestOptions) -> Result<VersionedObject> {
        let backend = self.serving()?;
        backend.get(key, opts).await
    }

    async fn write(
        &self,
        key: Vec<u8>,
        update: Update,
        opts: RequestOptions,
    ) -> Result<VersionedObject> {
        let backend = self.serving()?;
        backend.write(key, update, opts).await
    }
}
