//! The storage node's link to the Lambda chain: its node key, a client of
//! the validators' public API with fail-over, and a follower that tracks
//! the committed tip (height, epoch) by subscribing to blocks.
//!
//! Everything the node does with the chain builds on this: membership from
//! epochs, offline reports, usage settlement, PDP answers. Chain mode is on
//! when `[chain] endpoints` is set; a node without it runs from its static
//! membership file and never talks to a chain.

pub mod auth;
mod follower;
pub mod gossip_auth;
mod identity;
pub mod join;
pub mod membership;
pub mod offline;
mod peer_gate;
pub mod pledge;
pub mod submit;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lambda_chain::client::{BlockView, ChainClient, ChainStatus, ClientError};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

pub use follower::ChainTip;
pub use identity::{NodeIdentity, load_or_create_identity};

/// The `[chain]` section of the node configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChainConfig {
    /// Public API endpoints of validators (`http://host:port`), tried in
    /// order. Empty: the node does not use a chain.
    pub endpoints: Vec<String>,
    /// The node key (ed25519); its address is the node id on the chain and
    /// in the ring. Default `<data_dir>/node.key`, created on first start.
    pub node_key_file: Option<PathBuf>,
    /// A member that liveness holds down this long (ms) is reported offline
    /// on chain (once per epoch).
    pub offline_report_after_ms: u64,
    /// Fee of the node's own transactions (offline reports), paid by the
    /// node key's account; must reach the chain's `params.min_fee`.
    pub tx_fee: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            endpoints: Vec::new(),
            node_key_file: None,
            offline_report_after_ms: 10_000,
            tx_fee: 1,
        }
    }
}

impl ChainConfig {
    /// Whether the node runs in chain mode.
    pub fn enabled(&self) -> bool {
        !self.endpoints.is_empty()
    }
}

/// What can go wrong between the node and the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainLinkError {
    /// No validator endpoint answered.
    #[error("no chain validator reachable (tried {tried}): {last}")]
    Unreachable {
        /// The endpoints tried.
        tried: String,
        /// The last error.
        last: String,
    },
    /// The node key file could not be read or written.
    #[error("node key {path}: {reason}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A chain call failed.
    #[error("chain: {0}")]
    Client(#[from] ClientError),
}

/// A connected link to the chain, shared by the node's chain-driven parts.
#[derive(Clone, Debug)]
pub struct ChainLink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    endpoints: Vec<String>,
    status: ChainStatus,
    tip: watch::Receiver<ChainTip>,
    blocks: broadcast::Sender<Arc<BlockView>>,
}

impl ChainLink {
    /// Connects to the first reachable validator, reads the chain's status
    /// and starts following blocks until `cancel`.
    pub async fn connect(
        cfg: &ChainConfig,
        cancel: CancellationToken,
    ) -> Result<Self, ChainLinkError> {
        let endpoints = cfg.endpoints.clone();
        let mut client = connect_any(&endpoints).await?;
        let status = client.status().await?;
        let (blocks, _) = broadcast::channel(256);
        let tip = follower::spawn(
            endpoints.clone(),
            &status,
            blocks.clone(),
            cancel,
            Duration::from_millis(500),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                endpoints,
                status,
                tip,
                blocks,
            }),
        })
    }

    /// A client of the first validator that answers.
    pub async fn client(&self) -> Result<ChainClient, ChainLinkError> {
        connect_any(&self.inner.endpoints).await
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.inner.status.chain_id
    }

    /// The chain's status when the link was made (parameters such as the
    /// epoch length and the prices do not change).
    pub fn status_at_connect(&self) -> &ChainStatus {
        &self.inner.status
    }

    /// The committed tip, updated on every block.
    pub fn tip(&self) -> watch::Receiver<ChainTip> {
        self.inner.tip.clone()
    }

    /// Every committed block from now on (a slow receiver skips blocks and
    /// sees `Lagged`; the tip stays exact).
    pub fn blocks(&self) -> broadcast::Receiver<Arc<BlockView>> {
        self.inner.blocks.subscribe()
    }

    /// The epoch of the next block.
    pub fn epoch(&self) -> u64 {
        self.inner.tip.borrow().epoch
    }
}

/// Connects to the first of `endpoints` that answers.
pub async fn connect_any(endpoints: &[String]) -> Result<ChainClient, ChainLinkError> {
    let mut last = String::from("no endpoints configured");
    for e in endpoints {
        match ChainClient::connect(e).await {
            Ok(c) => return Ok(c),
            Err(err) => last = err.to_string(),
        }
    }
    Err(ChainLinkError::Unreachable {
        tried: endpoints.join(", "),
        last,
    })
}
