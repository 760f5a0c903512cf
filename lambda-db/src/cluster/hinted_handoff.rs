//! The handoff worker: delivers hints to their owners once the owners are
//! back, paced to `hints.delivery_per_sec`.
//!
//! Each round walks the hint column family in key order. A hint whose owner
//! is believed up is sent to it as an ordinary replica put; only after the
//! owner acknowledged it is the hint removed, and only if no newer write
//! merged into it meanwhile (that one is delivered in a later round). An
//! owner that fails a delivery is suspected and skipped for the rest of the
//! round.

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
                if failed_owners.contains(&hint.owner)
                    || !self.cluster.liveness.is_alive(&hint.owner)
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

    /// Sends one hint to its owner and removes it once acknowledged.
    async fn deliver(&self, hint: &Hint) -> Delivery {
        let view = self.cluster.view.get();
        let Some(peer) = view.peer(&hint.owner) else {
            // The owner left the cluster; the hint waits for partition
            // handoff to move its data to the key's new replicas.
            return Delivery::Failed;
        };
        match self
            .cluster
            .transport
            .put(&peer, &hint.key, &hint.object, None)
            .await
        {
            Ok(()) => {
                self.cluster.liveness.clear(&hint.owner);
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
            Err(e) => {
                if e.peer_down() {
                    self.cluster.liveness.suspect(&hint.owner);
                }
                tracing::debug!(owner = %hint.owner, error = %e, "hint delivery failed");
                Delivery::Failed
            }
        }
    }
}
