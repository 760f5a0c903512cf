//! What serves a validated request: the [`KvBackend`] interface, and the
//! single-node [`LocalBackend`] that answers from the local store.
//!
//! The gRPC layer only parses, validates and formats; a backend decides where
//! the data is. The cluster coordinator is another backend.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::request::RequestOptions;
use crate::store::LocalStore;
use crate::version::{Update, VersionedObject};

/// Serves reads and writes of versioned objects.
#[tonic::async_trait]
pub trait KvBackend: Send + Sync + 'static {
    /// The merged object of `key` as the read quorum sees it.
    async fn get(&self, key: Vec<u8>, opts: RequestOptions) -> Result<VersionedObject>;

    /// Applies a client write (a put or, with a tombstone, a delete) and
    /// returns the object after it.
    async fn write(
        &self,
        key: Vec<u8>,
        update: Update,
        opts: RequestOptions,
    ) -> Result<VersionedObject>;
}

/// Runs a store call: on the blocking pool, bounded by a deadline, when the
/// store's engine does I/O; inline when it answers from memory.
pub async fn run_blocking<T, F>(store: &LocalStore, timeout: std::time::Duration, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    if !store.engine().blocks() {
        return f();
    }
    let task = tokio::task::spawn_blocking(f);
    match tokio::time::timeout(timeout, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(join)) => Err(Error::Internal(format!("store task failed: {join}"))),
        Err(_) => Err(Error::Timeout(timeout.as_millis() as u64)),
    }
}

/// A single node that holds every key itself.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    store: Arc<LocalStore>,
}

impl LocalBackend {
    /// A backend over `store`.
    pub fn new(store: Arc<LocalStore>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl KvBackend for LocalBackend {
    async fn get(&self, key: Vec<u8>, opts: RequestOptions) -> Result<VersionedObject> {
        let store = self.store.clone();
        run_blocking(&self.store, opts.timeout, move || store.get(&key)).await
    }

    async fn write(
        &self,
        key: Vec<u8>,
        update: Update,
        opts: RequestOptions,
    ) -> Result<VersionedObject> {
        let store = self.store.clone();
        run_blocking(&self.store, opts.timeout, move || {
            store.coordinate(&key, update)
        })
        .await
    }
}
