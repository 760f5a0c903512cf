//! Coordinating client requests across replicas (Dynamo's coordinator).
//!
//! A write is coordinated by a live node of the key's preference list: it
//! versions the write with its own actor id, stores it, sends the resulting
//! object to the other replicas in parallel, and answers after W
//! acknowledgements (its own included); the other replicas are finished in
//! the background. A node that is not a live preference-list member forwards
//! the write to one that is. A replica that fails is suspected and replaced by
//! the next live node past the list, which keeps a hint for it.
//!
//! A read asks the first N live nodes of the ring order, answers once R have
//! replied with the merge of their objects, and then repairs the replicas that
//! were stale (read repair), including those that answered late.
//!
//! While the membership changes, both are joint: the replicas of every live
//! layout are asked (each node once), and the quorum must be met in each
//! layout (see [`super::topology`]).

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use lambda_proto::node::v1 as pb;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::Cluster;
use super::quorum::{Pending, drain, gather_until, spawn_call};
use super::topology::{JointTargets, Topology};
use super::transport::RpcError;
use super::view::{Target, Targets};
use crate::api::KvBackend;
use crate::api::backend::run_blocking;
use crate::error::{Error, Result};
use crate::placement::DeviceId;
use crate::request::RequestOptions;
use crate::version::codec::encode_context;
use crate::version::{Update, Value, VersionedObject};

/// The cluster as a [`KvBackend`].
#[derive(Clone, Debug)]
pub struct ClusterBackend(pub Arc<Cluster>);

#[tonic::async_trait]
impl KvBackend for ClusterBackend {
    async fn get(&self, key: Vec<u8>, opts: RequestOptions) -> Result<VersionedObject> {
        self.0.coordinate_read(key, opts).await
    }

    async fn write(
        &self,
        key: Vec<u8>,
        update: Update,
        opts: RequestOptions,
    ) -> Result<VersionedObject> {
        self.0.coordinate_write(key, update, opts).await
    }
}

type Spares = Arc<Mutex<VecDeque<DeviceId>>>;

fn down_names(targets: &Targets) -> Vec<String> {
    targets.down.iter().map(|d| d.0.clone()).collect()
}

