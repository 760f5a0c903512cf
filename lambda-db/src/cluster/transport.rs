//! How a node calls its peers: the [`ReplicaTransport`] interface and its
//! gRPC implementation.
//!
//! Coordinators and the handoff worker talk to replicas only through this
//! trait, so the in-process simulation (`cluster::sim`) can put a
//! fault-injecting transport in its place. Every call has a deadline; a
//! failure says whether the peer was unreachable, too slow, or refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lambda_proto::node::v1 as pb;
use lambda_proto::node::v1::replica_client::ReplicaClient;
use parking_lot::Mutex;
use tonic::transport::{Channel, Endpoint};

use crate::chain::auth::{PeerSigner, SignedChannel};

use super::aae::peer::SyncCalls;
use crate::placement::DeviceId;
use crate::version::VersionedObject;
use crate::version::codec::{object_from_pb, object_to_pb};

/// The metadata header that names the calling node.
pub const NODE_HEADER: &str = "x-lambda-node";

/// A peer: its id and gRPC endpoint (`host:port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Node id.
    pub id: DeviceId,
    /// gRPC address.
    pub endpoint: String,
}

/// Why a call to a peer failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// No answer within the deadline.
    #[error("{peer}: no answer within {ms} ms")]
    Timeout {
        /// The peer.
        peer: DeviceId,
        /// The deadline.
        ms: u64,
    },
    /// The connection failed.
    #[error("{peer}: unreachable ({reason})")]
    Unreachable {
        /// The peer.
        peer: DeviceId,
        /// Transport error.
        reason: String,
    },
    /// The peer answered with an error status.
    #[error("{peer}: {code:?}: {message}")]
    Refused {
        /// The peer.
        peer: DeviceId,
        /// Its status code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// The peer's answer does not decode.
    #[error("{peer}: invalid answer: {reason}")]
    Invalid {
        /// The peer.
        peer: DeviceId,
        /// What is wrong.
        reason: String,
    },
}

impl RpcError {
    /// True when the peer itself is probably down or hung (as opposed to
    /// answering with an error), so it should be suspected.
    pub fn peer_down(&self) -> bool {
        matches!(self, Self::Timeout { .. } | Self::Unreachable { .. })
            || matches!(self, Self::Refused { code, .. } if *code == tonic::Code::Unavailable)
    }
}

/// Replica calls from one node to another (with the anti-entropy, handoff
/// and tombstone calls of [`SyncCalls`]).
#[tonic::async_trait]
pub trait ReplicaTransport: SyncCalls {
    /// Sends an object to merge; `hint_for` makes the receiver keep it as a
    /// hint for that node.
    async fn put(
        &self,
        to: &Peer,
        key: &[u8],
        object: &VersionedObject,
        hint_for: Option<&DeviceId>,
    ) -> Result<(), RpcError>;

    /// Reads a replica's object (merged with hints it holds for the key).
    async fn get(&self, to: &Peer, key: &[u8]) -> Result<VersionedObject, RpcError>;

    /// Asks `to` to coordinate a client write, waiting up to `timeout` (the
    /// client's deadline, as coordinating waits for a write quorum).
    async fn coordinate(
        &self,
        to: &Peer,
        request: pb::CoordinateRequest,
        timeout: Duration,
    ) -> Result<VersionedObject, RpcError>;
}

/// The gRPC transport: one lazily connected channel per peer endpoint.
#[derive(Debug)]
pub struct GrpcTransport {
    self_id: DeviceId,
    timeout: Duration,
    sync_timeout: Duration,
    channels: Mutex<HashMap<String, Channel>>,
    signer: Option<Arc<PeerSigner>>,
}

impl GrpcTransport {
    /// A transport for node `self_id` whose calls time out after `timeout`
    /// (anti-entropy and handoff calls, which move more data, after
    /// `sync_timeout`).
    pub fn new(self_id: DeviceId, timeout: Duration, sync_timeout: Duration) -> Self {
        Self {
            self_id,
            timeout,
            sync_timeout: sync_timeout.max(timeout),
            channels: Mutex::new(HashMap::new()),
            signer: None,
        }
    }

