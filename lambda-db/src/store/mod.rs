//! The node's local versioned store: versioned objects on a storage engine,
//! with per-key locking, the node's actor id, a node-wide dot counter, the
//! anti-entropy tree, and a write fence.
//!
//! Everything that changes a key goes through a read-modify-write under the
//! key's lock: [`LocalStore::coordinate`] for a write this node coordinates,
//! [`LocalStore::merge`] for an object a peer sends, and the maintenance
//! operations of [`maintenance`] (conditional delete of a tombstone, dropping
//! a partition, rebuilding the tree). Each such batch also updates the key's
//! leaf and segment in the `merkle` family (see [`crate::merkle`]), so the
//! tree never disagrees with the data. If the engine ever fails a write, the
//! store raises its fence: every later write is refused (UNAVAILABLE) instead
//! of being acknowledged without being persisted, while reads go on.
//! Restarting the node lowers the fence.
//!
//! Dots this node issues take their counter from one node-wide sequence
//! ([`counter`]), not from the key's own history: a key whose tombstone was
//! reaped, or whose partition this node dropped and later took back, starts
//! a new history without ever reusing a dot that another replica may still
//! hold.

mod counter;
pub mod maintenance;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::merkle::{self, KeyChange, MerkleTree};
use crate::storage::{Cf, Engine, WriteBatch};
use crate::version::codec::{decode_object, encode_object};
use crate::version::{ActorId, Update, VersionedObject};

const META_ACTOR: &[u8] = b"actor";
const META_PARTITIONS: &[u8] = b"partitions";
const META_MERKLE: &[u8] = b"merkle";
const META_FORMAT_V1: u8 = 1;
/// Layout of the tree (segments per partition); a change rebuilds it.
const MERKLE_LAYOUT: u64 = merkle::SEGMENTS as u64;
const LOCK_STRIPES: usize = merkle::SEGMENTS as usize;

/// The local store of one node.
pub struct LocalStore {
    engine: Arc<dyn Engine>,
    keyspace: Keyspace,
    actor: ActorId,
    locks: Box<[Mutex<()>]>,
    fence: Mutex<Option<String>>,
    merkle: MerkleTree,
    counter: counter::DotCounter,
    rebuilds: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("actor", &self.actor)
            .field("keyspace", &self.keyspace)
            .finish()
    }
}

fn read_meta_u64(engine: &dyn Engine, key: &[u8], len: usize) -> Result<Option<u64>> {
    let Some(bytes) = engine.get(Cf::Meta, key)? else {
        return Ok(None);
    };
    match bytes.split_first() {
        Some((&META_FORMAT_V1, body)) if body.len() == len => {
            let mut buf = [0u8; 8];
            buf[8 - len..].copy_from_slice(body);
            Ok(Some(u64::from_be_bytes(buf)))
        }
        _ => Err(Error::Layout(format!(
            "metadata record {} is not in a known format",
            String::from_utf8_lossy(key)
        ))),
    }
}

fn meta_record(body: &[u8]) -> Vec<u8> {
    let mut v = vec![META_FORMAT_V1];
    v.extend_from_slice(body);
    v
}

/// The actor id of the data directory, creating it (and recording the
/// partition count) for a new one.
fn open_actor(engine: &dyn Engine, keyspace: Keyspace) -> Result<ActorId> {
    let partitions = read_meta_u64(engine, META_PARTITIONS, 4)?;
    let actor = read_meta_u64(engine, META_ACTOR, 8)?;
    match (actor, partitions) {
        (Some(actor), Some(p)) if p == u64::from(keyspace.partitions()) => Ok(ActorId(actor)),
        (Some(_), Some(p)) => Err(Error::Layout(format!(
            "the data directory was created with {p} partitions, the configuration says {}",
            keyspace.partitions()
        ))),
        _ => {
            let actor = ActorId(rand::random::<u64>());
            let mut b = WriteBatch::new();
            b.put(Cf::Meta, META_ACTOR, meta_record(&actor.0.to_be_bytes()));
            b.put(
                Cf::Meta,
                META_PARTITIONS,
                meta_record(&keyspace.partitions().to_be_bytes()),
            );
            engine.write(b)?;
            tracing::info!(%actor, partitions = keyspace.partitions(), "new data directory");
            Ok(actor)
        }
    }
}

impl LocalStore {
    /// Opens the store on `engine`. A new data directory gets a fresh random
    /// actor id and records the partition count; an existing one must have
    /// been created with the same partition count. A data directory written
    /// before the anti-entropy tree existed (or with another tree layout)
    /// gets its tree rebuilt from the data.
    pub fn open(engine: Arc<dyn Engine>, keyspace: Keyspace) -> Result<Self> {
        let actor = open_actor(engine.as_ref(), keyspace)?;
        let counter = counter::DotCounter::open(engine.as_ref())?;
        let tree_ok = read_meta_u64(engine.as_ref(), META_MERKLE, 8)? == Some(MERKLE_LAYOUT);
        if !tree_ok {
            merkle::clear_all(engine.as_ref())?;
        }
        let merkle = MerkleTree::load(engine.as_ref(), keyspace.partitions())?;
        let store = Self {
            engine,
            keyspace,
            actor,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            fence: Mutex::new(None),
            merkle,
            counter,
            rebuilds: std::sync::atomic::AtomicU64::new(0),
        };
        if !tree_ok {
            let rebuilt = store.rebuild_all_merkle()?;
            if rebuilt > 0 {
                tracing::info!(
                    partitions = rebuilt,
                    "rebuilt the anti-entropy tree from the data"
                );
            }
            let mut b = WriteBatch::new();
            b.put(
                Cf::Meta,
                META_MERKLE,
                meta_record(&MERKLE_LAYOUT.to_be_bytes()),
            );
            store.write_batch(b)?;
        }
        Ok(store)
    }

