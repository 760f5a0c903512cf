//! Where a key lives on disk and in the ring: the key → partition mapping
//! of [`lambda_placement::keyspace`] (re-exported here), plus the key range
//! of one partition in the data column family.
//!
//! Data keys are stored as `partition (u32, big-endian) ‖ user key`, so one
//! partition is one contiguous key range: anti-entropy and partition handoff
//! scan it without touching the others.

pub use lambda_placement::keyspace::{
    BadPartitionCount, Keyspace, MAX_PARTITIONS, key_hash, split_data_key,
};

use crate::storage::KeyRange;

/// The key range of a partition in the data column family.
pub trait PartitionRange {
    /// The key range of one partition in the data column family.
    fn partition_range(&self, partition: u32) -> KeyRange;
}

impl PartitionRange for Keyspace {
    fn partition_range(&self, partition: u32) -> KeyRange {
        KeyRange::prefix(&partition.to_be_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn data_keys_sit_in_their_partition_range(key in proptest::collection::vec(any::<u8>(), 0..64), bits in 0u32..12) {
            let ks = Keyspace::new(1 << bits).unwrap();
            let stored = ks.data_key(&key);
            let p = ks.partition_of(&key);
            prop_assert!(ks.partition_range(p).contains(&stored));
        }
    }
}
