//! Durable hints: objects a fallback node holds for a preference-list node
//! that was down when they were written.
//!
//! Hints live in the `hints` column family under
//! `partition (u32) ‖ key length (u32) ‖ key ‖ owner id`, so all hints of a
//! key are one prefix (a replica read merges them into its answer) and a scan
//! of the family yields every hint with its owner. The value is the encoded
//! object; a second hint for the same key and owner merges into the first.
//!
//! The backlog is bounded (`hints.max_backlog`): past it, new hints are
//! refused with RESOURCE_EXHAUSTED and the coordinator tries another fallback
//! or fails the quorum, instead of one node's disk filling with other nodes'
//! data. A hint is removed only after its owner acknowledged it, and only if
//! it did not change in the meantime.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::placement::DeviceId;
use crate::storage::{Cf, KeyRange, WriteBatch};
use crate::store::LocalStore;
use crate::version::VersionedObject;
use crate::version::codec::{decode_object, encode_object};

/// One stored hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hint {
    /// The node the object is meant for.
    pub owner: DeviceId,
    /// The user key.
    pub key: Vec<u8>,
    /// The object to deliver.
    pub object: VersionedObject,
    /// The stored key (for removal).
    pub raw_key: Vec<u8>,
    /// The stored value (removal checks it did not change).
    pub raw_value: Vec<u8>,
}

/// Counters of the hint store.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HintStats {
    /// Hints waiting.
    pub backlog: u64,
    /// Hints delivered and removed since start.
    pub delivered: u64,
    /// Hinted writes refused because the backlog was full.
    pub refused: u64,
    /// Waiting hints per owner.
    pub owners: BTreeMap<DeviceId, u64>,
    /// The bound on the backlog.
    pub max_backlog: u64,
}

/// The hints a node holds for others.
#[derive(Debug)]
pub struct HintStore {
    store: Arc<LocalStore>,
    max_backlog: u64,
    owners: Mutex<BTreeMap<DeviceId, u64>>,
    delivered: AtomicU64,
    refused: AtomicU64,
}

