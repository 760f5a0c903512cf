//! Where sealed blocks and the index live: an [`ObjectStore`] over the
//! cluster's KV API ([`SdkStore`]), or in memory ([`MemoryStore`], for
//! tests, simulations and benchmarks).
//!
//! Two kinds of writes: blocks are immutable and their content is a
//! function of their key, so they are written last-write-wins and retried
//! even on timeouts (a retry writes the same bytes). Index shards and
//! catalogs grow by union: they are read with their causal context, merged
//! (every sibling included) and written back with that context, so
//! concurrent updates become siblings that the next update merges.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use parking_lot::Mutex;

use super::error::{Result, TsdbError};
use crate::sdk::{Client, Context};

/// A value with its concurrent versions and causal context.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versioned {
    /// Every live sibling (empty: key absent).
    pub values: Vec<Vec<u8>>,
    /// Context to write back with.
    pub context: Vec<u8>,
}

/// Storage of blocks and index documents.
#[async_trait]
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// Writes immutable content (same key ⇒ same bytes).
    async fn put_immutable(&self, key: &str, value: Vec<u8>) -> Result<()>;
    /// Reads a key with its siblings and context.
    async fn get(&self, key: &str) -> Result<Versioned>;
    /// Writes a merged document superseding what `context` saw.
    async fn put_versioned(&self, key: &str, value: Vec<u8>, context: &[u8]) -> Result<()>;
}

/// The cluster, through the SDK.
#[derive(Clone, Debug)]
pub struct SdkStore {
    immutable: Client,
    versioned: Client,
}

impl SdkStore {
    /// Uses `client` (its endpoints, timeouts and retry policy).
    pub fn new(client: &Client) -> Self {
        let mut lww = client.config().options;
        lww.last_write_wins = true;
        let mut retry = client.config().retry.clone();
        retry.retry_write_timeouts = true;
        Self {
            immutable: client.with_options(lww).with_retry(retry),
            versioned: client.clone(),
        }
    }
}

fn remote(e: crate::sdk::SdkError) -> TsdbError {
    TsdbError::Remote(e.to_string())
}

#[async_trait]
impl ObjectStore for SdkStore {
    async fn put_immutable(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.immutable
            .put(key.as_bytes(), value, None)
            .await
            .map(|_| ())
            .map_err(remote)
    }

    async fn get(&self, key: &str) -> Result<Versioned> {
        let r = self.versioned.get(key.as_bytes()).await.map_err(remote)?;
        Ok(Versioned {
            values: r.siblings.into_iter().map(|s| s.value).collect(),
            context: r.context.0,
        })
    }

    async fn put_versioned(&self, key: &str, value: Vec<u8>, context: &[u8]) -> Result<()> {
        let ctx = Context(context.to_vec());
        self.versioned
            .put(key.as_bytes(), value, (!context.is_empty()).then_some(&ctx))
            .await
            .map(|_| ())
            .map_err(remote)
    }
}

/// An in-memory store that counts reads and can be made to fail.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<HashMap<String, Vec<u8>>>,
    gets: Mutex<HashMap<&'static str, u64>>,
    puts: AtomicU64,
    failing: AtomicBool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// While `true`, every call fails as an unreachable cluster would.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Reads of keys of a kind so far ("block", "index", "catalog").
    pub fn gets(&self, kind: &str) -> u64 {
        self.gets.lock().get(kind).copied().unwrap_or(0)
    }

    /// Writes so far.
    pub fn puts(&self) -> u64 {
        self.puts.load(Ordering::SeqCst)
    }

    /// Keys stored.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.map.lock().keys().cloned().collect();
        k.sort();
        k
    }

    /// Total bytes of values whose key starts with `prefix`.
    pub fn bytes_under(&self, prefix: &str) -> u64 {
        self.map
            .lock()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.len() as u64)
            .sum()
    }

    fn check(&self) -> Result<()> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(TsdbError::Remote("memory store set to fail".into()));
        }
        Ok(())
    }

    fn put(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.check()?;
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.map.lock().insert(key.to_string(), value);
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for MemoryStore {
    async fn put_immutable(&self, key: &str, value: Vec<u8>) -> Result<()> {
        self.put(key, value)
    }

    async fn get(&self, key: &str) -> Result<Versioned> {
        self.check()?;
        let kind = ["block", "index", "catalog"]
            .into_iter()
            .find(|k| key.starts_with(&format!("ts/v1/{k}/")))
            .unwrap_or("other");
        *self.gets.lock().entry(kind).or_default() += 1;
        let values = self.map.lock().get(key).cloned().into_iter().collect();
        Ok(Versioned {
            values,
            context: Vec::new(),
        })
    }

    async fn put_versioned(&self, key: &str, value: Vec<u8>, _context: &[u8]) -> Result<()> {
        self.put(key, value)
    }
}
