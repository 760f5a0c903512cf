//! The storage engine: an ordered key-value store with column families and
//! atomic multi-family write batches.
//!
//! [`Engine`] is the narrow interface the rest of the node uses. Two
//! implementations share one test suite: [`RocksEngine`] (RocksDB on disk,
//! the real one) and [`MemoryEngine`] (for simulations, with injectable
//! write faults). Column families keep concerns apart: [`Cf::Data`] holds
//! versioned objects, [`Cf::Hints`] hinted-handoff records, [`Cf::Merkle`]
//! anti-entropy state and [`Cf::Meta`] node metadata (actor id, layout).
//! Every value a layer above stores starts with a format-version byte; the
//! engine itself stores opaque bytes.

mod memory;
mod rocks;
#[cfg(test)]
mod suite;

pub use memory::MemoryEngine;
pub use rocks::{RocksEngine, RocksOptions};

/// A column family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    /// Versioned objects, keyed by partition and user key.
    Data,
    /// Hints for replicas that were down when a write was made.
    Hints,
    /// Anti-entropy (Merkle) state.
    Merkle,
    /// Node metadata.
    Meta,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 4] = [Cf::Data, Cf::Hints, Cf::Merkle, Cf::Meta];

    /// The column family's name on disk.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Data => "data",
            Cf::Hints => "hints",
            Cf::Merkle => "merkle",
            Cf::Meta => "meta",
        }
    }
}

/// Why the engine failed. Any error on a write means the write may not be
/// durable; the node then refuses further writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The underlying store reported an error.
    #[error("storage engine error: {0}")]
    Engine(String),
    /// A fault injected by a test (only [`MemoryEngine`] produces it).
    #[error("injected storage fault")]
    Injected,
}

/// One change of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOp {
    /// Sets `key` to `value`.
    Put {
        /// Column family.
        cf: Cf,
        /// Key.
        key: Vec<u8>,
        /// Value.
        value: Vec<u8>,
    },
    /// Removes `key`.
    Delete {
        /// Column family.
        cf: Cf,
        /// Key.
        key: Vec<u8>,
    },
}

/// Changes applied atomically: all or none survive a crash.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a put.
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(BatchOp::Put {
            cf,
            key: key.into(),
            value: value.into(),
        });
    }

    /// Adds a delete.
    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push(BatchOp::Delete {
            cf,
            key: key.into(),
        });
    }

    /// The changes, in order.
    pub fn ops(&self) -> &[BatchOp] {
        &self.ops
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// A half-open key range `[start, end)`; no `end` means to the last key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// First key included.
    pub start: Vec<u8>,
    /// First key excluded.
    pub end: Option<Vec<u8>>,
}

impl KeyRange {
    /// Every key that starts with `prefix`.
    pub fn prefix(prefix: &[u8]) -> Self {
        Self {
            start: prefix.to_vec(),
            end: prefix_successor(prefix),
        }
    }

    /// True when `key` lies in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= self.start.as_slice() && self.end.as_deref().is_none_or(|e| key < e)
    }
}

/// The smallest key greater than every key starting with `prefix`, if any.
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// A key-value pair returned by a scan.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Figures an engine reports about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStats {
    /// Estimated number of keys per column family.
    pub estimated_keys: Vec<(Cf, u64)>,
    /// Estimated live bytes on disk (or in memory) of all families.
    pub live_bytes: u64,
}

/// An ordered key-value store with column families.
///
/// Calls block (RocksDB does disk I/O); async code runs them on the blocking
/// pool.
pub trait Engine: Send + Sync + 'static {
    /// The value of `key`, if any.
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;

    /// Applies a batch atomically. When the engine was opened with synced
    /// writes, the batch is on stable storage when this returns `Ok`.
    fn write(&self, batch: WriteBatch) -> Result<(), StorageError>;

    /// Up to `limit` pairs of `range` in key order. Callers page through a
    /// large range by starting the next call just after the last key.
    fn scan(&self, cf: Cf, range: &KeyRange, limit: usize) -> Result<Vec<KeyValue>, StorageError>;

    /// Makes everything written so far durable (WAL and memtables).
    fn flush(&self) -> Result<(), StorageError>;

    /// Size figures.
    fn stats(&self) -> EngineStats;

    /// True when calls may block on I/O, so async callers must run them on
    /// the blocking pool; false for engines that answer from memory (which
    /// then run inline, keeping simulations on a paused clock deterministic).
    fn blocks(&self) -> bool {
        true
    }
}
