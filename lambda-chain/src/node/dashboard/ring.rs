//! The ring view (`GET /api/ring`): every storage node the chain knows,
//! with its pledge (owner, zone, stake, capacity, bandwidth, endpoint), its
//! placement weight and the partitions it holds in the current epoch's
//! ring, and whether it is up.
//!
//! The ring is the one the storage nodes compute: the current epoch's
//! membership through `auditor::ring_of` (`lambda_placement::pledge_weights`
//! then `Placement::compute`) with the validator's `[audit] placement`,
//! which must equal lambda-db's `[placement]` (Q = 1024, 5 replicas by
//! default). It is computed once per epoch (the membership of an epoch never
//! changes) and its per-node counts are cached.
//!
//! Up or down: a node the chain voted offline, or that left or was slashed
//! out, is down on the chain's word; any other node is up or down by the
//! latest TCP probe of its endpoint (`probe`), unknown until one is made.

use std::collections::BTreeMap;

use lambda_placement::PlacementConfig;
use serde::Serialize;

use super::probe::Prober;
use crate::error::ChainError;
use crate::node::auditor::{device_of, ring_of};
use crate::state::{ChainState, Member, Membership, NodeStatus, StorageNode};

/// `/api/ring`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RingView {
    /// Latest committed height.
    pub(crate) height: u64,
    /// The epoch in force (that of the next block).
    pub(crate) epoch: u64,
    /// Q.
    pub(crate) partitions: u32,
    /// Configured preference-list length.
    pub(crate) replicas: u32,
    /// Actual list length: `min(replicas, members)`.
    pub(crate) list_len: usize,
    /// Members of the epoch.
    pub(crate) members: usize,
    /// Why there is no ring (no members, a bad configuration), if so.
    pub(crate) placement_error: Option<String>,
    /// Every node ever pledged: members first, then by id.
    pub(crate) nodes: Vec<RingNode>,
}

/// One storage node in the ring view.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct RingNode {
    /// Node id (hex address of its key).
    pub(crate) id: String,
    /// The account that pledged it.
    pub(crate) owner: String,
    /// Failure zone.
    pub(crate) zone: String,
    /// Pledged `host:port`.
    pub(crate) endpoint: String,
    /// Chain status (`member`, `pending`, `offline`, …).
    pub(crate) status: &'static str,
    /// In the current epoch's ring.
    pub(crate) member: bool,
    /// Remaining pledged stake.
    pub(crate) stake: u64,
    /// Capacity in GiB (placement units).
    pub(crate) capacity_gib: u64,
    /// Bandwidth in Mbit/s (placement units).
    pub(crate) bandwidth_mbps: u64,
    /// Placement weight under the configured rule.
    pub(crate) weight: u64,
    /// Partitions it leads (first in the preference list).
    pub(crate) primary: u64,
    /// Partitions it holds at a later position.
    pub(crate) replica: u64,
    /// Its fraction of all replica slots (`Q × list_len`).
    pub(crate) share: f64,
    /// Up, down or unknown, and why.
    pub(crate) liveness: Liveness,
}

/// Whether a node is up.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Liveness {
    /// `up`, `down` or `unknown`.
    pub(crate) state: &'static str,
    /// `chain` (a verdict or an exit) or `probe`.
    pub(crate) source: &'static str,
    /// Details for operators.
    pub(crate) detail: String,
    /// When the probe ran (ms since the Unix epoch).
    pub(crate) checked_ms: Option<u64>,
}

/// Slot counts of one epoch's ring.
#[derive(Clone, Debug)]
struct Layout {
    partitions: u32,
    list_len: usize,
    members: usize,
    /// Per node id: (primary, all slots).
    counts: BTreeMap<String, (u64, u64)>,
}

/// The ring of the last epoch seen, so it is computed once per epoch.
#[derive(Debug, Default)]
pub(crate) struct RingCache {
    epoch: Option<u64>,
    layout: Option<Result<Layout, String>>,
}

fn layout_of(m: &Membership, cfg: &PlacementConfig) -> Result<Layout, String> {
    if m.members.is_empty() {
        return Err(format!("epoch {} has no members", m.epoch));
    }
    let ring = ring_of(m, cfg).map_err(|e| e.to_string())?;
    let primary = ring.slot_counts(1);
    let all = ring.slot_counts(ring.list_len());
    let counts = ring
        .devices()
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let p = primary.get(i).copied().unwrap_or(0);
            let a = all.get(i).copied().unwrap_or(0);
            (d.0.clone(), (p, a))
        })
        .collect();
    Ok(Layout {
        partitions: ring.partitions(),
        list_len: ring.list_len(),
        members: m.members.len(),
        counts,
    })
}

