//! The `lambda.node.v1.Replica` gRPC service: peers' replica calls, checked
//! for membership, handed to the transport-independent handlers of
//! [`Cluster`].

use std::sync::Arc;

use lambda_proto::node::v1 as pb;
use tonic::{Request, Response, Status};

use super::Cluster;
use super::aae::serve;
use super::transport::NODE_HEADER;
use crate::error::Error;
use crate::placement::DeviceId;
use crate::version::codec::{object_from_pb, object_to_pb};

/// The replica service of a node.
#[derive(Clone, Debug)]
pub struct ReplicaService {
    cluster: Arc<Cluster>,
}

impl ReplicaService {
    /// The service over `cluster`.
    pub fn new(cluster: Arc<Cluster>) -> Self {
        Self { cluster }
    }

    fn admit<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let sender = req
            .metadata()
            .get(NODE_HEADER)
            .and_then(|v| v.to_str().ok());
        self.cluster.check_member(sender).map_err(Status::from)
    }
}

#[tonic::async_trait]
impl pb::replica_server::Replica for ReplicaService {
    async fn put(
        &self,
        req: Request<pb::ReplicaPutRequest>,
    ) -> Result<Response<pb::ReplicaPutResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let object = object_from_pb(r.object.unwrap_or_default())
            .map_err(|e| Error::Peer(format!("object: {e}")))?;
        let hint_for = (!r.hint_for.is_empty()).then_some(DeviceId(r.hint_for));
        self.cluster.replica_put(r.key, object, hint_for).await?;
        Ok(Response::new(pb::ReplicaPutResponse {}))
    }

    async fn get(
        &self,
        req: Request<pb::ReplicaGetRequest>,
    ) -> Result<Response<pb::ReplicaGetResponse>, Status> {
        self.admit(&req)?;
        let obj = self.cluster.replica_get(req.into_inner().key).await?;
        Ok(Response::new(pb::ReplicaGetResponse {
            object: Some(object_to_pb(&obj)),
        }))
    }

    async fn coordinate(
        &self,
        req: Request<pb::CoordinateRequest>,
    ) -> Result<Response<pb::CoordinateResponse>, Status> {
        self.admit(&req)?;
        let obj = self.cluster.replica_coordinate(req.into_inner()).await?;
        Ok(Response::new(pb::CoordinateResponse {
            object: Some(object_to_pb(&obj)),
        }))
    }

    async fn merkle_roots(
        &self,
        req: Request<pb::MerkleRootsRequest>,
    ) -> Result<Response<pb::MerkleRootsResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::roots(&c.store, &r))
            .await?;
        Ok(Response::new(resp))
    }

    async fn merkle_groups(
        &self,
        req: Request<pb::MerkleGroupsRequest>,
    ) -> Result<Response<pb::MerkleGroupsResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::groups(&c.store, &r))
            .await?;
        Ok(Response::new(resp))
    }

    async fn merkle_segments(
        &self,
        req: Request<pb::MerkleSegmentsRequest>,
    ) -> Result<Response<pb::MerkleSegmentsResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::segments(&c.store, &r))
            .await?;
        Ok(Response::new(resp))
    }

    async fn merkle_keys(
        &self,
        req: Request<pb::MerkleKeysRequest>,
    ) -> Result<Response<pb::MerkleKeysResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::keys(&c.store, &r))
            .await?;
        Ok(Response::new(resp))
    }

    async fn multi_get(
        &self,
        req: Request<pb::MultiGetRequest>,
    ) -> Result<Response<pb::MultiGetResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::multi_get(&c.store, Some(&c.hints), &r))
            .await?;
        Ok(Response::new(resp))
    }

    async fn multi_put(
        &self,
        req: Request<pb::MultiPutRequest>,
    ) -> Result<Response<pb::MultiPutResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::multi_put(&c.store, r))
            .await?;
        Ok(Response::new(resp))
    }

    async fn fetch_partition(
        &self,
        req: Request<pb::FetchPartitionRequest>,
    ) -> Result<Response<pb::FetchPartitionResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::fetch_partition(&c.store, &r))
            .await?;
        Ok(Response::new(resp))
    }

    async fn reap(
        &self,
        req: Request<pb::ReapRequest>,
    ) -> Result<Response<pb::ReapResponse>, Status> {
        self.admit(&req)?;
        let r = req.into_inner();
        let resp = self
            .cluster
            .serve_store(move |c| serve::reap(&c.store, r))
            .await?;
        Ok(Response::new(resp))
    }
}
