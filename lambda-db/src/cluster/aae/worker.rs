//! The anti-entropy worker: rounds over every partition this node holds,
//! exchanging with each other replica of each (in every live layout), at a
//! bounded pace.
//!
//! Each pair of replicas is exchanged by one side only (the node whose id
//! sorts first), since an exchange repairs both directions. Partitions
//! shared with one peer are compared in batches (one roots call each), so
//! partitions that agree cost a few bytes. A peer that fails is skipped for
//! the rest of the round.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::exchange::{ExchangeLimits, Exchanger};
use super::peer::{SyncCalls, SyncPeer};
use crate::cluster::Cluster;
use crate::config::AaeConfig;
use crate::placement::DeviceId;

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundSummary {
    /// Partition exchanges completed (a partition with two peers counts
    /// twice).
    pub exchanged: u64,
    /// Keys repaired.
    pub keys_repaired: u64,
    /// Bytes of exchange messages.
    pub bytes: u64,
    /// Partition exchanges that failed or were skipped (peer down).
    pub failed: u64,
}

/// Runs anti-entropy rounds.
#[derive(Debug)]
pub struct AaeWorker {
    cluster: Arc<Cluster>,
    exchanger: Exchanger,
    config: AaeConfig,
}

impl AaeWorker {
    /// A worker for `cluster`.
    pub fn new(cluster: Arc<Cluster>, config: AaeConfig) -> Self {
        let limits = ExchangeLimits {
            max_keys: config.max_keys_per_exchange.max(1),
            batch_keys: 256,
            local_timeout: cluster.sync_timeout,
        };
        Self {
            exchanger: Exchanger::new(cluster.store.clone(), limits),
            cluster,
            config,
        }
    }

    /// Runs rounds until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        if !self.config.enabled {
            return;
        }
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(Duration::from_millis(self.config.round_interval_ms)) => {}
            }
            let s = self.round(&shutdown).await;
            if s.keys_repaired > 0 || s.failed > 0 {
                tracing::info!(
                    exchanged = s.exchanged,
                    keys_repaired = s.keys_repaired,
                    bytes = s.bytes,
                    failed = s.failed,
                    "anti-entropy round"
                );
            }
        }
    }

    /// For each peer, the partitions this node exchanges with it.
    fn plan(&self) -> BTreeMap<DeviceId, Vec<u32>> {
        let topo = self.cluster.view.get();
        let me = &self.cluster.self_id;
        let n = self.cluster.replication.n as usize;
        let mut by_peer: BTreeMap<DeviceId, Vec<u32>> = BTreeMap::new();
        for p in 0..self.cluster.store.keyspace().partitions() {
            let owners = topo.owners(p, n);
            if !owners.contains(me) {
                continue;
            }
            for o in owners.into_iter().filter(|o| me < o) {
                by_peer.entry(o).or_default().push(p);
            }
        }
        by_peer
    }

    /// One pass over every partition this node holds.
    pub async fn round(&self, shutdown: &CancellationToken) -> RoundSummary {
        let plan = self.plan();
        let stats = &self.cluster.aae;
        let planned: usize = plan.values().map(Vec::len).sum();
        stats.start_round(u32::try_from(planned).unwrap_or(u32::MAX));
        let mut out = RoundSummary::default();
        let batch = self.config.batch_partitions.max(1);
        for (peer_id, partitions) in plan {
            let peer = self.cluster.view.get().peer(&peer_id);
            let (Some(peer), true) = (peer, self.cluster.liveness.is_alive(&peer_id)) else {
                out.failed += partitions.len() as u64;
                stats.advance(u32::try_from(partitions.len()).unwrap_or(u32::MAX));
                continue;
            };
            let calls: Arc<dyn SyncCalls> = self.cluster.transport.clone();
            let peer = SyncPeer::new(calls, peer);
            for chunk in partitions.chunks(batch) {
                if shutdown.is_cancelled() {
                    return out;
                }
                match self.exchanger.exchange(&peer, chunk).await {
                    Ok(outcomes) => {
                        stats.record(crate::api::kv_service::now_ms(), &outcomes);
                        let keys: u64 = outcomes.iter().map(|o| o.keys_repaired).sum();
                        out.exchanged += outcomes.len() as u64;
                        out.keys_repaired += keys;
                        out.bytes += outcomes.iter().map(|o| o.bytes).sum::<u64>();
                        stats.advance(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
                        self.pace(chunk.len(), keys).await;
                    }
                    Err(e) => {
                        tracing::debug!(peer = %peer_id, error = %e, "anti-entropy exchange failed");
                        if let super::exchange::ExchangeError::Peer(rpc) = &e
                            && rpc.peer_down()
                        {
                            self.cluster.liveness.suspect(&peer_id);
                        }
                        stats.record_failure(chunk);
                        out.failed += chunk.len() as u64;
                        stats.advance(u32::try_from(chunk.len()).unwrap_or(u32::MAX));
                        break;
                    }
                }
            }
        }
        stats.end_round();
        out
    }

    /// Sleeps long enough to keep to the configured rates.
    async fn pace(&self, partitions: usize, keys: u64) {
        let per_p = 1.0 / f64::from(self.config.partitions_per_sec.max(1));
        let per_k = 1.0 / f64::from(self.config.keys_per_sec.max(1));
        let secs = partitions as f64 * per_p + keys as f64 * per_k;
        if secs > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(secs.min(60.0))).await;
        }
    }
}
