//! The handoff worker: delivers hints to their owners once the owners are
//! back, paced to `hints.delivery_per_sec`.
//!
//! Each round walks the hint column family in key order. A hint whose owner
//! is believed up is sent to it as an ordinary replica put; only after the
//! owner acknowledged it is the hint removed, and only if no newer write
//! merged into it meanwhile (that one is delivered in a later round). An
//! owner that fails a delivery is suspected and skipped for the rest of the
//! round. A hint whose owner no longer holds the key's partition (it left
//! the cluster, or the partition moved in a membership change) goes to the
//! key's owners in the newest layout instead, and is removed once all of
//! them acknowledged it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::hints::Hint;
use crate::placement::DeviceId;

const PAGE: usize = 256;

/// The outcome of one delivery.
enum Delivery {
    /// Acknowledged and removed.
    Done,
    /// Acknowledged, but a newer write merged into the hint meanwhile.
    Changed,
    /// The owner did not acknowledge.
    Failed,
}

/// Delivers hints in the background.
#[derive(Debug)]
pub struct HandoffWorker {
    cluster: Arc<Cluster>,
    pause: Duration,
    per_hint: Duration,
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Hints delivered and removed.
    pub delivered: u64,
    /// Hints left for a later round (owner down, delivery failed, or changed).
    pub kept: u64,
}

impl HandoffWorker {
    /// A worker for `cluster`, pausing `pause` between rounds and delivering at
    /// most `per_sec` hints per second.
    pub fn new(cluster: Arc<Cluster>, pause: Duration, per_sec: u32) -> Self {
        Self {
            cluster,
            pause,
            per_hint: Duration::from_secs_f64(1.0 / f64::from(per_sec.max(1))),
        }
    }

    /// Runs rounds until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.pause) => {}
            }
            if self.cluster.hints.backlog() == 0 {
                continue;
            }
            let report = self.round(&shutdown).await;
            if report.delivered > 0 {
                tracing::info!(
                    delivered = report.delivered,
                    kept = report.kept,
                    "hinted handoff round"
                );
            }
        }
    }

    /// One pass over every hint.
    pub async fn round(&self, shutdown: &CancellationToken) -> RoundReport {
        let mut report = RoundReport::default();
        let mut failed_owners: BTreeSet<DeviceId> = BTreeSet::new();
        let mut after = Vec::new();
        loop {
            let hints = self.cluster.hints.clone();
            let start = after.clone();
            let page = match tokio::task::spawn_blocking(move || hints.scan(&start, PAGE)).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "cannot read hints");
                    return report;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "hint scan task failed");
                    return report;
                }
            };
            let Some(last) = page.last() else { break };
            after = last.raw_key.clone();
            for hint in page {
                if shutdown.is_cancelled() {
                    return report;
                }
                let destinations = self.destinations(&hint);
                if failed_owners.contains(&hint.owner)
                    || destinations.is_empty()
                    || destinations
                        .iter()
                        .any(|d| !self.cluster.liveness.is_alive(d))
                {
                    report.kept += 1;
                    continue;
                }
                match self.deliver(&hint).await {
                    Delivery::Done => report.delivered += 1,
                    Delivery::Changed => report.kept += 1,
                    Delivery::Failed => {
                        failed_owners.insert(hint.owner.clone());
                        report.kept += 1;
                    }
                }
                tokio::time::sleep(self.per_hint).await;
            }
        }
        report
    }

    /// Where a hint goes: its owner while the owner still holds the key's
    /// partition in a live layout; otherwise (the owner left, or the
    /// partition moved) the key's owners in the newest layout.
    fn destinations(&self, hint: &Hint) -> Vec<DeviceId> {
        let topo = self.cluster.view.get();
        let n = self.cluster.replication.n as usize;
        let p = self.cluster.store.keyspace().partition_of(&hint.key);
        if topo.is_member(&hint.owner) && topo.owners(p, n).contains(&hint.owner) {
            return vec![hint.owner.clone()];
        }
        topo.target()
            .map(|l| {
                l.placement()
                    .preference_list(p)
                    .iter()
                    .take(n)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sends one hint to where it belongs and removes it once every
    /// destination acknowledged it.
    async fn deliver(&self, hint: &Hint) -> Delivery {
        let destinations = self.destinations(hint);
        if destinations.is_empty() {
            return Delivery::Failed;
        }
        for node in &destinations {
            if let Err(e) = self.send(node, hint).await {
                tracing::debug!(owner = %hint.owner, to = %node, error = %e, "hint delivery failed");
                return Delivery::Failed;
            }
        }
        let hints = self.cluster.hints.clone();
        let h = hint.clone();
        match tokio::task::spawn_blocking(move || hints.remove_delivered(&h)).await {
            Ok(Ok(true)) => Delivery::Done,
            Ok(Ok(false)) => Delivery::Changed,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot remove a delivered hint");
                Delivery::Changed
            }
            Err(_) => Delivery::Changed,
        }
    }

    /// Merges the hint's object at `node` (locally when it is this node).
    async fn send(&self, node: &DeviceId, hint: &Hint) -> Result<(), String> {
        if *node == self.cluster.self_id {
            let (store, key, object) = (
                self.cluster.store.clone(),
                hint.key.clone(),
                hint.object.clone(),
            );
            return crate::api::backend::run_blocking(
                &self.cluster.store,
                self.cluster.rpc_timeout,
                move || store.merge(&key, &object).map(|_| ()),
            )
            .await
            .map_err(|e| e.to_string());
        }
        let Some(peer) = self.cluster.view.get().peer(node) else {
            return Err(format!("{node} is not a member"));
        };
        match self
            .cluster
            .transport
            .put(&peer, &hint.key, &hint.object, None)
            .await
        {
            Ok(()) => {
                self.cluster.liveness.clear(node);
                Ok(())
            }
            Err(e) => {
                if e.peer_down() {
                    self.cluster.liveness.suspect(node);
                }
                Err(e.to_string())
            }
        }
    }
}
