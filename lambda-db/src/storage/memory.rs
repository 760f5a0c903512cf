//! An in-memory [`Engine`]: ordered maps behind a lock.
//!
//! Used by deterministic simulations and tests that need a fault on demand:
//! [`MemoryEngine::fail_writes`] makes every later write fail the way a full
//! or broken disk would.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use super::{BatchOp, Cf, Engine, EngineStats, KeyRange, KeyValue, StorageError, WriteBatch};

/// The keys and values of one column family.
type Family = BTreeMap<Vec<u8>, Vec<u8>>;

/// An in-memory engine.
#[derive(Debug, Default)]
pub struct MemoryEngine {
    families: RwLock<BTreeMap<Cf, Family>>,
    fail_writes: AtomicBool,
}

impl MemoryEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later write fail (`true`) or succeed again (`false`).
    pub fn fail_writes(&self, fail: bool) {
        self.fail_writes.store(fail, Ordering::SeqCst);
    }
}

impl Engine for MemoryEngine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self
            .families
            .read()
            .get(&cf)
            .and_then(|m| m.get(key).cloned()))
    }

    fn write(&self, batch: WriteBatch) -> Result<(), StorageError> {
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(StorageError::Injected);
        }
        let mut families = self.families.write();
        for op in batch.ops {
            match op {
                BatchOp::Put { cf, key, value } => {
                    families.entry(cf).or_default().insert(key, value);
                }
                BatchOp::Delete { cf, key } => {
                    if let Some(m) = families.get_mut(&cf) {
                        m.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    fn scan(&self, cf: Cf, range: &KeyRange, limit: usize) -> Result<Vec<KeyValue>, StorageError> {
        let families = self.families.read();
        let Some(map) = families.get(&cf) else {
            return Ok(Vec::new());
        };
        let end = match &range.end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        if range
            .end
            .as_deref()
            .is_some_and(|e| e <= range.start.as_slice())
        {
            return Ok(Vec::new());
        }
        Ok(map
            .range::<[u8], _>((Bound::Included(range.start.as_slice()), end))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn flush(&self) -> Result<(), StorageError> {
        Ok(())
    }

    fn blocks(&self) -> bool {
        false
    }

    fn stats(&self) -> EngineStats {
        let families = self.families.read();
        EngineStats {
            estimated_keys: Cf::ALL
                .iter()
                .map(|cf| (*cf, families.get(cf).map_or(0, |m| m.len() as u64)))
                .collect(),
            live_bytes: families
                .values()
                .flat_map(|m| m.iter())
                .map(|(k, v)| (k.len() + v.len()) as u64)
                .sum(),
        }
    }
}
