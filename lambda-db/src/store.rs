//! The node's local versioned store: versioned objects on a storage engine,
//! with per-key locking, the node's actor id, and a write fence.
//!
//! Everything that changes a key goes through a read-modify-write under the
//! key's lock: [`LocalStore::coordinate`] for a write this node coordinates,
//! [`LocalStore::merge`] for an object a peer sends. If the engine ever fails
//! a write, the store raises its fence: every later write is refused
//! (UNAVAILABLE) instead of being acknowledged without being persisted, while
//! reads go on. Restarting the node lowers the fence.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::keyspace::Keyspace;
use crate::storage::{Cf, Engine, WriteBatch};
use crate::version::codec::{decode_object, encode_object};
use crate::version::{ActorId, Update, VersionedObject};

const META_ACTOR: &[u8] = b"actor";
const META_PARTITIONS: &[u8] = b"partitions";
const META_FORMAT_V1: u8 = 1;
const LOCK_STRIPES: usize = 1024;

/// The local store of one node.
pub struct LocalStore {
    engine: Arc<dyn Engine>,
    keyspace: Keyspace,
    actor: ActorId,
    locks: Box<[Mutex<()>]>,
    fence: Mutex<Option<String>>,
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

impl LocalStore {
    /// Opens the store on `engine`. A new data directory gets a fresh random
    /// actor id and records the partition count; an existing one must have
    /// been created with the same partition count.
    pub fn open(engine: Arc<dyn Engine>, keyspace: Keyspace) -> Result<Self> {
        let partitions = read_meta_u64(engine.as_ref(), META_PARTITIONS, 4)?;
        let actor = read_meta_u64(engine.as_ref(), META_ACTOR, 8)?;
        let actor = match (actor, partitions) {
            (Some(actor), Some(p)) if p == u64::from(keyspace.partitions()) => ActorId(actor),
            (Some(_), Some(p)) => {
                return Err(Error::Layout(format!(
                    "the data directory was created with {p} partitions, the configuration says {}",
                    keyspace.partitions()
                )));
            }
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
                actor
            }
        };
        Ok(Self {
            engine,
            keyspace,
            actor,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            fence: Mutex::new(None),
        })
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

    /// Why writes are refused, if they are.
    pub fn writes_refused(&self) -> Option<String> {
        self.fence.lock().clone()
    }

    /// The stored object of `key` (empty if never written).
    pub fn get(&self, key: &[u8]) -> Result<VersionedObject> {
        self.read(&self.keyspace.data_key(key), key)
    }

    /// Applies a client write coordinated by this node and returns the
    /// object as stored.
    pub fn coordinate(&self, key: &[u8], update: Update) -> Result<VersionedObject> {
        self.modify(key, |obj| {
            obj.update(self.actor, update);
            true
        })
    }

    /// Merges an object from a peer and returns the object as stored. Writes
    /// only when the merge changed something.
    pub fn merge(&self, key: &[u8], remote: &VersionedObject) -> Result<VersionedObject> {
        self.modify(key, |obj| {
            let before = obj.clone();
            obj.sync(remote);
            *obj != before
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
    /// the same key.
    pub fn lock_key(&self, key: &[u8]) -> parking_lot::MutexGuard<'_, ()> {
        let stripe = (crate::keyspace::key_hash(key) as usize) % LOCK_STRIPES;
        self.locks[stripe].lock()
    }

    fn read(&self, stored_key: &[u8], key: &[u8]) -> Result<VersionedObject> {
        match self.engine.get(Cf::Data, stored_key)? {
            None => Ok(VersionedObject::default()),
            Some(bytes) => decode_object(&bytes).map_err(|source| Error::Corrupt {
                key: hex::encode(key),
                source,
            }),
        }
    }

    fn modify(
        &self,
        key: &[u8],
        change: impl FnOnce(&mut VersionedObject) -> bool,
    ) -> Result<VersionedObject> {
        if let Some(reason) = self.writes_refused() {
            return Err(Error::WritesRefused(reason));
        }
        let stored_key = self.keyspace.data_key(key);
        let _guard = self.lock_key(key);
        let mut obj = self.read(&stored_key, key)?;
        if change(&mut obj) {
            let mut batch = WriteBatch::new();
            batch.put(Cf::Data, stored_key, encode_object(&obj));
            self.write_batch(batch)?;
        }
        Ok(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryEngine;
    use crate::version::{Value, VersionVector};

    fn blind(v: &str) -> Update {
        Update {
            value: Value::Live(v.as_bytes().to_vec()),
            context: VersionVector::new(),
            timestamp_ms: 0,
            last_write_wins: false,
        }
    }

    #[test]
    fn actor_persists_and_layout_is_checked() {
        let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let ks = Keyspace::new(64).unwrap();
        let a = LocalStore::open(engine.clone(), ks).unwrap().actor();
        assert_eq!(LocalStore::open(engine.clone(), ks).unwrap().actor(), a);
        let err = LocalStore::open(engine, Keyspace::new(128).unwrap()).unwrap_err();
        assert!(err.to_string().contains("64 partitions"), "{err}");
        let fresh = LocalStore::open(Arc::new(MemoryEngine::new()), ks).unwrap();
        assert_ne!(fresh.actor(), a);
    }

    #[test]
    fn failed_write_raises_the_fence() {
        let engine = Arc::new(MemoryEngine::new());
        let store = LocalStore::open(engine.clone(), Keyspace::new(1).unwrap()).unwrap();
        store.coordinate(b"k", blind("a")).unwrap();
        engine.fail_writes(true);
        assert!(matches!(
            store.coordinate(b"k", blind("b")),
            Err(Error::Storage(_))
        ));
        engine.fail_writes(false);
        // The disk "works" again, but the node keeps refusing until restarted.
        assert!(matches!(
            store.coordinate(b"k", blind("c")),
            Err(Error::WritesRefused(_))
        ));
        assert_eq!(store.get(b"k").unwrap().live().count(), 1);
    }

    #[test]
    fn merge_writes_only_changes() {
        let store =
            LocalStore::open(Arc::new(MemoryEngine::new()), Keyspace::new(1).unwrap()).unwrap();
        let obj = store.coordinate(b"k", blind("a")).unwrap();
        assert_eq!(store.merge(b"k", &obj).unwrap(), obj);
        let mut other = VersionedObject::default();
        other.update(ActorId(7), blind("b"));
        let merged = store.merge(b"k", &other).unwrap();
        assert_eq!(merged.live().count(), 2);
    }

    #[test]
    fn corrupt_record_is_reported() {
        let engine = Arc::new(MemoryEngine::new());
        let ks = Keyspace::new(1).unwrap();
        let store = LocalStore::open(engine.clone(), ks).unwrap();
        let mut b = WriteBatch::new();
        b.put(Cf::Data, ks.data_key(b"k"), vec![1, 0xff]);
        engine.write(b).unwrap();
        let err = store.get(b"k").unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    }
}
