//! Collecting tombstones: a deleted key's object (every sibling a
//! tombstone) is removed only when no copy of an older value can bring the
//! key back — never by a timer alone.
//!
//! The first node of each partition's preference list reaps the partition.
//! A tombstone-only object is removed when, all at once:
//!
//! - no membership change is under way (one live layout, so "every replica
//!   of every live layout" is the replicas of that layout);
//! - it is older than `tombstones.min_age_ms` (at least the longest request
//!   deadline), so writes in flight when it was made have landed and their
//!   hints have been gossiped;
//! - every node of the partition's whole preference list (`placement.replicas`
//!   nodes, not only the first N: a request may use a larger N) is up and
//!   answers, with its hints for the key merged in, either exactly the same
//!   object or nothing;
//! - no node gossips a hint for any node of that list (a hint holding an
//!   older value, delivered later, would resurrect it).
//!
//! Then every node of the list is asked to delete the key *if it still holds
//! exactly that object*, and this node does the same. A write that lands in
//! between makes the delete a no-op; a delete that reaches only some nodes
//! leaves a tombstone that anti-entropy copies back and a later round
//! collects. Dots are drawn from each node's node-wide counter, so a new
//! write of a collected key never reuses a dot of its old history.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lambda_proto::node::v1 as pb;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::aae::peer::{SyncCalls, SyncPeer};
use crate::api::backend::run_blocking;
use crate::config::TombstonesConfig;
use crate::error::Result;
use crate::placement::DeviceId;
use crate::version::VersionedObject;
use crate::version::codec::{decode_object, object_from_pb, object_to_pb};

const PAGE: usize = 1024;
const BATCH: usize = 256;

/// Collects tombstones in the background.
#[derive(Debug)]
pub struct Reaper {
    cluster: Arc<Cluster>,
    config: TombstonesConfig,
    min_age: Duration,
}

/// Why a partition's tombstones were kept this round (for tests and logs).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReapReport {
    /// Tombstones old enough to consider.
    pub candidates: u64,
    /// Tombstones removed.
    pub reaped: u64,
    /// Partitions skipped: a replica down, hints pending, or a replica
    /// answering differently.
    pub blocked: u64,
}

