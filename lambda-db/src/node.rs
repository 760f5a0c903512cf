//! Assembling and running a storage node: open the store, join the cluster
//! (when a membership is configured, from a file or from the chain: gossip,
//! hinted handoff, anti-entropy, tombstone collection, membership changes),
//! bind the listener, serve until shutdown, then flush.
//!
//! [`start`] returns as soon as the node listens, with the bound address
//! (useful with port 0) and a handle to wait for the node to stop. The bound
//! address is also written to `<data_dir>/listen.addr` for scripts and tests,
//! and the admin HTTP port's (metrics, health; see [`crate::ops`]) to
//! `<data_dir>/admin.addr`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{KvBackend, KvService, LocalBackend};
use crate::billing::{self, Biller, BillingService};
use crate::chain::auth::PeerSigner;
use crate::chain::gossip_auth::GossipAuth;
use crate::chain::join::ChainMode;
use crate::cluster::aae::worker::AaeWorker;
use crate::cluster::admin::AdminService;
use crate::cluster::coordinator::ClusterBackend;
use crate::cluster::gossip::{self, GossipSettings};
use crate::cluster::hinted_handoff::HandoffWorker;
use crate::cluster::hints::HintStore;
use crate::cluster::layouts;
use crate::cluster::liveness::Liveness;
use crate::cluster::membership::{EpochMembers, FileMembership, MembershipSource, watch_file};
use crate::cluster::replica_service::ReplicaService;
use crate::cluster::tombstones::Reaper;
use crate::cluster::topology::Topology;
use crate::cluster::transition::Transitions;
use crate::cluster::transport::GrpcTransport;
use crate::cluster::view::ClusterView;
use crate::cluster::{Cluster, ClusterParts, Joined};
use crate::config::NodeConfig;
use crate::keyspace::Keyspace;
use crate::pdp_source::PdpSource;
use crate::placement::DeviceId;
use crate::server::{ServeError, Services, serve};
use crate::storage::{Engine, RocksEngine, RocksOptions};
use crate::store::LocalStore;

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// The data directory could not be created or written.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The store or the cluster could not be set up.
    #[error("{0}")]
    Store(#[from] crate::error::Error),
    /// The server failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// Chain mode: the node key or the chain link failed.
    #[error(transparent)]
    Chain(#[from] crate::chain::ChainLinkError),
    /// Billing could not start (its ledger or the chain link).
    #[error("billing: {0}")]
    Billing(String),
}

/// A node that is listening.
#[derive(Debug)]
pub struct RunningNode {
    /// The address the gRPC server is bound to.
    pub addr: SocketAddr,
    /// The address the admin HTTP port (`/metrics`, `/health`) is bound to.
    pub admin_addr: SocketAddr,
    /// The node's local store.
    pub store: Arc<LocalStore>,
    /// The cluster state (None for a standalone node).
    pub cluster: Option<Arc<Cluster>>,
    /// Resolves when the node has stopped and flushed.
    pub task: JoinHandle<Result<(), NodeError>>,
}

fn open_store(config: &NodeConfig) -> Result<(Arc<RocksEngine>, Arc<LocalStore>), NodeError> {
    if config.replication.n > config.placement.replicas {
        return Err(NodeError::Config(format!(
            "replication.n = {} exceeds placement.replicas = {}",
            config.replication.n, config.placement.replicas
        )));
    }
    let keyspace =
        Keyspace::new(config.placement.partitions).map_err(|e| NodeError::Config(e.to_string()))?;
    let data_dir = &config.data_dir;
    std::fs::create_dir_all(data_dir).map_err(|source| NodeError::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    let mut rocks = RocksOptions::new(data_dir.join("db"));
    rocks.sync_writes = config.storage.sync_writes;
    rocks.block_cache_bytes = config.storage.block_cache_mib << 20;
    let engine = Arc::new(RocksEngine::open(&rocks).map_err(crate::error::Error::from)?);
    let store = Arc::new(LocalStore::open(engine.clone(), keyspace)?);
    Ok((engine, store))
}

/// Builds the cluster state from the membership file (and the layouts the
/// node persisted, or its peers serve), starts the cluster workers, and
/// watches the file for membership changes.
async fn join_cluster(
    config: &NodeConfig,
    store: Arc<LocalStore>,
    shutdown: &CancellationToken,
) -> Result<Joined, NodeError> {
    let Some(file) = &config.cluster.membership_file else {
        return Err(NodeError::Config("no membership file".into()));
    };
    let source = Arc::new(FileMembership::load(file)?);
    let members = source.current();
    let self_id = DeviceId(config.node_id.clone());
    let joined = build_cluster(config, store, &members, self_id, None, shutdown)
        .await
        .map_err(|e| match e {
            NodeError::Config(m) => {
                NodeError::Config(format!("{m} (membership file {})", file.display()))
            }
            other => other,
        })?;
    tokio::spawn(
        joined
            .transitions
            .clone()
            .run(source.subscribe(), shutdown.clone()),
    );
    tokio::spawn(watch_file(
        source.clone(),
        Duration::from_millis(config.transition.membership_poll_ms.max(10)),
        shutdown.clone(),
    ));
    Ok(joined)
}

/// Builds the cluster state of node `self_id` from `members` (or the
/// layouts it persisted, or its peers serve) and starts gossip, hinted
/// handoff, anti-entropy and tombstone collection. The caller feeds later
/// memberships to the returned [`Transitions`]. In chain mode, `auth` signs
/// peer calls and gossip datagrams.
pub(crate) async fn build_cluster(
    config: &NodeConfig,
    store: Arc<LocalStore>,
    members: &EpochMembers,
    self_id: DeviceId,
    auth: Option<(Arc<PeerSigner>, GossipAuth)>,
    shutdown: &CancellationToken,
) -> Result<Joined, NodeError> {
    let c = &config.cluster;
    let rpc_timeout = Duration::from_millis(c.rpc_timeout_ms);
    let ask_timeout = rpc_timeout.max(Duration::from_secs(2));
    let all = layouts::initial(&store, members, &self_id, ask_timeout).await?;
    let me = all
        .iter()
        .rev()
        .find_map(|l| l.get(&self_id))
        .cloned()
        .ok_or_else(|| {
            NodeError::Config(format!(
                "{self_id} is not a member of epoch {} nor of a layout this node serves",
                members.epoch
            ))
        })?;
    let views = all
        .iter()
        .map(|l| ClusterView::new(l, &config.placement).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let sync_timeout = Duration::from_millis(config.aae.rpc_timeout_ms);
    let mut transport = GrpcTransport::new(self_id.clone(), rpc_timeout, sync_timeout);
    if let Some((signer, _)) = &auth {
        transport = transport.with_signer(signer.clone());
    }
    let cluster = Cluster::new(ClusterParts {
        self_id: self_id.clone(),
        hints: Arc::new(HintStore::open(store.clone(), config.hints.max_backlog)?),
        store,
        view: Topology::new(views),
        liveness: Arc::new(Liveness::new(
            self_id,
            Duration::from_millis(c.suspect_ms),
            Duration::from_millis(c.startup_grace_ms),
        )),
        transport: Arc::new(transport),
        limits: config.limits.clone(),
        replication: config.replication.clone(),
        max_n: config.placement.replicas,
        rpc_timeout,
        sync_timeout,
    });
    let seeds: BTreeSet<SocketAddr> = all
        .iter()
        .flat_map(|l| l.members.iter())
        .filter(|m| m.id != me.id && !m.gossip.ip().is_unspecified())
        .map(|m| m.gossip)
        .collect();
    let settings = GossipSettings {
        listen: me.gossip,
        seeds: seeds.into_iter().collect(),
        cluster_id: c.cluster_id.clone(),
        interval: Duration::from_millis(c.gossip_interval_ms),
        phi_threshold: c.phi_threshold,
        auth: auth.map(|(_, a)| a),
    };
    let handle = gossip::start(cluster.clone(), settings, shutdown.clone()).await?;
    let token = shutdown.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        let _ = handle.shutdown().await;
    });
    let transitions = spawn_workers(config, &cluster, shutdown);
    Ok(Joined {
        cluster,
        transitions,
    })
}

/// Starts the background workers of a cluster node (hinted handoff,
/// anti-entropy, tombstone collection) and makes its membership-change
/// driver, which the caller runs on its membership source.
fn spawn_workers(
    config: &NodeConfig,
    cluster: &Arc<Cluster>,
    shutdown: &CancellationToken,
) -> Arc<Transitions> {
    let handoff = HandoffWorker::new(
        cluster.clone(),
        Duration::from_millis(config.hints.scan_interval_ms),
        config.hints.delivery_per_sec,
    );
    tokio::spawn(handoff.run(shutdown.clone()));
    tokio::spawn(AaeWorker::new(cluster.clone(), config.aae.clone()).run(shutdown.clone()));
    let longest = Duration::from_millis(u64::from(config.replication.max_timeout_ms));
    tokio::spawn(
        Reaper::new(cluster.clone(), config.tombstones.clone(), longest).run(shutdown.clone()),
    );
    Transitions::new(
        cluster.clone(),
        config.transition.clone(),
        config.placement.clone(),
        longest,
    )
}

/// Chain mode: loads the node key, links to the chain and starts billing.
fn start_billing(
    config: &NodeConfig,
    chain: &ChainMode,
    engine: Arc<dyn crate::storage::Engine>,
    shutdown: &CancellationToken,
) -> Result<Arc<Biller>, NodeError> {
    tracing::info!(node = %chain.identity.address(), chain = chain.link.chain_id(), "billing client requests on chain");
    billing::start(
        &config.billing,
        chain.link.clone(),
        &chain.identity,
        engine,
        config.limits.max_request_bytes,
        shutdown.clone(),
    )
    .map_err(|e| NodeError::Billing(e.to_string()))
}

/// Opens the store and starts serving; the node runs until `shutdown` fires.
pub async fn start(
    config: NodeConfig,
    shutdown: CancellationToken,
) -> Result<RunningNode, NodeError> {
    let (engine, store) = open_store(&config)?;
    let chain = match config.chain.enabled() {
        true => Some(Arc::new(ChainMode::connect(&config, &shutdown).await?)),
        false => None,
    };
    let biller = match &chain {
        Some(c) => Some(start_billing(&config, c, engine.clone(), &shutdown)?),
        None => None,
    };
    let joined = match (&chain, &config.cluster.membership_file) {
        (None, Some(_)) => Some(join_cluster(&config, store.clone(), &shutdown).await?),
        _ => None,
    };
    let cluster = joined.as_ref().map(|j| j.cluster.clone());
    let node_id = chain
        .as_ref()
        .map_or_else(|| config.node_id.clone(), |c| c.node_id().0);
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| NodeError::Bind {
        addr: config.listen,
        source,
    })?;
    let addr_file = config.data_dir.join("listen.addr");
    std::fs::write(&addr_file, addr.to_string()).map_err(|source| NodeError::DataDir {
        path: addr_file,
        source,
    })?;
    tracing::info!(%addr, node = %node_id, actor = %store.actor(), clustered = cluster.is_some(), chain = chain.is_some(),
        data_dir = %config.data_dir.display(), "storage node listening");

    let backend: Arc<dyn KvBackend> = match (&chain, &cluster) {
        (Some(chain), _) => chain.backend(),
        (None, Some(c)) => Arc::new(ClusterBackend(c.clone())),
        (None, None) => Arc::new(LocalBackend::new(store.clone())),
    };
    let mut kv = KvService::new(
        backend,
        config.limits.clone(),
        config.replication.clone(),
        config.placement.replicas,
    );
    if let Some(b) = &biller {
        kv = kv.with_guard(b.clone());
    }
    let joined_slot = match &chain {
        Some(c) => c.joined_slot(),
        None => {
            let slot = std::sync::OnceLock::new();
            if let Some(j) = joined {
                let _ = slot.set(j);
            }
            Arc::new(slot)
        }
    };
    let ops_sources = crate::ops::OpsSources {
        node_id: node_id.clone(),
        mode: match (&chain, &cluster) {
            (Some(_), _) => crate::ops::Mode::Chain,
            (None, Some(_)) => crate::ops::Mode::Cluster,
            (None, None) => crate::ops::Mode::Standalone,
        },
        store: store.clone(),
        engine: engine.clone(),
        joined: joined_slot.clone(),
        gate: kv.gate(),
        requests: kv.metrics(),
        replication: config.replication.clone(),
        chain: chain.clone(),
    };
    let admin_addr = crate::ops::start(
        config.admin.listen,
        &config.data_dir,
        ops_sources,
        &shutdown,
    )
    .await?;
    let admin = AdminService::new(
        node_id,
        store.clone(),
        joined_slot,
        kv.gate(),
        config.replication.n,
        config.aae.enabled,
    );
    let services = Services {
        kv,
        admin,
        replica: cluster.clone().map(ReplicaService::new),
        gated_replica: chain.as_ref().map(|c| c.replica_gate()),
        billing: biller.map(BillingService::new),

        prover: lambda_pdp::ProverService::new(Arc::new(PdpSource::new(store.clone()))),
    };
    if let Some(chain) = chain {
        chain.spawn_join(config.clone(), store.clone(), shutdown.clone());
    }
    let limits = config.limits.clone();
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let task = tokio::spawn(async move {
        let served = tokio::select! {
            r = serve(listener, services, &limits, shutdown.clone()) => r,
            () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_ms = grace.as_millis() as u64, "in-flight requests did not finish in time; stopping anyway");
                Ok(())
            }
        };
        tracing::info!("server stopped; flushing storage");
        if let Err(e) = engine.flush() {
            tracing::error!(error = %e, "flush at shutdown failed");
        }
        served.map_err(NodeError::from)
    });
    Ok(RunningNode {
        addr,
        admin_addr,
        store,
        cluster,
        task,
    })
}
