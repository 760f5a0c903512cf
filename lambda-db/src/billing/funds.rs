//! Client balances from the chain through a short-TTL cache, so admitting a
//! request costs a chain query at most once per client per TTL. A balance
//! can be up to one TTL old: a node may admit a little more than a client
//! can pay right after the client spent funds elsewhere; settlement then
//! fails for the excess, bounded by one TTL of traffic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lambda_chain::client::ClientError;
use lambda_common::keys::Address;
use parking_lot::Mutex;

use super::BillingError;
use crate::chain::ChainLink;

/// A client account as the node last saw it on chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Funds {
    /// Balance.
    pub balance: u64,
    /// False when the chain has no such account (no balance, no nonce).
    pub known: bool,
}

/// Cached client balances.
#[derive(Debug)]
pub struct BalanceCache {
    link: ChainLink,
    ttl: Duration,
    entries: Mutex<HashMap<Address, (Instant, Funds)>>,
}

/// Most cached accounts; the cache is cleared when it is full.
const MAX_ENTRIES: usize = 100_000;

impl BalanceCache {
    /// A cache over `link` keeping balances for `ttl`.
    pub fn new(link: ChainLink, ttl: Duration) -> Self {
        Self {
            link,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The client's funds, from the cache or the chain.
    pub async fn funds(&self, client: &Address) -> Result<Funds, BillingError> {
        if let Some((at, f)) = self.entries.lock().get(client)
            && at.elapsed() < self.ttl
        {
            return Ok(*f);
        }
        let mut chain = self
            .link
            .client()
            .await
            .map_err(|e| BillingError::Chain(e.to_string()))?;
        let view = chain
            .account(*client)
            .await
            .map_err(|e: ClientError| BillingError::Chain(e.to_string()))?;
        let funds = Funds {
            balance: view.account.balance,
            known: view.account.balance > 0 || view.account.nonce > 0 || view.next_nonce > 0,
        };
        let mut entries = self.entries.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(*client, (Instant::now(), funds));
        Ok(funds)
    }

    /// Drops the cached balance of `client` (after its usage was settled).
    pub fn forget(&self, client: &Address) {
        self.entries.lock().remove(client);
    }
}
