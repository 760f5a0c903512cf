//! The cluster as one node sees it at one epoch: the members, the placement
//! computed from them, and the choice of replicas for a request.
//!
//! [`ClusterView::write_targets`] and [`ClusterView::read_targets`] implement
//! the sloppy quorum: walk the partition's ring order, keep the live nodes of
//! the preference list, and for each one that is down take the next live node
//! past the list as a fallback that holds a hint for it.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::liveness::Liveness;
use super::membership::{EpochMembers, Member};
use super::topology::Topology;
use super::transport::Peer;
use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::placement::{DeviceId, Placement, PlacementConfig};

/// A replica chosen for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The node to call.
    pub node: DeviceId,
    /// For a fallback: the preference-list node it stands in for.
    pub hint_for: Option<DeviceId>,
}

/// The replicas of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Targets {
    /// Live preference-list nodes, then fallbacks for the dead ones.
    pub chosen: Vec<Target>,
    /// Preference-list nodes believed down.
    pub down: Vec<DeviceId>,
    /// Further live nodes in ring order, to replace a chosen node that fails.
    pub spares: Vec<DeviceId>,
}

impl Targets {
    /// Live preference-list nodes, in list order.
    pub fn primaries(&self) -> impl Iterator<Item = &DeviceId> {
        self.chosen
            .iter()
            .filter(|t| t.hint_for.is_none())
            .map(|t| &t.node)
    }
}

/// One epoch's cluster.
#[derive(Debug)]
pub struct ClusterView {
    members: BTreeMap<DeviceId, Member>,
    placement: Placement,
    keyspace: Keyspace,
    epoch: u64,
}

impl ClusterView {
    /// Computes the placement of `members`.
    pub fn new(members: &EpochMembers, config: &PlacementConfig) -> Result<Self> {
        members.validate()?;
        let keyspace =
            Keyspace::new(config.partitions).map_err(|e| Error::Layout(e.to_string()))?;
        let placement = Placement::compute(&members.placement_input(), config)
            .map_err(|e| Error::Layout(format!("placement: {e}")))?;
        Ok(Self {
            members: members
                .members
                .iter()
                .map(|m| (m.id.clone(), m.clone()))
                .collect(),
            placement,
            keyspace,
            epoch: members.epoch,
        })
    }

    /// The epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The placement.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The members, by id.
    pub fn members(&self) -> &BTreeMap<DeviceId, Member> {
        &self.members
    }

    /// True when `id` is a member of this epoch.
    pub fn is_member(&self, id: &DeviceId) -> bool {
        self.members.contains_key(id)
    }

    /// How to reach `id`.
    pub fn peer(&self, id: &DeviceId) -> Option<Peer> {
        self.members.get(id).map(|m| Peer {
            id: m.id.clone(),
            endpoint: m.endpoint.clone(),
        })
    }

    /// The partition of a key.
    pub fn partition_of(&self, key: &[u8]) -> u32 {
        self.keyspace.partition_of(key)
    }

    /// The first `n` nodes of the key's preference list.
    pub fn preference_list(&self, key: &[u8], n: u32) -> Vec<DeviceId> {
        self.placement
            .walk(self.partition_of(key))
            .take(n as usize)
            .cloned()
            .collect()
    }

    /// Replicas for a write: live preference-list nodes and a fallback (with
    /// a hint) for each one that is down.
    pub fn write_targets(&self, key: &[u8], n: u32, liveness: &Liveness) -> Targets {
        let mut walk = self.placement.walk(self.partition_of(key));
        let mut out = Targets::default();
        for node in walk.by_ref().take(n as usize) {
            if liveness.is_alive(node) {
                out.chosen.push(Target {
                    node: node.clone(),
                    hint_for: None,
                });
            } else {
                out.down.push(node.clone());
            }
        }
        let mut live_rest = walk.filter(|d| liveness.is_alive(d)).cloned();
        for owner in &out.down {
            match live_rest.next() {
                Some(node) => out.chosen.push(Target {
                    node,
                    hint_for: Some(owner.clone()),
                }),
                None => break,
            }
        }
        out.spares = live_rest.collect();
        out
    }

    /// Replicas for a read: the first `n` live nodes of the ring order
    /// (fallbacks answer with the hints they hold).
    pub fn read_targets(&self, key: &[u8], n: u32, liveness: &Liveness) -> Targets {
        self.write_targets(key, n, liveness)
    }
}

/// The layouts a node serves, replaced whole when they change.
#[derive(Debug)]
pub struct SharedView(parking_lot::RwLock<Arc<Topology>>);

impl SharedView {
    /// Holds `topology`.
    pub fn new(topology: Topology) -> Self {
        Self(parking_lot::RwLock::new(Arc::new(topology)))
    }

    /// The current layouts.
    pub fn get(&self) -> Arc<Topology> {
        self.0.read().clone()
    }

    /// Installs new layouts.
    pub fn set(&self, topology: Topology) {
        *self.0.write() = Arc::new(topology);
    }
}
