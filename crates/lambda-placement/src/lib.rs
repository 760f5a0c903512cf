//! Placement: which devices hold each partition, as a pure function of an
//! epoch's membership (CCHDP, whitepaper 2.2, with Lambda's changes).
//!
//! The key space is cut into Q equal partitions ([`Keyspace`]); each
//! partition gets an ordered *preference list* of `min(replicas, devices)`
//! distinct devices in distinct zones while zones allow. The lists are
//! computed once per epoch into a table, so a lookup is hash → partition →
//! slice. The steps (each module says more):
//!
//! 1. [`classes`]: devices clustered by weight (threshold T) into classes,
//!    one consistent-hashing ring with virtual nodes per class.
//! 2. [`walk`]: class sub-intervals of the hash space sized by class weight
//!    (by default laid out as a race of ring distances, so a join moves only
//!    what the joining device wins), giving each partition a walk over all
//!    devices in preference order.
//! 3. [`balance`]: lists filled position by position from the walks under a
//!    per-device load bound, so shares stay within a few percent of weight
//!    even with few slots per device.
//!
//! [`plan`](plan()) lists the replica copies between two placements. Same
//! membership (in any order) and configuration → same table, on every
//! machine: only XXH3 over explicit bytes, integer arithmetic and f64 basic
//! operations, ordered maps, no randomness.

pub mod keyspace;

mod balance;
mod classes;
mod config;
mod device;
mod error;
mod hashing;
mod plan;
#[cfg(test)]
mod tests;
mod walk;

use std::collections::BTreeSet;
use std::sync::Arc;

pub use balance::fair_fractions;
pub use config::{ClassLayout, MAX_REPLICAS, PlacementConfig};
pub use device::{Device, DeviceId, Membership, WeightRule, pledge_weights};
pub use error::PlacementError;
pub use plan::{Move, plan};

use crate::keyspace::Keyspace;
use classes::{Member, build_classes};
use walk::{Rings, Walk};

/// An epoch's computed placement. Cloning shares the table.
#[derive(Clone, Debug)]
pub struct Placement {
    inner: Arc<Table>,
}

#[derive(Debug)]
struct Table {
    epoch: u64,
    config: PlacementConfig,
    keyspace: Keyspace,
    members: Vec<Member>,
    ids: Vec<DeviceId>,
    width: usize,
    /// Device indices, `partitions × width`.
    slots: Vec<u32>,
    /// The same as ids, for `preference_list`.
    lists: Vec<DeviceId>,
    rings: Rings,
}

/// Checks and sorts the devices (by id), numbering zones in sorted order.
fn members(m: &Membership, cfg: &PlacementConfig) -> Result<Vec<Member>, PlacementError> {
    if m.devices.is_empty() {
        return Err(PlacementError::EmptyMembership { epoch: m.epoch });
    }
    let mut devices: Vec<&Device> = m.devices.iter().collect();
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = devices.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(PlacementError::DuplicateDevice(w[0].id.0.clone()));
    }
    let zones: Vec<&str> = devices
        .iter()
        .map(|d| d.zone.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    devices
        .into_iter()
        .map(|d| {
            if d.id.0.is_empty() {
                return Err(PlacementError::EmptyDeviceId);
            }
            let weight = cfg.weight_rule.weight(d);
            if weight == 0 {
                return Err(PlacementError::ZeroWeight {
                    id: d.id.0.clone(),
                    capacity: d.capacity,
                    bandwidth: d.bandwidth,
                });
            }
            let zone = zones.binary_search(&d.zone.as_str()).unwrap_or(0) as u32;
            Ok(Member {
                id: d.id.0.clone(),
                weight,
                zone,
            })
        })
        .collect()
}

