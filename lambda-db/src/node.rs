//! Assembling and running a storage node: open the store, bind the
//! listener, serve until shutdown, then flush.
//!
//! [`start`] returns as soon as the node listens, with the bound address
//! (useful with port 0) and a handle to wait for the node to stop. The bound
//! address is also written to `<data_dir>/listen.addr` for scripts and tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::{KvService, LocalBackend};
use crate::config::NodeConfig;
use crate::keyspace::Keyspace;
use crate::server::{ServeError, serve};
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
    /// The store could not be opened.
    #[error("store: {0}")]
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
    /// Resolves when the node has stopped and flushed.
    pub task: JoinHandle<Result<(), NodeError>>,
}

/// Opens the store and starts serving; the node runs until `shutdown` fires.
pub async fn start(
    config: NodeConfig,
    shutdown: CancellationToken,
) -> Result<RunningNode, NodeError> {
    let keyspace = Keyspace::new(config.replication.partitions)
        .map_err(|e| NodeError::Config(e.to_string()))?;
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir).map_err(|source| NodeError::DataDir {
        path: data_dir.clone(),
        source,
    })?;
    let mut rocks = RocksOptions::new(data_dir.join("db"));
    rocks.sync_writes = config.storage.sync_writes;
    rocks.block_cache_bytes = config.storage.block_cache_mib << 20;
    let engine = Arc::new(RocksEngine::open(&rocks).map_err(crate::error::Error::from)?);
    let store = Arc::new(LocalStore::open(engine.clone(), keyspace)?);

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
    let addr_file = data_dir.join("listen.addr");
    std::fs::write(&addr_file, addr.to_string()).map_err(|source| NodeError::DataDir {
        path: addr_file,
        source,
    })?;
    tracing::info!(%addr, actor = %store.actor(), data_dir = %data_dir.display(), "storage node listening");

    let kv = KvService::new(
        Arc::new(LocalBackend::new(store.clone())),
        config.limits.clone(),
        config.replication.clone(),
    );
    let limits = config.limits.clone();
    let grace = std::time::Duration::from_millis(config.shutdown_grace_ms);
    let task = tokio::spawn(async move {
        let served = tokio::select! {
            r = serve(listener, kv, &limits, shutdown.clone()) => r,
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
    Ok(RunningNode { addr, store, task })
}
