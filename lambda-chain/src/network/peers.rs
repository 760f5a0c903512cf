//! Outbound links to the other validators.
//!
//! Each peer has a task and a bounded queue. Broadcasting never waits: a
//! message that does not fit a peer's queue is dropped and counted (the
//! consensus rebroadcasts what matters). The task batches queued messages
//! into `Send` calls; when the peer is unreachable it drops the batch,
//! backs off (doubling from `backoff_min` to `backoff_max`) and reconnects.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::consensus_service_client::ConsensusServiceClient;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};

use super::codec::message_to_pb;
use super::config::NetworkConfig;
use crate::consensus::io::Message;

/// Connects to `addr` with the configured timeouts and message limits.
pub async fn connect(
    addr: &str,
    cfg: &NetworkConfig,
) -> Result<ConsensusServiceClient<Channel>, tonic::transport::Error> {
    let channel = Endpoint::from_shared(addr.to_string())?
        .connect_timeout(cfg.connect_timeout)
        .timeout(cfg.request_timeout)
        .tcp_nodelay(true)
        .connect()
        .await?;
    Ok(ConsensusServiceClient::new(channel)
        .max_decoding_message_size(cfg.max_message_bytes)
        .max_encoding_message_size(cfg.max_message_bytes))
}

/// Messages that did not reach a peer: queue full, peer unreachable or the
/// call failed.
#[derive(Debug, Default)]
pub struct PeerCounters {
    /// Dropped because a peer's queue was full.
    pub queue_full: AtomicU64,
    /// Dropped because sending failed.
    pub send_failed: AtomicU64,
    /// Delivered.
    pub sent: AtomicU64,
}

/// The outbound side of the validator network.
#[derive(Debug)]
pub struct Peers {
    links: Vec<(String, mpsc::Sender<pb::ConsensusMessage>)>,
    counters: Arc<PeerCounters>,
}

impl Peers {
    /// Starts one task per configured peer; they stop with `shutdown`.
    pub fn start(cfg: &NetworkConfig, shutdown: &CancellationToken) -> Self {
        let counters = Arc::new(PeerCounters::default());
        let links = cfg
            .peers
            .iter()
            .map(|addr| {
                let (tx, rx) = mpsc::channel(cfg.peer_queue.max(1));
                let link = Link {
                    addr: addr.clone(),
                    cfg: cfg.clone(),
                    counters: counters.clone(),
                    shutdown: shutdown.clone(),
                };
                tokio::spawn(link.run(rx));
                (addr.clone(), tx)
            })
            .collect();
        Self { links, counters }
    }

    /// Queues `m` for every peer, dropping it where a queue is full.
    pub fn broadcast(&self, m: &Message) {
        let encoded = message_to_pb(m);
        for (addr, tx) in &self.links {
            if tx.try_send(encoded.clone()).is_err() {
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(peer = %addr, "peer queue full; message dropped");
            }
        }
    }

    /// The counters.
    pub fn counters(&self) -> &PeerCounters {
        &self.counters
    }
}

struct Link {
    addr: String,
    cfg: NetworkConfig,
    counters: Arc<PeerCounters>,
    shutdown: CancellationToken,
}

impl Link {
    async fn run(self, mut rx: mpsc::Receiver<pb::ConsensusMessage>) {
        let mut client: Option<ConsensusServiceClient<Channel>> = None;
        let mut backoff = self.cfg.backoff_min;
        loop {
            let first = tokio::select! {
                m = rx.recv() => m,
                () = self.shutdown.cancelled() => return,
            };
            let Some(first) = first else { return };
            let mut messages = vec![first];
            while messages.len() < self.cfg.max_batch {
                match rx.try_recv() {
                    Ok(m) => messages.push(m),
                    Err(_) => break,
                }
            }
            let n = messages.len() as u64;
            let result = match client.as_mut() {
                Some(c) => c
                    .send(pb::SendRequest { messages })
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                None => match connect(&self.addr, &self.cfg).await {
                    Ok(mut c) => {
                        let r = c
                            .send(pb::SendRequest { messages })
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string());
                        client = Some(c);
                        r
                    }
                    Err(e) => Err(e.to_string()),
                },
            };
            match result {
                Ok(()) => {
                    self.counters.sent.fetch_add(n, Ordering::Relaxed);
                    backoff = self.cfg.backoff_min;
                }
                Err(error) => {
                    self.counters.send_failed.fetch_add(n, Ordering::Relaxed);
                    tracing::debug!(peer = %self.addr, %error, backoff_ms = backoff.as_millis() as u64, "send failed; reconnecting after backoff");
                    client = None;
                    if self.pause(backoff).await {
                        return;
                    }
                    backoff = backoff.saturating_mul(2).min(self.cfg.backoff_max);
                }
            }
        }
    }

    /// Sleeps; true if shut down meanwhile.
    async fn pause(&self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => false,
            () = self.shutdown.cancelled() => true,
        }
    }
}
