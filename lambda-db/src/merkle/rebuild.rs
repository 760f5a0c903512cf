//! Rebuilding a partition's tree from its data: for a data directory written
//! before the tree existed, or a tree found inconsistent. The caller keeps
//! writers of the partition out while it runs.

use std::collections::BTreeMap;

use super::{
    Digest, MerkleTree, Summary, digest, encode_leaf, encode_segment, leaf_key, leaf_range,
    segment_key, segment_of, segment_range,
};
use crate::error::Result;
use crate::keyspace::{Keyspace, PartitionRange, split_data_key};
use crate::storage::{Cf, Engine, KeyRange, WriteBatch};

const PAGE: usize = 1024;

/// Deletes the whole tree (every partition), e.g. before rebuilding a tree
/// of another layout.
pub fn clear_all(engine: &dyn Engine) -> Result<()> {
    clear(engine, &KeyRange::default())
}

/// Deletes every entry of `range` in the merkle family.
fn clear(engine: &dyn Engine, range: &KeyRange) -> Result<()> {
    loop {
        let page = engine.scan(Cf::Merkle, range, PAGE)?;
        if page.is_empty() {
            return Ok(());
        }
        let mut batch = WriteBatch::new();
        for (k, _) in page {
            batch.delete(Cf::Merkle, k);
        }
        engine.write(batch)?;
    }
}

impl MerkleTree {
    /// Recomputes `partition`'s leaves, segments and summary from the data.
    /// Writers of the partition must be held off by the caller.
    pub fn rebuild(
        &self,
        engine: &dyn Engine,
        keyspace: Keyspace,
        partition: u32,
    ) -> Result<Summary> {
        clear(engine, &leaf_range(partition))?;
        clear(engine, &segment_range(partition))?;
        let mut segments: BTreeMap<u32, (Digest, u64)> = BTreeMap::new();
        let mut range = keyspace.partition_range(partition);
        loop {
            let page = engine.scan(Cf::Data, &range, PAGE)?;
            let Some((last, _)) = page.last() else { break };
            range.start = last.clone();
            range.start.push(0);
            let mut batch = WriteBatch::new();
            for (stored, value) in &page {
                let Some((_, key)) = split_data_key(stored) else {
                    continue;
                };
                let d = digest(key, value);
                let segment = segment_of(key);
                let e = segments.entry(segment).or_default();
                e.0 ^= d;
                e.1 += 1;
                batch.put(
                    Cf::Merkle,
                    leaf_key(partition, segment, key),
                    encode_leaf(d),
                );
            }
            engine.write(batch)?;
        }
        let mut summary = Summary::default();
        let mut batch = WriteBatch::new();
        for (segment, (hash, count)) in segments {
            summary.root ^= hash;
            summary.keys += count;
            batch.put(
                Cf::Merkle,
                segment_key(partition, segment),
                encode_segment(hash, count),
            );
        }
        engine.write(batch)?;
        self.set(partition, summary);
        Ok(summary)
    }
}