    /// The actor id this node versions its writes with.
    pub fn actor(&self) -> ActorId {
        self.actor
    }

    /// The key space.
    pub fn keyspace(&self) -> Keyspace {
        self.keyspace
    }

    /// The storage engine.
    pub fn engine(&self) -> &Arc<dyn Engine> {
        &self.engine
    }

    /// The anti-entropy tree's in-memory part (partition summaries).
    pub fn merkle(&self) -> &MerkleTree {
        &self.merkle
    }

    /// Partition trees rebuilt from the data since the store opened.
    pub fn merkle_rebuilds(&self) -> u64 {
        self.rebuilds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Why writes are refused, if they are.
    pub fn writes_refused(&self) -> Option<String> {
        self.fence.lock().clone()
    }

    /// The stored object of `key` (empty if never written).
    pub fn get(&self, key: &[u8]) -> Result<VersionedObject> {
        Ok(self.read_raw(&self.keyspace.data_key(key), key)?.0)
    }

    /// Applies a client write coordinated by this node and returns the
    /// object as stored. The new dot's counter comes from the node-wide
    /// sequence, so it is above every counter this actor ever issued.
    pub fn coordinate(&self, key: &[u8], update: Update) -> Result<VersionedObject> {
        self.modify(key, |obj| {
            let floor = self
                .counter
                .next(obj.clock().get(self.actor).saturating_add(1), |b| {
                    self.write_batch(b)
                })?;
            obj.update_at(self.actor, floor, update);
            Ok(true)
        })
    }

    /// Merges an object from a peer and returns the object as stored. Writes
    /// only when the merge changed something.
    pub fn merge(&self, key: &[u8], remote: &VersionedObject) -> Result<VersionedObject> {
        self.modify(key, |obj| {
            let before = obj.clone();
            obj.sync(remote);
            Ok(*obj != before)
        })
    }

    /// Writes a batch, honouring and raising the write fence: a batch is
    /// refused while the fence is up, and a failed batch raises it.
    pub fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        if let Some(reason) = self.writes_refused() {
            return Err(Error::WritesRefused(reason));
        }
        if let Err(e) = self.engine.write(batch) {
            let reason = e.to_string();
            tracing::error!(error = %reason, "storage write failed; refusing further writes");
            *self.fence.lock() = Some(reason);
            return Err(Error::Storage(e));
        }
        Ok(())
    }

    /// Holds the lock of `key`'s stripe, for read-modify-write sequences of
    /// other column families (hints) that must not interleave with writes of
    /// the same key. A stripe also covers the key's Merkle segment.
    pub fn lock_key(&self, key: &[u8]) -> parking_lot::MutexGuard<'_, ()> {
        self.locks[Self::stripe(key)].lock()
    }

    fn stripe(key: &[u8]) -> usize {
        merkle::segment_of(key) as usize % LOCK_STRIPES
    }

    /// The object and its stored bytes (None when absent).
    fn read_raw(
        &self,
        stored_key: &[u8],
        key: &[u8],
    ) -> Result<(VersionedObject, Option<Vec<u8>>)> {
        match self.engine.get(Cf::Data, stored_key)? {
            None => Ok((VersionedObject::default(), None)),
            Some(bytes) => {
                let obj = decode_object(&bytes).map_err(|source| Error::Corrupt {
                    key: hex::encode(key),
                    source,
                })?;
                Ok((obj, Some(bytes)))
            }
        }
    }

    fn modify(
        &self,
        key: &[u8],
        change: impl FnOnce(&mut VersionedObject) -> Result<bool>,
    ) -> Result<VersionedObject> {
        if let Some(reason) = self.writes_refused() {
            return Err(Error::WritesRefused(reason));
        }
        let stored_key = self.keyspace.data_key(key);
        let _guard = self.lock_key(key);
        let (mut obj, old) = self.read_raw(&stored_key, key)?;
        if change(&mut obj)? {
            let new = encode_object(&obj);
            let kc = KeyChange {
                partition: self.keyspace.partition_of(key),
                key,
                old: old.as_deref().map(|b| merkle::digest(key, b)),
                new: Some(merkle::digest(key, &new)),
            };
            let mut batch = WriteBatch::new();
            batch.put(Cf::Data, stored_key, new);
            let staged = MerkleTree::stage(self.engine.as_ref(), &mut batch, &[kc])?;
            self.write_batch(batch)?;
            self.merkle.apply(&staged);
        }
        Ok(obj)
    }
}

#[cfg(test)]
mod tests;