impl RingCache {
    /// The ring view of the committed state (without probe outcomes).
    pub(crate) fn view(
        &mut self,
        state: &ChainState,
        cfg: &PlacementConfig,
    ) -> Result<RingView, ChainError> {
        let height = state.latest_height();
        let epoch = state.epoch_of(height + 1);
        if self.epoch != Some(epoch) || self.layout.is_none() {
            let membership = state.membership(epoch)?.unwrap_or(Membership {
                epoch,
                members: Vec::new(),
            });
            self.layout = Some(layout_of(&membership, cfg));
            self.epoch = Some(epoch);
        }
        let layout = match &self.layout {
            Some(Ok(l)) => Ok(l),
            Some(Err(e)) => Err(e.clone()),
            None => Err("no ring computed".to_string()),
        };
        let mut nodes: Vec<RingNode> = state
            .nodes()?
            .iter()
            .map(|n| node_row(n, cfg, layout.as_ref().ok().copied()))
            .collect();
        nodes.sort_by(|a, b| b.member.cmp(&a.member).then_with(|| a.id.cmp(&b.id)));
        Ok(RingView {
            height,
            epoch,
            partitions: cfg.partitions,
            replicas: cfg.replicas,
            list_len: layout.as_ref().map_or(0, |l| l.list_len),
            members: layout.as_ref().map_or(0, |l| l.members),
            placement_error: layout.err(),
            nodes,
        })
    }
}

fn node_row(n: &StorageNode, cfg: &PlacementConfig, layout: Option<&Layout>) -> RingNode {
    let device = device_of(&Member::of(n));
    let id = n.id.to_string();
    let counts = layout.and_then(|l| l.counts.get(&id).copied());
    let (primary, all) = counts.unwrap_or((0, 0));
    let slots = layout.map_or(0, |l| u64::from(l.partitions) * l.list_len as u64);
    RingNode {
        member: counts.is_some(),
        owner: n.owner.to_string(),
        zone: n.zone.clone(),
        endpoint: n.endpoint.clone(),
        status: n.status.name(),
        stake: n.stake,
        capacity_gib: device.capacity,
        bandwidth_mbps: device.bandwidth,
        weight: cfg.weight_rule.weight(&device),
        primary,
        replica: all - primary,
        share: if slots == 0 {
            0.0
        } else {
            all as f64 / slots as f64
        },
        liveness: chain_liveness(n),
        id,
    }
}

/// Down on the chain's word, or unknown until probed.
fn chain_liveness(n: &StorageNode) -> Liveness {
    let down = |detail: String| Liveness {
        state: "down",
        source: "chain",
        detail,
        checked_ms: None,
    };
    match n.status {
        NodeStatus::Offline => down(format!(
            "voted offline by the validators at height {}",
            n.status_height
        )),
        NodeStatus::Exited => down(format!("left the ring at height {}", n.status_height)),
        NodeStatus::Slashed => down(format!(
            "slashed under the minimum stake at height {}; out of the ring",
            n.status_height
        )),
        NodeStatus::Pending | NodeStatus::Member | NodeStatus::Leaving => Liveness {
            state: "unknown",
            source: "probe",
            detail: "not probed yet".into(),
            checked_ms: None,
        },
    }
}

