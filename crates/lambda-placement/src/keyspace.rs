//! Where a key lives on disk and in the ring: key → partition by a stable
//! hash, and the layout of keys in the data column family.
//!
//! The key space is cut into `Q` equal partitions (`Q` a power of two, fixed
//! when the cluster is created). A key's partition is the top `log2 Q` bits of
//! its 64-bit XXH3 hash, which is the same on every machine and every build.
//! Data keys are stored as `partition (u32, big-endian) ‖ user key`, so one
//! partition is one contiguous key range: anti-entropy and partition handoff
//! scan it without touching the others (the storage node adds the key range
//! of a partition in its own `keyspace` module).

/// Largest partition count accepted.
pub const MAX_PARTITIONS: u32 = 1 << 20;

/// The stable 64-bit hash of a key.
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// The partition count of a cluster and the key → partition mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keyspace {
    partitions: u32,
    bits: u32,
}

/// A partition count that is not a power of two in `1..=MAX_PARTITIONS`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("partition count {0} must be a power of two between 1 and {MAX_PARTITIONS}")]
pub struct BadPartitionCount(pub u32);

impl Keyspace {
    /// A key space of `partitions` partitions.
    pub fn new(partitions: u32) -> Result<Self, BadPartitionCount> {
        if partitions == 0 || partitions > MAX_PARTITIONS || !partitions.is_power_of_two() {
            return Err(BadPartitionCount(partitions));
        }
        Ok(Self {
            partitions,
            bits: partitions.trailing_zeros(),
        })
    }

    /// Number of partitions (Q).
    pub fn partitions(&self) -> u32 {
        self.partitions
    }

    /// The partition of a key hash.
    pub fn partition_of_hash(&self, hash: u64) -> u32 {
        if self.bits == 0 {
            0
        } else {
            (hash >> (64 - self.bits)) as u32
        }
    }

    /// The partition of a key.
    pub fn partition_of(&self, key: &[u8]) -> u32 {
        self.partition_of_hash(key_hash(key))
    }

    /// The data column family key of a user key.
    pub fn data_key(&self, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + key.len());
        out.extend_from_slice(&self.partition_of(key).to_be_bytes());
        out.extend_from_slice(key);
        out
    }
}

/// Splits a data column family key into its partition and user key.
pub fn split_data_key(stored: &[u8]) -> Option<(u32, &[u8])> {
    let (p, key) = stored.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*p), key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn partition_counts() {
        assert!(Keyspace::new(0).is_err());
        assert!(Keyspace::new(3).is_err());
        assert!(Keyspace::new(MAX_PARTITIONS * 2).is_err());
        assert_eq!(Keyspace::new(1).unwrap().partition_of(b"x"), 0);
    }

    #[test]
    fn hash_is_stable_across_builds() {
        // A changed hash would move every key of every existing cluster.
        assert_eq!(key_hash(b"lambda"), 0xc826_da0d_96d1_5e35);
        let ks = Keyspace::new(1024).unwrap();
        assert_eq!(
            ks.partition_of(b"lambda"),
            (key_hash(b"lambda") >> 54) as u32
        );
    }

    proptest! {
        #[test]
        fn data_keys_round_trip_and_sit_in_their_range(key in proptest::collection::vec(any::<u8>(), 0..64), bits in 0u32..12) {
            let ks = Keyspace::new(1 << bits).unwrap();
            let stored = ks.data_key(&key);
            let (p, k) = split_data_key(&stored).unwrap();
            prop_assert_eq!(k, &key[..]);
            prop_assert_eq!(p, ks.partition_of(&key));
            prop_assert!(p < ks.partitions());
        }
    }
}
