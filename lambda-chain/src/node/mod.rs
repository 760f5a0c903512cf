//! The validator daemon: the chain state machine, the mempool and the
//! consensus runner glued together, with the public API beside them.
//!
//! - [`config`]: the configuration (`<home>/config.toml`, env overrides).
//! - `core`: what the parts share (state, mempool, key, latest height).
//! - `app`: the [`Application`](crate::consensus::app::Application)
//!   consensus drives (propose from the mempool, validate, commit).
//! - `gossip`: mempool gossip to and from the other validators.
//! - `fisherman`: detected double signs become slashing transactions.
//! - `metrics`: `/metrics` and `/health` on the admin HTTP port.
//! - `dashboard`: the web dashboard on the same port (`/`, `/api/…`).
//! - `offline_voter`: offline reports from enough members become this
//!   validator's offline verdict.

//! - [`auditor`], `audit_task`: PDP audit rounds (who audits what, with
//!   which challenge; challenging, verifying, recording the results).
//! - [`home`]: `init` and `testnet`: keys, configurations and genesis files.
//!
//! [`start`] opens the state (RocksDB under the data directory), starts
//! consensus (which replays its write-ahead log and catches up through block
//! sync) with the mempool gossip on the validator port, and serves the API;
//! it returns once both ports listen. The node runs until the shutdown token
//! fires (SIGINT/SIGTERM in the daemon): then both servers stop accepting,
//! in-flight work finishes (within `shutdown_grace`), the state is flushed
//! and [`RunningNode::task`] resolves.

mod app;
mod audit_task;
pub mod auditor;
pub mod config;
pub(crate) mod core;
mod dashboard;
mod fisherman;
mod gossip;
pub mod home;
mod metrics;
mod offline_voter;
mod supervisor;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lambda_common::keys::{Address, KeyError, SigningKey};
use lambda_proto::chain::v1::mempool_service_server::MempoolServiceServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use self::app::ChainApp;
use self::config::NodeConfig;
use self::core::NodeCore;
use self::gossip::{Gossip, GossipServer};
use crate::api::{self, ChainApi};
use crate::consensus::runner::{Runner, RunnerError};
use crate::error::ChainError;
use crate::genesis::{Genesis, GenesisError};
use crate::mempool::Mempool;
use crate::state::{ChainState, StateOptions};

