//! Membership changes: from installing a new epoch's layout to dropping the
//! partitions a node no longer holds.
//!
//! 1. **Install**: a new membership (a newer epoch) adds its layout to the
//!    node's live layouts; requests become joint (W and R in every live
//!    layout, see [`super::topology`]). Progress is gossiped (`target`).
//! 2. **Pull**: once every live node has installed it (gossip) and
//!    `settle` has passed (so no write coordinated under the old layout alone
//!    is still in flight), a node pulls each partition it owns in a newer
//!    live layout but not in an older one: a paged stream from one live owner
//!    of another layout, then a Merkle exchange with every other live owner.
//!    Pulled partitions are remembered across restarts; when all are done
//!    the node gossips `synced` = its newest epoch.
//! 3. **Switch**: a node retires every layout older than the newest layout
//!    L whose *joiners* (nodes owning a partition in L that they do not own
//!    in the stable layout) all gossip `synced ≥ L`. Reads and writes then
//!    use the remaining layouts only.
//! 4. **Drop**: once no change is under way, every live node gossips a
//!    stable epoch at least ours, and `drop_grace` has passed since the
//!    switch, partitions this node owns in no live layout are deleted.
//!
//! A node that sees a peer gossip an epoch it lacks fetches that peer's
//! layouts (Admin `Layouts`) and installs the missing ones, so nodes that
//! missed an epoch (down at the time) converge on the same sequence.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::aae::exchange::{ExchangeLimits, Exchanger};
use super::aae::peer::{SyncCalls, SyncPeer};
use super::layouts;
use super::membership::EpochMembers;
use super::topology::Topology;
use super::view::ClusterView;
use crate::config::TransitionConfig;
use crate::error::{Error, Result};
use crate::placement::{DeviceId, PlacementConfig};

mod pull;

/// Progress of this node's part in a membership change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransferStatus {
    /// Partitions this node pulls, and those done.
    pub total: u32,
    /// Partitions pulled.
    pub done: u32,
    /// Bytes pulled.
    pub bytes: u64,
    /// Partitions dropped since start.
    pub dropped: u32,
    /// What the node waits for (empty when idle).
    pub waiting_for: String,
}

#[derive(Debug, Default)]
struct State {
    /// The epochs of the layouts the plan below was made for.
    planned_for: Vec<u64>,
    /// Partitions to pull → done.
    pulls: BTreeMap<u32, bool>,
    bytes: u64,
    /// Joiners of each non-stable layout, relative to the stable one.
    joiners: Vec<(u64, BTreeSet<DeviceId>)>,
    installed_everywhere_at: Option<Instant>,
    switched_at: Option<Instant>,
    dropped: u32,
    waiting_for: String,
}

/// Drives membership changes on one node.
#[derive(Debug)]
pub struct Transitions {
    cluster: Arc<Cluster>,
    config: TransitionConfig,
    placement: PlacementConfig,
    settle: Duration,
    exchanger: Exchanger,
    state: Mutex<State>,
}

impl Transitions {
    /// The driver of `cluster`'s membership changes; `min_settle` is the
    /// longest request deadline.
    pub fn new(
        cluster: Arc<Cluster>,
        config: TransitionConfig,
        placement: PlacementConfig,
        min_settle: Duration,
    ) -> Arc<Self> {
        let limits = ExchangeLimits {
            local_timeout: cluster.sync_timeout,
            ..ExchangeLimits::default()
        };
        Arc::new(Self {
            exchanger: Exchanger::new(cluster.store.clone(), limits),
            settle: Duration::from_millis(config.settle_ms).max(min_settle),
            state: Mutex::new(State {
                switched_at: Some(Instant::now()),
                ..State::default()
            }),
            cluster,
            config,
            placement,
        })
    }

    /// This node's progress.
    pub fn status(&self) -> TransferStatus {
        let s = self.state.lock();
        TransferStatus {
            total: s.pulls.len() as u32,
            done: s.pulls.values().filter(|d| **d).count() as u32,
            bytes: s.bytes,
            dropped: s.dropped,
            waiting_for: s.waiting_for.clone(),
        }
    }