    /// Signs every call with the node key (chain mode; see
    /// [`crate::chain::auth`]).
    pub fn with_signer(mut self, signer: Arc<PeerSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    fn signed(&self, channel: Channel, peer: &Peer) -> ReplicaClient<SignedChannel> {
        let ch = SignedChannel::new(channel, self.signer.clone(), peer.id.clone());
        ReplicaClient::new(ch).max_decoding_message_size(usize::MAX)
    }

    fn client(&self, peer: &Peer) -> Result<ReplicaClient<SignedChannel>, RpcError> {
        let mut channels = self.channels.lock();
        if let Some(ch) = channels.get(&peer.endpoint) {
            return Ok(self.signed(ch.clone(), peer));
        }
        let uri = format!("http://{}", peer.endpoint);
        let channel = Endpoint::from_shared(uri)
            .map_err(|e| RpcError::Unreachable {
                peer: peer.id.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(self.timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .connect_lazy();
        channels.insert(peer.endpoint.clone(), channel.clone());
        Ok(self.signed(channel, peer))
    }

    fn request<T>(&self, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        req.set_timeout(self.timeout);
        if let Ok(v) = self.self_id.0.parse() {
            req.metadata_mut().insert(NODE_HEADER, v);
        }
        req
    }

    fn map_status(&self, peer: &Peer, status: tonic::Status) -> RpcError {
        let ms = self.timeout.as_millis() as u64;
        match status.code() {
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => RpcError::Timeout {
                peer: peer.id.clone(),
                ms,
            },
            tonic::Code::Unavailable => RpcError::Unreachable {
                peer: peer.id.clone(),
                reason: status.message().to_string(),
            },
            code => RpcError::Refused {
                peer: peer.id.clone(),
                code,
                message: status.message().to_string(),
            },
        }
    }

    async fn call<T, F>(&self, peer: &Peer, timeout: Duration, fut: F) -> Result<T, RpcError>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match tokio::time::timeout(timeout, fut).await {
            Ok(Ok(resp)) => Ok(resp.into_inner()),
            Ok(Err(status)) => Err(self.map_status(peer, status)),
            Err(_) => Err(RpcError::Timeout {
                peer: peer.id.clone(),
                ms: timeout.as_millis() as u64,
            }),
        }
    }

    fn decode(
        peer: &Peer,
        obj: Option<lambda_proto::storage::v1::StoredObject>,
    ) -> Result<VersionedObject, RpcError> {
        object_from_pb(obj.unwrap_or_default()).map_err(|e| RpcError::Invalid {
            peer: peer.id.clone(),
            reason: e.to_string(),
        })
    }
}

#[tonic::async_trait]
impl ReplicaTransport for GrpcTransport {
    async fn put(
        &self,
        to: &Peer,
        key: &[u8],
        object: &VersionedObject,
        hint_for: Option<&DeviceId>,
    ) -> Result<(), RpcError> {
        let mut client = self.client(to)?;
        let req = self.request(pb::ReplicaPutRequest {
            key: key.to_vec(),
            object: Some(object_to_pb(object)),
            hint_for: hint_for.map(|h| h.0.clone()).unwrap_or_default(),
        });
        self.call(to, self.timeout, client.put(req))
            .await
            .map(|_| ())
    }

    async fn get(&self, to: &Peer, key: &[u8]) -> Result<VersionedObject, RpcError> {
        let mut client = self.client(to)?;
        let req = self.request(pb::ReplicaGetRequest { key: key.to_vec() });
        let resp = self.call(to, self.timeout, client.get(req)).await?;
        Self::decode(to, resp.object)
    }

    async fn coordinate(
        &self,
        to: &Peer,
        request: pb::CoordinateRequest,
        timeout: Duration,
    ) -> Result<VersionedObject, RpcError> {
        let mut client = self.client(to)?;
        let mut req = self.request(request);
        req.set_timeout(timeout);
        let resp = self.call(to, timeout, client.coordinate(req)).await?;
        Self::decode(to, resp.object)
    }
}

impl GrpcTransport {
    /// One anti-entropy or handoff call, with the longer sync deadline.
    async fn sync_rpc<Req, Resp, F, Fut>(
        &self,
        to: &Peer,
        req: Req,
        call: F,
    ) -> Result<Resp, RpcError>
    where
        F: FnOnce(ReplicaClient<SignedChannel>, tonic::Request<Req>) -> Fut,
        Fut: std::future::Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        let client = self.client(to)?;
        let mut r = self.request(req);
        r.set_timeout(self.sync_timeout);
        self.call(to, self.sync_timeout, call(client, r)).await
    }
}

#[tonic::async_trait]
impl SyncCalls for GrpcTransport {
    async fn roots(
        &self,
        to: &Peer,
        req: pb::MerkleRootsRequest,
    ) -> Result<pb::MerkleRootsResponse, RpcError> {
        self.sync_rpc(to, req, |mut c, r| async move { c.merkle_roots(r).await })
            .await
    }

    async fn groups(
        &self,
        to: &Peer,
        req: pb::MerkleGroupsRequest,
    ) -> Result<pb::MerkleGroupsResponse, RpcError> {
        self.sync_rpc(to, req, |mut c, r| async move { c.merkle_groups(r).await })
            .await
    }

    async fn segments(
        &self,
        to: &Peer,
        req: pb::MerkleSegmentsRequest,
    ) -> Result<pb::MerkleSegmentsResponse, RpcError> {
        self.sync_rpc(
            to,
            req,
            |mut c, r| async move { c.merkle_segments(r).await },
        )
        .await
    }

    async fn keys(
        &self,
        to: &Peer,
        req: pb::MerkleKeysRequest,
    ) -> Result<pb::MerkleKeysResponse, RpcError> {
        self.sync_rpc(to, req, |mut c, r| async move { c.merkle_keys(r).await })
            .await
    }

    async fn multi_get(
        &self,
        to: &Peer,
        req: pb::MultiGetRequest,
    ) -> Result<pb::MultiGetResponse, RpcError> {
        self.sync_rpc(to, req, |mut c, r| async move { c.multi_get(r).await })
            .await
    }

    async fn multi_put(
        &self,
        to: &Peer,
        req: pb::MultiPutRequest,
    ) -> Result<pb::MultiPutResponse, RpcError> {
        self.sync_rpc(to, req, |mut c, r| async move { c.multi_put(r).await })
            .await
    }

    async fn fetch_partition(
        &self,
        to: &Peer,
        req: pb::FetchPartitionRequest,
    ) -> Result<pb::FetchPartitionResponse, RpcError> {
        self.sync_rpc(
            to,
            req,
            |mut c, r| async move { c.fetch_partition(r).await },
        )
        .await
    }

    async fn reap(&self, to: &Peer, req: pb::ReapRequest) -> Result<pb::ReapResponse, RpcError> {
        self.sync_rpc(to, req, |mut c, r| async move { c.reap(r).await })
            .await
    }
}