impl Cluster {
    /// Coordinates a client write (or forwards it to a node that can).
    /// While the membership changes, the write needs W acknowledgements in
    /// every live layout.
    pub async fn coordinate_write(
        self: &Arc<Self>,
        key: Vec<u8>,
        update: Update,
        opts: RequestOptions,
    ) -> Result<VersionedObject> {
        let view = self.view.get();
        let joint = view.write_targets(&key, opts.n, &self.liveness);
        let is_coordinator = joint.coordinators.contains(&self.self_id);
        if !is_coordinator && !opts.forwarded {
            return self.forward_write(&view, &joint, key, update, opts).await;
        }
        let deadline = Instant::now() + opts.timeout;
        let store = self.store.clone();
        let k = key.clone();
        let object = run_blocking(&self.store, opts.timeout, move || {
            store.coordinate(&k, update)
        })
        .await?;
        let targets = &joint.targets;
        let self_idx = targets.chosen.iter().position(|t| t.node == self.self_id);
        let spares: Spares = Arc::new(Mutex::new(
            targets
                .spares
                .iter()
                .filter(|s| **s != self.self_id)
                .cloned()
                .collect(),
        ));
        let mut pending: Pending<DeviceId> = targets
            .chosen
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != self_idx)
            .map(|(i, t)| {
                let this = self.clone();
                let (key, object, spares, t) =
                    (key.clone(), object.clone(), spares.clone(), t.clone());
                spawn_call(i, async move {
                    this.put_with_fallback(&key, &object, t, &spares).await
                })
            })
            .collect();
        let w = opts.w as usize;
        let acked = |ok: &[(usize, DeviceId)]| -> BTreeSet<usize> {
            ok.iter().map(|(i, _)| *i).chain(self_idx).collect()
        };
        let gathered =
            gather_until(&mut pending, deadline, |ok| joint.satisfied(&acked(ok), w)).await;
        self.finish_in_background(pending).await;
        let ok = acked(&gathered.ok);
        if !joint.satisfied(&ok, w) {
            self.counters
                .quorum_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(Error::QuorumNotMet {
                op: "write",
                answered: joint.weakest(&ok),
                replicas: opts.n as usize,
                needed: w,
                detail: gathered.detail(&down_names(targets)),
            });
        }
        Ok(object)
    }

    /// Lets replica calls still under way finish after the client has its
    /// answer — in a background task while there are slots, else here.
    async fn finish_in_background(&self, mut pending: Pending<DeviceId>) {
        if pending.is_empty() {
            return;
        }
        match self.background.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    drain(&mut pending).await;
                    drop(permit);
                });
            }
            Err(_) => {
                drain(&mut pending).await;
            }
        }
    }

    /// Sends `object` to `target`; when that fails, to the next spare node
    /// with a hint for the node it replaces. Returns who acknowledged.
    async fn put_with_fallback(
        &self,
        key: &[u8],
        object: &VersionedObject,
        target: Target,
        spares: &Spares,
    ) -> Result<DeviceId, String> {
        let mut current = target;
        loop {
            match self.send_put(&current, key, object).await {
                Ok(()) => {
                    if current.hint_for.is_some() {
                        self.counters.hinted_writes.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(current.node);
                }
                Err(e) => {
                    let owner = current
                        .hint_for
                        .clone()
                        .unwrap_or_else(|| current.node.clone());
                    let next = spares.lock().pop_front();
                    match next {
                        Some(node) => {
                            tracing::debug!(failed = %current.node, fallback = %node, error = %e, "replica put failed; trying a fallback");
                            current = Target {
                                node,
                                hint_for: Some(owner),
                            };
                        }
                        None => return Err(e),
                    }
                }
            }
        }
    }

    /// One replica put, local or remote.
    async fn send_put(
        &self,
        target: &Target,
        key: &[u8],
        object: &VersionedObject,
    ) -> Result<(), String> {
        if target.node == self.self_id {
            let (store, hints, key, object) = (
                self.store.clone(),
                self.hints.clone(),
                key.to_vec(),
                object.clone(),
            );
            let hint_for = target.hint_for.clone();
            return run_blocking(&self.store, self.rpc_timeout, move || match hint_for {
                Some(owner) => hints.add(&owner, &key, &object),
                None => store.merge(&key, &object).map(|_| ()),
            })
            .await
            .map_err(|e| format!("{}: {e}", target.node));
        }
        let view = self.view.get();
        let peer = view
            .peer(&target.node)
            .ok_or_else(|| format!("{}: not a member", target.node))?;
        let result = self
            .transport
            .put(&peer, key, object, target.hint_for.as_ref())
            .await;
        self.note_outcome(&target.node, result.as_ref().err());
        result.map_err(|e| e.to_string())
    }

    /// Updates liveness after a call to `node`.
    fn note_outcome(&self, node: &DeviceId, error: Option<&RpcError>) {
        match error {
            Some(e) if e.peer_down() => self.liveness.suspect(node),
            Some(_) => {}
            None => self.liveness.clear(node),
        }
    }

    /// Forwards a write to a live preference-list node of the stable layout.
    async fn forward_write(
        &self,
        view: &Topology,
        joint: &JointTargets,
        key: Vec<u8>,
        update: Update,
        opts: RequestOptions,
    ) -> Result<VersionedObject> {
        let targets = &joint.targets;
        let (value, tombstone) = match update.value {
            Value::Live(v) => (v, false),
            Value::Tombstone => (Vec::new(), true),
        };
        let request = pb::CoordinateRequest {
            key,
            value,
            tombstone,
            context: encode_context(&update.context),
            options: Some(opts.to_pb()),
            timestamp_ms: update.timestamp_ms,
            deadline_ms: 0,
        };
        let mut failures = Vec::new();
        let deadline = Instant::now() + opts.timeout;
        let candidates: Vec<&DeviceId> = joint.coordinators.iter().take(2).collect();
        for (attempt, node) in candidates.iter().enumerate() {
            let Some(peer) = view.peer(node) else {
                continue;
            };
            // The first attempt gets half the time left, so a hung coordinator
            // leaves room to try the next one; the forwarded request carries
            // its own deadline, so a late arrival is refused, never applied.
            let left = deadline.saturating_duration_since(Instant::now());
            let budget = if attempt + 1 < candidates.len() {
                left / 2
            } else {
                left
            };
            let mut request = request.clone();
            request.deadline_ms =
                crate::api::kv_service::now_ms().saturating_add(budget.as_millis() as i64);
            self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
            match self.transport.coordinate(&peer, request, budget).await {
                Ok(obj) => {
                    self.liveness.clear(node);
                    return Ok(obj);
                }
                Err(RpcError::Refused { code, message, .. }) => {
                    return Err(Error::Remote { code, message });
                }
                Err(e) => {
                    self.note_outcome(node, Some(&e));
                    failures.push(e.to_string());
                }
            }
        }
        let down = down_names(targets);
        Err(Error::NoCoordinator(format!(
            "no live replica of the key could coordinate the write (tried: [{}]; believed down: [{}])",
            failures.join("; "),
            down.join(", ")
        )))
    }

    /// Coordinates a read with read repair. While the membership changes,
    /// the read needs R answers in every live layout.
    pub async fn coordinate_read(
        self: &Arc<Self>,
        key: Vec<u8>,
        opts: RequestOptions,
    ) -> Result<VersionedObject> {
        let view = self.view.get();
        let joint = view.read_targets(&key, opts.n, &self.liveness);
        let deadline = Instant::now() + opts.timeout;
        let mut pending: Pending<VersionedObject> = joint
            .targets
            .chosen
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let this = self.clone();
                let (node, key) = (t.node.clone(), key.clone());
                spawn_call(i, async move { this.fetch(&node, key).await })
            })
            .collect();
        let r = opts.r as usize;
        let answered = |ok: &[(usize, VersionedObject)]| -> BTreeSet<usize> {
            ok.iter().map(|(i, _)| *i).collect()
        };
        let gathered = gather_until(&mut pending, deadline, |ok| {
            joint.satisfied(&answered(ok), r)
        })
        .await;
        let ok = answered(&gathered.ok);
        if !joint.satisfied(&ok, r) {
            self.counters
                .quorum_failures
                .fetch_add(1, Ordering::Relaxed);
            return Err(Error::QuorumNotMet {
                op: "read",
                answered: joint.weakest(&ok),
                replicas: opts.n as usize,
                needed: r,
                detail: gathered.detail(&down_names(&joint.targets)),
            });
        }
        let mut merged = VersionedObject::default();
        for (_, obj) in &gathered.ok {
            merged.sync(obj);
        }
        if let Ok(permit) = self.background.clone().try_acquire_owned() {
            let this = self.clone();
            let result = merged.clone();
            let targets = joint.targets;
            tokio::spawn(async move {
                let mut answers = gathered.ok;
                answers.extend(
                    drain(&mut pending)
                        .await
                        .into_iter()
                        .filter_map(|(i, r)| r.ok().map(|o| (i, o))),
                );
                this.read_repair(&key, &targets, answers, &result).await;
                drop(permit);
            });
        }
        Ok(merged)
    }

    /// One replica read, local or remote.
    async fn fetch(
        self: &Arc<Self>,
        node: &DeviceId,
        key: Vec<u8>,
    ) -> Result<VersionedObject, String> {
        if *node == self.self_id {
            return self
                .replica_get(key)
                .await
                .map_err(|e| format!("{node}: {e}"));
        }
        let view = self.view.get();
        let peer = view
            .peer(node)
            .ok_or_else(|| format!("{node}: not a member"))?;
        let result = self.transport.get(&peer, &key).await;
        self.note_outcome(node, result.as_ref().err());
        result.map_err(|e| e.to_string())
    }

    /// Sends the merged object to every preference-list replica whose answer
    /// differed from it. Fallbacks are left alone: their hints go home.
    async fn read_repair(
        &self,
        key: &[u8],
        targets: &Targets,
        answers: Vec<(usize, VersionedObject)>,
        merged: &VersionedObject,
    ) {
        for (i, obj) in answers {
            let Some(target) = targets.chosen.get(i) else {
                continue;
            };
            if target.hint_for.is_some() || obj == *merged {
                continue;
            }
            if self.send_put(target, key, merged).await.is_ok() {
                self.counters.read_repairs.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(node = %target.node, "read repair");
            }
        }
    }
}
