//! Offline reports: a member node reports on chain the members its
//! liveness view (gossip's failure detector, plus suspicion after failed
//! calls) has held down for longer than `chain.offline_report_after_ms`.
//!
//! One `OfflineReport` per peer per epoch (the chain refuses a second one),
//! signed with the node key, whose account pays the fee (`chain.tx_fee`).
//! A node reports only while it is itself a member of the epoch in force
//! (the chain accepts reports from members only). Validators turn reports
//! from enough distinct members into an offline verdict
//! (`lambda-chain` `node::offline_voter`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_chain::client::ClientError;
use lambda_chain::tx::TxKind;
use lambda_chain::tx::kind::OfflineReport;
use lambda_common::keys::Address;
use tokio_util::sync::CancellationToken;

use super::membership::ChainMembership;
use super::submit::submit;
use super::{ChainLink, ChainLinkError, NodeIdentity};
use crate::cluster::Cluster;
use crate::cluster::membership::MembershipSource;
use crate::placement::DeviceId;

/// The offline-report worker of a member node.
pub struct OfflineReporter {
    cluster: Arc<Cluster>,
    link: ChainLink,
    identity: NodeIdentity,
    membership: Arc<ChainMembership>,
    after: Duration,
    fee: u64,
    down_since: HashMap<DeviceId, Instant>,
    reported: BTreeSet<(u64, DeviceId)>,
}

impl std::fmt::Debug for OfflineReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OfflineReporter")
            .field("after", &self.after)
            .field("reported", &self.reported)
            .finish_non_exhaustive()
    }
}

/// What happened to one report.
enum Outcome {
    Submitted,
    AlreadyRecorded,
    Failed(String),
}

impl OfflineReporter {
    /// A reporter for `cluster`'s liveness view; reports after `after_ms`
    /// of continuous down time, paying `fee` per report.
    pub fn new(
        cluster: Arc<Cluster>,
        link: ChainLink,
        identity: NodeIdentity,
        membership: Arc<ChainMembership>,
        after_ms: u64,
        fee: u64,
    ) -> Self {
        Self {
            cluster,
            link,
            identity,
            membership,
            after: Duration::from_millis(after_ms),
            fee,
            down_since: HashMap::new(),
            reported: BTreeSet::new(),
        }
    }

    /// Checks liveness periodically until `shutdown`.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let period = (self.after / 4).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            for (epoch, node) in self.due(Instant::now()) {
                match self.report(epoch, &node).await {
                    Outcome::Submitted => {
                        tracing::warn!(%node, epoch, "reported a member offline");
                        self.reported.insert((epoch, node));
                    }
                    Outcome::AlreadyRecorded => {
                        self.reported.insert((epoch, node));
                    }
                    Outcome::Failed(reason) => {
                        tracing::warn!(%node, epoch, %reason, "offline report not submitted; will retry");
                    }
                }
            }
        }
    }

    /// The (epoch, member) pairs to report now.
    fn due(&mut self, now: Instant) -> Vec<(u64, DeviceId)> {
        let members = self.membership.current();
        let me = self.identity.device_id();
        if members.get(&me).is_none() {
            self.down_since.clear();
            return Vec::new();
        }
        let mut out = Vec::new();
        let liveness = &self.cluster.liveness;
        self.down_since.retain(|id, _| members.get(id).is_some());
        for m in members.members.iter().filter(|m| m.id != me) {
            if liveness.is_alive(&m.id) {
                self.down_since.remove(&m.id);
                continue;
            }
            let since = *self.down_since.entry(m.id.clone()).or_insert(now);
            let key = (members.epoch, m.id.clone());
            if now.duration_since(since) >= self.after && !self.reported.contains(&key) {
                out.push(key);
            }
        }
        // Forget reports of epochs long gone.
        let epoch = members.epoch;
        self.reported.retain(|(e, _)| e + 2 > epoch);
        out
    }

    async fn report(&self, epoch: u64, node: &DeviceId) -> Outcome {
        let Ok(target) = node.0.parse::<Address>() else {
            return Outcome::Failed(format!("node id {node} is not an address"));
        };
        let kind = TxKind::OfflineReport(OfflineReport {
            node: target,
            epoch,
        });
        let result: Result<_, ChainLinkError> = async {
            let mut client = self.link.client().await?;
            submit(&mut client, self.identity.key(), kind, self.fee).await
        }
        .await;
        match result {
            Ok(_) => Outcome::Submitted,
            Err(ChainLinkError::Client(ClientError::Rejected { reason, .. }))
                if reason == "duplicate_record" || reason == "already_pending" =>
            {
                Outcome::AlreadyRecorded
            }
            Err(e) => Outcome::Failed(e.to_string()),
        }
    }
}
