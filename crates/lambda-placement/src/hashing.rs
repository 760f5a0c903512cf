//! The stable hashes placement is built on.
//!
//! Everything that decides where a partition goes is XXH3 over explicit
//! little-endian bytes: never `std`'s `DefaultHasher` (its algorithm may
//! change between Rust releases) and never `Hash` impls of integers (they
//! feed native-endian bytes). So every process, machine and build computes
//! the same ring.

use std::hash::{Hash, Hasher};

use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// The `BuildHasher` handed to `hashring`: XXH3 with seed 0.
pub(crate) type StableBuildHasher = xxhash_rust::xxh3::Xxh3DefaultBuilder;

/// One virtual node of a device on a class ring. Its ring position is the
/// XXH3 of `seed`'s little-endian bytes (see the `Hash` impl), and `seed`
/// comes from the device id and the virtual node's number, so a device's
/// virtual nodes sit at the same places whatever the rest of the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VNode {
    /// Index of the device in the placement's sorted device list.
    pub(crate) device: u32,
    /// Identity of the virtual node: `XXH3(id ‖ 0xff ‖ number as u32 LE)`.
    pub(crate) seed: u64,
}

impl Hash for VNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(&self.seed.to_le_bytes());
    }
}

/// Identity of virtual node `number` of device `id`.
pub(crate) fn vnode_seed(id: &str, number: u32) -> u64 {
    let mut bytes = Vec::with_capacity(id.len() + 5);
    bytes.extend_from_slice(id.as_bytes());
    bytes.push(0xff);
    bytes.extend_from_slice(&number.to_le_bytes());
    xxh3_64(&bytes)
}

/// The seed of class key `key` (a weight-grid index or, with threshold 0, a
/// weight), probe `probe`.
pub(crate) fn class_seed(key: u64, probe: u32) -> u64 {
    let mut bytes = *b"lambda.placement.class..........";
    bytes[16..24].copy_from_slice(&key.to_le_bytes());
    bytes[24..28].copy_from_slice(&probe.to_le_bytes());
    xxh3_64(&bytes)
}

/// The point of partition `partition` under `seed`.
pub(crate) fn partition_point(partition: u32, seed: u64) -> u64 {
    xxh3_64_with_seed(&partition.to_le_bytes(), seed)
}

/// Seed of the interval coordinate of the contiguous layout.
pub(crate) const INTERVAL_SEED: u64 = 0x6c61_6d62_6461_0001;
/// Seed of the in-class ring coordinate of the contiguous layout.
pub(crate) const RING_SEED: u64 = 0x6c61_6d62_6461_0002;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn hashes_are_pinned() {
        // A change here moves data in every existing cluster.
        assert_eq!(vnode_seed("node-a", 0), 0x375a_a849_d24e_f72f);
        assert_eq!(class_seed(7, 0), 0xfafa_6675_fb8d_6049);
        assert_eq!(partition_point(5, RING_SEED), 0x8942_bf3b_42ea_e1b8);
        let v = VNode {
            device: 0,
            seed: 42,
        };
        assert_eq!(
            StableBuildHasher::default().hash_one(v),
            xxh3_64(&42u64.to_le_bytes())
        );
    }
}