fn key_prefix(partition: u32, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len() + 16);
    out.extend_from_slice(&partition.to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Splits a stored hint key into (user key, owner).
fn split_hint_key(raw: &[u8]) -> Option<(&[u8], DeviceId)> {
    let rest = raw.get(4..)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    let key = rest.get(..len)?;
    let owner = std::str::from_utf8(rest.get(len..)?).ok()?;
    if owner.is_empty() {
        return None;
    }
    Some((key, DeviceId(owner.to_owned())))
}

impl HintStore {
    /// Opens the hint store, counting the hints already on disk.
    pub fn open(store: Arc<LocalStore>, max_backlog: u64) -> Result<Self> {
        let hints = Self {
            store,
            max_backlog,
            owners: Mutex::new(BTreeMap::new()),
            delivered: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        };
        let mut after = Vec::new();
        loop {
            let page = hints.scan(&after, 1024)?;
            let Some(last) = page.last() else { break };
            after = last.raw_key.clone();
            let mut owners = hints.owners.lock();
            for h in &page {
                *owners.entry(h.owner.clone()).or_default() += 1;
            }
        }
        Ok(hints)
    }

    /// Stores (or merges into) the hint of `key` for `owner`.
    pub fn add(&self, owner: &DeviceId, key: &[u8], object: &VersionedObject) -> Result<()> {
        let partition = self.store.keyspace().partition_of(key);
        let mut raw_key = key_prefix(partition, key);
        raw_key.extend_from_slice(owner.0.as_bytes());
        let _guard = self.store.lock_key(key);
        let existing = self.store.engine().get(Cf::Hints, &raw_key)?;
        let merged = match &existing {
            Some(bytes) => decode_object(bytes)
                .map_err(|source| Error::Corrupt {
                    key: hex::encode(key),
                    source,
                })?
                .synced(object),
            None => {
                if self.backlog() >= self.max_backlog {
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    return Err(Error::Overloaded {
                        what: "hint backlog",
                        limit: self.max_backlog,
                        setting: "hints.max_backlog",
                    });
                }
                object.clone()
            }
        };
        let mut batch = WriteBatch::new();
        batch.put(Cf::Hints, raw_key, encode_object(&merged));
        self.store.write_batch(batch)?;
        if existing.is_none() {
            *self.owners.lock().entry(owner.clone()).or_default() += 1;
        }
        Ok(())
    }

    /// The objects hinted for `key`, any owner, merged (empty if none).
    pub fn merged_for_key(&self, key: &[u8]) -> Result<VersionedObject> {
        let partition = self.store.keyspace().partition_of(key);
        let range = KeyRange::prefix(&key_prefix(partition, key));
        let mut out = VersionedObject::default();
        for (raw_key, raw_value) in self.store.engine().scan(Cf::Hints, &range, usize::MAX)? {
            // The prefix also matches longer keys' hints only if the length
            // field matched, so every entry here is this key's.
            if split_hint_key(&raw_key).is_some() {
                let obj = decode_object(&raw_value).map_err(|source| Error::Corrupt {
                    key: hex::encode(key),
                    source,
                })?;
                out.sync(&obj);
            }
        }
        Ok(out)
    }

    /// Up to `limit` hints stored after the raw key `after` (empty: from the
    /// start), in key order. Undecodable entries are skipped with a warning.
    pub fn scan(&self, after: &[u8], limit: usize) -> Result<Vec<Hint>> {
        let mut start = after.to_vec();
        if !start.is_empty() {
            start.push(0);
        }
        let range = KeyRange { start, end: None };
        let rows = self.store.engine().scan(Cf::Hints, &range, limit)?;
        let mut out = Vec::with_capacity(rows.len());
        for (raw_key, raw_value) in rows {
            let parsed = split_hint_key(&raw_key)
                .map(|(k, o)| (k.to_vec(), o))
                .and_then(|(k, o)| decode_object(&raw_value).ok().map(|obj| (k, o, obj)));
            match parsed {
                Some((key, owner, object)) => out.push(Hint {
                    owner,
                    key,
                    object,
                    raw_key,
                    raw_value,
                }),
                None => {
                    tracing::warn!(raw_key = %hex::encode(&raw_key), "skipping an undecodable hint")
                }
            }
        }
        Ok(out)
    }

    /// Removes a delivered hint if it is still exactly what was delivered.
    /// Returns false when a newer write merged into it meanwhile (it is then
    /// delivered again later).
    pub fn remove_delivered(&self, hint: &Hint) -> Result<bool> {
        let _guard = self.store.lock_key(&hint.key);
        let current = self.store.engine().get(Cf::Hints, &hint.raw_key)?;
        if current.as_deref() != Some(hint.raw_value.as_slice()) {
            return Ok(false);
        }
        let mut batch = WriteBatch::new();
        batch.delete(Cf::Hints, hint.raw_key.clone());
        self.store.write_batch(batch)?;
        let mut owners = self.owners.lock();
        if let Some(n) = owners.get_mut(&hint.owner) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                owners.remove(&hint.owner);
            }
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Hints waiting, all owners.
    pub fn backlog(&self) -> u64 {
        self.owners.lock().values().sum()
    }

    /// Counters for the admin status.
    pub fn stats(&self) -> HintStats {
        HintStats {
            backlog: self.backlog(),
            delivered: self.delivered.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            owners: self.owners.lock().clone(),
            max_backlog: self.max_backlog,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Keyspace;
    use crate::storage::MemoryEngine;
    use crate::version::{ActorId, Update, Value, VersionVector};

    fn obj(actor: u64, v: &str) -> VersionedObject {
        let mut o = VersionedObject::default();
        o.update(
            ActorId(actor),
            Update {
                value: Value::Live(v.as_bytes().to_vec()),
                context: VersionVector::new(),
                timestamp_ms: 0,
                last_write_wins: false,
            },
        );
        o
    }

    fn store() -> Arc<LocalStore> {
        Arc::new(
            LocalStore::open(Arc::new(MemoryEngine::new()), Keyspace::new(8).unwrap()).unwrap(),
        )
    }

    #[test]
    fn add_merge_scan_remove() {
        let s = store();
        let hints = HintStore::open(s.clone(), 10).unwrap();
        let owner = DeviceId::from("n2");
        hints.add(&owner, b"k", &obj(1, "a")).unwrap();
        hints.add(&owner, b"k", &obj(2, "b")).unwrap();
        hints
            .add(&DeviceId::from("n3"), b"k", &obj(3, "c"))
            .unwrap();
        hints.add(&owner, b"kk", &obj(4, "d")).unwrap();
        assert_eq!(hints.backlog(), 3);
        assert_eq!(hints.merged_for_key(b"k").unwrap().live().count(), 3);
        assert_eq!(hints.merged_for_key(b"kk").unwrap().live().count(), 1);
        let all = hints.scan(&[], 100).unwrap();
        assert_eq!(all.len(), 3);
        let first_page = hints.scan(&[], 1).unwrap();
        assert_eq!(hints.scan(&first_page[0].raw_key, 100).unwrap().len(), 2);

        // A hint that changed after it was read is not removed.
        let h = all
            .iter()
            .find(|h| h.owner == owner && h.key == b"k")
            .unwrap()
            .clone();
        hints.add(&owner, b"k", &obj(5, "e")).unwrap();
        assert!(!hints.remove_delivered(&h).unwrap());
        let fresh = hints.scan(&[], 100).unwrap();
        let h = fresh.iter().find(|x| x.raw_key == h.raw_key).unwrap();
        assert!(hints.remove_delivered(h).unwrap());
        assert_eq!(hints.stats().delivered, 1);
        assert_eq!(hints.backlog(), 2);
        // Reopening counts what is on disk.
        assert_eq!(HintStore::open(s, 10).unwrap().backlog(), 2);
    }

    #[test]
    fn backlog_bound_refuses_new_hints_but_merges_existing() {
        let hints = HintStore::open(store(), 1).unwrap();
        let owner = DeviceId::from("n2");
        hints.add(&owner, b"a", &obj(1, "x")).unwrap();
        let e = hints.add(&owner, b"b", &obj(1, "y")).unwrap_err();
        assert!(matches!(e, Error::Overloaded { .. }), "{e}");
        hints.add(&owner, b"a", &obj(2, "z")).unwrap();
        assert_eq!(hints.stats().refused, 1);
    }

    #[test]
    fn hint_keys_parse_only_when_well_formed() {
        let mut k = key_prefix(3, b"abc");
        assert!(split_hint_key(&k).is_none(), "no owner");
        k.extend_from_slice(b"n1");
        let (key, owner) = split_hint_key(&k).unwrap();
        assert_eq!((key, owner.0.as_str()), (&b"abc"[..], "n1"));
        assert!(split_hint_key(&[0, 0, 0, 1, 0, 0, 0, 9, 1]).is_none());
    }
}
