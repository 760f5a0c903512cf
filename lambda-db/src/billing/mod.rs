//! Per-request billing in chain mode: every public KV request is signed by
//! a client account and carries the client's signed cumulative usage
//! statement (a receipt); the node refuses unsigned, badly signed, replayed
//! and unfunded requests, keeps the largest receipt per client per epoch,
//! and after each epoch settles it on chain, which pays the serving nodes'
//! owners.
//!
//! - [`replay`]: the per-client sliding window of request counters.
//! - [`ledger`]: what the node served and the receipts it holds, in RocksDB.
//! - [`funds`]: client balances from the chain through a short-TTL cache.
//! - [`guard`]: [`Biller`], the check every KV request passes (the
//!   [`crate::api::RequestGuard`] of the KV service).
//! - [`settle`]: submits the receipts of finished epochs as usage
//!   settlements and follows what the chain settled.
//! - [`service`]: the `lambda.billing.v1.Billing` gRPC service (node id and
//!   epoch for clients, usage per client per epoch for operators).
//!
//! Billing depends only on [`crate::chain::ChainLink`] (chain id, prices,
//! tip, client), not on how the ring's membership is sourced. Requests a
//! node forwards to a coordinator travel on the replica service, so only
//! the node the client called verifies and bills them.

pub mod funds;
pub mod guard;
pub mod ledger;
pub mod replay;
pub mod service;
pub mod settle;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use guard::Biller;
pub use replay::{ReplayError, ReplayWindow};
pub use service::BillingService;

use crate::chain::{ChainLink, NodeIdentity};
use crate::storage::Engine;

/// The `[billing]` section of the node configuration (used in chain mode).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// Largest difference between a request's timestamp and the node's
    /// clock.
    pub max_clock_skew_ms: u64,
    /// Counters per client in the replay window: how far out of order
    /// concurrent requests of one client may arrive. Also the tolerance of
    /// the receipt check (a receipt may lag what the node served by fewer
    /// requests than this).
    pub replay_window: u64,
    /// How long a client balance read from the chain is trusted.
    pub balance_ttl_ms: u64,
    /// How often finished epochs' receipts are settled.
    pub settle_interval_ms: u64,
    /// Fee of a settlement transaction (at least the chain's `min_fee`).
    pub settlement_fee: u64,
    /// Receipts (client × epoch) older than this many epochs are no longer
    /// resubmitted.
    pub settle_epochs_back: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            max_clock_skew_ms: 30_000,
            replay_window: 1_024,
            balance_ttl_ms: 2_000,
            settle_interval_ms: 1_000,
            settlement_fee: 1,
            settle_epochs_back: 16,
        }
    }
}

/// What can go wrong in billing.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// A chain query or submission failed.
    #[error("chain: {0}")]
    Chain(String),
    /// The ledger could not be read or written.
    #[error("billing ledger: {0}")]
    Ledger(String),
}

/// Opens the ledger, builds the [`Biller`] and starts settling until
/// `cancel`.
pub fn start(
    config: &BillingConfig,
    link: ChainLink,
    identity: &NodeIdentity,
    engine: Arc<dyn Engine>,
    max_request_bytes: usize,
    cancel: CancellationToken,
) -> Result<Arc<Biller>, BillingError> {
    let biller = Arc::new(Biller::open(
        config.clone(),
        link,
        identity.address(),
        engine,
        max_request_bytes,
    )?);
    tokio::spawn(settle::run(biller.clone(), identity.clone(), cancel));
    Ok(biller)
}
