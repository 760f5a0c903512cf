//! Routing straight to a key's coordinator from a cached ring.
//!
//! [`RingRouter`] asks a node for the layouts it serves (`Admin.Layouts`)
//! and its status (`Admin.Status`: Q, the default N, per-node partition
//! counts), computes the ring as the nodes do ([`super::ring`]), and sends
//! each request on a key to the first node of the key's routing order that
//! has not just failed: a coordinator, so a write takes no forward hop and
//! a read is served by a replica. A retry goes to the next node of the
//! order, then to the configured endpoints. Requests on no single key
//! (batches), and every request while no ring is known, go round robin
//! over the configured endpoints ([`EndpointRouter`]).
//!
//! Nodes are tried in order but those that just failed an attempt, or that
//! the answering node's failure detector holds down (`Status`), are tried
//! last for a while ("the first live node").
//!
//! The ring is refreshed in the background every `refresh_interval_ms`,
//! and at once (at most every `min_refresh_gap_ms`) when a node says the
//! ring moved: a node that answers UNAVAILABLE "not a member", or a write
//! routed to a coordinator that came back versioned by another node's actor
//! (the node forwarded it: its ring differs from ours). A refresh asks the
//! configured endpoints first, then the ring's members, so it keeps working
//! when the configured nodes are down; an answer older than the ring held
//! is ignored. Each node gets its own lazily connected channel and a slot
//! number that is never reused for another endpoint or node id, under
//! which the SDK caches the node's billing identity for request signing.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lambda_placement::DeviceId;
use lambda_proto::node::v1 as npb;
use lambda_proto::node::v1::admin_client::AdminClient;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::transport::Channel;

use super::SdkError;
use super::client::{ClientConfig, endpoint};
use super::ring::{Ring, RingError};
use super::router::{EndpointRouter, Outcome, Route, Router};
use super::routing::RingConfig;

/// The ring a [`RingRouter`] routes by, for operators and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingSnapshot {
    /// The stable epoch (its layout's first N coordinate writes).
    pub stable_epoch: u64,
    /// The newest epoch (above `stable_epoch` while the membership
    /// changes).
    pub newest_epoch: u64,
    /// The cluster's default N.
    pub default_n: u32,
    /// Every member of a live layout: (id, endpoint), by id.
    pub nodes: Vec<(String, String)>,
}

/// Counters of a [`RingRouter`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingStats {
    /// Rings installed (the first one included).
    pub installed: u64,
    /// Answers that said the ring moved (each asks for a refresh).
    pub moved_signals: u64,
}

/// One node the router can send to.
#[derive(Debug)]
struct Slot {
    /// Normalized URI (`http://host:port`).
    uri: String,
    channel: Channel,
    /// The ring's id of the node (unset for a configured endpoint until a
    /// layout names it).
    id: std::sync::OnceLock<String>,
    /// The node's actor (hex), from its status.
    actor: Mutex<Option<String>>,
    suspect_until: Mutex<Option<Instant>>,
}

impl Slot {
    fn new(uri: String, channel: Channel) -> Self {
        Self {
            uri,
            channel,
            id: std::sync::OnceLock::new(),
            actor: Mutex::new(None),
            suspect_until: Mutex::new(None),
        }
    }

    fn is_suspect(&self, now: Instant) -> bool {
        matches!(*self.suspect_until.lock(), Some(t) if t > now)
    }
}

/// A ring computed from a node's answers, with the layouts it came from.
type NewRing = (Ring, Vec<npb::Layout>);

/// The ring in use.
#[derive(Debug)]
struct State {
    ring: Ring,
    /// The slot of every member.
    slots: HashMap<DeviceId, usize>,
    /// The layouts as fetched (an unchanged answer is not recomputed).
    layouts: Vec<npb::Layout>,
}

/// Why one node gave no ring.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("{0}")]
    Rpc(String),
    #[error("no answer within {0} ms")]
    Timeout(u128),
    #[error(transparent)]
    Ring(#[from] RingError),
    #[error("its layouts (epochs {theirs:?}) are older than the ring held ({ours:?})")]
    Stale {
        theirs: (u64, u64),
        ours: (u64, u64),
    },
}

#[derive(Debug)]
struct Inner {
    fallback: EndpointRouter,
    /// Configured endpoints first (slot i = endpoint i), then ring members.
    slots: RwLock<Vec<Arc<Slot>>>,
    state: RwLock<Option<Arc<State>>>,
    /// N of every request, when the client sets it.
    n: Option<u32>,
    cfg: RingConfig,
    connect_timeout: Duration,
    request_timeout: Duration,
    wake: Notify,
    next_source: AtomicUsize,
    installed: AtomicU64,
    moved: AtomicU64,
}

