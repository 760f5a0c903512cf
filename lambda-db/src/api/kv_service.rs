//! The public `lambda.kv.v1.Kv` gRPC service: parses and validates requests,
//! hands them to a [`KvBackend`], and formats the answers.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use lambda_proto::kv::v1 as pb;
use tonic::{Request, Response, Status};

use super::backend::KvBackend;
use crate::config::{LimitsConfig, ReplicationConfig};
use crate::error::{Error, Result};
use crate::request::{RequestOptions, check_key, check_value};
use crate::version::codec::{decode_context, encode_context};
use crate::version::{Sibling, Update, Value, VersionedObject};

/// The KV service over a backend.
#[derive(Clone)]
pub struct KvService {
    backend: Arc<dyn KvBackend>,
    limits: LimitsConfig,
    replication: ReplicationConfig,
}

impl std::fmt::Debug for KvService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvService")
            .field("limits", &self.limits)
            .finish()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn sibling_to_pb(s: &Sibling) -> pb::Sibling {
    pb::Sibling {
        value: s.value.bytes().map(<[u8]>::to_vec).unwrap_or_default(),
        timestamp_ms: s.timestamp_ms,
        actor: s.dot.actor.to_string(),
        counter: s.dot.counter,
    }
}

fn live_siblings(obj: &VersionedObject, lww: bool) -> Vec<pb::Sibling> {
    if lww {
        obj.newest_live().map(sibling_to_pb).into_iter().collect()
    } else {
        obj.live().map(sibling_to_pb).collect()
    }
}

impl KvService {
    /// A service over `backend` with the given limits and replication bounds.
    pub fn new(
        backend: Arc<dyn KvBackend>,
        limits: LimitsConfig,
        replication: ReplicationConfig,
    ) -> Self {
        Self {
            backend,
            limits,
            replication,
        }
    }

    async fn get_one(&self, req: pb::GetRequest) -> Result<pb::GetResponse> {
        check_key(&req.key, &self.limits)?;
        let opts = RequestOptions::resolve(req.options.as_ref(), &self.replication)?;
        let obj = self.backend.get(req.key, opts).await?;
        Ok(pb::GetResponse {
            found: obj.is_found(),
            siblings: live_siblings(&obj, opts.last_write_wins),
            context: encode_context(obj.clock()),
        })
    }

    async fn write_one(
        &self,
        key: Vec<u8>,
        value: Value,
        context: &[u8],
        options: Option<&pb::RequestOptions>,
    ) -> Result<VersionedObject> {
        check_key(&key, &self.limits)?;
        if let Some(bytes) = value.bytes() {
            check_value(bytes, &self.limits)?;
        }
        let context = decode_context(context).map_err(Error::BadContext)?;
        let opts = RequestOptions::resolve(options, &self.replication)?;
        let update = Update {
            value,
            context,
            timestamp_ms: now_ms(),
            last_write_wins: opts.last_write_wins,
        };
        self.backend.write(key, update, opts).await
    }

    async fn put_one(&self, req: pb::PutRequest) -> Result<pb::PutResponse> {
        let lww = req.options.as_ref().is_some_and(|o| o.last_write_wins);
        let obj = self
            .write_one(
                req.key,
                Value::Live(req.value),
                &req.context,
                req.options.as_ref(),
            )
            .await?;
        Ok(pb::PutResponse {
            context: encode_context(obj.clock()),
            siblings: live_siblings(&obj, lww),
        })
    }

    async fn delete_one(&self, req: pb::DeleteRequest) -> Result<pb::DeleteResponse> {
        let obj = self
            .write_one(
                req.key,
                Value::Tombstone,
                &req.context,
                req.options.as_ref(),
            )
            .await?;
        Ok(pb::DeleteResponse {
            context: encode_context(obj.clock()),
        })
    }

    async fn batch_one(&self, index: usize, op: pb::Operation) -> pb::OperationResult {
        use pb::operation::Op;
        use pb::operation_result::Result as R;
        let result = match op.op {
            Some(Op::Get(r)) => self.get_one(r).await.map(R::Get),
            Some(Op::Put(r)) => self.put_one(r).await.map(R::Put),
            Some(Op::Delete(r)) => self.delete_one(r).await.map(R::Delete),
            None => Err(Error::EmptyOperation { index }),
        };
        let result = result.unwrap_or_else(|e| {
            let status = Status::from(e);
            R::Error(pb::OperationError {
                code: status.code() as i32,
                message: status.message().to_string(),
            })
        });
        pb::OperationResult {
            result: Some(result),
        }
    }
}

#[tonic::async_trait]
impl pb::kv_server::Kv for KvService {
    async fn get(&self, req: Request<pb::GetRequest>) -> Result<Response<pb::GetResponse>, Status> {
        Ok(Response::new(self.get_one(req.into_inner()).await?))
    }

    async fn put(&self, req: Request<pb::PutRequest>) -> Result<Response<pb::PutResponse>, Status> {
        Ok(Response::new(self.put_one(req.into_inner()).await?))
    }

    async fn delete(
        &self,
        req: Request<pb::DeleteRequest>,
    ) -> Result<Response<pb::DeleteResponse>, Status> {
        Ok(Response::new(self.delete_one(req.into_inner()).await?))
    }

    async fn batch(
        &self,
        req: Request<pb::BatchRequest>,
    ) -> Result<Response<pb::BatchResponse>, Status> {
        let ops = req.into_inner().operations;
        if ops.len() > self.limits.max_batch_ops {
            return Err(Error::BatchTooLarge {
                count: ops.len(),
                limit: self.limits.max_batch_ops,
            }
            .into());
        }
        let mut results = Vec::with_capacity(ops.len());
        for (index, op) in ops.into_iter().enumerate() {
            results.push(self.batch_one(index, op).await);
        }
        Ok(Response::new(pb::BatchResponse { results }))
    }
}
