//! The receiving side of anti-entropy, partition handoff and tombstone
//! collection calls: each takes a replica-call slot (like every replica
//! call, so a busy node refuses rather than queues) and runs the store work
//! of [`super::aae::serve`] on the blocking pool, within the sync deadline.

use std::sync::Arc;

use super::Cluster;
use crate::api::backend::run_blocking;
use crate::error::Result;

impl Cluster {
    /// Runs `f` (store work answering a peer's sync call) under a replica
    /// slot on the blocking pool.
    pub async fn serve_store<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Cluster) -> Result<T> + Send + 'static,
    {
        let _slot = self.replica_slot()?;
        let this = self.clone();
        run_blocking(&self.store, self.sync_timeout, move || f(&this)).await
    }
}
