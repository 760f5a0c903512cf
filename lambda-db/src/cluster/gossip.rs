//! Gossip: chitchat's scuttlebutt gossip over UDP with its phi-accrual
//! failure detector, feeding [`Liveness`].
//!
//! Each node gossips under its node id and publishes its hint backlog (keys
//! `hints`, and `hints_for`: per owner) and its membership-change progress
//! (`stable`, `target` and `synced` epochs, `pulls` = done/total/bytes). A
//! watcher task turns chitchat's live set into the liveness view, keeping
//! only members of a live layout: gossip from other nodes is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chitchat::transport::UdpTransport;
use chitchat::{ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, spawn_chitchat};
use tokio_util::sync::CancellationToken;

use super::Cluster;
use super::liveness::PeerState;
use crate::chain::gossip_auth::{AUTH_KEY, GossipAuth};
use crate::error::{Error, Result};
use crate::placement::DeviceId;

const HINTS_KEY: &str = "hints";
const HINTS_FOR_KEY: &str = "hints_for";
const STABLE_KEY: &str = "stable";
const TARGET_KEY: &str = "target";
const SYNCED_KEY: &str = "synced";
const PULLS_KEY: &str = "pulls";

/// Gossip settings.
#[derive(Clone, Debug)]
pub struct GossipSettings {
    /// UDP address to listen on and advertise.
    pub listen: SocketAddr,
    /// Other members' gossip addresses.
    pub seeds: Vec<SocketAddr>,
    /// Cluster name; other clusters' gossip is ignored.
    pub cluster_id: String,
    /// Interval between gossip rounds.
    pub interval: Duration,
    /// Phi threshold of the failure detector.
    pub phi_threshold: f64,
    /// Chain mode: publish a signed identity token and count only nodes
    /// whose token verifies (`chain::gossip_auth`).
    pub auth: Option<GossipAuth>,
}

/// Starts gossip and the task that feeds liveness from it; both stop when
/// `shutdown` fires.
pub async fn start(
    cluster: Arc<Cluster>,
    settings: GossipSettings,
    shutdown: CancellationToken,
) -> Result<ChitchatHandle> {
    let generation = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let failure_detector = FailureDetectorConfig {
        phi_threshold: settings.phi_threshold,
        initial_interval: settings.interval,
        max_interval: settings.interval * 20,
        dead_node_grace_period: Duration::from_secs(3600),
        ..FailureDetectorConfig::default()
    };
    let mut initial = vec![(HINTS_KEY.to_string(), "0".to_string())];
    if let Some(auth) = &settings.auth {
        initial.push((
            AUTH_KEY.to_string(),
            auth.token(generation, settings.listen),
        ));
    }
    let config = ChitchatConfig {
        chitchat_id: ChitchatId::new(cluster.self_id.0.clone(), generation, settings.listen),
        cluster_id: settings.cluster_id.clone(),
        gossip_interval: settings.interval,
        listen_addr: settings.listen,
        seed_nodes: settings.seeds.iter().map(ToString::to_string).collect(),
        failure_detector_config: failure_detector,
        marked_for_deletion_grace_period: Duration::from_secs(3600),
        catchup_callback: None,
        extra_liveness_predicate: None,
        protocol_version: chitchat::ProtocolVersion::V0,
    };
    let handle = spawn_chitchat(config, initial, &UdpTransport)
        .await
        .map_err(|e| Error::Internal(format!("gossip on {}: {e}", settings.listen)))?;
    let chitchat = handle.chitchat();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(settings.interval);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let own = cluster.own_state();
            let mut chitchat = chitchat.lock().await;
            publish(chitchat.self_node_state(), &own);
            let view = cluster.view.get();
            let mut live = BTreeSet::new();
            let mut peers = BTreeMap::new();
            for id in chitchat.live_nodes() {
                let node = DeviceId(id.node_id.to_string());
                if !view.is_member(&node) {
                    continue;
                }
                if let Some(auth) = &settings.auth {
                    let token = chitchat.node_state(id).and_then(|s| s.get(AUTH_KEY));
                    if let Err(reason) = auth.verify(
                        &id.node_id,
                        id.generation_id,
                        id.gossip_advertise_addr,
                        token,
                    ) {
                        tracing::debug!(%reason, "gossip identity refused");
                        continue;
                    }
                }
                if let Some(state) = chitchat.node_state(id) {
                    peers.insert(node.clone(), read(state));
                }
                live.insert(node);
            }
            drop(chitchat);
            cluster.liveness.set_gossip_view(live, peers);
        }
    });
    Ok(handle)
}

fn publish(state: &mut chitchat::NodeState, own: &PeerState) {
    state.set(HINTS_KEY, own.hint_backlog);
    state.set(HINTS_FOR_KEY, own.hints_for_text());
    state.set(STABLE_KEY, own.stable_epoch);
    state.set(TARGET_KEY, own.target_epoch);
    state.set(SYNCED_KEY, own.synced_epoch);
    state.set(
        PULLS_KEY,
        format!("{}/{}/{}", own.pulls_done, own.pulls_total, own.pull_bytes),
    );
}

fn read(state: &chitchat::NodeState) -> PeerState {
    let num = |k: &str| {
        state
            .get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let pulls: Vec<u64> = state
        .get(PULLS_KEY)
        .unwrap_or_default()
        .split('/')
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let pull = |i: usize| pulls.get(i).copied().unwrap_or(0);
    PeerState {
        hint_backlog: num(HINTS_KEY),
        hints_for: PeerState::parse_hints_for(state.get(HINTS_FOR_KEY).unwrap_or_default()),
        stable_epoch: num(STABLE_KEY),
        target_epoch: num(TARGET_KEY),
        synced_epoch: num(SYNCED_KEY),
        pulls_done: u32::try_from(pull(0)).unwrap_or(u32::MAX),
        pulls_total: u32::try_from(pull(1)).unwrap_or(u32::MAX),
        pull_bytes: pull(2),
    }
}