impl Placement {
    /// Computes the placement of membership `m` under `cfg`.
    pub fn compute(m: &Membership, cfg: &PlacementConfig) -> Result<Self, PlacementError> {
        let keyspace = cfg.validate()?;
        let members = members(m, cfg)?;
        let rings = Rings::new(build_classes(&members, cfg), cfg.layout, members.len());
        let width = (cfg.replicas as usize).min(members.len());
        let slack = cfg.balance.then_some(cfg.load_slack);
        let slots = balance::assign(&rings, &members, cfg.partitions, width, slack);
        let ids: Vec<DeviceId> = members.iter().map(|m| DeviceId(m.id.clone())).collect();
        let lists = slots
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                ids.get(d as usize)
                    .cloned()
                    .ok_or(PlacementError::Unplaceable {
                        partition: (i / width) as u32,
                        position: i % width,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            inner: Arc::new(Table {
                epoch: m.epoch,
                config: cfg.clone(),
                keyspace,
                members,
                ids,
                width,
                slots,
                lists,
                rings,
            }),
        })
    }

    /// The epoch this placement belongs to.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The configuration it was computed with.
    pub fn config(&self) -> &PlacementConfig {
        &self.inner.config
    }

    /// Number of partitions (Q).
    pub fn partitions(&self) -> u32 {
        self.inner.keyspace.partitions()
    }

    /// Length of every preference list: `min(replicas, devices)`.
    pub fn list_len(&self) -> usize {
        self.inner.width
    }

    /// The member devices, sorted by id.
    pub fn devices(&self) -> &[DeviceId] {
        &self.inner.ids
    }

    /// The partition of a key.
    pub fn partition_of(&self, key: &[u8]) -> u32 {
        self.inner.keyspace.partition_of(key)
    }

    /// The preference list of `partition` (empty if out of range): the
    /// first N entries serve a request with replication N.
    pub fn preference_list(&self, partition: u32) -> &[DeviceId] {
        let w = self.inner.width;
        let start = partition as usize * w;
        self.inner.lists.get(start..start + w).unwrap_or(&[])
    }

    /// The preference list of the partition of `key`.
    pub fn preference_list_of_key(&self, key: &[u8]) -> &[DeviceId] {
        self.preference_list(self.partition_of(key))
    }

    /// The preference list, then every other device once, in the
    /// partition's walk order: where sloppy quorum takes fallbacks from.
    pub fn walk(&self, partition: u32) -> impl Iterator<Item = &DeviceId> + '_ {
        let t = &*self.inner;
        let list = self.preference_list(partition);
        let listed = &t.slots[(partition as usize * t.width).min(t.slots.len())..][..list.len()];
        let mut rest = Walk::new(&t.rings);
        let in_range = partition < self.partitions();
        if in_range {
            rest.start(partition);
        }
        let rest = rest
            .take_while(move |_| in_range)
            .filter(move |(d, _)| !listed.contains(d))
            .filter_map(move |(d, _)| t.ids.get(d as usize));
        list.iter().chain(rest)
    }

    /// Every (partition, position) where `device` is on the list.
    pub fn partitions_of(&self, device: &DeviceId) -> Vec<(u32, usize)> {
        let t = &*self.inner;
        let Ok(d) = t.ids.binary_search(device) else {
            return Vec::new();
        };
        t.slots
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s as usize == d)
            .map(|(i, _)| ((i / t.width) as u32, i % t.width))
            .collect()
    }

    /// Replica slots held by each device (aligned with [`Self::devices`]),
    /// counting only the first `positions` list positions.
    pub fn slot_counts(&self, positions: usize) -> Vec<u64> {
        let t = &*self.inner;
        let mut counts = vec![0u64; t.ids.len()];
        for row in t.slots.chunks(t.width.max(1)) {
            for &d in row.iter().take(positions) {
                counts[d as usize] += 1;
            }
        }
        counts
    }

    /// Each device's weight (aligned with [`Self::devices`]).
    pub fn weights(&self) -> Vec<u64> {
        self.inner.members.iter().map(|m| m.weight).collect()
    }

    /// Fair fraction of the slots of the first `positions` positions for
    /// each device: its weight share, except that no device can hold a
    /// partition twice (aligned with [`Self::devices`]).
    pub fn fair_fractions(&self, positions: usize) -> Vec<f64> {
        balance::fair_fractions(&self.weights(), positions.clamp(1, self.inner.width.max(1)))
    }
}