/// Normalized URI of an endpoint as configured or as a layout lists it.
fn normalize(endpoint: &str) -> String {
    let uri = if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("http://{endpoint}")
    };
    uri.trim_end_matches('/').to_string()
}

async fn rpc<T, F>(timeout: Duration, call: F) -> Result<T, FetchError>
where
    F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
{
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(FetchError::Rpc(format!("{:?}: {}", s.code(), s.message()))),
        Err(_) => Err(FetchError::Timeout(timeout.as_millis())),
    }
}

/// (newest, stable) epochs of fetched layouts.
fn epochs_of(layouts: &[npb::Layout]) -> (u64, u64) {
    (
        layouts.last().map_or(0, |l| l.epoch),
        layouts.first().map_or(0, |l| l.epoch),
    )
}

/// A ring router: see the module documentation. Dropping it stops its
/// background refresh.
#[derive(Debug)]
pub struct RingRouter {
    inner: Arc<Inner>,
    _stop: DropGuard,
}

impl RingRouter {
    /// A router over `config.endpoints` that fetches the ring at once
    /// (waiting at most `ring.fetch_timeout_ms`; while no node answers it
    /// routes round robin) and then keeps it fresh in the background.
    /// Must be called within a Tokio runtime.
    pub async fn connect(config: &ClientConfig) -> Result<Self, SdkError> {
        let endpoints = config
            .endpoints
            .iter()
            .map(|e| endpoint(e, config.connect_timeout, config.request_timeout))
            .collect::<Result<Vec<_>, _>>()?;
        let fallback = EndpointRouter::new(endpoints)?;
        let slots = config
            .endpoints
            .iter()
            .zip(fallback.channels())
            .map(|(uri, ch)| Arc::new(Slot::new(normalize(uri), ch)))
            .collect();
        let inner = Arc::new(Inner {
            fallback,
            slots: RwLock::new(slots),
            state: RwLock::new(None),
            n: config.options.n,
            cfg: config.ring.clone(),
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
            wake: Notify::new(),
            next_source: AtomicUsize::new(0),
            installed: AtomicU64::new(0),
            moved: AtomicU64::new(0),
        });
        if tokio::time::timeout(inner.fetch_timeout(), inner.refresh())
            .await
            .is_err()
        {
            tracing::debug!("no ring within the fetch timeout; routing round robin for now");
        }
        let stop = CancellationToken::new();
        tokio::spawn(refresh_loop(inner.clone(), stop.clone()));
        Ok(Self {
            inner,
            _stop: stop.drop_guard(),
        })
    }

    /// The ring in use (`None`: routing round robin).
    pub fn snapshot(&self) -> Option<RingSnapshot> {
        let state = self.inner.state.read().clone()?;
        let (stable_epoch, newest_epoch) = state.ring.epochs();
        Some(RingSnapshot {
            stable_epoch,
            newest_epoch,
            default_n: state.ring.default_n(),
            nodes: state
                .ring
                .members()
                .iter()
                .map(|(id, e)| (id.0.clone(), e.clone()))
                .collect(),
        })
    }

    /// The ids of the nodes a request on `key` tries, in order (empty while
    /// no ring is known); the first coordinates.
    pub fn nodes_for(&self, key: &[u8]) -> Vec<String> {
        let Some(state) = self.inner.state.read().clone() else {
            return Vec::new();
        };
        let n = self.inner.n.unwrap_or(state.ring.default_n());
        state
            .ring
            .candidates(key, n)
            .iter()
            .map(|c| c.node.0.clone())
            .collect()
    }

    /// Fetches the ring now; true when a node answered with a usable one.
    pub async fn refresh(&self) -> bool {
        self.inner.refresh().await
    }

    /// Counters.
    pub fn stats(&self) -> RingStats {
        RingStats {
            installed: self.inner.installed.load(Ordering::Relaxed),
            moved_signals: self.inner.moved.load(Ordering::Relaxed),
        }
    }
}

async fn refresh_loop(inner: Arc<Inner>, stop: CancellationToken) {
    let interval = Duration::from_millis(inner.cfg.refresh_interval_ms.max(1));
    let gap = Duration::from_millis(inner.cfg.min_refresh_gap_ms);
    let mut last = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = inner.learn_actors() => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
            () = inner.wake.notified() => {}
        }
        let wait = gap.saturating_sub(last.elapsed());
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            _ = inner.refresh() => {}
        }
        last = Instant::now();
    }
}

