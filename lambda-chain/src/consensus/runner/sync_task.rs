//! The block-sync task: when the loop says it is behind, ask the peers in
//! turn for the blocks after the last committed one and hand them to the
//! loop, which checks and applies them.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use lambda_proto::chain::v1::consensus_service_client::ConsensusServiceClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use crate::consensus::app::{Application, CommittedBlock};
use crate::network::NetworkConfig;
use crate::network::peers::connect;
use crate::network::server::NodeStatus;
use crate::network::sync::fetch;

/// Starts the task; it stops with `shutdown`.
pub(super) fn spawn(
    cfg: NetworkConfig,
    app: Arc<dyn Application>,
    status: Arc<NodeStatus>,
    out: mpsc::Sender<Vec<CommittedBlock>>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let mut clients: Vec<Option<ConsensusServiceClient<Channel>>> =
            cfg.peers.iter().map(|_| None).collect();
        let mut next_peer = 0usize;
        let mut tick = tokio::time::interval(cfg.sync_interval);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if cfg.peers.is_empty() || !status.need_sync.load(Ordering::Relaxed) {
                continue;
            }
            let i = next_peer % cfg.peers.len();
            next_peer = next_peer.wrapping_add(1);
            let from = app.committed_height() + 1;
            if clients[i].is_none() {
                match connect(&cfg.peers[i], &cfg).await {
                    Ok(c) => clients[i] = Some(c),
                    Err(e) => {
                        tracing::debug!(peer = %cfg.peers[i], error = %e, "sync: peer unreachable");
                        continue;
                    }
                }
            }
            let Some(client) = clients[i].as_mut() else {
                continue;
            };
            match fetch(client, from, cfg.sync_batch).await {
                Ok(blocks) if blocks.is_empty() => {}
                Ok(blocks) => {
                    tracing::info!(peer = %cfg.peers[i], from, count = blocks.len(), "sync: fetched blocks");
                    if out.send(blocks).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!(peer = %cfg.peers[i], error = %e, "sync: fetch failed");
                    clients[i] = None;
                }
            }
        }
    });
}
