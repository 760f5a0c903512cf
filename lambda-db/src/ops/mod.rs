//! Operations: the storage node's admin HTTP port
//! (`lambda_common::admin_http`), beside its gRPC port.
//!
//! - [`metrics`]: `/metrics`, sampled at scrape time from the counters the
//!   node keeps anyway (cluster counters, hint store, anti-entropy stats,
//!   the membership-change driver, the admission gate, RocksDB properties,
//!   the chain tip), plus the KV service's own request counters and latency
//!   histograms ([`crate::api::RequestMetrics`]).
//! - [`health`]: `/health`, ready when the node can serve: its store takes
//!   writes, in a cluster a read and write quorum of every partition it
//!   replicates is live, in chain mode it is a member of the epoch in force.
//!
//! [`start`] binds the port (`[admin] listen`, port 0 by default), writes
//! the bound address to `<data_dir>/admin.addr`, and serves until shutdown.

pub mod health;
pub mod metrics;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use lambda_common::admin_http;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::api::{RequestGate, RequestMetrics};
use crate::chain::join::ChainMode;
use crate::cluster::Joined;
use crate::config::ReplicationConfig;
use crate::node::NodeError;
use crate::storage::RocksEngine;
use crate::store::LocalStore;

/// How the node runs, for metrics and health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// No membership: the node holds every key.
    Standalone,
    /// A member of a cluster from a membership file.
    Cluster,
    /// Membership, billing and audits from the chain.
    Chain,
}

impl Mode {
    /// The `mode` label value.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Cluster => "cluster",
            Mode::Chain => "chain",
        }
    }
}

/// What the admin port reads from the running node.
pub struct OpsSources {
    /// The node id as configured (standalone, cluster) or the node key's
    /// address (chain mode).
    pub node_id: String,
    /// How the node runs.
    pub mode: Mode,
    /// The local store.
    pub store: Arc<LocalStore>,
    /// The RocksDB engine under it (for its properties).
    pub engine: Arc<RocksEngine>,
    /// The cluster part, once the node has one.
    pub joined: Arc<OnceLock<Joined>>,
    /// The KV service's admission gate.
    pub gate: Arc<RequestGate>,
    /// The KV service's request metrics.
    pub requests: RequestMetrics,
    /// Replication defaults (the N, R, W the health check uses).
    pub replication: ReplicationConfig,
    /// The chain link, in chain mode.
    pub chain: Option<Arc<ChainMode>>,
}

impl std::fmt::Debug for OpsSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsSources")
            .field("node_id", &self.node_id)
            .field("mode", &self.mode)
            .finish()
    }
}

/// The registry of `/metrics`: the request metrics and the scrape-time
/// collector, under the `lambda_db` prefix.
pub fn registry(sources: &Arc<OpsSources>) -> Registry {
    let mut registry = Registry::default();
    let sub = registry.sub_registry_with_prefix("lambda_db");
    sources.requests.register(sub, sources.mode == Mode::Chain);
    sub.register_collector(Box::new(metrics::NodeCollector::new(sources.clone())));
    registry
}

/// Binds the admin port on `listen`, writes its address to
/// `<data_dir>/admin.addr`, and serves `/metrics`, `/health` and `/live`
/// until `shutdown`. Returns the bound address.
pub async fn start(
    listen: SocketAddr,
    data_dir: &Path,
    sources: OpsSources,
    shutdown: &CancellationToken,
) -> Result<SocketAddr, NodeError> {
    let bind_err = |source| NodeError::Bind {
        addr: listen,
        source,
    };
    let listener = admin_http::bind(listen).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let addr_file = data_dir.join("admin.addr");
    std::fs::write(&addr_file, addr.to_string()).map_err(|source| NodeError::DataDir {
        path: addr_file,
        source,
    })?;
    let sources = Arc::new(sources);
    let registry = Arc::new(registry(&sources));
    let check = health::check(sources);
    let router = admin_http::router(registry, check, axum::Router::new());
    let token = shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = admin_http::serve(listener, router, token).await {
            tracing::error!(error = %e, "admin HTTP server failed");
        }
    });
    tracing::info!(%addr, "admin HTTP port (/metrics, /health) listening");
    Ok(addr)
}