/// Why a validator could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// The key file is unusable.
    #[error("validator key: {0}")]
    Key(#[from] KeyError),
    /// The genesis file is unusable.
    #[error(transparent)]
    Genesis(#[from] GenesisError),
    /// The state could not be opened.
    #[error("chain state: {0}")]
    State(#[from] ChainError),
    /// A directory could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The API address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// Consensus failed.
    #[error("consensus: {0}")]
    Consensus(#[from] RunnerError),
    /// The API server failed.
    #[error("API server: {0}")]
    Api(#[from] api::ServeError),
    /// A task panicked.
    #[error("task failed: {0}")]
    Task(String),
}

/// A validator that listens.
#[derive(Debug)]
pub struct RunningNode {
    /// The bound API address.
    pub api_addr: SocketAddr,
    /// The bound validator (consensus and gossip) address.
    pub p2p_addr: SocketAddr,
    /// The bound admin HTTP address (`/metrics`, `/health`, the dashboard).
    pub admin_addr: SocketAddr,
    /// The validator's address.
    pub validator: Address,
    /// Resolves when the node has stopped and flushed.
    pub task: JoinHandle<Result<(), NodeError>>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> NodeError + '_ {
    move |source| NodeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens the state and the key, starts consensus and the API; runs until
/// `shutdown` fires. `cfg` paths must be absolute (see
/// [`NodeConfig::load`]).
pub async fn start(cfg: NodeConfig, shutdown: CancellationToken) -> Result<RunningNode, NodeError> {
    let (key, core) = open(&cfg, &shutdown).await?;
    let bind_err = |source| NodeError::Bind {
        addr: cfg.api.listen,
        source,
    };
    let api_listener = TcpListener::bind(cfg.api.listen).await.map_err(bind_err)?;
    let api_addr = api_listener.local_addr().map_err(bind_err)?;
    let max = cfg.consensus.network.max_message_bytes;
    let routes = Routes::new(
        MempoolServiceServer::new(GossipServer::new(core.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max),
    );
    let app = Arc::new(ChainApp::new(core.clone()));
    let runner =
        Runner::start_with_routes(cfg.consensus.clone(), app, key, routes, shutdown.clone())
            .await?;
    let p2p_addr = runner.addr;
    let admin_addr = start_admin(&cfg, &core, &shutdown).await?;
    for (name, addr) in [
        ("api.addr", api_addr),
        ("p2p.addr", p2p_addr),
        ("admin.addr", admin_addr),
    ] {
        let path = cfg.data_dir.join(name);
        std::fs::write(&path, addr.to_string()).map_err(io_err(&path))?;
    }
    let api = ChainApi::new(core.clone(), &cfg.api, shutdown.clone());
    let api_task = tokio::spawn(api::serve(
        api_listener,
        api,
        cfg.api.max_message_bytes,
        shutdown.clone(),
    ));
    if cfg.audit.enabled {
        tokio::spawn(audit_task::run(
            core.clone(),
            cfg.audit.clone(),
            shutdown.clone(),
        ));
    }
    let validator = core.address;
    tracing::info!(%api_addr, %p2p_addr, %admin_addr, %validator, height = core.state.read().latest_height(), "validator started");
    let task = tokio::spawn(supervisor::run(cfg, core, runner, api_task, shutdown));
    Ok(RunningNode {
        api_addr,
        p2p_addr,
        admin_addr,
        validator,
        task,
    })
}

/// Binds the admin HTTP port and serves metrics, health and the dashboard
/// until shutdown.
async fn start_admin(
    cfg: &NodeConfig,
    core: &Arc<NodeCore>,
    shutdown: &CancellationToken,
) -> Result<SocketAddr, NodeError> {
    use lambda_common::admin_http;
    let bind_err = |source| NodeError::Bind {
        addr: cfg.admin.listen,
        source,
    };
    let listener = admin_http::bind(cfg.admin.listen).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    let mut registry = prometheus_client::registry::Registry::default();
    let m = metrics::ChainMetrics::register(&mut registry);
    let health = m.health(core.clone(), cfg.admin.stall_after);
    tokio::spawn(metrics::follow(core.clone(), m, shutdown.clone()));
    let settings = dashboard::Settings {
        placement: cfg.audit.placement.clone(),
        block_time: cfg.consensus.engine.timeouts.block_time,
    };
    let dashboard = dashboard::routes(core.clone(), settings, shutdown);
    let router = admin_http::router(Arc::new(registry), health, dashboard);
    let token = shutdown.clone();
    tokio::spawn(async move {
        if let Err(e) = admin_http::serve(listener, router, token).await {
            tracing::error!(error = %e, "admin HTTP server failed");
        }
    });
    Ok(addr)
}

/// Loads the key and the genesis, opens the state and builds the core.
async fn open(
    cfg: &NodeConfig,
    shutdown: &CancellationToken,
) -> Result<(SigningKey, Arc<NodeCore>), NodeError> {
    let key = SigningKey::load(&cfg.key_file)?;
    let genesis = Genesis::load(&cfg.genesis_file)?;
    if cfg.consensus.engine.chain_id != genesis.chain_id {
        return Err(NodeError::Config(format!(
            "consensus.engine.chain_id {:?} differs from the genesis chain id {:?}",
            cfg.consensus.engine.chain_id, genesis.chain_id
        )));
    }
    std::fs::create_dir_all(&cfg.data_dir).map_err(io_err(&cfg.data_dir))?;
    let state_dir = cfg.data_dir.join("state");
    let opts = StateOptions {
        sync_writes: cfg.sync_writes,
    };
    let state =
        tokio::task::spawn_blocking(move || ChainState::open_with(&state_dir, &genesis, opts))
            .await
            .map_err(|e| NodeError::Task(e.to_string()))??;
    let gossip = Gossip::start(&cfg.consensus.network, &cfg.mempool, shutdown);
    let core = Arc::new(NodeCore::new(
        state,
        Mempool::new(cfg.mempool.pool()),
        key.clone(),
        gossip,
        cfg.mempool.max_block_txs,
    ));
    Ok((key, core))
}
