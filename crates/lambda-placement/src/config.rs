//! Placement parameters: partition count, list length, class threshold,
//! virtual nodes, load slack. Loaded like every configuration (serde +
//! `Default`), normally as the `placement` section of a cluster file; every
//! member of a cluster must use the same values, since the ring is a function
//! of membership *and* configuration.

use serde::{Deserialize, Serialize};

use super::device::WeightRule;
use super::error::PlacementError;
use crate::keyspace::Keyspace;

/// Longest preference list.
pub const MAX_REPLICAS: u32 = 16;

/// How class sub-intervals of the hash space are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassLayout {
    /// Lambda's layout: each class owns the hash values where its ring wins
    /// a race of ring distances (measure ∝ class weight), so a join only
    /// moves what the new device wins. Classes sit on a fixed geometric grid
    /// of weights. See ARCHITECTURE.md, "Placement".
    #[default]
    Race,
    /// The whitepaper as written: the whitepaper's sequential clustering,
    /// contiguous sub-intervals of [0, 1) in class order. Kept to measure
    /// against; a join shifts every boundary after its class.
    Contiguous,
}

/// Placement parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlacementConfig {
    /// Q: the number of equal partitions of the key space, a power of two,
    /// fixed at cluster creation.
    pub partitions: u32,
    /// Preference-list length: the largest N a request may use.
    pub replicas: u32,
    /// T: devices whose weights differ by less than this fraction share a
    /// class (relative, so it does not depend on units). 0 puts each
    /// distinct weight in its own class.
    pub class_threshold: f64,
    /// Virtual nodes per `weight_unit` of weight on a class ring. A
    /// device's share follows its virtual-node count, so keep devices below
    /// `max_vnodes_per_device`.
    pub vnodes: u32,
    /// The weight that gets `vnodes` virtual nodes (the default, 64 with 64
    /// vnodes, gives one virtual node per unit of √(GiB × Mbit/s)).
    pub weight_unit: u64,
    /// Upper bound on one device's virtual nodes (bounds memory whatever a
    /// pledge claims; a device above it gets less than its weight share).
    pub max_vnodes_per_device: u32,
    /// Independent probe points per class ring and partition (race layout):
    /// more probes average out uneven arcs when there are few classes.
    pub probes: u32,
    /// Bound every device's replica slots (in every list prefix) by
    /// `max(⌈fair⌉, ⌊fair × (1 + load_slack)⌋)`.
    pub balance: bool,
    /// The slack of the load bound (0.04 = at most 4 % over the fair share).
    pub load_slack: f64,
    /// How capacity and bandwidth combine into weight.
    pub weight_rule: WeightRule,
    /// Class sub-interval layout.
    pub layout: ClassLayout,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        Self {
            partitions: 4096,
            replicas: 3,
            class_threshold: 0.1,
            vnodes: 64,
            weight_unit: 64,
            max_vnodes_per_device: 1 << 16,
            probes: 2,
            balance: true,
            load_slack: 0.04,
            weight_rule: WeightRule::GeometricMean,
            layout: ClassLayout::Race,
        }
    }
}

impl PlacementConfig {
    /// The whitepaper's CCHDP as written (contiguous class intervals, no
    /// load bound), with this configuration's other parameters.
    pub fn whitepaper(&self) -> Self {
        Self {
            layout: ClassLayout::Contiguous,
            balance: false,
            ..self.clone()
        }
    }

    /// Checks every parameter; returns the key space.
    pub fn validate(&self) -> Result<Keyspace, PlacementError> {
        let keyspace =
            Keyspace::new(self.partitions).map_err(|e| PlacementError::BadPartitionCount(e.0))?;
        if !(1..=MAX_REPLICAS).contains(&self.replicas) {
            return Err(PlacementError::BadReplicas(self.replicas));
        }
        if self.vnodes == 0 || self.max_vnodes_per_device == 0 {
            return Err(PlacementError::ZeroVnodes);
        }
        if self.weight_unit == 0 {
            return Err(PlacementError::ZeroWeightUnit);
        }
        let t = self.class_threshold;
        if !(t == 0.0 || (0.01..=10.0).contains(&t)) {
            return Err(PlacementError::BadClassThreshold(t));
        }
        if !(0.0..=1.0).contains(&self.load_slack) {
            return Err(PlacementError::BadLoadSlack(self.load_slack));
        }
        if !(1..=64).contains(&self.probes) {
            return Err(PlacementError::BadProbes(self.probes));
        }
        Ok(keyspace)
    }
}
