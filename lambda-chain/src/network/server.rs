//! The validator-to-validator gRPC service.
//!
//! `Send` decodes a batch of proposals and votes into the consensus loop's
//! bounded inbox (full means drop and count: a slow validator never makes
//! its peers wait); `Sync` serves committed blocks with their certificates
//! from the application; `Status` reports where this validator is.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use lambda_common::keys::Address;
use lambda_proto::chain::v1 as pb;
use lambda_proto::chain::v1::consensus_service_server::{ConsensusService, ConsensusServiceServer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use super::codec::{committed_to_pb, message_from_pb};
use super::config::NetworkConfig;
use crate::consensus::app::Application;
use crate::consensus::io::Message;

/// Where the consensus loop is, shared with the service.
#[derive(Debug, Default)]
pub struct NodeStatus {
    /// Height being decided.
    pub height: AtomicU64,
    /// Round.
    pub round: AtomicU32,
    /// Set by the loop when it should fetch blocks.
    pub need_sync: AtomicBool,
}

/// What happened to received messages.
#[derive(Debug, Default)]
pub struct InboxCounters {
    /// Passed to the consensus loop.
    pub accepted: AtomicU64,
    /// Dropped because the inbox was full.
    pub dropped_full: AtomicU64,
    /// Dropped because they did not decode.
    pub malformed: AtomicU64,
}

/// The service implementation.
#[derive(Clone)]
pub struct ConsensusServer {
    inbox: mpsc::Sender<Message>,
    app: Arc<dyn Application>,
    status: Arc<NodeStatus>,
    counters: Arc<InboxCounters>,
    sync_batch: u32,
    max_bytes: usize,
    validator: Address,
}

impl ConsensusServer {
    /// A service feeding `inbox`, serving sync from `app`.
    pub fn new(
        inbox: mpsc::Sender<Message>,
        app: Arc<dyn Application>,
        status: Arc<NodeStatus>,
        counters: Arc<InboxCounters>,
        cfg: &NetworkConfig,
        validator: Address,
    ) -> Self {
        Self {
            inbox,
            app,
            status,
            counters,
            sync_batch: cfg.sync_batch.max(1),
            max_bytes: cfg.max_message_bytes,
            validator,
        }
    }
}

#[tonic::async_trait]
impl ConsensusService for ConsensusServer {
    async fn send(
        &self,
        req: Request<pb::SendRequest>,
    ) -> Result<Response<pb::SendResponse>, Status> {
        let (mut accepted, mut dropped) = (0u32, 0u32);
        for m in req.into_inner().messages {
            let m = match message_from_pb(m) {
                Ok(m) => m,
                Err(e) => {
                    self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "malformed consensus message");
                    dropped += 1;
                    continue;
                }
            };
            if self.inbox.try_send(m).is_ok() {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                accepted += 1;
            } else {
                self.counters.dropped_full.fetch_add(1, Ordering::Relaxed);
                dropped += 1;
            }
        }
        Ok(Response::new(pb::SendResponse { accepted, dropped }))
    }

    async fn sync(
        &self,
        req: Request<pb::SyncRequest>,
    ) -> Result<Response<pb::SyncResponse>, Status> {
        let req = req.into_inner();
        let app = self.app.clone();
        let max = req.max_blocks.clamp(1, self.sync_batch);
        let budget = self.max_bytes / 2;
        let blocks = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut bytes = 0usize;
            for h in req.from_height.max(1)..req.from_height.max(1).saturating_add(u64::from(max)) {
                match app.committed_block(h) {
                    Ok(Some(b)) => {
                        bytes += b.block.len();
                        if !out.is_empty() && bytes > budget {
                            break;
                        }
                        out.push(committed_to_pb(&b));
                    }
                    Ok(None) => break,
                    Err(e) => return Err(Status::internal(e.to_string())),
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(pb::SyncResponse {
            blocks,
            latest_height: self.app.committed_height(),
        }))
    }

    async fn status(
        &self,
        _req: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(pb::StatusResponse {
            committed_height: self.app.committed_height(),
            height: self.status.height.load(Ordering::Relaxed),
            round: self.status.round.load(Ordering::Relaxed),
            validator: self.validator.0.to_vec(),
        }))
    }
}

/// Serves `server` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    server: ConsensusServer,
    max_bytes: usize,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    serve_with(listener, server, Routes::default(), max_bytes, shutdown).await
}

/// [`serve`] with more services on the same port (the node adds its
/// mempool gossip there).
pub async fn serve_with(
    listener: TcpListener,
    server: ConsensusServer,
    extra: Routes,
    max_bytes: usize,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error> {
    let svc = ConsensusServiceServer::new(server)
        .max_decoding_message_size(max_bytes)
        .max_encoding_message_size(max_bytes);
    // Accepted sockets get TCP_NODELAY (the builder's setting does not apply
    // to a supplied listener): without it small answers wait ~40 ms for
    // delayed ACKs on loopback.
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_routes(extra)
        .add_service(svc)
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
}

/// Binds `addr`.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}
