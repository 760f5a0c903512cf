//! The calls anti-entropy, partition handoff and tombstone collection make
//! to a peer ([`SyncCalls`], part of every replica transport), a peer bound
//! to them ([`SyncPeer`]), and [`InProcess`]: the calls answered straight
//! from another store in the same process (tests and the benchmark).

use std::sync::Arc;

use lambda_proto::node::v1 as pb;

use super::serve;
use crate::cluster::hints::HintStore;
use crate::cluster::transport::{Peer, RpcError};
use crate::placement::DeviceId;
use crate::store::LocalStore;

/// Replica-protocol calls of anti-entropy, handoff and tombstone collection.
#[tonic::async_trait]
pub trait SyncCalls: Send + Sync + 'static {
    /// Partition roots.
    async fn roots(
        &self,
        to: &Peer,
        req: pb::MerkleRootsRequest,
    ) -> Result<pb::MerkleRootsResponse, RpcError>;
    /// Group hashes of a partition.
    async fn groups(
        &self,
        to: &Peer,
        req: pb::MerkleGroupsRequest,
    ) -> Result<pb::MerkleGroupsResponse, RpcError>;
    /// Segment hashes of chosen groups.
    async fn segments(
        &self,
        to: &Peer,
        req: pb::MerkleSegmentsRequest,
    ) -> Result<pb::MerkleSegmentsResponse, RpcError>;
    /// Leaves of chosen segments.
    async fn keys(
        &self,
        to: &Peer,
        req: pb::MerkleKeysRequest,
    ) -> Result<pb::MerkleKeysResponse, RpcError>;
    /// Objects of many keys.
    async fn multi_get(
        &self,
        to: &Peer,
        req: pb::MultiGetRequest,
    ) -> Result<pb::MultiGetResponse, RpcError>;
    /// Merges objects of many keys.
    async fn multi_put(
        &self,
        to: &Peer,
        req: pb::MultiPutRequest,
    ) -> Result<pb::MultiPutResponse, RpcError>;
    /// One page of a partition.
    async fn fetch_partition(
        &self,
        to: &Peer,
        req: pb::FetchPartitionRequest,
    ) -> Result<pb::FetchPartitionResponse, RpcError>;
    /// Conditional deletes of tombstones.
    async fn reap(&self, to: &Peer, req: pb::ReapRequest) -> Result<pb::ReapResponse, RpcError>;
}

/// A peer and the calls that reach it.
#[derive(Clone)]
pub struct SyncPeer {
    calls: Arc<dyn SyncCalls>,
    peer: Peer,
}

impl std::fmt::Debug for SyncPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncPeer")
            .field("peer", &self.peer)
            .finish()
    }
}

impl SyncPeer {
    /// `peer` reached through `calls`.
    pub fn new(calls: Arc<dyn SyncCalls>, peer: Peer) -> Self {
        Self { calls, peer }
    }

    /// The peer's id.
    pub fn id(&self) -> &DeviceId {
        &self.peer.id
    }

    /// See [`SyncCalls::roots`].
    pub async fn roots(
        &self,
        req: pb::MerkleRootsRequest,
    ) -> Result<pb::MerkleRootsResponse, RpcError> {
        self.calls.roots(&self.peer, req).await
    }

    /// See [`SyncCalls::groups`].
    pub async fn groups(
        &self,
        req: pb::MerkleGroupsRequest,
    ) -> Result<pb::MerkleGroupsResponse, RpcError> {
        self.calls.groups(&self.peer, req).await
    }

    /// See [`SyncCalls::segments`].
    pub async fn segments(
        &self,
        req: pb::MerkleSegmentsRequest,
    ) -> Result<pb::MerkleSegmentsResponse, RpcError> {
        self.calls.segments(&self.peer, req).await
    }

    /// See [`SyncCalls::keys`].
    pub async fn keys(
        &self,
        req: pb::MerkleKeysRequest,
    ) -> Result<pb::MerkleKeysResponse, RpcError> {
        self.calls.keys(&self.peer, req).await
    }

