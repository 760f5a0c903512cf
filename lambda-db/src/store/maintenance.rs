//! Store operations beyond reads and writes: paging through a partition
//! (partition handoff), deleting a key only if it still holds a given object
//! (tombstone collection), dropping a partition the node no longer holds,
//! and rebuilding the anti-entropy tree. Each keeps the tree in step with the
//! data, under the same key locks as writes.

use super::LocalStore;
use crate::error::{Error, Result};
use crate::keyspace::{PartitionRange, split_data_key};
use crate::merkle::{self, KeyChange, MerkleTree};
use crate::storage::{Cf, KeyRange, WriteBatch};
use crate::version::VersionedObject;
use crate::version::codec::encode_object;

/// Keys dropped per batch when a partition is dropped.
const DROP_PAGE: usize = 512;

/// A page of a partition's data.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartitionPage {
    /// (user key, stored object bytes), in key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// True when the partition has no keys after this page.
    pub done: bool,
}

impl LocalStore {
    /// Keys of `partition` after the user key `after` (from the start when
    /// None), up to `max_keys` keys or about `max_bytes` bytes (at least one
    /// key), with their stored bytes.
    pub fn scan_partition(
        &self,
        partition: u32,
        after: Option<&[u8]>,
        max_keys: usize,
        max_bytes: usize,
    ) -> Result<PartitionPage> {
        let mut range = self.keyspace.partition_range(partition);
        if let Some(after) = after {
            range.start = partition.to_be_bytes().to_vec();
            range.start.extend_from_slice(after);
            range.start.push(0);
        }
        let limit = max_keys.max(1);
        let rows = self.engine.scan(Cf::Data, &range, limit)?;
        let full = rows.len() == limit;
        let mut page = PartitionPage::default();
        let mut bytes = 0usize;
        let mut cut = false;
        for (stored, value) in rows {
            if !page.entries.is_empty() && bytes + value.len() > max_bytes {
                cut = true;
                break;
            }
            let Some((_, key)) = split_data_key(&stored) else {
                continue;
            };
            bytes += key.len() + value.len();
            page.entries.push((key.to_vec(), value));
        }
        page.done = !cut && !full;
        Ok(page)
    }

    /// Deletes `key` if its stored object is exactly `expected` (as
    /// encoded); returns whether it did. Used to collect tombstones: a write
    /// that reached the key meanwhile makes the delete a no-op.
    pub fn remove_if_equal(&self, key: &[u8], expected: &VersionedObject) -> Result<bool> {
        if let Some(reason) = self.writes_refused() {
            return Err(Error::WritesRefused(reason));
        }
        let expected = encode_object(expected);
        let stored_key = self.keyspace.data_key(key);
        let _guard = self.lock_key(key);
        let Some(current) = self.engine.get(Cf::Data, &stored_key)? else {
            return Ok(false);
        };
        if current != expected {
            return Ok(false);
        }
        self.remove_keys(&[(key.to_vec(), current)])?;
        Ok(true)
    }

    /// Deletes every key of `partition` (a partition this node no longer
    /// holds), page by page; returns how many keys it removed.
    pub fn drop_partition(&self, partition: u32) -> Result<u64> {
        let mut removed = 0;
        loop {
            let range = self.keyspace.partition_range(partition);
            let rows = self.engine.scan(Cf::Data, &range, DROP_PAGE)?;
            if rows.is_empty() {
                return Ok(removed);
            }
            let keys: Vec<Vec<u8>> = rows
                .iter()
                .filter_map(|(stored, _)| split_data_key(stored).map(|(_, k)| k.to_vec()))
                .collect();
            // Lock the page's stripes in ascending order (the only order
            // anyone takes more than one), then re-read under the locks.
            let mut stripes: Vec<usize> = keys.iter().map(|k| Self::stripe(k)).collect();
            stripes.sort_unstable();
            stripes.dedup();
            let _guards: Vec<_> = stripes.iter().map(|s| self.locks[*s].lock()).collect();
            let mut current = Vec::with_capacity(keys.len());
            for key in keys {
                if let Some(bytes) = self.engine.get(Cf::Data, &self.keyspace.data_key(&key))? {
                    current.push((key, bytes));
                }
            }
            removed += current.len() as u64;
            self.remove_keys(&current)?;
        }
    }

    /// Removes keys (with their stored bytes, for the tree) in one batch.
    /// The caller holds their locks.
    fn remove_keys(&self, keys: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let changes: Vec<KeyChange<'_>> = keys
            .iter()
            .map(|(key, bytes)| KeyChange {
                partition: self.keyspace.partition_of(key),
                key,
                old: Some(merkle::digest(key, bytes)),
                new: None,
            })
            .collect();
        let mut batch = WriteBatch::new();
        for (key, _) in keys {
            batch.delete(Cf::Data, self.keyspace.data_key(key));
        }
        let staged = MerkleTree::stage(self.engine.as_ref(), &mut batch, &changes)?;
        self.write_batch(batch)?;
        self.merkle.apply(&staged);
        Ok(())
    }

    /// Rebuilds `partition`'s tree from its data, holding every key lock
    /// meanwhile (writes wait).
    pub fn rebuild_merkle(&self, partition: u32) -> Result<merkle::Summary> {
        if let Some(reason) = self.writes_refused() {
            return Err(Error::WritesRefused(reason));
        }
        let _guards: Vec<_> = self.locks.iter().map(|l| l.lock()).collect();
        let result = self
            .merkle
            .rebuild(self.engine.as_ref(), self.keyspace, partition);
        if let Err(Error::Storage(e)) = &result {
            *self.fence.lock() = Some(e.to_string());
        }
        self.rebuilds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            partition,
            ok = result.is_ok(),
            "rebuilt a partition's anti-entropy tree"
        );
        result
    }

    /// Rebuilds the tree of every partition that holds data; returns how
    /// many it rebuilt.
    pub(super) fn rebuild_all_merkle(&self) -> Result<u32> {
        let mut rebuilt = 0;
        let mut start = Vec::new();
        loop {
            let range = KeyRange {
                start: start.clone(),
                end: None,
            };
            let Some((stored, _)) = self.engine.scan(Cf::Data, &range, 1)?.into_iter().next()
            else {
                break;
            };
            let Some((partition, _)) = split_data_key(&stored) else {
                break;
            };
            self.rebuild_merkle(partition)?;
            rebuilt += 1;
            match partition.checked_add(1) {
                Some(next) => start = next.to_be_bytes().to_vec(),
                None => break,
            }
        }
        Ok(rebuilt)
    }
}