    /// Runs until `shutdown` fires: installs memberships from `source`,
    /// and every tick pulls, switches and drops.
    pub async fn run(
        self: Arc<Self>,
        mut source: watch::Receiver<Arc<EpochMembers>>,
        shutdown: CancellationToken,
    ) {
        let tick = Duration::from_millis(self.config.tick_ms.max(10));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                changed = source.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let members = source.borrow_and_update().clone();
                    if let Err(e) = self.install(&[members.as_ref().clone()]) {
                        tracing::error!(error = %e, epoch = members.epoch, "cannot install the new membership");
                    }
                }
                () = tokio::time::sleep(tick) => {
                    self.tick(&shutdown).await;
                }
            }
        }
    }

    /// Adds the layouts of `newer` the node lacks (newer than its stable
    /// one) and persists the result.
    pub fn install(&self, newer: &[EpochMembers]) -> Result<bool> {
        let topo = self.cluster.view.get();
        let mut all = topo.memberships();
        let added = layouts::merge_newer(&mut all, newer);
        if !added {
            return Ok(false);
        }
        self.set_layouts(&topo, &all)?;
        tracing::info!(
            epochs = ?all.iter().map(|l| l.epoch).collect::<Vec<_>>(),
            "installed a new membership; reads and writes are joint until the switch"
        );
        Ok(true)
    }

    /// Replaces the live layouts (reusing the views already computed).
    fn set_layouts(&self, old: &Topology, all: &[EpochMembers]) -> Result<()> {
        let mut views = Vec::with_capacity(all.len());
        for m in all {
            match old.layouts().iter().find(|v| v.epoch() == m.epoch) {
                Some(v) => views.push(v.clone()),
                None => views.push(Arc::new(ClusterView::new(m, &self.placement)?)),
            }
        }
        layouts::save(&self.cluster.store, all)?;
        self.cluster.view.set(Topology::new(views));
        Ok(())
    }

    /// One round of checks.
    pub async fn tick(&self, shutdown: &CancellationToken) {
        self.learn_layouts().await;
        self.plan();
        self.retire();
        self.publish();
        if let Err(e) = self.pull_some(shutdown).await {
            tracing::warn!(error = %e, "partition pull failed; retrying");
        }
        self.publish();
        if let Err(e) = self.drop_unowned(shutdown).await {
            tracing::warn!(error = %e, "dropping a partition failed; retrying");
        }
    }

    /// Fetches the layouts of a live peer that gossips an epoch we lack.
    async fn learn_layouts(&self) {
        let topo = self.cluster.view.get();
        let known: BTreeSet<u64> = topo.layouts().iter().map(|l| l.epoch()).collect();
        let stable = topo.stable_epoch();
        let source = topo.members().keys().find_map(|id| {
            let p = self.cluster.liveness.peer_state(id)?;
            let lacks = |e: u64| e > stable && !known.contains(&e);
            (lacks(p.stable_epoch) || lacks(p.target_epoch))
                .then(|| topo.peer(id))
                .flatten()
        });
        let Some(peer) = source else { return };
        match layouts::fetch(&peer.endpoint, self.cluster.rpc_timeout).await {
            Ok(theirs) => {
                if let Err(e) = self.install(&theirs) {
                    tracing::warn!(error = %e, peer = %peer.id, "cannot install a peer's layouts");
                }
            }
            Err(e) => tracing::debug!(error = %e, peer = %peer.id, "cannot fetch a peer's layouts"),
        }
    }

    /// Recomputes the pulls and joiners when the live layouts changed.
    fn plan(&self) {
        let topo = self.cluster.view.get();
        let epochs: Vec<u64> = topo.layouts().iter().map(|l| l.epoch()).collect();
        let mut s = self.state.lock();
        if s.planned_for == epochs {
            return;
        }
        if !epochs.is_empty() && s.planned_for.ends_with(&epochs) {
            // A switch (older layouts retired): nothing new to pull; keep
            // the finished pulls as the record of the last change.
            s.joiners = pull::joiners(&topo, self.cluster.replication.n as usize);
            s.planned_for = epochs;
            return;
        }
        let n = self.cluster.replication.n as usize;
        let done = pull::load_done(&self.cluster.store, topo.epoch()).unwrap_or_default();
        s.pulls = pull::partitions_to_pull(&topo, &self.cluster.self_id, n)
            .into_iter()
            .map(|p| (p, done.contains(&p)))
            .collect();
        s.joiners = pull::joiners(&topo, n);
        s.planned_for = epochs;
        s.installed_everywhere_at = None;
        s.bytes = 0;
    }

    /// True when `node` has finished pulling for `epoch`.
    fn synced(&self, node: &DeviceId, epoch: u64, own: u64) -> bool {
        if *node == self.cluster.self_id {
            return own >= epoch;
        }
        self.cluster.liveness.is_alive(node)
            && self
                .cluster
                .liveness
                .peer_state(node)
                .is_some_and(|p| p.synced_epoch >= epoch)
    }

    /// Switches to the newest layout whose joiners have all synced.
    fn retire(&self) {
        let topo = self.cluster.view.get();
        if !topo.in_transition() {
            return;
        }
        let own = self.own_synced(&topo);
        let joiners = self.state.lock().joiners.clone();
        let Some((epoch, _)) = joiners
            .iter()
            .rev()
            .find(|(e, js)| js.iter().all(|j| self.synced(j, *e, own)))
        else {
            let waiting: Vec<String> = joiners
                .last()
                .map(|(e, js)| {
                    js.iter()
                        .filter(|j| !self.synced(j, *e, own))
                        .map(|j| j.0.clone())
                        .collect()
                })
                .unwrap_or_default();
            if !waiting.is_empty() && self.state.lock().waiting_for.is_empty() {
                self.state.lock().waiting_for = format!("joiners to sync: {}", waiting.join(", "));
            }
            return;
        };
        let keep: Vec<EpochMembers> = topo
            .memberships()
            .into_iter()
            .filter(|m| m.epoch >= *epoch)
            .collect();
        match self.set_layouts(&topo, &keep) {
            Ok(()) => {
                tracing::info!(epoch, "switched to the new layout");
                let mut s = self.state.lock();
                s.switched_at = Some(Instant::now());
                s.waiting_for.clear();
            }
            Err(e) => tracing::error!(error = %e, "cannot persist the switch"),
        }
    }

    /// The epoch this node has finished pulling for: its newest when every
    /// pull is done.
    fn own_synced(&self, topo: &Topology) -> u64 {
        let s = self.state.lock();
        let current = s.planned_for.last() == Some(&topo.epoch());
        if current && s.pulls.values().all(|d| *d) {
            topo.epoch()
        } else {
            topo.stable_epoch()
        }
    }

    /// Publishes this node's progress for gossip.
    fn publish(&self) {
        let topo = self.cluster.view.get();
        let synced = self.own_synced(&topo);
        let status = self.status();
        let mut p = self.cluster.published.lock();
        p.stable_epoch = topo.stable_epoch();
        p.target_epoch = topo.epoch();
        p.synced_epoch = synced;
        p.pulls_total = status.total;
        p.pulls_done = status.done;
        p.pull_bytes = status.bytes;
    }

    /// True once every live node has installed our newest epoch and the
    /// settle time has passed since.
    fn may_pull(&self, topo: &Topology) -> bool {
        let epoch = topo.epoch();
        let installed = topo.members().keys().all(|id| {
            *id == self.cluster.self_id
                || !self.cluster.liveness.is_alive(id)
                || self
                    .cluster
                    .liveness
                    .peer_state(id)
                    .is_some_and(|p| p.target_epoch >= epoch)
        });
        let mut s = self.state.lock();
        if !installed {
            s.installed_everywhere_at = None;
            s.waiting_for = "every node to install the new membership".into();
            return false;
        }
        let since = *s.installed_everywhere_at.get_or_insert_with(Instant::now);
        if since.elapsed() < self.settle {
            s.waiting_for = "writes under the old layout to settle".into();
            return false;
        }
        true
    }

    /// Pulls the partitions not pulled yet, one after the other.
    async fn pull_some(&self, shutdown: &CancellationToken) -> Result<()> {
        let topo = self.cluster.view.get();
        let pending: Vec<u32> = {
            let s = self.state.lock();
            s.pulls
                .iter()
                .filter(|(_, d)| !**d)
                .map(|(p, _)| *p)
                .collect()
        };
        if pending.is_empty() || !self.may_pull(&topo) {
            return Ok(());
        }
        for p in pending {
            if shutdown.is_cancelled()
                || self.state.lock().planned_for.last() != Some(&topo.epoch())
            {
                return Ok(());
            }
            self.state.lock().waiting_for = format!("pulling partition {p}");
            let bytes = self.pull_partition(&topo, p).await?;
            let mut s = self.state.lock();
            s.bytes += bytes;
            s.pulls.insert(p, true);
            let done: Vec<u32> = s
                .pulls
                .iter()
                .filter(|(_, d)| **d)
                .map(|(p, _)| *p)
                .collect();
            drop(s);
            pull::save_done(&self.cluster.store, topo.epoch(), &done)?;
            self.publish();
        }
        self.state.lock().waiting_for.clear();
        tracing::info!(epoch = topo.epoch(), "every partition pulled");
        Ok(())
    }

    /// Pulls one partition from the live owners of the other layouts.
    async fn pull_partition(&self, topo: &Topology, p: u32) -> Result<u64> {
        let n = self.cluster.replication.n as usize;
        let sources: Vec<DeviceId> = pull::sources(topo, p, n, &self.cluster.self_id)
            .into_iter()
            .filter(|d| self.cluster.liveness.is_alive(d))
            .collect();
        let Some(first) = sources.first() else {
            return Err(Error::Internal(format!(
                "partition {p}: no live owner to pull from"
            )));
        };
        let calls: Arc<dyn SyncCalls> = self.cluster.transport.clone();
        let peer = |id: &DeviceId| {
            topo.peer(id)
                .map(|peer| SyncPeer::new(calls.clone(), peer))
                .ok_or_else(|| Error::Internal(format!("{id} is not a member")))
        };
        let mut bytes = if self.cluster.store.merkle().summary(p).keys == 0 {
            pull::stream(
                &self.cluster.store,
                &peer(first)?,
                p,
                &self.config,
                self.cluster.sync_timeout,
            )
            .await?
        } else {
            self.exchange(&peer(first)?, p).await?
        };
        for other in &sources[1..] {
            bytes += self.exchange(&peer(other)?, p).await?;
        }
        Ok(bytes)
    }

    async fn exchange(&self, peer: &SyncPeer, p: u32) -> Result<u64> {
        let outcomes = self.exchanger.exchange(peer, &[p]).await.map_err(|e| {
            Error::Internal(format!("exchange of partition {p} with {}: {e}", peer.id()))
        })?;
        Ok(outcomes.iter().map(|o| o.bytes).sum())
    }

    /// Drops partitions this node holds in no live layout, once it is safe.
    async fn drop_unowned(&self, shutdown: &CancellationToken) -> Result<()> {
        let topo = self.cluster.view.get();
        if topo.in_transition() {
            return Ok(());
        }
        let grace = Duration::from_millis(self.config.drop_grace_ms);
        if self
            .state
            .lock()
            .switched_at
            .is_some_and(|t| t.elapsed() < grace)
        {
            return Ok(());
        }
        let stable = topo.stable_epoch();
        let behind = topo.members().keys().any(|id| {
            *id != self.cluster.self_id
                && self.cluster.liveness.is_alive(id)
                && self
                    .cluster
                    .liveness
                    .peer_state(id)
                    .is_none_or(|p| p.stable_epoch < stable || p.target_epoch > stable)
        });
        if behind {
            return Ok(());
        }
        let n = self.cluster.replication.n as usize;
        let store = &self.cluster.store;
        for p in 0..store.keyspace().partitions() {
            if shutdown.is_cancelled() || self.cluster.view.get().in_transition() {
                return Ok(());
            }
            if store.merkle().summary(p).keys == 0
                || topo.owners(p, n).contains(&self.cluster.self_id)
            {
                continue;
            }
            let s = store.clone();
            let removed = crate::api::backend::run_blocking(
                store,
                self.cluster.sync_timeout * 6,
                move || s.drop_partition(p),
            )
            .await?;
            self.state.lock().dropped += 1;
            tracing::info!(
                partition = p,
                keys = removed,
                "dropped a partition this node no longer holds"
            );
        }
        self.cluster
            .aae
            .retain(|p| topo.owners(p, n).contains(&self.cluster.self_id));
        Ok(())
    }
}