impl Reaper {
    /// A reaper for `cluster`; `min_age` is raised to at least
    /// `longest_request`.
    pub fn new(cluster: Arc<Cluster>, config: TombstonesConfig, longest_request: Duration) -> Self {
        let min_age = Duration::from_millis(config.min_age_ms).max(longest_request);
        Self {
            cluster,
            config,
            min_age,
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
                () = tokio::time::sleep(Duration::from_millis(self.config.interval_ms)) => {}
            }
            let r = self.round(&shutdown).await;
            if r.reaped > 0 {
                tracing::info!(
                    reaped = r.reaped,
                    candidates = r.candidates,
                    blocked = r.blocked,
                    "tombstones collected"
                );
            }
        }
    }

    /// One pass over the partitions this node reaps.
    pub async fn round(&self, shutdown: &CancellationToken) -> ReapReport {
        let mut report = ReapReport::default();
        let topo = self.cluster.view.get();
        if topo.in_transition() {
            return report;
        }
        let Some(placement) = topo.placement() else {
            return report;
        };
        let mut budget = self.config.max_per_round;
        for p in 0..placement.partitions() {
            let list = placement.preference_list(p).to_vec();
            if list.first() != Some(&self.cluster.self_id)
                || self.cluster.store.merkle().summary(p).keys == 0
            {
                continue;
            }
            if shutdown.is_cancelled() || budget == 0 {
                break;
            }
            let candidates = match self.candidates(p, budget).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(partition = p, error = %e, "cannot scan for tombstones");
                    continue;
                }
            };
            if candidates.is_empty() {
                continue;
            }
            budget = budget.saturating_sub(candidates.len());
            report.candidates += candidates.len() as u64;
            match self.reap(&list, candidates).await {
                Some(n) => report.reaped += n,
                None => report.blocked += 1,
            }
        }
        self.cluster
            .aae
            .tombstones_reaped
            .fetch_add(report.reaped, Ordering::Relaxed);
        report
    }

    /// Tombstone-only objects of partition `p` older than the minimum age.
    async fn candidates(&self, p: u32, limit: usize) -> Result<Vec<(Vec<u8>, VersionedObject)>> {
        let store = self.cluster.store.clone();
        let cutoff = crate::api::kv_service::now_ms() - self.min_age.as_millis() as i64;
        run_blocking(
            &self.cluster.store,
            self.cluster.sync_timeout * 6,
            move || {
                let mut out = Vec::new();
                let mut after: Option<Vec<u8>> = None;
                loop {
                    let page = store.scan_partition(p, after.as_deref(), PAGE, usize::MAX)?;
                    for (key, bytes) in &page.entries {
                        let Ok(obj) = decode_object(bytes) else {
                            continue;
                        };
                        let newest = obj.siblings().iter().map(|s| s.timestamp_ms).max();
                        if obj.is_deleted() && newest.is_some_and(|t| t < cutoff) {
                            out.push((key.clone(), obj));
                            if out.len() >= limit {
                                return Ok(out);
                            }
                        }
                    }
                    after = page.entries.last().map(|(k, _)| k.clone());
                    if page.done {
                        return Ok(out);
                    }
                }
            },
        )
        .await
    }

    /// True when any node gossips (or this node holds) hints for a node of
    /// `list`.
    fn hints_pending(&self, list: &[DeviceId]) -> bool {
        let topo = self.cluster.view.get();
        let owners: BTreeSet<&DeviceId> = list.iter().collect();
        let own = self.cluster.hints.stats().owners;
        if own.keys().any(|o| owners.contains(o)) {
            return true;
        }
        topo.members().keys().any(|id| {
            self.cluster
                .liveness
                .peer_state(id)
                .is_some_and(|s| s.hints_for.keys().any(|o| owners.contains(o)))
        })
    }

    /// Reaps what every node of `list` agrees on; None when blocked.
    async fn reap(
        &self,
        list: &[DeviceId],
        candidates: Vec<(Vec<u8>, VersionedObject)>,
    ) -> Option<u64> {
        let topo = self.cluster.view.get();
        let others: Vec<&DeviceId> = list
            .iter()
            .filter(|d| **d != self.cluster.self_id)
            .collect();
        if others.iter().any(|d| !self.cluster.liveness.is_alive(d)) || self.hints_pending(list) {
            return None;
        }
        let calls: Arc<dyn SyncCalls> = self.cluster.transport.clone();
        let peers: Vec<SyncPeer> = others
            .iter()
            .map(|d| topo.peer(d).map(|p| SyncPeer::new(calls.clone(), p)))
            .collect::<Option<_>>()?;
        let mut reaped = 0;
        let mut blocked = false;
        for chunk in candidates.chunks(BATCH) {
            let mut agreed: Vec<bool> = vec![true; chunk.len()];
            for peer in &peers {
                let req = pb::MultiGetRequest {
                    keys: chunk.iter().map(|(k, _)| k.clone()).collect(),
                    with_hints: true,
                };
                let Ok(resp) = peer.multi_get(req).await else {
                    return None;
                };
                for (i, obj) in resp.objects.into_iter().enumerate() {
                    let same = object_from_pb(obj).is_ok_and(|o| o.is_empty() || o == chunk[i].1);
                    if let Some(a) = agreed.get_mut(i) {
                        *a &= same;
                    }
                }
            }
            let agreed: Vec<&(Vec<u8>, VersionedObject)> = chunk
                .iter()
                .zip(&agreed)
                .filter(|(_, a)| **a)
                .map(|(c, _)| c)
                .collect();
            blocked |= agreed.len() < chunk.len();
            reaped += self.delete_everywhere(&peers, &agreed).await;
        }
        (!blocked || reaped > 0).then_some(reaped)
    }

    /// Conditional deletes at every peer, then here; returns local removals.
    async fn delete_everywhere(
        &self,
        peers: &[SyncPeer],
        keys: &[&(Vec<u8>, VersionedObject)],
    ) -> u64 {
        if keys.is_empty() {
            return 0;
        }
        let req = pb::ReapRequest {
            entries: keys
                .iter()
                .map(|(k, o)| pb::KeyObject {
                    key: k.clone(),
                    object: Some(object_to_pb(o)),
                })
                .collect(),
        };
        for peer in peers {
            if let Err(e) = peer.reap(req.clone()).await {
                tracing::debug!(peer = %peer.id(), error = %e, "conditional delete failed; the tombstone stays there for now");
            }
        }
        let store = self.cluster.store.clone();
        let owned: Vec<(Vec<u8>, VersionedObject)> = keys.iter().map(|c| (*c).clone()).collect();
        run_blocking(&self.cluster.store, self.cluster.sync_timeout, move || {
            let mut n = 0;
            for (k, o) in &owned {
                n += u64::from(store.remove_if_equal(k, o)?);
            }
            Ok(n)
        })
        .await
        .unwrap_or(0)
    }
}
