//! CCHDP steps 1 and 3: clustering devices by weight into classes, and one
//! consistent-hashing ring with virtual nodes per class (the `hashring`
//! crate, given the stable XXH3 hasher).
//!
//! Two clusterings:
//! - the whitepaper's (contiguous layout): devices in order of weight, each
//!   joins the nearest class centre closer than `T` (relative) or starts a
//!   new class. A device's class depends on which devices came before it.
//! - the weight grid (race layout): class centres sit at fixed weights
//!   `(1 + T)^k`, so a device's class depends on its own weight only and a
//!   join never re-clusters other devices (which would move their data).
//!
//! Every device gets `round(vnodes × weight / weight_unit)` virtual nodes
//! (at least 1, at most `max_vnodes_per_device`).

use std::collections::BTreeMap;

use hashring::HashRing;

use super::config::{ClassLayout, PlacementConfig};
use super::hashing::{StableBuildHasher, VNode, class_seed, vnode_seed};

/// A device as placement sees it, at its index in the id-sorted list.
#[derive(Clone, Debug)]
pub(crate) struct Member {
    /// Device id.
    pub(crate) id: String,
    /// Weight (see [`super::WeightRule`]).
    pub(crate) weight: u64,
    /// Zone number (index in the sorted list of distinct zones).
    pub(crate) zone: u32,
}

/// One class: its ring, its weight, its probe seeds.
#[derive(Clone, Debug)]
pub(crate) struct ClassRing {
    /// Ring positions of the virtual nodes, ascending.
    pub(crate) points: Vec<u64>,
    /// The device of each position.
    pub(crate) owners: Vec<u32>,
    /// Sum of the members' weights.
    pub(crate) weight: u128,
    /// One seed per probe (race layout).
    pub(crate) seeds: Vec<u64>,
    /// `index[b]`: the first position in bucket `b` of the top `bits` bits
    /// (a direct-address table that narrows each search to a few entries).
    index: Vec<u32>,
    bits: u32,
}

impl ClassRing {
    fn new(points: Vec<u64>, owners: Vec<u32>, weight: u128, seeds: Vec<u64>) -> Self {
        let bits = (points.len().max(1).ilog2() + 1).min(20);
        let index = (0..=1u64 << bits)
            .map(|b| {
                let start = if b == 1 << bits {
                    u64::MAX
                } else {
                    b << (64 - bits)
                };
                let i = points.partition_point(|&x| x < start);
                if b == 1 << bits {
                    points.len() as u32
                } else {
                    i as u32
                }
            })
            .collect();
        Self {
            points,
            owners,
            weight,
            seeds,
            index,
            bits,
        }
    }

    /// Index of the first virtual node at or after `point`, wrapping.
    pub(crate) fn successor(&self, point: u64) -> usize {
        let b = (point >> (64 - self.bits)) as usize;
        let (lo, hi) = (self.index[b] as usize, self.index[b + 1] as usize);
        let i = lo + self.points[lo..hi].partition_point(|&x| x < point);
        if i == self.points.len() { 0 } else { i }
    }
}

/// Virtual-node count of a device of weight `weight`.
pub(crate) fn vnode_count(weight: u64, cfg: &PlacementConfig) -> u32 {
    let unit = u128::from(cfg.weight_unit.max(1));
    let scaled = (2 * u128::from(cfg.vnodes) * u128::from(weight) + unit) / (2 * unit);
    let max = cfg.max_vnodes_per_device.max(1);
    u32::try_from(scaled).unwrap_or(max).clamp(1, max)
}

/// Grid class key of a weight: the largest `k` with `(1 + T)^k ≤ weight`,
/// or the weight itself when `T = 0`. Only `*` and `≤` on f64, so the same
/// everywhere.
fn grid_key(weight: u64, threshold: f64) -> u64 {
    if threshold == 0.0 {
        return weight;
    }
    let w = weight as f64;
    let factor = 1.0 + threshold;
    let (mut level, mut k) = (1.0_f64, 0_u64);
    while level * factor <= w {
        level *= factor;
        k += 1;
    }
    k
}

/// The whitepaper's sequential clustering: members in order of weight
/// (heaviest first, then id), each joins the nearest centre whose relative
/// distance is below `T`, else starts a class. Classes in creation order.
fn sequential_classes(members: &[Member], threshold: f64) -> Vec<Vec<u32>> {
    let mut order: Vec<u32> = (0..members.len() as u32).collect();
    order.sort_by(|&a, &b| {
        members[b as usize]
            .weight
            .cmp(&members[a as usize].weight)
            .then(a.cmp(&b))
    });
    let mut centres: Vec<(f64, Vec<u32>)> = Vec::new();
    for d in order {
        let w = members[d as usize].weight as f64;
        let nearest = centres
            .iter()
            .enumerate()
            .map(|(i, (c, _))| (i, (w - c).abs(), *c))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        match nearest {
            Some((i, dist, c)) if dist == 0.0 || dist < threshold * c => centres[i].1.push(d),
            _ => centres.push((w, vec![d])),
        }
    }
    centres.into_iter().map(|(_, m)| m).collect()
}

