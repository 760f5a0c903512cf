//! Graceful shutdown.
//!
//! A daemon creates one [`Shutdown`], hands clones of its token to its servers
//! and background workers, and calls [`Shutdown::on_signals`] so that SIGINT
//! or SIGTERM cancel it. Servers stop accepting, finish in-flight requests,
//! and workers finish their current step; the daemon then flushes its stores
//! and exits.

use tokio_util::sync::CancellationToken;

/// A cancellation token fired by a signal or by the daemon itself.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    /// A token that nothing has fired yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The token to hand to tasks.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Fires the token.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// True once fired.
    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Resolves when the token fires.
    pub async fn wait(&self) {
        self.token.cancelled().await;
    }

    /// Spawns a task that fires the token on SIGINT or SIGTERM.
    pub fn on_signals(&self) {
        let token = self.token.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received");
            token.cancel();
        });
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops this process");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
