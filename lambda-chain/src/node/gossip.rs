//! Mempool gossip: a transaction a client submits to one validator is
//! relayed to the others (`lambda.chain.v1.MempoolService` on their
//! validator ports), so that whichever validator proposes next can include
//! it.
//!
//! Outbound, each peer has a task and a bounded queue: relaying never
//! waits, and a transaction that does not fit a peer's queue is not relayed
//! to it (counted; the client may resubmit elsewhere). The task batches
//! queued transactions into `GossipTxs` calls and reconnects with backoff
//! when the peer is unreachable. Inbound, each transaction is admitted as if
//! a client had submitted it, and is not relayed further: validators are
//! configured as a full mesh (every validator lists every other one as a
//! peer), so one hop reaches everyone and nothing floods.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::mempool_service_client::MempoolServiceClient;
use lambda_proto::chain::v1::mempool_service_server::MempoolService;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use super::config::MempoolSettings;
use super::core::NodeCore;
use crate::network::NetworkConfig;

/// Counters of the gossip.
#[derive(Debug, Default)]
pub(crate) struct GossipCounters {
    /// Transactions delivered to peers.
    pub(crate) sent: AtomicU64,
    /// Not relayed to a peer because its queue was full.
    pub(crate) queue_full: AtomicU64,
    /// Lost because a call to a peer failed.
    pub(crate) send_failed: AtomicU64,
}

/// The outbound side: one bounded queue per peer.
#[derive(Debug)]
pub(crate) struct Gossip {
    links: Vec<mpsc::Sender<Vec<u8>>>,
    counters: Arc<GossipCounters>,
}

impl Gossip {
    /// Starts one task per peer of `net`; they stop with `shutdown`.
    pub(crate) fn start(
        net: &NetworkConfig,
        settings: &MempoolSettings,
        shutdown: &CancellationToken,
    ) -> Self {
        let counters = Arc::new(GossipCounters::default());
        let links = net
            .peers
            .iter()
            .map(|addr| {
                let (tx, rx) = mpsc::channel(settings.gossip_queue.max(1));
                let link = Link {
                    addr: addr.clone(),
                    net: net.clone(),
                    batch: settings.gossip_batch.max(1),
                    counters: counters.clone(),
                    shutdown: shutdown.clone(),
                };
                tokio::spawn(link.run(rx));
                tx
            })
            .collect();
        Self { links, counters }
    }

    /// Queues `tx` for every peer, skipping peers whose queue is full.
    pub(crate) fn relay(&self, tx: &[u8]) {
        for link in &self.links {
            if link.try_send(tx.to_vec()).is_err() {
                self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Transactions delivered, skipped (queue full) and lost (call failed).
    pub(crate) fn totals(&self) -> (u64, u64, u64) {
        let c = &self.counters;
        (
            c.sent.load(Ordering::Relaxed),
            c.queue_full.load(Ordering::Relaxed),
            c.send_failed.load(Ordering::Relaxed),
        )
    }
}

struct Link {
    addr: String,
    net: NetworkConfig,
    batch: usize,
    counters: Arc<GossipCounters>,
    shutdown: CancellationToken,
}

impl Link {
    async fn connect(&self) -> Result<MempoolServiceClient<Channel>, tonic::transport::Error> {
        let channel = Endpoint::from_shared(self.addr.clone())?
            .connect_timeout(self.net.connect_timeout)
            .timeout(self.net.request_timeout)
            .tcp_nodelay(true)
            .connect()
            .await?;
        Ok(MempoolServiceClient::new(channel)
            .max_decoding_message_size(self.net.max_message_bytes)
            .max_encoding_message_size(self.net.max_message_bytes))
    }

    async fn run(self, mut rx: mpsc::Receiver<Vec<u8>>) {
        let mut client: Option<MempoolServiceClient<Channel>> = None;
        let mut backoff = self.net.backoff_min;
        loop {
            let first = tokio::select! {
                t = rx.recv() => t,
                () = self.shutdown.cancelled() => return,
            };
            let Some(first) = first else { return };
            let mut txs = vec![first];
            while txs.len() < self.batch {
                match rx.try_recv() {
                    Ok(t) => txs.push(t),
                    Err(_) => break,
                }
            }
            let n = txs.len() as u64;
            let c = match client.take() {
                Some(c) => Ok(c),
                None => self.connect().await.map_err(|e| e.to_string()),
            };
            let result = match c {
                Ok(mut c) => {
                    let r = c.gossip_txs(pb::GossipTxsRequest { txs }).await;
                    client = Some(c);
                    r.map(|_| ()).map_err(|e| e.to_string())
                }
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {
                    self.counters.sent.fetch_add(n, Ordering::Relaxed);
                    backoff = self.net.backoff_min;
                }
                Err(error) => {
                    self.counters.send_failed.fetch_add(n, Ordering::Relaxed);
                    tracing::debug!(peer = %self.addr, %error, "mempool gossip failed; reconnecting after backoff");
                    client = None;
                    if self.pause(backoff).await {
                        return;
                    }
                    backoff = backoff.saturating_mul(2).min(self.net.backoff_max);
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

/// The inbound side: `MempoolService` over the node's core.
#[derive(Debug, Clone)]
pub(crate) struct GossipServer {
    core: Arc<NodeCore>,
}

impl GossipServer {
    /// The service admitting into `core`'s mempool.
    pub(crate) fn new(core: Arc<NodeCore>) -> Self {
        Self { core }
    }
}

#[tonic::async_trait]
impl MempoolService for GossipServer {
    async fn gossip_txs(
        &self,
        req: Request<pb::GossipTxsRequest>,
    ) -> Result<Response<pb::GossipTxsResponse>, Status> {
        let core = self.core.clone();
        let txs = req.into_inner().txs;
        let (accepted, refused) = tokio::task::spawn_blocking(move || {
            let (mut ok, mut no) = (0u32, 0u32);
            for tx in txs {
                match core.submit(&tx, false) {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        tracing::trace!(reason = %e, "gossiped transaction refused");
                        no += 1;
                    }
                }
            }
            (ok, no)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(pb::GossipTxsResponse { accepted, refused }))
    }
}