/// Grid clustering: classes keyed by [`grid_key`], ascending.
fn grid_classes(members: &[Member], threshold: f64) -> Vec<(u64, Vec<u32>)> {
    let mut classes: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for (d, m) in members.iter().enumerate() {
        classes
            .entry(grid_key(m.weight, threshold))
            .or_default()
            .push(d as u32);
    }
    classes.into_iter().collect()
}

/// Builds a class ring from its members.
fn build_ring(members: &[Member], class: &[u32], key: u64, cfg: &PlacementConfig) -> ClassRing {
    let mut vnodes = Vec::new();
    for &d in class {
        let m = &members[d as usize];
        for number in 0..vnode_count(m.weight, cfg) {
            vnodes.push(VNode {
                device: d,
                seed: vnode_seed(&m.id, number),
            });
        }
    }
    let hasher = StableBuildHasher::default();
    let mut ring: HashRing<VNode, StableBuildHasher> = HashRing::with_hasher(hasher);
    let count = vnodes.len();
    ring.batch_add(vnodes);
    // `hashring` walks by cloning the whole ring per lookup, so take its
    // sorted ring out once (one walk of every virtual node) and walk that.
    // Equal positions (a 2^-64 event) are ordered by device and seed.
    let mut sorted: Vec<(u64, u32, u64)> = ring
        .get_with_replicas(&0u64, count.saturating_sub(1))
        .unwrap_or_default()
        .into_iter()
        .map(|v| {
            (
                std::hash::BuildHasher::hash_one(&hasher, v),
                v.device,
                v.seed,
            )
        })
        .collect();
    sorted.sort_unstable();
    ClassRing::new(
        sorted.iter().map(|v| v.0).collect(),
        sorted.iter().map(|v| v.1).collect(),
        class
            .iter()
            .map(|&d| u128::from(members[d as usize].weight))
            .sum(),
        (0..cfg.probes).map(|p| class_seed(key, p)).collect(),
    )
}

/// The class rings of a member set, in layout order.
pub(crate) fn build_classes(members: &[Member], cfg: &PlacementConfig) -> Vec<ClassRing> {
    match cfg.layout {
        ClassLayout::Race => grid_classes(members, cfg.class_threshold)
            .into_iter()
            .map(|(key, class)| build_ring(members, &class, key, cfg))
            .collect(),
        ClassLayout::Contiguous => sequential_classes(members, cfg.class_threshold)
            .into_iter()
            .enumerate()
            .map(|(i, class)| build_ring(members, &class, i as u64, cfg))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(weights: &[u64]) -> Vec<Member> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Member {
                id: format!("d{i}"),
                weight,
                zone: 0,
            })
            .collect()
    }

    #[test]
    fn grid_keys_split_by_relative_threshold() {
        assert_eq!(grid_key(1, 0.1), 0);
        assert_eq!(grid_key(2, 0.1), 7);
        assert_ne!(grid_key(10, 0.1), grid_key(11, 0.1));
        assert_eq!(grid_key(100, 0.5), grid_key(110, 0.5));
        assert_eq!(grid_key(12345, 0.0), 12345);
    }

    #[test]
    fn sequential_clustering_follows_the_whitepaper() {
        // Centres 16 then 10; 15 joins 16 (1/16 < 0.1), 11 joins 10, 1 alone.
        let m = members(&[10, 16, 15, 1, 11]);
        let classes = sequential_classes(&m, 0.1);
        assert_eq!(classes, vec![vec![1, 2], vec![4, 0], vec![3]]);
    }

    #[test]
    fn rings_are_sorted_and_weighted() {
        let cfg = PlacementConfig {
            weight_unit: 1,
            ..PlacementConfig::default()
        };
        assert_eq!(vnode_count(0, &cfg), 1);
        assert_eq!(vnode_count(3, &cfg), 192);
        assert_eq!(vnode_count(1 << 40, &cfg), cfg.max_vnodes_per_device);
        assert_eq!(vnode_count(96, &PlacementConfig::default()), 96);
        let m = members(&[1, 2]);
        let ring = build_ring(&m, &[0, 1], 0, &cfg);
        assert_eq!(ring.points.len(), 3 * cfg.vnodes as usize);
        assert!(ring.points.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(ring.owners.iter().filter(|&&o| o == 1).count(), 128);
        assert_eq!(ring.weight, 3);
        assert_eq!(ring.successor(u64::MAX), 0);
        assert_eq!(ring.successor(0), 0);
        for probe in (0..1000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)) {
            let expect = ring.points.partition_point(|&x| x < probe) % ring.points.len();
            assert_eq!(ring.successor(probe), expect);
            assert_eq!(ring.successor(ring.points[expect]), expect);
        }
    }
}
