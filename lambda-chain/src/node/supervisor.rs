//! The node's supervisor task, beside consensus until shutdown: it hands
//! double-sign evidence to the fisherman and mirrors the consensus height
//! for the API; a consensus failure stops the whole node. At shutdown it
//! waits (within `shutdown_grace`) for the consensus loop and the API
//! server to finish, then flushes the state.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::NodeError;
use super::config::NodeConfig;
use super::core::NodeCore;
use super::fisherman::Fisherman;
use super::offline_voter::OfflineVoter;
use crate::api;
use crate::consensus::runner::RunnerHandle;

/// Supervises until shutdown, then drains and flushes.
pub(super) async fn run(
    cfg: NodeConfig,
    core: Arc<NodeCore>,
    mut runner: RunnerHandle,
    api_task: JoinHandle<Result<(), api::ServeError>>,
    shutdown: CancellationToken,
) -> Result<(), NodeError> {
    let mut fisherman = Fisherman::default();
    let mut voter = Some(OfflineVoter::new(cfg.offline_min_reporters));
    let mut tick = tokio::time::interval(cfg.evidence_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failure = None;
    let mut runner_done = false;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            done = &mut runner.task => {
                runner_done = true;
                let e = match done {
                    // It stops by itself only at shutdown.
                    Ok(Ok(())) if shutdown.is_cancelled() => break,
                    Ok(Ok(())) => NodeError::Task("consensus stopped by itself".into()),
                    Ok(Err(e)) => NodeError::Consensus(e),
                    Err(e) => NodeError::Task(e.to_string()),
                };
                tracing::error!(error = %e, "consensus failed; stopping the node");
                failure = Some(e);
                shutdown.cancel();
                break;
            }
            _ = tick.tick() => {
                core.consensus_height.store(runner.height(), Ordering::Relaxed);
                let evidence = runner.take_evidence();
                if !evidence.is_empty() {
                    let c = core.clone();
                    let mut f = std::mem::take(&mut fisherman);
                    fisherman = tokio::task::spawn_blocking(move || { f.submit(&c, evidence); f })
                        .await
                        .map_err(|e| NodeError::Task(e.to_string()))?;
                }
                if let Some(mut v) = voter.take() {
                    let c = core.clone();
                    voter = Some(tokio::task::spawn_blocking(move || { v.run(&c); v })
                        .await
                        .map_err(|e| NodeError::Task(e.to_string()))?);
                }
            }
        }
    }
    drain(&cfg, &core, (!runner_done).then_some(runner), api_task).await;
    flush(core).await?;
    failure.map_or(Ok(()), Err)
}

/// Waits for the consensus loop (unless it already ended) and the API
/// server, at most `shutdown_grace`.
async fn drain(
    cfg: &NodeConfig,
    core: &NodeCore,
    runner: Option<RunnerHandle>,
    api_task: JoinHandle<Result<(), api::ServeError>>,
) {
    let (sent, skipped, lost) = core.gossip_totals();
    tracing::info!(
        gossip_sent = sent,
        gossip_skipped = skipped,
        gossip_lost = lost,
        "shutting down: draining requests and the consensus loop"
    );
    let drain = async {
        if let Some(r) = runner {
            match r.task.await {
                Ok(Err(e)) => tracing::error!(error = %e, "consensus loop ended with an error"),
                Err(e) => tracing::error!(error = %e, "consensus task failed"),
                Ok(Ok(())) => {}
            }
        }
        match api_task.await {
            Ok(Err(e)) => tracing::error!(error = %e, "API server ended with an error"),
            Err(e) => tracing::error!(error = %e, "API server task failed"),
            Ok(Ok(())) => {}
        }
    };
    if tokio::time::timeout(cfg.shutdown_grace, drain)
        .await
        .is_err()
    {
        tracing::warn!(grace = ?cfg.shutdown_grace, "in-flight work did not finish in time; stopping anyway");
    }
}

/// Syncs and flushes the state's database.
async fn flush(core: Arc<NodeCore>) -> Result<(), NodeError> {
    let flushed = tokio::task::spawn_blocking(move || {
        let state = core.state.read();
        state.flush().map(|()| state.latest_height())
    })
    .await
    .map_err(|e| NodeError::Task(e.to_string()))?;
    match flushed {
        Ok(height) => tracing::info!(height, "state flushed; validator stopped"),
        Err(e) => tracing::error!(error = %e, "flushing the state failed"),
    }
    Ok(())
}
