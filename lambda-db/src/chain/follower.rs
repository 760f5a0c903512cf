//! Follows the chain's committed blocks: a background task subscribes to a
//! validator's block stream (from the height after the last one seen, so a
//! reconnect to another validator misses nothing) and publishes the tip.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lambda_chain::client::{BlockView, ChainStatus};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::connect_any;

/// The latest committed block as the node knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainTip {
    /// Latest committed height.
    pub height: u64,
    /// Its time, ms since the Unix epoch.
    pub time_ms: u64,
    /// The epoch of the next block (the one in force now).
    pub epoch: u64,
    /// Blocks per epoch.
    pub epoch_length: u64,
}

impl ChainTip {
    fn at(height: u64, time_ms: u64, epoch_length: u64) -> Self {
        Self {
            height,
            time_ms,
            epoch: height / epoch_length.max(1),
            epoch_length,
        }
    }
}

/// Starts the follower; returns the tip it keeps current.
pub(super) fn spawn(
    endpoints: Vec<String>,
    status: &ChainStatus,
    blocks: broadcast::Sender<Arc<BlockView>>,
    cancel: CancellationToken,
    retry: Duration,
) -> watch::Receiver<ChainTip> {
    let epoch_length = status.epoch_length;
    let (tx, rx) = watch::channel(ChainTip::at(
        status.height,
        status.latest_block_time_ms,
        epoch_length,
    ));
    tokio::spawn(async move {
        loop {
            let from = tx.borrow().height + 1;
            let run = follow(&endpoints, from, epoch_length, &tx, &blocks);
            let outcome = tokio::select! {
                () = cancel.cancelled() => return,
                r = run => r,
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, from, "chain block stream ended; reconnecting");
            }
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(retry) => {}
            }
        }
    });
    rx
}

async fn follow(
    endpoints: &[String],
    from: u64,
    epoch_length: u64,
    tip: &watch::Sender<ChainTip>,
    blocks: &broadcast::Sender<Arc<BlockView>>,
) -> Result<(), String> {
    let mut client = connect_any(endpoints).await.map_err(|e| e.to_string())?;
    let mut stream = client.subscribe(from).await.map_err(|e| e.to_string())?;
    while let Some(item) = stream.next().await {
        let block = item.map_err(|e| e.to_string())?;
        let expected = tip.borrow().height + 1;
        if block.height != expected {
            return Err(format!(
                "stream sent height {} where {expected} was due",
                block.height
            ));
        }
        let next = ChainTip::at(block.height, block.block.header.time_ms, epoch_length);
        if next.epoch != tip.borrow().epoch {
            tracing::info!(
                epoch = next.epoch,
                height = next.height,
                "chain epoch began"
            );
        }
        tip.send_replace(next);
        // Nobody listening is fine.
        let _ = blocks.send(Arc::new(block));
    }
    Err("stream closed".into())
}