impl RingView {
    /// The endpoints whose liveness the probes decide.
    pub(crate) fn probe_targets(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.liveness.source == "probe")
            .map(|n| n.endpoint.clone())
            .collect()
    }

    /// Fills in the latest probe outcomes.
    pub(crate) fn apply_probes(&mut self, prober: &Prober) {
        for n in self
            .nodes
            .iter_mut()
            .filter(|n| n.liveness.source == "probe")
        {
            if let Some(o) = prober.outcome(&n.endpoint) {
                n.liveness = Liveness {
                    state: if o.up { "up" } else { "down" },
                    source: "probe",
                    detail: o.detail,
                    checked_ms: Some(o.checked_ms),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::Fixture;
    use super::*;

    fn placement(partitions: u32, replicas: u32) -> PlacementConfig {
        PlacementConfig {
            partitions,
            replicas,
            ..PlacementConfig::default()
        }
    }

    #[test]
    fn slots_add_up_to_partitions_times_list_length() {
        let f = Fixture::new();
        let cfg = placement(1024, 5);
        let view = RingCache::default().view(&f.state, &cfg).unwrap();
        assert_eq!(view.placement_error, None);
        assert_eq!(view.members, 4);
        // Four members and five replicas: every list holds all four.
        assert_eq!(view.list_len, 4);
        let primaries: u64 = view.nodes.iter().map(|n| n.primary).sum();
        let slots: u64 = view.nodes.iter().map(|n| n.primary + n.replica).sum();
        assert_eq!(primaries, 1024);
        assert_eq!(slots, 1024 * 4);
        let shares: f64 = view.nodes.iter().map(|n| n.share).sum();
        assert!((shares - 1.0).abs() < 1e-9, "{shares}");

        let cfg = placement(256, 2);
        let view = RingCache::default().view(&f.state, &cfg).unwrap();
        assert_eq!(view.list_len, 2);
        let slots: u64 = view.nodes.iter().map(|n| n.primary + n.replica).sum();
        assert_eq!(slots, 256 * 2);
    }

    #[test]
    fn nodes_carry_their_pledge_and_weight() {
        let f = Fixture::new();
        let cfg = placement(1024, 3);
        let view = RingCache::default().view(&f.state, &cfg).unwrap();
        assert_eq!(view.nodes.len(), 4);
        let big = view.nodes.iter().find(|n| n.zone == "zone-c").unwrap();
        let small = view.nodes.iter().find(|n| n.zone == "zone-a").unwrap();
        assert_eq!((big.capacity_gib, big.bandwidth_mbps), (400, 2000));
        // √(400 × 2000) = 894, √(100 × 800) = 282 (GiB × Mbit/s).
        assert_eq!(big.weight, 894);
        assert_eq!(small.weight, 282);
        assert!(big.primary > small.primary, "{big:?} {small:?}");
        assert_eq!(big.status, "member");
        assert_eq!(big.owner, f.owner().to_string());
        assert!(big.endpoint.starts_with("127.0.0.1:"));
        assert_eq!(big.liveness.state, "unknown");
    }

    #[test]
    fn an_empty_membership_is_named() {
        let f = Fixture::empty();
        let cfg = placement(64, 3);
        let view = RingCache::default().view(&f.state, &cfg).unwrap();
        assert_eq!(
            view.placement_error.as_deref(),
            Some("epoch 0 has no members")
        );
        assert!(view.nodes.is_empty());
        assert_eq!(view.list_len, 0);
    }

    #[test]
    fn the_ring_is_computed_again_when_the_epoch_changes() {
        let mut f = Fixture::new();
        let cfg = placement(64, 3);
        let mut cache = RingCache::default();
        let before = cache.view(&f.state, &cfg).unwrap();
        assert_eq!(cache.epoch, Some(before.epoch));
        f.finish_epoch();
        let after = cache.view(&f.state, &cfg).unwrap();
        assert_eq!(after.epoch, before.epoch + 1);
        assert_eq!(cache.epoch, Some(after.epoch));
        // Same members: the same ring.
        let counts = |v: &RingView| -> Vec<(u64, u64)> {
            v.nodes.iter().map(|n| (n.primary, n.replica)).collect()
        };
        assert_eq!(counts(&before), counts(&after));
    }

    #[tokio::test]
    async fn probes_decide_liveness_unless_the_chain_did() {
        let f = Fixture::new();
        let cfg = placement(64, 3);
        let mut view = RingCache::default().view(&f.state, &cfg).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        view.nodes[0].endpoint = open.clone();
        view.nodes[1].liveness = chain_liveness(&StorageNode {
            status: NodeStatus::Offline,
            status_height: 7,
            ..f.state.nodes().unwrap()[0].clone()
        });
        let targets = view.probe_targets();
        assert_eq!(targets.len(), 3);
        assert!(!targets.contains(&view.nodes[1].endpoint));
        let prober = Prober::default();
        prober.set_targets(targets);
        prober.round(std::time::Duration::from_millis(500)).await;
        view.apply_probes(&prober);
        assert_eq!(view.nodes[0].liveness.state, "up");
        assert_eq!(view.nodes[1].liveness.state, "down");
        assert!(view.nodes[1].liveness.detail.contains("voted offline"));
        // The fixture's other endpoints listen nowhere.
        assert_eq!(view.nodes[2].liveness.state, "down");
        assert!(view.nodes[2].liveness.checked_ms.is_some());
    }
}