    /// See [`SyncCalls::multi_get`].
    pub async fn multi_get(
        &self,
        req: pb::MultiGetRequest,
    ) -> Result<pb::MultiGetResponse, RpcError> {
        self.calls.multi_get(&self.peer, req).await
    }

    /// See [`SyncCalls::multi_put`].
    pub async fn multi_put(
        &self,
        req: pb::MultiPutRequest,
    ) -> Result<pb::MultiPutResponse, RpcError> {
        self.calls.multi_put(&self.peer, req).await
    }

    /// See [`SyncCalls::fetch_partition`].
    pub async fn fetch_partition(
        &self,
        req: pb::FetchPartitionRequest,
    ) -> Result<pb::FetchPartitionResponse, RpcError> {
        self.calls.fetch_partition(&self.peer, req).await
    }

    /// See [`SyncCalls::reap`].
    pub async fn reap(&self, req: pb::ReapRequest) -> Result<pb::ReapResponse, RpcError> {
        self.calls.reap(&self.peer, req).await
    }
}

/// Calls answered directly by another store in this process (no network):
/// for tests and the anti-entropy benchmark. Blocking store calls run inline.
#[derive(Debug, Clone)]
pub struct InProcess {
    store: Arc<LocalStore>,
    hints: Option<Arc<HintStore>>,
}

impl InProcess {
    /// Answers from `store` (and its hints, if any).
    pub fn new(store: Arc<LocalStore>, hints: Option<Arc<HintStore>>) -> Self {
        Self { store, hints }
    }
}

fn refused(to: &Peer, e: crate::error::Error) -> RpcError {
    let status = tonic::Status::from(e);
    RpcError::Refused {
        peer: to.id.clone(),
        code: status.code(),
        message: status.message().to_string(),
    }
}

#[tonic::async_trait]
impl SyncCalls for InProcess {
    async fn roots(
        &self,
        to: &Peer,
        req: pb::MerkleRootsRequest,
    ) -> Result<pb::MerkleRootsResponse, RpcError> {
        serve::roots(&self.store, &req).map_err(|e| refused(to, e))
    }
    async fn groups(
        &self,
        to: &Peer,
        req: pb::MerkleGroupsRequest,
    ) -> Result<pb::MerkleGroupsResponse, RpcError> {
        serve::groups(&self.store, &req).map_err(|e| refused(to, e))
    }
    async fn segments(
        &self,
        to: &Peer,
        req: pb::MerkleSegmentsRequest,
    ) -> Result<pb::MerkleSegmentsResponse, RpcError> {
        serve::segments(&self.store, &req).map_err(|e| refused(to, e))
    }
    async fn keys(
        &self,
        to: &Peer,
        req: pb::MerkleKeysRequest,
    ) -> Result<pb::MerkleKeysResponse, RpcError> {
        serve::keys(&self.store, &req).map_err(|e| refused(to, e))
    }
    async fn multi_get(
        &self,
        to: &Peer,
        req: pb::MultiGetRequest,
    ) -> Result<pb::MultiGetResponse, RpcError> {
        serve::multi_get(&self.store, self.hints.as_deref(), &req).map_err(|e| refused(to, e))
    }
    async fn multi_put(
        &self,
        to: &Peer,
        req: pb::MultiPutRequest,
    ) -> Result<pb::MultiPutResponse, RpcError> {
        serve::multi_put(&self.store, req).map_err(|e| refused(to, e))
    }
    async fn fetch_partition(
        &self,
        to: &Peer,
        req: pb::FetchPartitionRequest,
    ) -> Result<pb::FetchPartitionResponse, RpcError> {
        serve::fetch_partition(&self.store, &req).map_err(|e| refused(to, e))
    }
    async fn reap(&self, to: &Peer, req: pb::ReapRequest) -> Result<pb::ReapResponse, RpcError> {
        serve::reap(&self.store, req).map_err(|e| refused(to, e))
    }
}
