//! Which peers this node believes are up.
//!
//! Two sources feed it: gossip (chitchat's phi-accrual failure detector says
//! which members are live) and the node's own RPCs (a peer that timed out or
//! refused a connection is *suspected* for a short while, so the next requests
//! go to a fallback at once instead of waiting for the same timeout). A peer
//! is alive when gossip holds it live — or has not had a chance to hear from
//! it yet, during a grace period after start — and it is not suspected.
//! Liveness only steers sloppy quorums and hint delivery; it never changes
//! membership.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use parking_lot::RwLock;
use tokio::time::Instant;

use crate::placement::DeviceId;

/// What a node publishes in gossip besides being alive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerState {
    /// Hints it holds for others, in all.
    pub hint_backlog: u64,
    /// Hints it holds, per owner.
    pub hints_for: BTreeMap<DeviceId, u64>,
    /// The epoch it serves alone (its stable layout).
    pub stable_epoch: u64,
    /// The newest epoch it has installed.
    pub target_epoch: u64,
    /// The newest epoch whose partitions it has finished pulling.
    pub synced_epoch: u64,
    /// Partitions it pulls for its target, and those done.
    pub pulls_total: u32,
    /// Partitions pulled.
    pub pulls_done: u32,
    /// Bytes pulled.
    pub pull_bytes: u64,
}

impl PeerState {
    /// Encodes the per-owner hints for gossip: `owner=count,…`.
    pub fn hints_for_text(&self) -> String {
        self.hints_for
            .iter()
            .map(|(o, n)| format!("{}={n}", o.0))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses [`PeerState::hints_for_text`]; malformed entries are skipped.
    pub fn parse_hints_for(text: &str) -> BTreeMap<DeviceId, u64> {
        text.split(',')
            .filter_map(|e| {
                let (o, n) = e.split_once('=')?;
                Some((DeviceId(o.to_owned()), n.parse().ok()?))
            })
            .collect()
    }
}

#[derive(Debug, Default)]
struct State {
    /// Members gossip currently holds live (None until gossip reported once).
    live: Option<BTreeSet<DeviceId>>,
    /// Members suspected after a failed RPC, until the instant given.
    suspects: HashMap<DeviceId, Instant>,
    /// What other nodes gossiped.
    peers: BTreeMap<DeviceId, PeerState>,
}

/// This node's view of which peers are up.
#[derive(Debug)]
pub struct Liveness {
    self_id: DeviceId,
    suspect_for: Duration,
    grace_until: Instant,
    state: RwLock<State>,
}

impl Liveness {
    /// A view where every peer is presumed up for `startup_grace` (until
    /// gossip has had time to hear from it), and a failed RPC makes a peer
    /// suspect for `suspect_for`.
    pub fn new(self_id: DeviceId, suspect_for: Duration, startup_grace: Duration) -> Self {
        Self {
            self_id,
            suspect_for,
            grace_until: Instant::now() + startup_grace,
            state: RwLock::new(State::default()),
        }
    }

    /// True when `node` is believed up.
    pub fn is_alive(&self, node: &DeviceId) -> bool {
        if *node == self.self_id {
            return true;
        }
        let now = Instant::now();
        let state = self.state.read();
        if state.suspects.get(node).is_some_and(|until| *until > now) {
            return false;
        }
        match &state.live {
            Some(live) => live.contains(node) || now < self.grace_until,
            None => true,
        }
    }

    /// Marks `node` suspect after a failed call.
    pub fn suspect(&self, node: &DeviceId) {
        if *node == self.self_id {
            return;
        }
        let until = Instant::now() + self.suspect_for;
        self.state.write().suspects.insert(node.clone(), until);
    }

    /// Clears a suspicion after a successful call.
    pub fn clear(&self, node: &DeviceId) {
        if self.state.read().suspects.contains_key(node) {
            self.state.write().suspects.remove(node);
        }
    }

    /// Replaces the gossip view: the live members and what they published.
    pub fn set_gossip_view(&self, live: BTreeSet<DeviceId>, peers: BTreeMap<DeviceId, PeerState>) {
        let mut state = self.state.write();
        state.live = Some(live);
        state.peers = peers;
    }

    /// The hint backlog `node` last gossiped.
    pub fn gossiped_backlog(&self, node: &DeviceId) -> Option<u64> {
        self.state.read().peers.get(node).map(|p| p.hint_backlog)
    }

    /// What `node` last gossiped.
    pub fn peer_state(&self, node: &DeviceId) -> Option<PeerState> {
        self.state.read().peers.get(node).cloned()
    }

    /// Sets what `node` published (the simulation's stand-in for gossip).
    pub fn set_peer_state(&self, node: DeviceId, peer: PeerState) {
        self.state.write().peers.insert(node, peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn suspicion_expires_and_gossip_rules_after_grace() {
        let me = DeviceId::from("a");
        let b = DeviceId::from("b");
        let l = Liveness::new(me.clone(), Duration::from_secs(2), Duration::from_secs(5));
        assert!(l.is_alive(&b), "presumed up before gossip reports");
        l.suspect(&b);
        assert!(!l.is_alive(&b));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(l.is_alive(&b), "suspicion expired");
        l.set_gossip_view(BTreeSet::new(), BTreeMap::new());
        assert!(l.is_alive(&b), "within the start-up grace period");
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!l.is_alive(&b), "gossip does not hold it live");
        let state = PeerState {
            hint_backlog: 7,
            ..PeerState::default()
        };
        l.set_gossip_view([b.clone()].into(), [(b.clone(), state)].into());
        assert!(l.is_alive(&b));
        assert_eq!(l.gossiped_backlog(&b), Some(7));
        l.suspect(&me);
        assert!(l.is_alive(&me), "a node never suspects itself");
    }

    #[test]
    fn hints_for_round_trips_in_gossip_text() {
        let p = PeerState {
            hints_for: [(DeviceId::from("n1"), 3), (DeviceId::from("n2"), 10)].into(),
            ..PeerState::default()
        };
        assert_eq!(p.hints_for_text(), "n1=3,n2=10");
        assert_eq!(PeerState::parse_hints_for(&p.hints_for_text()), p.hints_for);
        assert!(PeerState::parse_hints_for("").is_empty());
        assert_eq!(PeerState::parse_hints_for("x=1,bad,y=z").len(), 1);
    }
}
