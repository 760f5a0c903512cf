//! Uncommitted writes layered over the committed state while a block
//! executes: a block layer and a transaction layer above it, so that a
//! transaction that fails midway leaves no trace (its layer is dropped) and
//! one that succeeds is folded into the block. Both layers are `BTreeMap`s,
//! so the resulting diff is in key order whatever the execution order.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::commitment::Diff;
use super::records::{decode, encode};
use super::store::{Cf, Entries, Store};
use crate::error::ChainError;

/// The committed state plus pending writes.
pub(crate) struct Overlay<'a> {
    store: &'a Store,
    block: Diff,
    tx: Diff,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `store`.
    pub(crate) fn new(store: &'a Store) -> Self {
        Self {
            store,
            block: Diff::new(),
            tx: Diff::new(),
        }
    }

    /// The value of `key` as the current transaction sees it.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, ChainError> {
        if let Some(v) = self.tx.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.block.get(key) {
            return Ok(v.clone());
        }
        self.store.get(Cf::State, key)
    }

    /// Writes `key` in the transaction layer.
    pub(crate) fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.tx.insert(key, Some(value));
    }

    /// Deletes `key` in the transaction layer.
    pub(crate) fn delete(&mut self, key: Vec<u8>) {
        self.tx.insert(key, None);
    }

    /// Every live entry under `prefix`, in key order, as the transaction
    /// sees it.
    pub(crate) fn scan_prefix(&self, prefix: &[u8]) -> Result<Entries, ChainError> {
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = self
            .store
            .scan_prefix(Cf::State, prefix)?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for layer in [&self.block, &self.tx] {
            for (k, v) in layer.range(prefix.to_vec()..) {
                if !k.starts_with(prefix) {
                    break;
                }
                merged.insert(k.clone(), v.clone());
            }
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    /// A typed record.
    pub(crate) fn get_rec<T: DeserializeOwned>(
        &self,
        key: &[u8],
        what: &'static str,
    ) -> Result<Option<T>, ChainError> {
        self.get(key)?.map(|b| decode(&b, what)).transpose()
    }

    /// Writes a typed record.
    pub(crate) fn put_rec<T: Serialize>(&mut self, key: Vec<u8>, v: &T) -> Result<(), ChainError> {
        let bytes = encode(v)?;
        self.put(key, bytes);
        Ok(())
    }

    /// Folds the transaction layer into the block.
    pub(crate) fn commit_tx(&mut self) {
        let tx = std::mem::take(&mut self.tx);
        self.block.extend(tx);
    }

    /// Drops the transaction layer.
    pub(crate) fn rollback_tx(&mut self) {
        self.tx.clear();
    }

    /// The block's writes (the transaction layer must be committed first).
    pub(crate) fn into_diff(mut self) -> Diff {
        self.commit_tx();
        self.block
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::Batch;

    #[test]
    fn layers_and_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), false).unwrap();
        let mut b = Batch::default();
        b.put(Cf::State, vec![1, 1], vec![10]);
        b.put(Cf::State, vec![1, 2], vec![20]);
        store.write(b).unwrap();
        let mut o = Overlay::new(&store);
        o.put(vec![1, 3], vec![30]);
        o.delete(vec![1, 1]);
        o.commit_tx();
        o.put(vec![1, 2], vec![21]);
        assert_eq!(o.get(&[1, 2]).unwrap(), Some(vec![21]));
        o.rollback_tx();
        assert_eq!(o.get(&[1, 2]).unwrap(), Some(vec![20]));
        let keys: Vec<Vec<u8>> = o
            .scan_prefix(&[1])
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![vec![1, 2], vec![1, 3]]);
        let diff = o.into_diff();
        assert_eq!(diff.len(), 2);
    }
}
