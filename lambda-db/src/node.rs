//! Assembling and running a storage node: open the store, join the cluster
//! (when a membership is configured: gossip, hinted handoff, anti-entropy,
//! tombstone collection, membership changes), bind the listener, serve until
//! shutdown, then flush.
//!
//! [`start`] returns as soon as the node listens, with the bound address
//! (useful with port 0) and a handle to wait for the node to stop. The bound
//! address is also written to `<data_dir>/listen.addr` for scripts and tests.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{KvBackend, KvService, LocalBackend};
use crate::cluster::aae::worker::AaeWorker;
use crate::cluster::admin::AdminService;
use crate::cluster::coordinator::ClusterBackend;
use crate::cluster::gossip::{self, GossipSettings};
use crate::cluster::hinted_handoff::HandoffWorker;
use crate::cluster::hints::HintStore;
use crate::cluster::layouts;
use crate::cluster::liveness::Liveness;
use crate::cluster::membership::{FileMembership, MembershipSource, watch_file};
use crate::cluster::replica_service::ReplicaService;
use crate::cluster::tombstones::Reaper;
use crate::cluster::topology::Topology;
use crate::cluster::transition::Transitions;
use crate::cluster::transport::GrpcTransport;
use crate::cluster::view::ClusterView;
use crate::cluster::{Cluster, ClusterParts};
use crate::config::NodeConfig;
use crate::keyspace::Keyspace;
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
}

/// A node that is listening.
#[derive(Debug)]
pub struct RunningNode {
    /// The address the gRPC server is bound to.
    pub addr: SocketAddr,
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

/// The cluster state and the membership-change driver of a node.
struct Joined {
    cluster: Arc<Cluster>,
    transitions: Arc<Transitions>,
}

/// Builds the cluster state from the membership file (and the layouts the
/// node persisted, or its peers serve) and starts gossip, hinted handoff,
/// anti-entropy, tombstone collection and the membership-change driver.
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
    let c = &config.cluster;
    let rpc_timeout = Duration::from_millis(c.rpc_timeout_ms);
    let all = layouts::initial(
        &store,
        &members,
        &self_id,
        rpc_timeout.max(Duration::from_secs(2)),
    )
    .await?;
    let me = all
        .iter()
        .rev()
        .find_map(|l| l.get(&self_id))
        .cloned()
        .ok_or_else(|| {
            NodeError::Config(format!(
                "node_id {self_id} is not in the membership file {} nor in a layout this node serves",
                file.display()
            ))
        })?;
    let views = all
        .iter()
        .map(|l| ClusterView::new(l, &config.placement).map(Arc::new))
        .collect::<Result<Vec<_>, _>>()?;
    let topology = Topology::new(views);
    let sync_timeout = Duration::from_millis(config.aae.rpc_timeout_ms);
    let cluster = Cluster::new(ClusterParts {
        self_id: self_id.clone(),
        hints: Arc::new(HintStore::open(store.clone(), config.hints.max_backlog)?),
        store,
        view: topology,
        liveness: Arc::new(Liveness::new(
            self_id.clone(),
            Duration::from_millis(c.suspect_ms),
            Duration::from_millis(c.startup_grace_ms),
        )),
        transport: Arc::new(GrpcTransport::new(self_id, rpc_timeout, sync_timeout)),
        limits: config.limits.clone(),
        replication: config.replication.clone(),
        max_n: config.placement.replicas,
        rpc_timeout,
        sync_timeout,
    });
    let seeds: BTreeSet<SocketAddr> = all
        .iter()
        .flat_map(|l| l.members.iter())
        .filter(|m| m.id != me.id)
        .map(|m| m.gossip)
        .collect();
    let settings = GossipSettings {
        listen: me.gossip,
        seeds: seeds.into_iter().collect(),
        cluster_id: c.cluster_id.clone(),
        interval: Duration::from_millis(c.gossip_interval_ms),
        phi_threshold: c.phi_threshold,
    };
    let handle = gossip::start(cluster.clone(), settings, shutdown.clone()).await?;
    let token = shutdown.clone();
    tokio::spawn(async move {
        token.cancelled().await;
        let _ = handle.shutdown().await;
    });
    let transitions = spawn_workers(config, &cluster, &source, shutdown);
    Ok(Joined {
        cluster,
        transitions,
    })
}

/// Starts the background workers of a cluster node.
fn spawn_workers(
    config: &NodeConfig,
    cluster: &Arc<Cluster>,
    source: &Arc<FileMembership>,
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
    let transitions = Transitions::new(
        cluster.clone(),
        config.transition.clone(),
        config.placement.clone(),
        longest,
    );
    tokio::spawn(
        transitions
            .clone()
            .run(source.subscribe(), shutdown.clone()),
    );
    tokio::spawn(watch_file(
        source.clone(),
        Duration::from_millis(config.transition.membership_poll_ms.max(10)),
        shutdown.clone(),
    ));
    transitions
}

/// Opens the store and starts serving; the node runs until `shutdown` fires.
pub async fn start(
    config: NodeConfig,
    shutdown: CancellationToken,
) -> Result<RunningNode, NodeError> {
    let (engine, store) = open_store(&config)?;
    let joined = match config.cluster.membership_file {
        Some(_) => Some(join_cluster(&config, store.clone(), &shutdown).await?),
        None => None,
    };
    let cluster = joined.as_ref().map(|j| j.cluster.clone());
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
    tracing::info!(%addr, node = %config.node_id, actor = %store.actor(), clustered = cluster.is_some(),
        data_dir = %config.data_dir.display(), "storage node listening");

    let backend: Arc<dyn KvBackend> = match &cluster {
        Some(c) => Arc::new(ClusterBackend(c.clone())),
        None => Arc::new(LocalBackend::new(store.clone())),
    };
    let kv = KvService::new(
        backend,
        config.limits.clone(),
        config.replication.clone(),
        config.placement.replicas,
    );
    let mut admin = AdminService::new(
        config.node_id.clone(),
        store.clone(),
        cluster.clone(),
        kv.gate(),
        config.replication.n,
    );
    if let Some(j) = &joined {
        admin = admin.with_workers(j.transitions.clone(), config.aae.enabled);
    }
    let services = Services {
        kv,
        admin,
        replica: cluster.clone().map(ReplicaService::new),
    };
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
        store,
        cluster,
        task,
    })
}