impl Inner {
    fn fetch_timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.fetch_timeout_ms.max(1))
    }

    /// Asks the sources in turn until one gives a ring; takes which nodes
    /// that node believes down from its status.
    async fn refresh(&self) -> bool {
        for slot in self.sources() {
            match self.fetch(&slot).await {
                Ok((status, ring)) => {
                    if let Some((ring, layouts)) = ring {
                        self.install(ring, layouts);
                    }
                    self.note_down(&status);
                    return true;
                }
                Err(e) => {
                    tracing::debug!(endpoint = %slot.uri, error = %e, "ring refresh: no ring from this node");
                }
            }
        }
        false
    }

    /// Configured endpoints (starting one further each refresh), then the
    /// ring's other members; nodes not suspected first.
    fn sources(&self) -> Vec<Arc<Slot>> {
        let slots = self.slots.read().clone();
        let k = self.fallback.len().min(slots.len()).max(1);
        let start = self.next_source.fetch_add(1, Ordering::Relaxed) % k;
        let mut order: Vec<Arc<Slot>> = (0..k)
            .filter_map(|i| slots.get((start + i) % k).cloned())
            .collect();
        if let Some(state) = self.state.read().clone() {
            let mut members: Vec<usize> =
                state.slots.values().copied().filter(|&i| i >= k).collect();
            members.sort_unstable();
            order.extend(members.into_iter().filter_map(|i| slots.get(i).cloned()));
        }
        let now = Instant::now();
        order.sort_by_key(|s| s.is_suspect(now));
        order
    }

    /// One node's status and ring (`None`: the ring held is unchanged).
    async fn fetch(
        &self,
        slot: &Slot,
    ) -> Result<(npb::StatusResponse, Option<NewRing>), FetchError> {
        let t = self.fetch_timeout();
        let mut admin = AdminClient::new(slot.channel.clone());
        let layouts = rpc(t, admin.layouts(npb::LayoutsRequest {})).await?.layouts;
        if layouts.is_empty() {
            return Err(RingError::NoLayouts.into());
        }
        let status = rpc(t, admin.status(npb::StatusRequest {})).await?;
        if let Some(current) = self.state.read().clone() {
            if current.layouts == layouts {
                return Ok((status, None));
            }
            let ours = epochs_of(&current.layouts);
            let theirs = epochs_of(&layouts);
            if theirs < ours {
                return Err(FetchError::Stale { theirs, ours });
            }
        }
        let mut placement = self.cfg.placement.clone();
        if status.partitions > 0 {
            placement.partitions = status.partitions;
        }
        // A large cluster's placement takes a while: off the async workers.
        tokio::task::spawn_blocking(move || {
            let ring = Ring::compute(&layouts, &placement, status.default_n)?;
            ring.check(&status)?;
            Ok((status, Some((ring, layouts))))
        })
        .await
        .map_err(|e| FetchError::Rpc(format!("placement task: {e}")))?
    }

    /// Nodes the answering node's failure detector holds down are tried
    /// last until the next refresh (the client's own failures count too).
    fn note_down(&self, status: &npb::StatusResponse) {
        let Some(state) = self.state.read().clone() else {
            return;
        };
        let until = Instant::now() + Duration::from_millis(self.cfg.refresh_interval_ms);
        let slots = self.slots.read();
        for node in status.nodes.iter().filter(|n| !n.up) {
            if let Some(slot) = state
                .slots
                .get(&DeviceId(node.id.clone()))
                .and_then(|&i| slots.get(i))
            {
                let mut s = slot.suspect_until.lock();
                *s = Some(s.map_or(until, |t| t.max(until)));
            }
        }
    }

    fn install(&self, ring: Ring, layouts: Vec<npb::Layout>) {
        let mut slots = HashMap::new();
        for (id, endpoint) in ring.members() {
            match self.slot_for(id, endpoint) {
                Ok(i) => {
                    slots.insert(id.clone(), i);
                }
                Err(e) => {
                    tracing::warn!(node = %id, endpoint = %endpoint, error = %e, "ring member not routable");
                }
            }
        }
        let (stable, newest) = ring.epochs();
        let nodes = slots.len();
        *self.state.write() = Some(Arc::new(State {
            ring,
            slots,
            layouts,
        }));
        self.installed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(stable, newest, nodes, "ring routing: ring installed");
    }

    /// The slot of node `id` at `endpoint`: the configured endpoint or the
    /// earlier slot with that URI and id, else a new one.
    fn slot_for(&self, id: &DeviceId, endpoint_: &str) -> Result<usize, SdkError> {
        let uri = normalize(endpoint_);
        let mut slots = self.slots.write();
        for (i, s) in slots.iter().enumerate() {
            if s.uri == uri && s.id.get_or_init(|| id.0.clone()) == &id.0 {
                return Ok(i);
            }
        }
        let ep = endpoint(&uri, self.connect_timeout, self.request_timeout)?;
        let slot = Slot::new(uri, ep.connect_lazy());
        let _ = slot.id.set(id.0.clone());
        slots.push(Arc::new(slot));
        Ok(slots.len() - 1)
    }

    /// Asks every member whose actor is unknown for its status.
    async fn learn_actors(&self) {
        let Some(state) = self.state.read().clone() else {
            return;
        };
        let missing: Vec<Arc<Slot>> = {
            let slots = self.slots.read();
            state
                .slots
                .values()
                .filter_map(|&i| slots.get(i))
                .filter(|s| s.actor.lock().is_none())
                .cloned()
                .collect()
        };
        let t = self.fetch_timeout();
        let mut tasks = tokio::task::JoinSet::new();
        for slot in missing {
            tasks.spawn(async move {
                let mut admin = AdminClient::new(slot.channel.clone());
                if let Ok(st) = rpc(t, admin.status(npb::StatusRequest {})).await
                    && slot.id.get() == Some(&st.node_id)
                {
                    *slot.actor.lock() = Some(st.actor);
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    fn moved(&self, why: &'static str) {
        self.moved.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(why, "ring routing: the ring moved; refreshing");
        self.wake.notify_one();
    }

    fn slot(&self, i: usize) -> Option<Arc<Slot>> {
        self.slots.read().get(i).cloned()
    }

    fn fallback_route(&self, attempt: u32) -> Route {
        let i = self.fallback.pick(attempt);
        let slot = self.slot(i);
        let fallback = || self.fallback.route(b"", attempt);
        match slot {
            Some(s) => Route {
                channel: s.channel.clone(),
                slot: Some(i),
                node: s.id.get().cloned(),
                coordinator: false,
            },
            None => fallback(),
        }
    }

    /// The first node of the key's order not suspected (all suspected:
    /// the order's `attempt`-th, cycling).
    fn ring_route(&self, state: &State, key: &[u8], attempt: u32) -> Route {
        let n = self.n.unwrap_or(state.ring.default_n());
        let mut order: Vec<(usize, bool)> = state
            .ring
            .candidates(key, n)
            .iter()
            .filter_map(|c| state.slots.get(c.node).map(|&i| (i, c.coordinator)))
            .collect();
        for i in 0..self.fallback.len() {
            if !order.iter().any(|(s, _)| *s == i) {
                order.push((i, false));
            }
        }
        let slots = self.slots.read();
        let now = Instant::now();
        let pick = order
            .iter()
            .find(|(i, _)| slots.get(*i).is_some_and(|s| !s.is_suspect(now)))
            .or_else(|| order.get((attempt.max(1) as usize - 1) % order.len().max(1)));
        match pick.and_then(|&(i, c)| slots.get(i).map(|s| (i, c, s))) {
            Some((i, coordinator, s)) => Route {
                channel: s.channel.clone(),
                slot: Some(i),
                node: s.id.get().cloned(),
                coordinator,
            },
            None => {
                drop(slots);
                self.fallback_route(attempt)
            }
        }
    }
}

/// True when an error says the routed node's ring differs from ours.
fn says_ring_moved(e: &SdkError) -> bool {
    match e {
        SdkError::Unavailable(m) => m.contains("not a member"),
        SdkError::NodeMismatch { .. } => true,
        _ => false,
    }
}

impl Router for RingRouter {
    fn route(&self, key: &[u8], attempt: u32) -> Route {
        let state = if key.is_empty() {
            None
        } else {
            self.inner.state.read().clone()
        };
        match state {
            Some(s) => self.inner.ring_route(&s, key, attempt),
            None => self.inner.fallback_route(attempt),
        }
    }

    fn channels(&self) -> Vec<Channel> {
        self.inner.fallback.channels()
    }

    fn report(&self, route: &Route, outcome: Outcome<'_>) {
        let Some(slot) = route.slot.and_then(|i| self.inner.slot(i)) else {
            return;
        };
        let suspect = || {
            let until = Instant::now() + Duration::from_millis(self.inner.cfg.suspect_ms);
            *slot.suspect_until.lock() = Some(until);
        };
        match outcome {
            Outcome::Answered { write_actors } => {
                *slot.suspect_until.lock() = None;
                let mut actor = slot.actor.lock();
                if route.coordinator
                    && let (Some(actors), Some(mine)) = (write_actors, actor.as_deref())
                    && !actors.contains(&mine)
                {
                    // Learnt again on the next round, in case the node was
                    // wiped and has a new actor.
                    *actor = None;
                    drop(actor);
                    self.inner
                        .moved("a routed write was coordinated by another node");
                }
            }
            Outcome::Failed(e) => {
                if e.is_retryable() {
                    suspect();
                }
                if says_ring_moved(e) {
                    self.inner.moved("a node said it is not a member");
                }
            }
            Outcome::Abandoned => suspect(),
        }
    }
}

#[cfg(test)]
#[path = "ring_router_tests.rs"]
mod tests;
