//! The seam where a KV request is checked before it is served: in chain
//! mode the billing guard verifies the client's signature and receipt and
//! its funds (see [`crate::billing`]); without a guard every request is
//! served as before.

use tonic::Status;
use tonic::metadata::MetadataMap;

/// Full gRPC method paths of the public KV API, as requests sign them.
pub mod methods {
    /// `Kv/Get`.
    pub const GET: &str = "/lambda.kv.v1.Kv/Get";
    /// `Kv/Put`.
    pub const PUT: &str = "/lambda.kv.v1.Kv/Put";
    /// `Kv/Delete`.
    pub const DELETE: &str = "/lambda.kv.v1.Kv/Delete";
    /// `Kv/Batch`.
    pub const BATCH: &str = "/lambda.kv.v1.Kv/Batch";
}

/// Checks each public KV request before it is served.
#[tonic::async_trait]
pub trait RequestGuard: Send + Sync + std::fmt::Debug + 'static {
    /// Admits the request of `method` (a full path from [`methods`]) with
    /// `metadata` and the protobuf encoding `body` of its message, or
    /// refuses it with a precise status. Returns metadata for the answer.
    async fn admit(
        &self,
        method: &'static str,
        metadata: &MetadataMap,
        body: &[u8],
    ) -> Result<MetadataMap, Status>;
}
