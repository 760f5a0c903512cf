//! The layouts a node serves at once: the *stable* layout (the last epoch it
//! fully switched to) and, while the membership changes, every newer layout
//! it has installed. Requests are *joint* across them: a write needs W
//! acknowledgements among the replicas of every live layout, a read R
//! answers from every live layout, so nodes that have switched and nodes
//! that have not yet always share a quorum (see ARCHITECTURE.md, "Membership
//! change"). Partitions whose owners are the same in every layout cost
//! nothing extra: their replicas are merged into one target list.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::liveness::Liveness;
use super::membership::{EpochMembers, Member};
use super::transport::Peer;
use super::view::{ClusterView, Targets};
use crate::placement::{DeviceId, Placement};

/// The replicas of a request across every live layout.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JointTargets {
    /// The union: each node once (a primary in any layout is a primary).
    pub targets: Targets,
    /// For each live layout (oldest first), the indexes into
    /// `targets.chosen` that count toward its quorum.
    pub per_layout: Vec<Vec<usize>>,
    /// Live primaries of the stable layout, in list order (the nodes that
    /// coordinate writes); those of newer layouts when none is live.
    pub coordinators: Vec<DeviceId>,
}

impl JointTargets {
    /// True when every layout has `quorum` of its targets in `ok`.
    pub fn satisfied(&self, ok: &BTreeSet<usize>, quorum: usize) -> bool {
        self.per_layout
            .iter()
            .all(|idxs| idxs.iter().filter(|i| ok.contains(i)).count() >= quorum)
    }

    /// The fewest answers in `ok` any layout has (for error messages).
    pub fn weakest(&self, ok: &BTreeSet<usize>) -> usize {
        self.per_layout
            .iter()
            .map(|idxs| idxs.iter().filter(|i| ok.contains(i)).count())
            .min()
            .unwrap_or(0)
    }
}

/// Every layout a node serves, oldest (stable) first.
#[derive(Debug)]
pub struct Topology {
    layouts: Vec<Arc<ClusterView>>,
    members: BTreeMap<DeviceId, Member>,
}

impl Topology {
    /// One layout, no change under way.
    pub fn single(view: ClusterView) -> Self {
        Self::new(vec![Arc::new(view)])
    }

    /// Layouts oldest first; must not be empty (an empty list is treated as
    /// no layout at all: nobody is a member).
    pub fn new(layouts: Vec<Arc<ClusterView>>) -> Self {
        let mut members = BTreeMap::new();
        for l in &layouts {
            for (id, m) in l.members() {
                members.insert(id.clone(), m.clone());
            }
        }
        Self { layouts, members }
    }

    /// The live layouts, oldest first.
    pub fn layouts(&self) -> &[Arc<ClusterView>] {
        &self.layouts
    }

    /// The stable layout (the oldest live one).
    pub fn stable(&self) -> Option<&Arc<ClusterView>> {
        self.layouts.first()
    }

    /// The newest layout.
    pub fn target(&self) -> Option<&Arc<ClusterView>> {
        self.layouts.last()
    }

    /// True while more than one layout is live.
    pub fn in_transition(&self) -> bool {
        self.layouts.len() > 1
    }

    /// The newest epoch.
    pub fn epoch(&self) -> u64 {
        self.target().map_or(0, |l| l.epoch())
    }

    /// The stable epoch.
    pub fn stable_epoch(&self) -> u64 {
        self.stable().map_or(0, |l| l.epoch())
    }

    /// Members of any live layout.
    pub fn members(&self) -> &BTreeMap<DeviceId, Member> {
        &self.members
    }

    /// True when `id` is a member of a live layout.
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

    /// The stable layout's placement.
    pub fn placement(&self) -> Option<&Placement> {
        self.stable().map(|l| l.placement())
    }

    /// The memberships of the live layouts, oldest first.
    pub fn memberships(&self) -> Vec<EpochMembers> {
        self.layouts
            .iter()
            .map(|l| EpochMembers {
                epoch: l.epoch(),
                members: l.members().values().cloned().collect(),
            })
            .collect()
    }

    /// The first `n` nodes of the key's preference list in the stable
    /// layout.
    pub fn preference_list(&self, key: &[u8], n: u32) -> Vec<DeviceId> {
        self.stable()
            .map(|l| l.preference_list(key, n))
            .unwrap_or_default()
    }

    /// The first `n` owners of `partition` in every live layout.
    pub fn owners(&self, partition: u32, n: usize) -> BTreeSet<DeviceId> {
        self.layouts
            .iter()
            .flat_map(|l| l.placement().preference_list(partition).iter().take(n))
            .cloned()
            .collect()
    }

    /// True when `partition`'s first `n` owners are the same set in every
    /// live layout.
    pub fn settled(&self, partition: u32, n: usize) -> bool {
        let mut sets = self.layouts.iter().map(|l| {
            l.placement()
                .preference_list(partition)
                .iter()
                .take(n)
                .collect::<BTreeSet<_>>()
        });
        let Some(first) = sets.next() else {
            return true;
        };
        sets.all(|s| s == first)
    }

    /// Replicas for a write in every live layout, merged.
    pub fn write_targets(&self, key: &[u8], n: u32, liveness: &Liveness) -> JointTargets {
        let mut out = JointTargets::default();
        let mut index: BTreeMap<DeviceId, usize> = BTreeMap::new();
        let mut down = BTreeSet::new();
        let mut spares = Vec::new();
        for layout in &self.layouts {
            let t = layout.write_targets(key, n, liveness);
            if out.coordinators.is_empty() {
                out.coordinators = t.primaries().cloned().collect();
            }
            let mut idxs = Vec::with_capacity(t.chosen.len());
            for target in t.chosen {
                let i = match index.get(&target.node) {
                    Some(&i) => {
                        if target.hint_for.is_none() {
                            out.targets.chosen[i].hint_for = None;
                        }
                        i
                    }
                    None => {
                        index.insert(target.node.clone(), out.targets.chosen.len());
                        out.targets.chosen.push(target);
                        out.targets.chosen.len() - 1
                    }
                };
                idxs.push(i);
            }
            out.per_layout.push(idxs);
            down.extend(t.down);
            spares.extend(t.spares);
        }
        let mut seen: BTreeSet<DeviceId> = index.keys().cloned().collect();
        out.targets.spares = spares
            .into_iter()
            .filter(|s| seen.insert(s.clone()))
            .collect();
        let primaries: BTreeSet<&DeviceId> = out.targets.primaries().collect();
        out.targets.down = down
            .into_iter()
            .filter(|d| !primaries.contains(d))
            .collect();
        out
    }

    /// Replicas for a read: as for a write (fallbacks answer with the hints
    /// they hold).
    pub fn read_targets(&self, key: &[u8], n: u32, liveness: &Liveness) -> JointTargets {
        self.write_targets(key, n, liveness)
    }
}
