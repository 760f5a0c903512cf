//! The dashboard's views of the chain state, rebuilt in the background when
//! blocks are committed and served from memory.
//!
//! A request never touches the state: it reads the latest [`Views`]. A
//! task follows the committed height and rebuilds the views on a blocking
//! thread, each view under its own short read lock of the state (the same
//! lock the gRPC API reads through), so a commit waits at most for one
//! view's reads. Bursts of commits are coalesced (at most one rebuild per
//! [`MIN_REFRESH`]), and a rebuild also runs every [`MAX_IDLE`] so a
//! failed one is retried on a stalled chain. A failed rebuild keeps the
//! previous views and is logged.

use std::sync::Arc;
use std::time::Duration;

use lambda_placement::PlacementConfig;
use parking_lot::RwLock;
use tokio_util::sync::CancellationToken;

use super::accounts::{self, AccountsView};
use super::chain::{self, ChainView, RecentTxs};
use super::pdp::{self, PdpView};
use super::probe::Prober;
use super::ring::{RingCache, RingView};
use crate::error::ChainError;
use crate::node::core::{NodeCore, now_ms};
use crate::state::ChainState;

/// Least time between two rebuilds.
pub(crate) const MIN_REFRESH: Duration = Duration::from_millis(500);
/// Longest time without a rebuild.
pub(crate) const MAX_IDLE: Duration = Duration::from_secs(10);

/// What the views need besides the state.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    /// The storage nodes' placement (`[audit] placement`).
    pub(crate) placement: PlacementConfig,
    /// The configured target block time.
    pub(crate) block_time: Duration,
}

/// Every view, as of one rebuild.
#[derive(Clone, Debug)]
pub(crate) struct Views {
    /// `/api/ring`, without probe outcomes.
    pub(crate) ring: RingView,
    /// `/api/chain`.
    pub(crate) chain: ChainView,
    /// `/api/pdp`.
    pub(crate) pdp: PdpView,
    /// `/api/accounts`.
    pub(crate) accounts: AccountsView,
}

/// The latest views, shared by the rebuild task and the handlers.
#[derive(Debug, Default)]
pub(crate) struct Snapshots {
    current: RwLock<Option<Arc<Views>>>,
    error: RwLock<Option<String>>,
}

impl Snapshots {
    /// The latest views, or why there are none yet.
    pub(crate) fn get(&self) -> Result<Arc<Views>, String> {
        if let Some(v) = self.current.read().clone() {
            return Ok(v);
        }
        Err(self
            .error
            .read()
            .clone()
            .unwrap_or_else(|| "the dashboard is reading the chain state; retry".into()))
    }

    /// Replaces the views.
    pub(crate) fn publish(&self, views: Views) {
        *self.current.write() = Some(Arc::new(views));
        *self.error.write() = None;
    }

    fn fail(&self, reason: String) {
        *self.error.write() = Some(reason);
    }
}

/// Rebuilds the views, keeping what carries over between rebuilds (the
/// epoch's ring, the latest transactions).
#[derive(Debug)]
pub(crate) struct Builder {
    settings: Settings,
    ring: RingCache,
    recent: RecentTxs,
}

impl Builder {
    /// A builder with nothing carried over.
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            ring: RingCache::default(),
            recent: RecentTxs::default(),
        }
    }

    /// Builds every view, each under its own read lock of `state`.
    pub(crate) fn build(&mut self, state: &RwLock<ChainState>) -> Result<Views, ChainError> {
        let ring = self.ring.view(&state.read(), &self.settings.placement)?;
        let chain = chain::view(&state.read(), &mut self.recent, self.settings.block_time)?;
        let pdp = pdp::view(&state.read())?;
        let accounts = accounts::view(&state.read())?;
        Ok(Views {
            ring,
            chain,
            pdp,
            accounts,
        })
    }
}

/// Rebuilds the views after commits until `shutdown`.
pub(crate) async fn refresh(
    core: Arc<NodeCore>,
    settings: Settings,
    snapshots: Arc<Snapshots>,
    prober: Arc<Prober>,
    shutdown: CancellationToken,
) {
    let mut heights = core.heights();
    let mut builder = Some(Builder::new(settings.clone()));
    loop {
        let mut b = builder
            .take()
            .unwrap_or_else(|| Builder::new(settings.clone()));
        let c = core.clone();
        let started = now_ms();
        match tokio::task::spawn_blocking(move || {
            let r = b.build(&c.state);
            (b, r)
        })
        .await
        {
            Ok((b, Ok(views))) => {
                prober.set_targets(views.ring.probe_targets());
                tracing::debug!(
                    height = views.chain.height,
                    ms = now_ms().saturating_sub(started),
                    "dashboard views rebuilt"
                );
                snapshots.publish(views);
                builder = Some(b);
            }
            Ok((b, Err(e))) => {
                tracing::warn!(error = %e, "dashboard views could not be rebuilt; serving the previous ones");
                snapshots.fail(format!("reading the chain state: {e}"));
                builder = Some(b);
            }
            Err(e) => {
                tracing::error!(error = %e, "dashboard rebuild task failed");
                snapshots.fail(format!("rebuild task failed: {e}"));
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            changed = tokio::time::timeout(MAX_IDLE, heights.changed()) => {
                if matches!(changed, Ok(Err(_))) {
                    return;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(MIN_REFRESH) => {}
        }
    }
}
